"""batteries.origins: where an unsafe request comes from, by Sec-Fetch-Site and Origin.

Through ``CSRF_PROTECT_ALL`` (whole requests, messages, exemptions): ``tests/test_csrf.py``.
"""

from __future__ import annotations

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from batteries.origins import cross_site_reason, is_trusted, normal_origin


def post(base: str = "http://shop.example", **headers: str) -> Request:
    builder = EnvironBuilder("/buy", base_url=base, method="POST", headers=headers)
    try:
        return Request(builder.get_environ())
    finally:
        builder.close()


@pytest.mark.parametrize(
    "origin, normal",
    [
        ("HTTPS://Shop.Example:443", "https://shop.example"),
        ("http://shop.example:8080/", "http://shop.example:8080"),
        ("http://[::1]:80", "http://[::1]"),
        ("null", None),
        ("ftp://shop.example", None),
        ("https://shop.example/path", None),
        ("http://shop.example:99999", None),
    ],
)
def test_normal_origin(origin, normal):
    assert normal_origin(origin) == normal


def test_trusted_origins_one_or_a_list():
    assert is_trusted("https://Partner.example:443", "https://partner.example")
    assert is_trusted("https://partner.example", ["https://other.example", "https://partner.example/"])
    assert not is_trusted("https://evil.example", ["https://partner.example"])
    assert not is_trusted(None, ["https://partner.example"])
    assert not is_trusted("https://partner.example", ())


def test_fetch_metadata_decides_first():
    assert cross_site_reason(post(**{"Sec-Fetch-Site": "same-origin"})) is None
    assert cross_site_reason(post(**{"Sec-Fetch-Site": " None "})) is None
    reason = cross_site_reason(post(**{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}))
    assert reason is not None and "Sec-Fetch-Site: cross-site" in reason and "evil.example" in reason
    trusted = post(**{"Sec-Fetch-Site": "cross-site", "Origin": "https://partner.example"})
    assert cross_site_reason(trusted, ["https://partner.example"]) is None


def test_origin_against_the_requests_own_host():
    assert cross_site_reason(post(Origin="http://shop.example")) is None
    assert cross_site_reason(post("https://shop.example", Origin="https://shop.example:443")) is None
    assert "does not match this host" in cross_site_reason(post(Origin="http://evil.example"))
    assert "insecure (http) origin" in cross_site_reason(
        post("https://shop.example", Origin="http://shop.example")
    )
    assert "not a valid origin" in cross_site_reason(post(Origin="null"))


def test_neither_header_leaves_it_to_the_token():
    with pytest.raises(LookupError):
        cross_site_reason(post())

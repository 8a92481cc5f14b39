"""Security headers (``batteries.headers``): the set, its changes, the CSP nonce, the cost model."""

from __future__ import annotations

import os
import re

import pytest
from _secured import secured_routes
from flask import Flask, render_template_string

from batteries import Batteries, security
from batteries import headers as headers_module
from batteries.security import DEFAULT_CSP, DEFAULT_HEADERS

# -- headers -----------------------------------------------------------------------------------


def test_headers_off_by_default(app: Batteries) -> None:
    secured_routes(app)
    response = app.test_client().get("/")
    for name in DEFAULT_HEADERS:
        assert name not in response.headers
    # the headers battery registers no per-request hook (it works from make_response)
    hooks = [f for funcs in app.after_request_funcs.values() for f in funcs]
    hooks += [f for funcs in app.before_request_funcs.values() for f in funcs]
    assert not [f for f in hooks if getattr(f, "__module__", "") in (security.__name__, headers_module.__name__)]


def test_headers_on(secured: Batteries) -> None:
    response = secured.test_client().get("/")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Content-Security-Policy"] == DEFAULT_CSP
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "X-XSS-Protection" not in response.headers
    # HSTS only over HTTPS: browsers ignore it on http, and it would pin a dev host
    assert "Strict-Transport-Security" not in response.headers
    https = secured.test_client().get("/", base_url="https://localhost")
    assert https.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_csp_blocks_inline_and_frames() -> None:
    directives = dict(d.strip().split(None, 1) for d in DEFAULT_CSP.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in DEFAULT_CSP and "unsafe-eval" not in DEFAULT_CSP


@pytest.mark.parametrize(
    ("path", "status"), [("/gone", 410), ("/boom", 500), ("/go", 302), ("/missing", 404)]
)
def test_headers_on_every_kind_of_response(
    secured: Batteries, path: str, status: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    secured.testing = False  # let /boom become a 500 page
    # loggers are global by name: disable this one for this test only
    monkeypatch.setattr(secured.logger, "disabled", True)
    for headers in ({}, {"Accept": "application/json"}):
        response = secured.test_client().get(path, headers=headers)
        assert response.status_code == status
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Security-Policy"] == DEFAULT_CSP


def test_headers_on_package_files(secured: Batteries) -> None:
    response = secured.test_client().get("/_batteries/batteries.js")
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    response.close()


def test_view_header_wins(secured: Batteries) -> None:
    response = secured.test_client().get("/own")
    assert response.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]


def test_dict_changes_and_drops(secured: Batteries) -> None:
    secured.config["SECURITY_HEADERS"] = {
        "X-Frame-Options": "SAMEORIGIN",
        "Cross-Origin-Opener-Policy": None,
        "Permissions-Policy": "browsing-topics=()",
    }
    response = secured.test_client().get("/")
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "Cross-Origin-Opener-Policy" not in response.headers
    assert response.headers["Permissions-Policy"] == "browsing-topics=()"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_config_read_per_response(app: Batteries) -> None:
    secured_routes(app)
    client = app.test_client()
    assert "Content-Security-Policy" not in client.get("/").headers
    app.config["SECURITY_HEADERS"] = True  # after construction and after a first request
    assert client.get("/").headers["Content-Security-Policy"] == DEFAULT_CSP
    app.config["SECURITY_HEADERS"] = False
    assert "Content-Security-Policy" not in client.get("/").headers


def test_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("BATTERIES_SECURITY_HEADERS", '{"X-Frame-Options": "SAMEORIGIN"}')
    app = Batteries("envapp", root_path=str(tmp_path))
    secured_routes(app)
    response = app.test_client().get("/")
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_nonce(secured: Batteries) -> None:
    client = secured.test_client()
    first = client.get("/inline")
    second = client.get("/inline")
    nonces = []
    for response in (first, second):
        nonce = re.search(r'nonce="([^"]+)"', response.text).group(1)
        policy = response.headers["Content-Security-Policy"]
        directives = dict(d.strip().split(None, 1) for d in policy.split(";"))
        assert directives["script-src"] == f"'self' 'nonce-{nonce}'"
        assert directives["style-src"] == f"'self' 'nonce-{nonce}'"
        assert directives["object-src"] == "'none'"
        nonces.append(nonce)
    assert nonces[0] != nonces[1]
    assert len(nonces[0]) >= 22
    # a page that uses no nonce gets the plain policy
    assert client.get("/").headers["Content-Security-Policy"] == DEFAULT_CSP


def test_add_nonce_without_script_src() -> None:
    assert security.add_nonce("default-src 'self' cdn.example", "N") == (
        "default-src 'self' cdn.example; script-src 'self' cdn.example 'nonce-N'; "
        "style-src 'self' cdn.example 'nonce-N'"
    )
    assert security.add_nonce("script-src 'none'", "N") == (
        "script-src 'nonce-N'; style-src 'self' 'nonce-N'"
    )


def test_apply_headers_on_plain_flask() -> None:
    app = Flask(__name__)
    app.config["SECURITY_HEADERS"] = True
    app.after_request(lambda response: security.apply_headers(app, response))
    app.route("/")(lambda: "x")
    assert app.test_client().get("/").headers["X-Frame-Options"] == "DENY"


def test_shipped_base_template_fits_the_policy(secured: Batteries) -> None:
    """batteries/base.html has no inline script or handler the default CSP would block."""
    path = os.path.join(os.path.dirname(security.__file__), "templates", "batteries", "base.html")
    if not os.path.exists(path):
        pytest.fail("batteries/base.html is not shipped")
    secured.add_url_rule(
        "/page", "page", lambda: render_template_string('{% extends "batteries/base.html" %}')
    )
    response = secured.test_client().get("/page")
    assert response.status_code == 200
    html = response.text
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or "nonce=" in tag, tag
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
    assert "javascript:" not in html
    for tag in re.findall(r"<style\b[^>]*>", html):
        assert "nonce=" in tag, tag
    assert not re.search(r'<[^>]+\sstyle\s*=\s*"', html), "inline style attribute"


# -- worked out once per config value (issue 19) -------------------------------------------------


def test_header_set_is_worked_out_once_per_config_value(
    secured: Batteries, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[object] = []
    real = headers_module.headers_for

    def counting(setting):
        made.append(setting)
        return real(setting)

    monkeypatch.setattr(headers_module, "headers_for", counting)
    client = secured.test_client()
    for _ in range(3):
        assert client.get("/").headers["X-Frame-Options"] == "DENY"
    assert len(made) == 1
    changes = {"X-Frame-Options": "SAMEORIGIN"}
    secured.config["SECURITY_HEADERS"] = changes
    assert client.get("/").headers["X-Frame-Options"] == "SAMEORIGIN"
    changes["X-Frame-Options"] = "DENY"  # a dict changed in place is seen too
    assert client.get("/").headers["X-Frame-Options"] == "DENY"
    assert client.get("/").headers["X-Frame-Options"] == "DENY"
    assert len(made) == 3


def test_no_nonce_unless_a_page_asks_for_one(secured: Batteries) -> None:
    seen: list[object] = []

    @secured.after_request
    def look(response):
        seen.append(headers_module.request_nonce())
        return response

    client = secured.test_client()
    plain = client.get("/")
    assert "'nonce-" not in plain.headers["Content-Security-Policy"]
    assert plain.headers["Content-Security-Policy"] == DEFAULT_CSP
    page = client.get("/inline")
    nonce = re.search(r'nonce="([^"]+)"', page.text).group(1)
    assert seen == [None, nonce]
    # the precomputed policy with a nonce is exactly add_nonce's
    assert page.headers["Content-Security-Policy"] == headers_module.add_nonce(DEFAULT_CSP, nonce)
    assert headers_module.request_nonce() is None  # outside a request


def test_https_plan_adds_hsts_and_the_nonce_too(secured: Batteries) -> None:
    response = secured.test_client().get("/inline", base_url="https://localhost")
    nonce = re.search(r'nonce="([^"]+)"', response.text).group(1)
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert f"'nonce-{nonce}'" in response.headers["Content-Security-Policy"]


def test_two_requests_in_one_app_context_get_two_nonces(secured: Batteries) -> None:
    client = secured.test_client()
    with secured.app_context():  # a request then reuses this app context (and its g)
        first = re.search(r'nonce="([^"]+)"', client.get("/inline").text).group(1)
        second = re.search(r'nonce="([^"]+)"', client.get("/inline").text).group(1)
        assert "'nonce-" not in client.get("/").headers["Content-Security-Policy"]
    assert first != second


def test_an_after_request_header_wins_and_the_headers_are_added_as_sent(secured: Batteries) -> None:
    seen = []

    @secured.after_request
    def own_policy(response):
        seen.append("Content-Security-Policy" in response.headers)
        response.headers["Content-Security-Policy"] = "default-src 'none'"
        return response

    response = secured.test_client().get("/")
    assert seen == [False]  # planned in make_response, added to what the server is handed
    assert response.headers.getlist("Content-Security-Policy") == ["default-src 'none'"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_a_response_class_of_ones_own_still_gets_the_headers(secured: Batteries) -> None:
    from flask import Response as FlaskResponse

    class Own(FlaskResponse):
        pass

    secured.response_class = Own
    response = secured.test_client().get("/")
    assert response.headers["Content-Security-Policy"] == DEFAULT_CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    with secured.test_request_context("/"):
        made = secured.make_response("x")
        assert type(made) is Own and made.headers["X-Frame-Options"] == "DENY"

"""Fixtures for the htmx example: an app, a client that logs in, htmx from npm for the browser."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

#: The htmx release line the example is written for (taken from the npm registry at test time).
HTMX_PACKAGE = "htmx.org@2"


@pytest.fixture
def htmx_app(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith(("BATTERIES_", "FLASK_")):
            monkeypatch.delenv(name)
    from htmx_example import create_app

    return create_app({
        "TESTING": True,
        "SECRET_KEY": "htmx test key",
        "HTMX_FOLDER": str(tmp_path / "vendor"),
    })


@pytest.fixture
def htmx_client(htmx_app):
    """A test client that says what a browser says on same-origin requests (CSRF check)."""
    client = htmx_app.test_client()
    client.environ_base["HTTP_SEC_FETCH_SITE"] = "same-origin"
    return client


@pytest.fixture(scope="session")
def htmx_js(tmp_path_factory) -> str:
    """The folder holding ``htmx.min.js`` of ``htmx.org@2``, fetched with ``npm pack``."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the browser test takes htmx from the npm registry")
    folder = tmp_path_factory.mktemp("htmx-npm")
    try:
        done = subprocess.run(
            [npm, "pack", HTMX_PACKAGE, "--silent", "--pack-destination", str(folder)],
            cwd=folder, capture_output=True, text=True, timeout=180, check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"npm pack {HTMX_PACKAGE} timed out: the npm registry is unreachable")
    tarballs = list(folder.glob("htmx.org-*.tgz"))
    if done.returncode != 0 or not tarballs:
        pytest.skip(f"npm pack {HTMX_PACKAGE} failed (is the npm registry reachable?): "
                    f"{(done.stderr or done.stdout).strip()[-300:]}")
    vendor = folder / "vendor"
    vendor.mkdir()
    with tarfile.open(tarballs[0]) as archive:
        member = archive.extractfile("package/dist/htmx.min.js")
        assert member is not None
        (vendor / "htmx.min.js").write_bytes(member.read())
    return str(vendor)

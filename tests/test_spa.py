"""``app.spa()``: a single-page app's files and client-route fallback, with real 404s."""

from __future__ import annotations

import pytest

from batteries import Batteries


@pytest.fixture
def spa_app(app, tmp_path):
    dist = tmp_path / "frontend" / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>SPA</title>index")
    (dist / "assets" / "app.3f9a2c1d.js").write_text("console.log('hashed')")
    (dist / "assets" / "index-B7xk29Qa.css").write_text("body{}")
    (dist / "robots.txt").write_text("User-agent: *")
    (dist / "assets" / "controller.js").write_text("// not hashed")
    (tmp_path / "secret.txt").write_text("outside the folder")
    app.spa("frontend/dist")

    @app.get("/api/items")
    def items():
        return {"items": [1, 2]}

    @app.get("/server")
    def server():
        return "server route"

    return app


def get(app, path, **kwargs):
    with app.test_client().get(path, **kwargs) as response:
        response.get_data()
        return response


def test_index_and_files(spa_app):
    response = get(spa_app, "/")
    assert response.status_code == 200
    assert response.text.endswith("index")
    assert response.headers["Cache-Control"] == "no-cache"
    response = get(spa_app, "/assets/app.3f9a2c1d.js")
    assert response.text == "console.log('hashed')"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "javascript" in response.mimetype
    assert get(spa_app, "/assets/index-B7xk29Qa.css").headers["Cache-Control"].endswith("immutable")
    response = get(spa_app, "/robots.txt")
    assert response.text == "User-agent: *"
    assert response.headers["Cache-Control"] == "no-cache"
    assert "ETag" in response.headers
    assert get(spa_app, "/assets/controller.js").headers["Cache-Control"] == "no-cache"
    assert get(spa_app, "/index.html").headers["Cache-Control"] == "no-cache"


def test_files_are_served_for_any_accept(spa_app):
    response = get(spa_app, "/robots.txt", headers={"Accept": "application/json"})
    assert response.status_code == 200


def test_conditional_request(spa_app):
    etag = get(spa_app, "/robots.txt").headers["ETag"]
    response = get(spa_app, "/robots.txt", headers={"If-None-Match": etag})
    assert response.status_code == 304


@pytest.mark.parametrize(
    "headers",
    [{}, {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}, {"Accept": "*/*"}],
)
def test_client_routes_fall_back_to_index(spa_app, headers):
    response = get(spa_app, "/settings/profile", headers=headers)
    assert response.status_code == 200
    assert response.text.endswith("index")
    assert response.headers["Cache-Control"] == "no-cache"


def test_head_falls_back_too(spa_app):
    with spa_app.test_client().head("/settings") as response:
        assert response.status_code == 200
        assert response.get_data() == b""


def test_user_routes_win(spa_app):
    assert get(spa_app, "/server").text == "server route"
    assert get(spa_app, "/api/items").json == {"items": [1, 2]}


@pytest.mark.parametrize(
    "path", ["/api/nothing", "/api", "/assets/missing.js", "/missing.png", "/deep/er/file.css"]
)
def test_real_404s(spa_app, path):
    response = get(spa_app, path)
    assert response.status_code == 404
    assert "index" not in response.text


def test_json_clients_get_json_404s(spa_app):
    response = get(spa_app, "/settings", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.json["status"] == 404
    response = get(spa_app, "/api/nothing", headers={"Accept": "application/json"})
    assert response.json["error"] == "Not Found"


def test_only_get_and_head(spa_app):
    client = spa_app.test_client()
    assert client.post("/settings").status_code == 404
    assert client.delete("/").status_code in (404, 405)


def test_non_html_accept_is_not_a_client_route(spa_app):
    assert get(spa_app, "/settings", headers={"Accept": "image/png"}).status_code == 404


def test_script_requests_are_not_client_routes(spa_app):
    response = get(spa_app, "/settings", headers={"X-Requested-With": "XMLHttpRequest"})
    assert response.status_code == 404
    assert response.json["status"] == 404
    assert get(spa_app, "/settings", headers={"Sec-Fetch-Mode": "cors", "Accept": "*/*"}).status_code == 404
    # a navigation (Sec-Fetch-Mode: navigate) is one
    assert get(spa_app, "/settings", headers={"Sec-Fetch-Mode": "navigate"}).status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/../secret.txt", "/..%2fsecret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt"],
)
def test_no_path_traversal(spa_app, path):
    response = get(spa_app, path)
    assert "outside the folder" not in response.text


def test_url_prefix_and_api_prefix_none(app, tmp_path):
    dist = tmp_path / "ui"
    dist.mkdir()
    (dist / "main.html").write_text("main page")
    app.spa("ui", url_prefix="/app/", index="main.html", api_prefix=None)

    @app.get("/")
    def home():
        return "home"

    assert get(app, "/").text == "home"
    assert get(app, "/app").text == "main page"
    assert get(app, "/app/deep/route").text == "main page"
    assert get(app, "/api/x").status_code == 404  # outside the SPA's prefix
    assert get(app, "/other").status_code == 404
    assert get(app, "/app/api/x").text == "main page"  # no API prefix


def test_missing_index_is_404(app, tmp_path):
    (tmp_path / "empty").mkdir()
    app.spa("empty")
    assert get(app, "/route").status_code == 404


def test_works_under_script_name(spa_app):
    response = get(spa_app, "/settings", environ_overrides={"SCRIPT_NAME": "/mount"})
    assert response.status_code == 200
    assert get(spa_app, "/robots.txt", environ_overrides={"SCRIPT_NAME": "/m"}).status_code == 200


def test_favicon_still_served_first(spa_app, tmp_path):
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "favicon.ico").write_bytes(b"\x00\x00\x01\x00")
    assert get(spa_app, "/favicon.ico").mimetype == "image/vnd.microsoft.icon"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"url_prefix": "app"},
        {"api_prefix": "api"},
        {"api_prefix": "/"},
        {"index": "../index.html"},
        {"index": ""},
    ],
)
def test_bad_arguments(app, kwargs):
    with pytest.raises(ValueError):
        app.spa("dist", **kwargs)


def test_no_route_registered(app):
    before = set(app.view_functions)
    app.spa("dist")
    assert set(app.view_functions) == before


def test_plain_batteries_app_without_spa_has_normal_404(tmp_path):
    app = Batteries("nospa", root_path=str(tmp_path))
    assert app.test_client().get("/settings").status_code == 404

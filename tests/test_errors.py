"""HTTP errors as JSON for JSON clients and HTML for everyone else; wants_json."""

from __future__ import annotations

import pytest
from flask import abort, flash, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, TooManyRequests

JSON = {"Accept": "application/json"}


@pytest.fixture
def app(app):
    @app.route("/only-post", methods=["POST"])
    def only_post():
        return "ok"

    @app.route("/boom")
    def boom():
        raise RuntimeError("secret detail")

    @app.route("/teapot")
    def teapot():
        abort(418)

    @app.route("/slow-down")
    def slow_down():
        raise TooManyRequests(retry_after=30)

    @app.route("/flash-then-404")
    def flash_then_404():
        flash("careful", "warning")
        return "flashed"

    @app.route("/json-body", methods=["POST"])
    def json_body():
        return {"got": request.get_json()}

    @app.route("/wants")
    def wants():
        return {"wants_json": request.wants_json}

    return app


def test_json_client_gets_json_404(client):
    response = client.get("/missing", headers=JSON)
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert response.json == {
        "error": "Not Found",
        "message": response.json["message"],
        "status": 404,
    }
    assert "not found" in response.json["message"].lower()


def test_html_client_gets_html_404(client):
    response = client.get("/missing", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert b"Not Found" in response.data


def test_no_accept_header_means_html(client):
    assert client.get("/missing").mimetype == "text/html"


def test_headers_of_the_exception_are_kept(client):
    response = client.get("/only-post", headers=JSON)
    assert response.status_code == 405
    assert response.json["error"] == "Method Not Allowed"
    assert set(response.headers["Allow"].split(", ")) >= {"POST", "OPTIONS"}
    response = client.get("/slow-down", headers=JSON)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "30"


def test_500_is_json_without_traceback(app, client):
    app.config["TESTING"] = False
    response = client.get("/boom", headers=JSON)
    assert response.status_code == 500
    assert response.json["status"] == 500
    assert "secret detail" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


def test_abort_codes(client):
    response = client.get("/teapot", headers=JSON)
    assert response.status_code == 418
    assert response.json["error"] == "I'm a teapot"


def test_user_error_handler_wins(app, client):
    @app.errorhandler(404)
    def not_found(e):
        return "custom", 404

    response = client.get("/missing", headers=JSON)
    assert response.data == b"custom"


def test_generic_user_handler_wins(app, client):
    @app.errorhandler(HTTPException)
    def generic(e):
        return {"mine": e.code}, e.code

    assert client.get("/missing", headers=JSON).json == {"mine": 404}


def test_handler_returning_the_exception_is_converted(app, client):
    @app.errorhandler(405)
    def passthrough(e):
        return e

    response = client.get("/only-post", headers=JSON)
    assert response.json["status"] == 405


def test_flashes_included_when_waiting(client):
    client.get("/flash-then-404")
    response = client.get("/missing", headers=JSON)
    assert response.json["flashes"] == [{"category": "warning", "message": "careful"}]
    # consumed: the next error has none
    assert "flashes" not in client.get("/missing", headers=JSON).json


def test_no_session_touched_without_cookie(client):
    response = client.get("/missing", headers=JSON)
    assert "flashes" not in response.json
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")


def test_bad_json_body_is_json_400(client):
    response = client.post("/json-body", data="{bad", content_type="application/json")
    assert response.status_code == 400
    assert response.json["status"] == 400


def test_unsupported_media_type_for_json_client(client):
    response = client.post("/json-body", data={"a": "1"}, headers=JSON)
    assert response.status_code == 415
    assert response.json["error"] == "Unsupported Media Type"


def test_routing_redirect_is_not_converted(app, client):
    @app.route("/dir/")
    def directory():
        return "dir"

    response = client.get("/dir", headers=JSON)
    assert response.status_code == 308


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, False),
        ({"Accept": "application/json"}, True),
        ({"Accept": "application/problem+json"}, True),
        ({"Accept": "text/html"}, False),
        ({"Accept": "*/*"}, False),
        ({"Accept": "application/*"}, False),
        ({"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}, False),
        ({"Accept": "application/json;q=0.9, text/html"}, False),
        ({"Accept": "text/html;q=0.5, application/json"}, True),
        ({"X-Requested-With": "XMLHttpRequest"}, True),
        ({"Sec-Fetch-Mode": "cors"}, True),
        ({"Sec-Fetch-Mode": "navigate"}, False),
        ({"Accept": "text/html", "X-Requested-With": "XMLHttpRequest"}, False),
        ({"Accept": "*/*", "Sec-Fetch-Mode": "cors"}, True),
    ],
)
def test_wants_json(client, headers, expected):
    assert client.get("/wants", headers=headers).json["wants_json"] is expected


def test_json_body_means_json(app):
    with app.test_request_context("/", method="POST", json={"a": 1}):
        assert request.wants_json is True
    with app.test_request_context("/", method="POST", data={"a": "1"}):
        assert request.wants_json is False


def test_error_body_helper():
    from batteries.errors import error_body

    assert error_body(MethodNotAllowed(["GET"])) == {
        "error": "Method Not Allowed",
        "message": MethodNotAllowed.description,
        "status": 405,
    }


# -- HTML error pages (#18) ----------------------------------------------------------------------


def _paged_app(tmp_path):
    from batteries import Batteries

    app = Batteries("pages", root_path=str(tmp_path), instance_path=str(tmp_path / "i"))
    app.config["ERROR_PAGES"] = True

    @app.route("/boom")
    def boom():
        raise RuntimeError("boom")

    @app.route("/teapot")
    def teapot():
        from flask import abort

        abort(405, valid_methods=["POST"])

    return app


def test_error_pages_off_by_default_keep_werkzeugs_page(tmp_path):
    app = _paged_app(tmp_path)
    app.config["ERROR_PAGES"] = False
    response = app.test_client().get("/missing")
    assert response.status_code == 404
    assert b"bt-error" not in response.data
    assert b"<title>404 Not Found</title>" in response.data


def test_error_page_in_batteries_layout(tmp_path):
    app = _paged_app(tmp_path)
    response = app.test_client().get("/missing")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert '<section class="bt-error">' in page
    assert "<h1>Not Found</h1>" in page
    assert "batteries.css" in page
    # headers of the exception kept
    response = app.test_client().get("/teapot")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


def test_error_page_for_a_500_and_json_clients_unchanged(tmp_path):
    app = _paged_app(tmp_path)
    client = app.test_client()
    response = client.get("/boom")
    assert response.status_code == 500
    assert "<h1>Internal Server Error</h1>" in response.get_data(as_text=True)
    response = client.get("/missing", headers={"Accept": "application/json"})
    assert response.json["status"] == 404


def test_broken_error_template_falls_back_to_werkzeug(tmp_path):
    app = _paged_app(tmp_path)
    (tmp_path / "templates" / "batteries").mkdir(parents=True)
    (tmp_path / "templates" / "batteries" / "error.html").write_text("{{ 1/0 }}")
    response = app.test_client().get("/missing")
    assert response.status_code == 404
    assert b"<title>404 Not Found</title>" in response.data


def test_apps_own_handler_wins(tmp_path):
    app = _paged_app(tmp_path)

    @app.errorhandler(404)
    def mine(e):
        return "mine", 404

    assert app.test_client().get("/missing").data == b"mine"
def test_error_names_are_batteries_own_whatever_werkzeug_says(app):
    # Werkzeug 3.2 takes reason phrases from http.HTTPStatus ("I'm a Teapot"); ours stay put.
    from werkzeug.exceptions import HTTPException

    from batteries.errors import ERROR_NAMES, error_name

    class Mine(HTTPException):
        code = 422
        name = "Invalid Widget"

    class Odd(HTTPException):
        code = 499

    assert error_name(Mine()) == "Invalid Widget"
    assert error_name(Odd()) == "Error"
    for code, name in ERROR_NAMES.items():
        assert 400 <= code < 600 and name.strip() == name

    @app.route("/mine")
    def mine():
        raise Mine()

    client = app.test_client()
    assert client.get("/mine", headers=JSON).json["error"] == "Invalid Widget"
    assert client.get("/teapot", headers=JSON).json["error"] == "I'm a teapot"
    assert client.get("/missing-page", headers=JSON).json["error"] == "Not Found"

"""``batteries.htmx``: request.htmx, logins, error fragments and out-of-band flashes."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask, abort, redirect, request

from batteries import flash, login_required, login_user
from batteries.htmx import NOT_HTMX, HtmxDetails, details, parse

HX = {"HX-Request": "true"}


# -- request.htmx ----------------------------------------------------------------------------


def test_request_htmx_is_falsy_without_the_header(app):
    for headers in ({}, {"HX-Request": "false"}, {"HX-Target": "x"}):
        with app.test_request_context("/", headers=headers):
            assert not request.htmx
            assert request.htmx.target is None and request.htmx.boosted is False


def test_request_htmx_details(app):
    headers = {
        "HX-Request": "true",
        "HX-Target": "row-3",
        "HX-Trigger": "edit-3",
        "HX-Trigger-Name": "title",
        "HX-Boosted": "true",
        "HX-Current-URL": "http://localhost/items?page=2",
        "HX-History-Restore-Request": "true",
        "HX-Prompt": "yes",
    }
    with app.test_request_context("/", headers=headers):
        found = request.htmx
        assert found and found is request.htmx  # computed once per request
        assert found == HtmxDetails(
            request=True,
            target="row-3",
            trigger="edit-3",
            trigger_name="title",
            boosted=True,
            current_url="http://localhost/items?page=2",
            history_restore=True,
            prompt="yes",
        )
    with app.test_request_context("/", headers=HX):
        assert request.htmx == HtmxDetails(request=True)
        assert not request.htmx.boosted and not request.htmx.history_restore


def test_uri_autoencoded_headers_are_decoded(app):
    headers = {**HX, "HX-Prompt": "Gr%C3%BC%C3%9Fe", "HX-Prompt-URI-AutoEncoded": "true",
               "HX-Target": "a%20b"}
    with app.test_request_context("/", headers=headers):
        assert request.htmx.prompt == "Grüße"
        assert request.htmx.target == "a%20b"  # not marked as encoded: as sent


def test_details_of_a_plain_flask_request():
    plain = Flask(__name__)
    with plain.test_request_context("/", headers={**HX, "HX-Target": "t"}):
        assert details(request).target == "t"
    with plain.test_request_context("/"):
        assert details(request) is NOT_HTMX
    assert parse({"HTTP_HX_REQUEST": "TRUE"}).request is True


# -- @login_required -------------------------------------------------------------------------


@pytest.fixture
def login_app(app):
    class User:
        def __init__(self, id):
            self.id = id

        def get_id(self):
            return self.id

    app.user_loader(lambda user_id: User(user_id))
    app.config["LOGIN_VIEW"] = "login"

    @app.route("/login", methods=["GET", "POST"])
    def login():
        if request.method == "POST":
            login_user(User("7"))
            return "in"
        return "login page"

    @app.route("/items/<int:id>/edit")
    @login_required
    def edit(id):
        return f"<form>{id}</form>"

    return app


def redirect_target(response):
    parts = urlsplit(response.headers["HX-Redirect"])
    return parts.path, parse_qs(parts.query).get("next")


def test_login_required_htmx_redirects_with_the_page_the_user_was_on(login_app):
    client = login_app.test_client()
    # A browser's htmx request also says Sec-Fetch-Mode: cors; it still is not a JSON client.
    response = client.get("/items/3/edit", headers={
        **HX, "HX-Current-URL": "http://localhost/items?page=2", "Sec-Fetch-Mode": "cors"})
    assert response.status_code == 401
    assert redirect_target(response) == ("/login", ["/items?page=2"])
    assert response.mimetype == "text/html" and "Log in" in response.text
    assert "Location" not in response.headers
    # Logged in, the same request reaches the view.
    client.post("/login")
    assert client.get("/items/3/edit", headers=HX).text == "<form>3</form>"


@pytest.mark.parametrize("current", [
    None,
    "http://evil.example/items",
    "https://evil.example/",
    "http://localhost//evil.example/x",
    "http://localhost/\\evil",
    "javascript:alert(1)",
    "ftp://localhost/items",
    "http://localhost/a\tb",
    "http://[bad",
])
def test_unsafe_current_url_gives_no_next(login_app, current):
    headers = dict(HX)
    if current is not None:
        headers["HX-Current-URL"] = current
    response = login_app.test_client().get("/items/3/edit", headers=headers)
    assert response.status_code == 401
    assert redirect_target(response) == ("/login", None)


def test_boosted_navigation_comes_back_to_the_page_asked_for(login_app):
    response = login_app.test_client().get("/items/3/edit?x=1", headers={
        **HX, "HX-Boosted": "true", "HX-Current-URL": "http://localhost/items"})
    assert response.status_code == 401
    assert redirect_target(response) == ("/login", ["/items/3/edit?x=1"])


def test_htmx_request_ranking_json_first_gets_json(login_app):
    response = login_app.test_client().get(
        "/items/3/edit", headers={**HX, "Accept": "application/json, text/html;q=0.5"})
    assert response.status_code == 401 and response.json["status"] == 401
    assert "HX-Redirect" not in response.headers


def test_non_htmx_requests_are_unchanged(login_app):
    client = login_app.test_client()
    response = client.get("/items/3/edit")
    assert response.status_code == 302 and response.location == "/login?next=/items/3/edit"
    response = client.get("/items/3/edit", headers={"Accept": "application/json"})
    assert response.status_code == 401 and response.json["error"] == "Unauthorized"


def test_no_login_view_answers_a_401_fragment(login_app):
    login_app.config["LOGIN_VIEW"] = None
    response = login_app.test_client().get("/items/3/edit", headers=HX)
    assert response.status_code == 401 and "HX-Redirect" not in response.headers
    assert response.text.startswith('<div class="error error-401" role="alert"')


# -- error fragments -------------------------------------------------------------------------


@pytest.fixture
def error_app(app):
    @app.route("/fail/<int:code>", methods=["GET", "POST"])
    def fail(code):
        abort(code, description="Nope <b>here</b>.")

    @app.route("/boom")
    def boom():
        raise RuntimeError("boom")

    @app.route("/only-post", methods=["POST"])
    def only_post():
        return "ok"

    return app


@pytest.mark.parametrize("code", [400, 403, 404, 409, 422, 500])
def test_errors_are_fragments_for_htmx(error_app, code):
    response = error_app.test_client().get(f"/fail/{code}", headers=HX)
    assert response.status_code == code and response.mimetype == "text/html"
    text = response.text
    assert text.startswith(f'<div class="error error-{code}" role="alert" data-status="{code}">')
    assert "Nope &lt;b&gt;here&lt;/b&gt;." in text
    assert "<html" not in text.lower() and "<title" not in text
    assert "HX-Request" in response.vary


def test_unrouted_errors_and_their_headers(error_app):
    client = error_app.test_client()
    response = client.get("/nowhere", headers=HX)
    assert response.status_code == 404 and "<strong>404 Not Found</strong>" in response.text
    response = client.get("/only-post", headers=HX)
    assert response.status_code == 405
    assert sorted(response.headers["Allow"].split(", ")) == ["OPTIONS", "POST"]
    assert response.text.startswith('<div class="error error-405"')


def test_unhandled_exception_is_a_500_fragment(error_app):
    error_app.testing = False
    response = error_app.test_client().get("/boom", headers=HX)
    assert response.status_code == 500
    assert "<strong>500 Internal Server Error</strong>" in response.text
    assert "boom" not in response.text


def test_errors_for_whole_pages_and_json_clients(error_app):
    client = error_app.test_client()
    for headers in ({}, {**HX, "HX-Boosted": "true"}):
        response = client.get("/fail/404", headers=headers)
        assert response.status_code == 404 and "<!doctype html>" in response.text
    response = client.get("/fail/404", headers={**HX, "Accept": "application/json"})
    assert response.json == {"error": "Not Found", "message": "Nope <b>here</b>.", "status": 404}


def test_the_apps_error_handler_wins(error_app):
    @error_app.errorhandler(404)
    def mine(e):
        return "my 404", 404

    assert error_app.test_client().get("/fail/404", headers=HX).text == "my 404"


# -- flashes ---------------------------------------------------------------------------------


@pytest.fixture
def flash_app(app):
    @app.post("/save")
    def save():
        flash.success("Saved <now>.")
        flash("Plain.")
        return '<tr id="row-1"><td>one</td></tr>'

    @app.post("/go")
    def go():
        flash.info("Moved.")
        return redirect("/")

    @app.post("/leave")
    def leave():
        flash.info("Bye.")
        return "", 200, {"HX-Redirect": "/"}

    @app.post("/data")
    def data():
        flash.info("Data.")
        return {"ok": True}

    @app.post("/bad")
    def bad():
        flash.error("Could not.")
        abort(409)

    @app.get("/")
    def index():
        from flask import render_template_string

        return render_template_string('{% extends "batteries/base.html" %}')

    return app


def oob(text):
    start = text.find("<div hx-swap-oob=")
    return text[start:] if start >= 0 else None


def test_flashes_travel_out_of_band_with_the_fragment(flash_app):
    client = flash_app.test_client()
    response = client.post("/save", headers=HX)
    assert response.text.startswith('<tr id="row-1"><td>one</td></tr>')
    element = oob(response.text)
    assert element.startswith('<div hx-swap-oob="innerHTML:#flashes">')
    assert '<li class="flash flash-success" role="status">Saved &lt;now&gt;.</li>' in element
    assert '<li class="flash flash-message" role="status">Plain.</li>' in element
    assert "Cookie" in response.vary
    # Delivered once: the next page has none waiting.
    page = client.get("/")
    assert '<div id="flashes"></div>' in page.text


def test_flashes_wait_when_htmx_leaves_the_page(flash_app):
    client = flash_app.test_client()
    for path in ("/go", "/leave", "/data"):
        response = client.post(path, headers=HX)
        assert oob(response.get_data(as_text=True)) is None, path
    page = client.get("/")
    assert "Moved." in page.text and "Bye." in page.text and "Data." in page.text


def test_flashes_wait_for_boosted_and_plain_requests(flash_app):
    client = flash_app.test_client()
    assert oob(client.post("/save", headers={**HX, "HX-Boosted": "true"}).text) is None
    assert oob(client.post("/save").text) is None
    page = client.get("/")
    assert page.text.count("Saved &lt;now&gt;.") == 2


def test_flashes_ride_on_error_fragments(flash_app):
    response = flash_app.test_client().post("/bad", headers=HX)
    assert response.status_code == 409 and response.text.startswith('<div class="error error-409"')
    assert 'role="alert">Could not.</li>' in oob(response.text)


def test_flash_target_setting(flash_app):
    client = flash_app.test_client()
    flash_app.config["HTMX_FLASH_TARGET"] = "#messages .list"
    assert oob(client.post("/save", headers=HX).text).startswith(
        '<div hx-swap-oob="innerHTML:#messages .list">')
    flash_app.config["HTMX_FLASH_TARGET"] = None
    assert oob(client.post("/save", headers=HX).text) is None
    assert "Saved" in client.get("/").text


def test_no_session_is_opened_for_htmx_requests_without_one(flash_app):
    @flash_app.get("/fragment")
    def fragment():
        return "<p>hi</p>"

    response = flash_app.test_client().get("/fragment", headers=HX)
    assert response.text == "<p>hi</p>"
    assert "Cookie" not in response.vary and "Set-Cookie" not in response.headers


def test_json_error_bodies_still_carry_flashes(flash_app):
    response = flash_app.test_client().post("/bad", headers={**HX, "Accept": "application/json"})
    assert json.loads(response.text)["flashes"] == [{"category": "error", "message": "Could not."}]

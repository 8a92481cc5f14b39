"""``batteries.flash`` and the ``render_flashes`` macro (``batteries/_flashes.html``)."""

from __future__ import annotations

import flask
import pytest
from flask import get_flashed_messages, render_template_string

from batteries import flash
from batteries.flashing import pop_flashes, session_in_use

MACRO = '{% from "batteries/_flashes.html" import render_flashes %}'


@pytest.fixture
def client(app):
    @app.route("/flash/<category>")
    def add(category):
        if category == "plain":
            flash("plain message")
        elif category == "positional":
            flash("positional warning", "warning")
        else:
            getattr(flash, category)(f"a {category} message")
        return "ok"

    @app.route("/flask-flash")
    def flask_flash():
        flask.flash("from flask", "info")
        return "ok"

    @app.route("/show")
    def show():
        categories = flask.request.args.getlist("c") or None
        return render_template_string(MACRO + "{{ render_flashes(categories) }}", categories=categories)

    @app.route("/rest")
    def rest():
        return {"rest": [list(m) for m in get_flashed_messages(with_categories=True)]}

    return app.test_client()


@pytest.mark.parametrize("category", ["success", "info", "warning", "error"])
def test_methods_set_the_category(client, category):
    client.get(f"/flash/{category}")
    assert client.get("/rest").json == {"rest": [[category, f"a {category} message"]]}


def test_flash_is_flask_flash(client):
    client.get("/flash/plain")
    client.get("/flash/positional")
    assert client.get("/rest").json == {
        "rest": [["message", "plain message"], ["warning", "positional warning"]]
    }


def test_flask_flash_shows_in_the_macro(client):
    client.get("/flask-flash")
    html = client.get("/show").text
    assert 'class="flash flash-info" role="status">from flask</li>' in html


def test_render_flashes_all_and_roles(client):
    client.get("/flash/success")
    client.get("/flash/error")
    html = client.get("/show").text
    assert 'class="flash flash-success" role="status">a success message' in html
    assert 'class="flash flash-error" role="alert">a error message' in html
    # consumed
    assert "flash" not in client.get("/show").text


def test_render_flashes_pops_only_the_requested_categories(client):
    client.get("/flash/success")
    client.get("/flash/error")
    client.get("/flash/info")
    html = client.get("/show?c=error").text
    assert "a error message" in html
    assert "a success message" not in html
    # the others are still waiting, in order
    assert client.get("/rest").json == {
        "rest": [["success", "a success message"], ["info", "a info message"]]
    }


def test_filter_with_nothing_matching_keeps_everything(client):
    client.get("/flash/success")
    assert "<li" not in client.get("/show?c=error").text
    assert client.get("/rest").json == {"rest": [["success", "a success message"]]}


def test_messages_are_escaped(app):
    @app.route("/x")
    def x():
        flash.error("<script>alert(1)</script>")
        return render_template_string(MACRO + "{{ render_flashes() }}")

    html = app.test_client().get("/x").text
    assert "<script>alert" not in html
    assert "&lt;script&gt;" in html


def test_no_session_cookie_no_session_access(app, client):
    response = client.get("/show")
    assert response.status_code == 200
    assert "Cookie" not in response.headers.get("Vary", "")
    assert "Set-Cookie" not in response.headers


def test_flashed_in_the_same_request_shows_without_a_cookie(app):
    @app.route("/now")
    def now():
        flash.success("right away")
        return render_template_string(MACRO + "{{ render_flashes() }}")

    html = app.test_client().get("/now").text
    assert "right away" in html


def test_after_get_flashed_messages_in_the_same_request(app):
    @app.route("/both")
    def both():
        flash.success("s")
        flash.error("e")
        before = get_flashed_messages()
        errors = pop_flashes(["error"])
        rest = pop_flashes()
        return {"before": before, "errors": errors, "rest": rest}

    client = app.test_client()
    assert client.get("/both").json == {
        "before": ["s", "e"],
        "errors": [["error", "e"]],
        "rest": [["success", "s"]],
    }


def test_pop_flashes_outside_a_request_is_empty(app):
    assert pop_flashes() == []
    assert session_in_use() is False
    with app.app_context():
        assert pop_flashes("error") == []


def test_without_secret_key_rendering_still_works(app):
    app.config["SECRET_KEY"] = None

    @app.route("/page")
    def page():
        return render_template_string(MACRO + "[{{ render_flashes() }}]")

    client = app.test_client()
    client.set_cookie("session", "garbage")
    response = client.get("/page")
    assert response.status_code == 200
    assert response.text == "[]"


def test_flashes_in_json_errors(client, app):
    client.get("/flash/error")
    response = client.get("/missing", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.json["flashes"] == [{"category": "error", "message": "a error message"}]


def test_repr():
    assert "flash" in repr(flash)


def test_flashes_get_flashed_messages_took_are_not_lost(app):
    # Flask keeps what get_flashed_messages took for the rest of the request (on 3.1 in the
    # request context, on 3.2 in the app context): the session class remembers that list.
    @app.post("/set")
    def set_():
        flash.info("i")
        flash.error("e")
        return ""

    @app.get("/read")
    def read():
        errors = get_flashed_messages(category_filter=["error"])
        shown = pop_flashes(["info"])
        return {"errors": errors, "shown": shown, "left": get_flashed_messages(True)}

    client = app.test_client()
    client.post("/set")
    assert client.get("/read").json == {
        "errors": ["e"],
        "shown": [["info", "i"]],
        "left": [["error", "e"]],
    }
    assert client.get("/read").json == {"errors": [], "shown": [], "left": []}

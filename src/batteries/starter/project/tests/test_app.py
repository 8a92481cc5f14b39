"""The generated app works end to end: register, log in, write a note, run the task."""

from __future__ import annotations

from batteries import db
from sqlalchemy import select

from __project__.models import Note

from .conftest import csrf_token, register_and_login


def test_index_is_empty(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"No notes yet." in response.data


def test_new_note_needs_login(client):
    response = client.get("/notes/new")
    assert response.status_code == 302
    assert "/auth/login?next=" in response.headers["Location"]


def test_register_login_and_write(app, client, mail_outbox):
    register_and_login(client, mail_outbox)
    token = csrf_token(client, "/notes/new")
    response = client.post(
        "/notes/new", data={"title": "Hello", "body": "one two three", "csrf_token": token}
    )
    assert response.status_code == 303
    with app.app_context():
        note = db.session.scalar(select(Note))
        assert note.title == "Hello"
        assert note.words == 3  # counted by the task (eager in tests)
    assert b"Hello" in client.get("/").data


def test_bad_login_is_refused(client):
    token = csrf_token(client, "/auth/login")
    response = client.post(
        "/auth/login", data={"username": "nobody", "password": "x", "csrf_token": token}
    )
    assert response.status_code == 200
    assert b"Wrong username or password" in response.data


def test_form_without_csrf_token_is_refused(client):
    response = client.post("/auth/login", data={"username": "a", "password": "b"})
    assert response.status_code in (200, 400)
    assert b"Welcome" not in response.data


def test_db_init_command(runner):
    from batteries.cli import cli

    result = runner.invoke(cli, ["db", "init"])
    assert result.exit_code == 0, result.output


def test_navigation_shows_login_links_then_the_user_and_logout(client, mail_outbox):
    page = client.get("/").get_data(as_text=True)
    assert 'class="bt-nav"' in page and 'href="/auth/login"' in page
    assert 'action="/auth/logout"' not in page
    register_and_login(client, mail_outbox)
    page = client.get("/").get_data(as_text=True)
    assert 'href="/auth/login"' not in page
    assert "ada" in page and 'action="/auth/logout"' in page
    # The logout button posts the CSRF token; it ends the session.
    token = csrf_token(client, "/")
    response = client.post("/auth/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert client.get("/notes/new").status_code == 302  # to the login page again


def test_logout_without_csrf_token_is_refused(client, mail_outbox):
    register_and_login(client, mail_outbox)
    assert client.post("/auth/logout").status_code == 400
    assert client.get("/notes/new").status_code == 200  # still logged in


def test_missing_page_is_styled_in_the_site_layout(client):
    response = client.get("/no/such/page", headers={"Accept": "text/html"})
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert 'class="bt-error"' in page and 'class="bt-nav"' in page
    assert "batteries.css" in page and "Not Found" in page

"""Accounts end to end: confirmation, password reset by mail, sessions ended, login limits."""

from __future__ import annotations

from batteries import db
from sqlalchemy import select

from __project__.models import User

from .conftest import csrf_token, link_in, log_in, register, register_and_login


def user(app, name="ada"):
    with app.app_context():
        return db.session.scalar(select(User).where(User.username == name))


def request_reset(client, email):
    token = csrf_token(client, "/auth/reset")
    return client.post("/auth/reset", data={"email": email, "csrf_token": token})


def path_of(link):
    return "/" + link.split("://", 1)[1].partition("/")[2]


def choose_password(client, link, password):
    token = csrf_token(client, path_of(link))
    data = {"password": password, "confirm": password, "csrf_token": token}
    return client.post(path_of(link), data=data)


def csrf_token_in(html):
    marker = 'name="csrf_token" type="hidden" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def logged_in(client):
    return client.get("/notes/new").status_code == 200


def test_register_sends_a_confirmation_link(app, client, mail_outbox):
    response = register(client)
    assert response.status_code == 303
    [message] = mail_outbox
    assert message["To"] == "ada@example.com"
    assert "/auth/confirm/" in link_in(message)
    assert not user(app).email_confirmed
    # Not confirmed yet: the login is refused and a new link is sent.
    assert b"Confirm your e-mail address first" in log_in(client).data
    assert not logged_in(client)
    assert len(mail_outbox) == 2
    assert client.get(link_in(mail_outbox[1])).status_code == 302
    assert user(app).email_confirmed
    assert log_in(client).status_code == 303 and logged_in(client)


def test_confirmation_link_works_once_and_refuses_tampering(app, client, mail_outbox):
    register(client)
    link = link_in(mail_outbox[0])
    client.get(link)
    assert user(app).email_confirmed
    again = client.get(link, follow_redirects=True)
    assert b"invalid, used or expired" in again.data
    tampered = client.get(link[:-3] + "xyz", follow_redirects=True)
    assert b"invalid, used or expired" in tampered.data


def test_registering_a_taken_address_tells_its_owner_only(app, client, mail_outbox):
    register_and_login(client, mail_outbox)
    other = app.test_client()
    first = register(other, name="eve", email="ada@example.com")
    assert first.status_code == 303  # the same answer as a new address
    assert mail_outbox[-1]["Subject"] == "Someone tried to register with your address"
    assert user(app, "eve") is None


def test_reset_answers_the_same_for_known_and_unknown_addresses(app, client, mail_outbox):
    register_and_login(client, mail_outbox)
    sent = len(mail_outbox)
    known = request_reset(app.test_client(), "ada@example.com")
    unknown = request_reset(app.test_client(), "nobody@example.com")
    assert known.status_code == unknown.status_code == 303
    assert known.headers["Location"] == unknown.headers["Location"]
    assert len(mail_outbox) == sent + 1  # one mail, to the known address only
    assert mail_outbox[-1]["To"] == "ada@example.com"
    # The page after the redirect is the same too (but for its CSRF token).
    pages = []
    for email in ("ada@example.com", "nobody@example.com"):
        browser = app.test_client()
        page = request_reset(browser, email)
        page = browser.get(page.headers["Location"]).get_data(as_text=True)
        pages.append(page.replace(csrf_token_in(page), ""))
    assert "If an account uses that address" in pages[0]
    assert pages[0] == pages[1]


def test_reset_changes_the_password_and_ends_other_sessions(app, client, mail_outbox):
    register_and_login(client, mail_outbox)
    laptop = app.test_client()
    log_in(laptop, remember=True)
    assert logged_in(laptop)
    # The remember cookie alone logs the laptop back in (before the reset).
    laptop.delete_cookie("session")
    assert logged_in(laptop)

    phone = app.test_client()
    request_reset(phone, "ada@example.com")
    link = link_in(mail_outbox[-1])
    assert mail_outbox[-1].get_body(("html",)) is not None
    response = choose_password(phone, link, "a brand new password")
    assert response.status_code == 303
    assert logged_in(phone)

    # Every other session and remember cookie is over; the old password is refused.
    assert not logged_in(client)
    laptop.delete_cookie("session")
    assert not logged_in(laptop)
    assert b"Wrong username or password" in log_in(app.test_client()).data
    assert log_in(app.test_client(), password="a brand new password").status_code == 303
    # The link worked once.
    again = app.test_client().get(path_of(link))
    assert again.status_code == 302 and "/auth/reset" in again.headers["Location"]


def test_login_is_rate_limited(client):
    answers = [log_in(client, "nobody", "guess").status_code for _ in range(6)]
    assert answers == [200] * 5 + [429]
    assert client.get("/auth/login").status_code == 200  # only POSTs are counted

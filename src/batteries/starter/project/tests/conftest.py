"""Fixtures: an app on a fresh SQLite database in a temporary folder, its client and runner.

The database is built by the project's migrations (__project__/migrations), as production's is.
"""

from __future__ import annotations

import pytest
from batteries import migrations

from __project__ import create_app


def make_app(folder, **config):
    """An app for tests on its own SQLite database in ``folder``; ``config`` adds keys."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "DATABASE_URL": f"sqlite:///{folder / 'test.sqlite'}",
            "CACHE_TYPE": "null",
            "CELERY": {"task_always_eager": True, "task_eager_propagates": True},
            **config,
        }
    )
    app.instance_path = str(folder / "instance")
    migrations.upgrade(app)
    return app


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def csrf_token(client, url):
    """GET ``url`` and return the CSRF token of its form."""
    html = client.get(url).get_data(as_text=True)
    marker = 'name="csrf_token" type="hidden" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def link_in(message):
    """The first http(s) link in the text part of a sent ``message``."""
    text = message.get_body(("plain",)).get_content()
    return next(word for word in text.split() if word.startswith(("http://", "https://")))


def register(client, name="ada", email="ada@example.com", password="correct horse"):
    token = csrf_token(client, "/auth/register")
    data = {"username": name, "email": email, "password": password, "confirm": password}
    return client.post("/auth/register", data={**data, "csrf_token": token})


def log_in(client, name="ada", password="correct horse", remember=False):
    token = csrf_token(client, "/auth/login")
    data = {"username": name, "password": password, "csrf_token": token}
    if remember:
        data["remember"] = "y"
    return client.post("/auth/login", data=data)


def register_and_login(client, outbox, name="ada", password="correct horse"):
    """Register, follow the confirmation link from the mail, log in.

    The views' redirects (auth.py): 303 See Other after a POST, 302 after a GET.
    """
    assert register(client, name, f"{name}@example.com", password).status_code == 303
    assert client.get(link_in(outbox[-1])).status_code == 302
    response = log_in(client, name, password)
    assert response.status_code == 303
    return response

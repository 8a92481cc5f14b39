"""Fixtures: an app on a fresh SQLite database in a temporary folder, its client and runner.

The database is built by the project's migrations (__project__/migrations), as production's is.
"""

from __future__ import annotations

import pytest
from batteries import migrations

from __project__ import create_app


@pytest.fixture
def app(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'test.sqlite'}",
            "CACHE_TYPE": "null",
            "CELERY": {"task_always_eager": True, "task_eager_propagates": True},
        }
    )
    app.instance_path = str(tmp_path / "instance")
    migrations.upgrade(app)
    return app


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

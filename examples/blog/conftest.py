"""Fixtures for the blog example: an app on a fresh SQLite database and upload folder."""

from __future__ import annotations

import os
import re
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)


@pytest.fixture
def blog_app(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith(("BATTERIES_", "FLASK_")):
            monkeypatch.delenv(name)
    from blog import create_app

    from batteries import db

    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "blog test key",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'blog.sqlite'}",
            "UPLOAD_FOLDER": str(tmp_path / "uploads"),
            "CACHE_TYPE": "simple",
            "CELERY": {
                "task_always_eager": True,
                "task_eager_propagates": True,
                "task_store_eager_result": True,
                "task_ignore_result": False,
            },
        }
    )
    app.instance_path = str(tmp_path / "instance")
    with app.app_context():
        db.create_all()
    return app


@pytest.fixture
def blog_client(blog_app):
    return blog_app.test_client()


_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def _csrf_from(html: str) -> str:
    match = _TOKEN.search(html)
    assert match, "no csrf_token in the page"
    return match.group(1) or match.group(2)


@pytest.fixture
def csrf_from():
    """``csrf_from(html)``: the CSRF token of the first form in ``html``."""
    return _csrf_from

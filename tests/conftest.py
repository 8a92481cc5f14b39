"""Shared fixtures of Batteries' own tests.

Each test runs with no ``BATTERIES_*`` or ``FLASK_*`` environment variables (so a developer's
shell cannot change results) and with the current directory in a fresh temporary folder.
The pytest plugin ``batteries.testing`` (app, client, runner, db, ...) is loaded through its
entry point; the fixtures below override ``app`` with a bare Batteries app in a temporary
folder, which is what most unit tests want.
"""

from __future__ import annotations

import os
import uuid

import pytest
from _secured import secured_routes
from _services import (
    PG_URL,
    private_pg_schema,
    service_up,  # noqa: F401  (re-exported for older imports)
)

from batteries import Batteries


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    for name in list(os.environ):
        if name.startswith(("BATTERIES_", "FLASK_")) or name == "WERKZEUG_RUN_MAIN":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture
def app(tmp_path) -> Batteries:
    """A Batteries app rooted in a temporary folder (instance folder inside it)."""
    app = Batteries("test_app", root_path=str(tmp_path), instance_path=str(tmp_path / "instance"))
    app.config.update(TESTING=True, SECRET_KEY="test secret key")
    return app


@pytest.fixture
def secured(app: Batteries) -> Batteries:
    app.config["SECURITY_HEADERS"] = True
    secured_routes(app)
    return app


@pytest.fixture
def tasks_app(app: Batteries) -> Batteries:
    """``app`` with a Celery queue of its own (tests of tasks and of their results)."""
    app.config["CELERY"] = {"task_default_queue": f"t-{uuid.uuid4().hex[:8]}"}
    return app


@pytest.fixture
def pg_schema_app(app: Batteries):
    """``app`` with ``DATABASE_URL`` on PostgreSQL, in a schema of its own (dropped after; the
    test is skipped when PostgreSQL does not answer)."""
    from batteries import db

    with private_pg_schema() as schema:
        app.config["DATABASE_URL"] = PG_URL
        app.config["DATABASE_ENGINE_OPTIONS"] = {
            "connect_args": {"options": f"-csearch_path={schema}"}
        }
        yield app
        db.get_engine(app).dispose()

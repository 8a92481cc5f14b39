"""The pytest plugin ``batteries.testing``: app, client, runner and the transactional ``db``.

The ``db`` fixture is used directly here (the plugin is loaded through its entry point) with an
app whose database outlives each test (one file per module, one PostgreSQL schema), so a row a
test commits would be seen by the next test if the fixture did not roll it back. A pytest run
in a subprocess checks the fixtures from a user's point of view (``--batteries-app``).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid

import pytest
from _services import service_up
from sqlalchemy import String, create_engine, func, select
from sqlalchemy.orm import Mapped, mapped_column

from batteries import Batteries
from batteries import db as batteries_db

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class Note(batteries_db.Model):
    __tablename__ = "testing_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(50), unique=True)


@pytest.fixture(scope="module")
def database_url(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('shared') / 'shared.sqlite'}"


@pytest.fixture(scope="module")
def pg_schema():
    if not service_up(5432):
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
    schema = "bt_" + uuid.uuid4().hex[:12]
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    yield schema
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


def _routes(app: Batteries) -> Batteries:
    @app.post("/notes/<text>")
    def add(text):
        batteries_db.session.add(Note(text=text))
        batteries_db.session.commit()
        return "", 201

    @app.get("/notes")
    def notes():
        return {"notes": list(batteries_db.session.scalars(select(Note.text).order_by(Note.id)))}

    return app


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def app(request, tmp_path, database_url):
    app = Batteries("testing_app", root_path=str(tmp_path), instance_path=str(tmp_path / "i"))
    app.config.update(TESTING=True, SECRET_KEY="k", PROPAGATE_EXCEPTIONS=False)
    if request.param == "sqlite":
        app.config["DATABASE_URL"] = database_url
    else:
        schema = request.getfixturevalue("pg_schema")
        app.config["DATABASE_URL"] = PG_URL
        app.config["DATABASE_ENGINE_OPTIONS"] = {
            "connect_args": {"options": f"-csearch_path={schema}"}
        }
    yield _routes(app)
    batteries_db.get_engine(app).dispose()


def _count_outside(app) -> int:
    """Rows as another connection (outside the test's transaction) sees them."""
    engine = create_engine(
        app.config["DATABASE_URL"], **app.config.get("DATABASE_ENGINE_OPTIONS", {})
    )
    try:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(Note.__table__))
    finally:
        engine.dispose()


@pytest.mark.parametrize("run", [1, 2])
def test_committed_rows_do_not_leak_between_tests(app, client, db, run):
    assert db is batteries_db
    assert client.get("/notes").json == {"notes": []}  # the previous run's rows are gone
    assert client.post("/notes/first").status_code == 201  # the view commits
    assert client.post("/notes/second").status_code == 201
    assert client.get("/notes").json == {"notes": ["first", "second"]}  # seen by later requests
    with app.app_context():
        db.session.add(Note(text="from the test"))
        db.session.commit()
    assert len(client.get("/notes").json["notes"]) == 3
    assert _count_outside(app) == 0  # nothing really committed


def test_a_failing_view_rolls_back_only_its_own_savepoint(app, client, db):
    assert client.post("/notes/kept").status_code == 201
    r = client.post("/notes/kept", headers={"Accept": "application/json"})
    assert r.status_code == 409  # duplicate, the savepoint is rolled back
    assert client.post("/notes/other").status_code == 201
    assert client.get("/notes").json == {"notes": ["kept", "other"]}


def test_without_the_fixture_rows_persist(app, client):
    """The control: without ``db`` a commit is real (then cleaned up by hand)."""
    with app.app_context():
        batteries_db.create_all()
    client.post("/notes/real")
    try:
        assert _count_outside(app) == 1
    finally:
        with app.app_context():
            batteries_db.session.execute(Note.__table__.delete())
            batteries_db.session.commit()


def test_plugin_fixtures_from_a_user_project(tmp_path):
    (tmp_path / "myapp.py").write_text(
        textwrap.dedent(
            """
            from batteries import Batteries, db
            from sqlalchemy import select
            from sqlalchemy.orm import Mapped, mapped_column

            class Item(db.Model):
                __tablename__ = "items"
                id: Mapped[int] = mapped_column(primary_key=True)

            def create_app(config=None):
                app = Batteries(__name__)
                app.config.update(config or {})

                @app.post("/items")
                def add():
                    db.session.add(Item())
                    db.session.commit()
                    return "", 201

                @app.get("/items")
                def count():
                    return {"n": len(db.session.scalars(select(Item)).all())}

                @app.cli.command("hello")
                def hello():
                    print("hello from the app")

                return app
            """
        )
    )
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            import pytest

            def test_app(app):
                assert app.testing and app.name == "myapp"

            def test_runner(runner):
                assert "hello from the app" in runner.invoke(args=["hello"]).output

            @pytest.mark.parametrize("n", [1, 2, 3])
            def test_db(client, db, n):
                assert client.get("/items").json == {"n": 0}
                for _ in range(n):
                    client.post("/items")
                assert client.get("/items").json == {"n": n}
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--batteries-app", "myapp:create_app", "test_user.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "5 passed" in result.stdout, result.stdout + result.stderr

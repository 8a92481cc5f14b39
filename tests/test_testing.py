"""The pytest plugin ``batteries.testing``: app, client, runner and the transactional ``db``.

The ``db`` fixture is used directly here (the plugin is loaded through its entry point) with an
app whose database outlives each test (one file per module, one PostgreSQL schema), so a row a
test commits would be seen by the next test if the fixture did not roll it back. A pytest run
in a subprocess checks the fixtures from a user's point of view (``--batteries-app``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from _services import PG_URL, private_pg_schema, service_up
from flask import current_app, g, has_request_context, request
from sqlalchemy import String, create_engine, func, select, text
from sqlalchemy.orm import Mapped, mapped_column

from batteries import Batteries
from batteries import db as batteries_db


class Note(batteries_db.Model):
    __tablename__ = "testing_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(50), unique=True)


@pytest.fixture(scope="module")
def database_url(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('shared') / 'shared.sqlite'}"


@pytest.fixture(scope="module")
def pg_schema():
    with private_pg_schema() as schema:
        yield schema


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


def test_the_test_body_has_an_app_context_and_requests_their_own(app, client, db):
    @app.get("/ctx")
    def ctx():
        seen = g.get("mark")
        g.mark = "set by a request"
        return {"seen": seen, "same_session": batteries_db.session() is test_session}

    assert current_app._get_current_object() is app  # pushed by the fixture
    test_session = db.session()
    g.mark = "set by the test"
    first, second = client.get("/ctx").json, client.get("/ctx").json
    assert first["seen"] is None and second["seen"] is None  # each request has its own g
    assert g.mark == "set by the test"
    assert first["same_session"] is False  # and its own session
    with client:  # contexts preserved after the request are the request's
        client.get("/notes")
        assert request.path == "/notes"
    assert not has_request_context() and g.mark == "set by the test"
    db.session.add(Note(text="from the body"))
    db.session.flush()
    assert client.get("/notes").json == {"notes": ["from the body"]}  # same transaction


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
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--batteries-app",
            "myapp:create_app",
            "test_user.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "5 passed" in result.stdout, result.stdout + result.stderr


# -- isolation: a project whose instance/ folder holds a development database and cache ------

PROJECT_APP = """
from batteries import Batteries, cached, db
from sqlalchemy import func, select
from sqlalchemy.orm import Mapped, mapped_column


class Item(db.Model):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)


def count():
    return db.session.scalar(select(func.count()).select_from(Item))


def create_app(config=None):
    app = Batteries(__name__)
    app.config.update(config or {})

    @app.post("/items")
    def add():
        db.session.add(Item())
        db.session.commit()
        return "", 201

    @app.get("/items")
    def items():
        return {"n": count()}

    @app.get("/page")
    @cached(timeout=3600)
    def page():
        return f"{count()} items"

    return app
"""

PROJECT_CONFTEST = """
import pytest
from myproj import create_app


@pytest.fixture
def app():
    return create_app({"TESTING": True, "SECRET_KEY": "test"})
"""

PROJECT_TESTS = """
import os

from myproj import Item, count

PROJECT_INSTANCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "instance")


def test_db_fixture_sees_an_empty_database_without_a_pushed_context(client, db):
    assert count() == 0  # no `with app.app_context()`: the fixture pushed one
    assert client.get("/items").json == {"n": 0}
    assert client.post("/items").status_code == 201
    db.session.add(Item())
    db.session.flush()
    assert count() == 2
    assert client.get("/items").json == {"n": 2}


def test_no_stale_cached_page(client, db):
    assert client.get("/page").get_data(as_text=True) == "0 items"


def test_a_real_commit_and_an_upload_stay_in_the_session(app, client):
    from batteries import db, uploads

    with app.app_context():
        db.create_all()
    assert client.post("/items").status_code == 201
    folder = uploads.upload_folder(app)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "a.txt"), "w") as f:
        f.write("user data")
    assert not os.path.realpath(app.instance_path).startswith(os.path.realpath(PROJECT_INSTANCE))
"""


def _snapshot(folder) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def project(tmp_path):
    """A project with a development database (one row) and a cached page in instance/."""
    root = tmp_path / "proj"
    root.mkdir()
    (root / "myproj.py").write_text(PROJECT_APP)
    (root / "conftest.py").write_text(PROJECT_CONFTEST)
    (root / "test_proj.py").write_text(PROJECT_TESTS)
    (root / "pytest.ini").write_text("[pytest]\n")
    instance = root / "instance"
    instance.mkdir()
    dev_db = instance / "dev.sqlite"
    (instance / "config.py").write_text(f"DATABASE_URL = {'sqlite:///' + str(dev_db)!r}\n")
    develop = textwrap.dedent(
        """
        from myproj import create_app, db
        app = create_app()
        with app.app_context():
            db.create_all()
        client = app.test_client()
        assert client.post("/items").status_code == 201
        assert client.get("/page").get_data(as_text=True) == "1 items"
        """
    )
    subprocess.run([sys.executable, "-c", develop], cwd=root, check=True, timeout=120)
    assert dev_db.is_file() and any((instance / "cache").iterdir())
    return root


def _pytest(project, *args: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, "test_proj.py"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )


def test_a_session_leaves_the_projects_instance_folder_alone(project):
    before = _snapshot(project / "instance")
    result = _pytest(project)
    assert "3 passed" in result.stdout, result.stdout + result.stderr
    assert _snapshot(project / "instance") == before  # same files, same bytes


def test_the_control_without_isolation_touches_the_development_data(project):
    """The same tests with isolation off fail as the issue says: the dev row, the stale page."""
    before = _snapshot(project / "instance")
    result = _pytest(project, "--batteries-no-isolate")
    assert "3 failed" in result.stdout, result.stdout + result.stderr
    assert "assert 1 == 0" in result.stdout
    assert "'1 items' == '0 items'" in result.stdout
    assert _snapshot(project / "instance") != before


def test_the_session_folder_is_named_in_the_header_and_removed(project):
    env = {**os.environ, "BATTERIES_MAIL_URL": "memory:"}
    result = _pytest(project, "-v", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "batteries: BATTERIES_MAIL_URL from the environment apply" in result.stdout
    line = next(x for x in result.stdout.splitlines() if x.startswith("batteries: instance"))
    folder = line.split(" in ", 1)[1].split(" (")[0]
    assert os.path.isabs(folder) and not os.path.exists(folder)


@pytest.mark.services
def test_a_postgresql_session_uses_a_private_schema_and_drops_it(project):
    if not service_up(5432):
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
    (project / "test_pg.py").write_text(
        textwrap.dedent(
            """
            from sqlalchemy import text

            def test_on_postgresql(app, client, db):
                assert db.engine.dialect.name == "postgresql"
                schema = db.session.scalar(text("select current_schema()"))
                assert schema.startswith("batteries_test_")
                assert client.post("/items").status_code == 201
                assert client.get("/items").json == {"n": 1}
                print("SCHEMA", schema)

            def test_a_real_commit(app, client):
                from batteries import db
                with app.app_context():
                    db.create_all()
                assert client.post("/items").status_code == 201
                assert client.get("/items").json == {"n": 1}
            """
        )
    )
    env = {**os.environ, "BATTERIES_TEST_DATABASE_URL": PG_URL}
    before = _snapshot(project / "instance")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "test_pg.py"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert "2 passed" in result.stdout, result.stdout + result.stderr
    schema = next(x.split()[1] for x in result.stdout.splitlines() if x.startswith("SCHEMA "))
    assert _snapshot(project / "instance") == before
    engine = create_engine(PG_URL)
    try:
        with engine.connect() as conn:
            left = conn.scalar(
                select(func.count())
                .select_from(text("information_schema.schemata"))
                .where(text("schema_name = :s").bindparams(s=schema))
            )
    finally:
        engine.dispose()
    assert left == 0


@pytest.mark.parametrize("source", ["env", "ini", "option"])
def test_a_database_url_that_is_not_postgresql_is_refused(project, source):
    url = "mysql+pymysql://root@127.0.0.1/test"
    env = {**os.environ}
    args: list[str] = []
    if source == "env":
        env["BATTERIES_TEST_DATABASE_URL"] = url
    elif source == "ini":
        (project / "pytest.ini").write_text(f"[pytest]\nbatteries_database_url = {url}\n")
    else:
        args = ["--batteries-database-url", url]
    result = _pytest(project, *args, env=env)
    assert result.returncode != 0
    assert "BATTERIES_TEST_DATABASE_URL" in result.stderr, result.stderr
    assert "takes a PostgreSQL URL" in result.stderr and "'mysql'" in result.stderr

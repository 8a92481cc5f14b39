"""``batteries.db``: engines, sessions per app context, 404 helpers, pagination, outages, CLI.

Core behaviour runs on SQLite, PostgreSQL (127.0.0.1:5432, a private schema per test) and
MariaDB (127.0.0.1:3306, a private database per test); the outage tests point at a dead port, go
through a TCP proxy that is stopped and restarted, and kill the app's backend with
``pg_terminate_backend`` / ``KILL`` (the shared servers are never stopped).
"""

from __future__ import annotations

import gc
import socket
import subprocess
import sys
import threading
import time

import pytest
from _services import MARIA_ROOT, PG_URL, private_maria_database
from sqlalchemy import ForeignKey, String, create_engine, func, select, text
from sqlalchemy import exc as sqlalchemy_exc
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from batteries import Batteries, db
from batteries.cli import cli
from batteries.sqla import SQLAlchemy


class Author(db.Model):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    books: Mapped[list[Book]] = relationship(back_populates="author")


class Book(db.Model):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(50))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("authors.id"))
    author: Mapped[Author | None] = relationship(back_populates="books")


# Only this file's tables: other test modules (and the examples) add models to the same
# db.Model.metadata, some with columns MariaDB cannot create (String without a length).
TABLES = [Author.__table__, Book.__table__]


def create_tables() -> None:
    db.Model.metadata.create_all(db.engine, tables=TABLES)


def add_routes(app: Batteries) -> None:
    @app.get("/authors")
    def authors():
        page = db.paginate(select(Author).order_by(Author.id))
        return {
            "names": [a.name for a in page.items],
            "total": page.total,
            "pages": page.pages,
            "page": page.page,
            "per_page": page.per_page,
        }

    @app.get("/authors/<int:id>")
    def author(id):
        return {"name": db.get_or_404(Author, id).name}

    @app.get("/by-name/<name>")
    def by_name(name):
        return {"id": db.first_or_404(select(Author).where(Author.name == name)).id}

    @app.get("/one/<name>")
    def one(name):
        return {"id": db.one_or_404(select(Author).where(Author.name == name)).id}

    @app.post("/authors/<name>")
    def create(name):
        db.session.add(Author(name=name))
        db.session.commit()
        return {"ok": True}, 201

    @app.post("/uncommitted/<name>")
    def uncommitted(name):
        db.session.add(Author(name=name))
        db.session.flush()
        return {"ok": True}

    @app.post("/failing/<name>")
    def failing(name):
        db.session.add(Author(name=name))
        db.session.flush()
        raise RuntimeError("the view failed after writing")

    @app.post("/caught/<name>")
    def caught(name):
        db.session.add(Author(name=name))
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            return {"duplicate": True}
        return {"duplicate": False}

    @app.get("/count")
    def count():
        return {"count": db.session.scalar(select(func.count()).select_from(Author))}


def _names(client) -> list[str]:
    return client.get("/authors?per_page=100").json["names"]


# -- apps on the three databases ---------------------------------------------------------------


@pytest.fixture
def sqlite_app(app):
    add_routes(app)
    with app.app_context():
        create_tables()
    return app


@pytest.fixture
def pg_app(pg_schema_app):
    add_routes(pg_schema_app)
    with pg_schema_app.app_context():
        create_tables()
    return pg_schema_app


@pytest.fixture
def maria_app(app):
    with private_maria_database() as name:
        # A non-strict session to start from: Batteries must make it strict.
        app.config["DATABASE_URL"] = f"mysql+pymysql://root@127.0.0.1:3306/{name}"
        app.config["DATABASE_ENGINE_OPTIONS"] = {
            "connect_args": {"init_command": "SET sql_mode=''"}
        }
        add_routes(app)
        with app.app_context():
            create_tables()
        yield app
        db.get_engine(app).dispose()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.services),
        pytest.param("mariadb", marks=pytest.mark.services),
    ]
)
def dbapp(request):
    return request.getfixturevalue({"sqlite": "sqlite_app", "postgresql": "pg_app", "mariadb": "maria_app"}[request.param])


def _bare_app(tmp_path, name: str) -> Batteries:
    app = Batteries(name, root_path=str(tmp_path / name), instance_path=str(tmp_path / name / "i"))
    app.config["TESTING"] = True
    return app


def _fill(app, n: int) -> None:
    with app.app_context():
        db.session.add_all(Author(name=f"author {i:03d}") for i in range(n))
        db.session.commit()


# -- import and config -------------------------------------------------------------------------


def test_import_and_construction_do_not_import_sqlalchemy(tmp_path):
    code = (
        "import sys, batteries\n"
        f"app = batteries.Batteries('x', root_path={str(tmp_path)!r})\n"
        "from batteries import db\n"
        "assert 'sqlalchemy' not in sys.modules, 'sqlalchemy imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_default_url_is_sqlite_in_instance_folder_created_on_first_use(app, tmp_path):
    assert not (tmp_path / "instance").exists()
    with app.app_context():
        engine = db.engine
        assert engine.url.get_backend_name() == "sqlite"
        assert engine.url.database == str(tmp_path / "instance" / "app.sqlite")
        assert (tmp_path / "instance").is_dir()
        assert db.session.scalar(text("PRAGMA foreign_keys")) == 1
        assert db.session.scalar(text("PRAGMA journal_mode")) == "wal"
    assert "DATABASE_URL" not in app.config  # the computed default is never written


def test_sqlalchemy_database_uri_is_read_when_database_url_unset(app, tmp_path):
    path = tmp_path / "other.sqlite"
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{path}"
    app.config["DATABASE_ENGINE_OPTIONS"] = {"pool_size": 3}
    with app.app_context():
        assert db.engine.url.database == str(path)
        assert db.engine.pool.size() == 3


@pytest.mark.services
def test_server_databases_get_psycopg_and_a_connect_timeout(app):
    # (their pooled connections are checked before use: tests/test_poolcheck.py)
    app.config["DATABASE_URL"] = "postgresql://postgres@127.0.0.1:5432/test"
    with app.app_context():
        engine = db.engine
        raw = db.session.connection().connection.dbapi_connection
        assert raw.info.get_parameters()["connect_timeout"] == "3"
    assert engine.url.drivername == "postgresql+psycopg"  # psycopg2 is not installed
    engine.dispose()


def test_sqlalchemy_names_are_reachable_on_db():
    assert db.select is select
    assert db.String is String
    assert db.relationship is relationship
    with pytest.raises(AttributeError):
        db.no_such_name  # noqa: B018


def test_engine_disposed_when_app_freed(tmp_path):
    app = _bare_app(tmp_path, "freed")
    with app.app_context():
        engine = db.engine
        db.session.execute(text("select 1"))
    assert engine.pool.checkedin() == 1
    del app
    gc.collect()
    assert engine.pool.checkedin() == 0  # dispose() replaced the pool


# -- sessions ----------------------------------------------------------------------------------


def test_db_session_outside_app_context_is_a_clear_error():
    with pytest.raises(RuntimeError, match="app context"):
        db.session.add(object())


def test_plain_flask_app_needs_init_app(tmp_path):
    from flask import Flask

    app = Flask("plain", root_path=str(tmp_path))
    with app.app_context(), pytest.raises(RuntimeError, match="init_app"):
        db.session()
    db.init_app(app)
    with app.app_context():
        assert db.session.scalar(select(1)) == 1


def test_one_session_per_app_context(app):
    with app.app_context():
        first = db.session()
        assert db.session() is first
        with app.app_context():
            inner = db.session()
            assert inner is not first
        assert db.session() is first
    with app.app_context():
        assert db.session() is not first


def test_nested_contexts_of_two_apps_in_one_thread_do_not_share(tmp_path):
    one, two = _bare_app(tmp_path, "one"), _bare_app(tmp_path, "two")
    with one.app_context():
        s1 = db.session()
        with two.app_context():
            s2 = db.session()
            assert s2 is not s1
            assert s2.get_bind().url != s1.get_bind().url
        assert db.session() is s1


def test_two_apps_are_isolated(tmp_path):
    apps = []
    for name in ("left", "right"):
        a = _bare_app(tmp_path, name)
        add_routes(a)
        with a.app_context():
            db.create_all()
        apps.append(a)
    left, right = apps
    assert left.test_client().post("/authors/ann").status_code == 201
    assert _names(left.test_client()) == ["ann"]
    assert _names(right.test_client()) == []


def test_teardown_closes_and_never_commits(dbapp):
    client = dbapp.test_client()
    assert client.post("/uncommitted/ghost").status_code == 200
    assert client.get("/count").json == {"count": 0}
    assert db.get_engine(dbapp).pool.checkedout() == 0


def test_failing_request_is_rolled_back(dbapp):
    dbapp.config["PROPAGATE_EXCEPTIONS"] = False
    client = dbapp.test_client()
    assert client.post("/failing/ghost").status_code == 500
    assert client.get("/count").json == {"count": 0}
    assert client.post("/authors/real").status_code == 201
    assert _names(client) == ["real"]
    assert db.get_engine(dbapp).pool.checkedout() == 0


def test_session_remove(app):
    with app.app_context():
        first = db.session()
        db.session.remove()
        assert db.session() is not first


def test_a_second_sqlalchemy_object_needs_its_own_init_app(app):
    other = SQLAlchemy()
    with app.app_context(), pytest.raises(RuntimeError, match="init_app"):
        other.session()
    other.init_app(app)
    with app.app_context():
        assert other.session() is not db.session()


# -- 404 helpers -------------------------------------------------------------------------------


def test_get_first_one_or_404(dbapp):
    client = dbapp.test_client()
    client.post("/authors/ann")
    assert client.get("/authors/1").json == {"name": "ann"}
    r = client.get("/authors/99", headers={"Accept": "application/json"})
    assert r.status_code == 404
    assert r.json["message"] == "Author 99 was not found."
    assert client.get("/by-name/ann").json == {"id": 1}
    assert client.get("/by-name/bob").status_code == 404
    assert client.get("/one/ann").json == {"id": 1}
    assert client.get("/one/bob").status_code == 404


# -- pagination --------------------------------------------------------------------------------


def test_paginate_pages(dbapp):
    _fill(dbapp, 45)
    client = dbapp.test_client()
    first = client.get("/authors").json
    assert first["names"][0] == "author 000" and len(first["names"]) == 20
    assert (first["total"], first["pages"], first["page"], first["per_page"]) == (45, 3, 1, 20)
    last = client.get("/authors?page=3").json
    assert last["names"] == [f"author {i:03d}" for i in range(40, 45)]
    assert last["total"] == 45
    assert client.get("/authors?page=2&per_page=10").json["names"][0] == "author 010"


# -- integrity ---------------------------------------------------------------------------------


def test_duplicate_is_409_and_the_next_request_works(dbapp):
    client = dbapp.test_client()
    assert client.post("/authors/ann").status_code == 201
    r = client.post("/authors/ann", headers={"Accept": "application/json"})
    assert r.status_code == 409
    assert "already taken" in r.json["message"]
    assert client.post("/caught/ann").json == {"duplicate": True}  # still an IntegrityError
    assert client.post("/authors/bob").status_code == 201
    assert _names(client) == ["ann", "bob"]
    assert db.get_engine(dbapp).pool.checkedout() == 0


def test_sqlite_foreign_keys_are_enforced(sqlite_app):
    with sqlite_app.app_context():
        db.session.add(Book(title="orphan", author_id=42))
        with pytest.raises(IntegrityError):
            db.session.commit()


@pytest.mark.services
def test_mariadb_is_strict_no_silent_truncation(maria_app):
    with maria_app.app_context():
        assert "STRICT" in db.session.scalar(text("SELECT @@SESSION.sql_mode"))
        db.session.add(Author(name="x" * 51))
        with pytest.raises(Exception, match="too long"):
            db.session.commit()
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Author)) == 0


# -- outages -----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_database_down_is_503_naming_the_database(app):
    app.config["DATABASE_URL"] = f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/shop"
    add_routes(app)
    client = app.test_client()
    r = client.get("/count")
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "5"
    assert b"PostgreSQL database &#39;shop&#39;" in r.data and b"DATABASE_URL" in r.data
    assert b"Traceback" not in r.data
    j = client.get("/count", headers={"Accept": "application/json"})
    assert j.status_code == 503
    assert j.json["message"].startswith("The database is unavailable: the PostgreSQL database 'shop'")
    with app.app_context(), pytest.raises(OperationalError):  # still SQLAlchemy's class
        db.session.execute(select(1))


class Proxy:
    """A TCP proxy to a real server that can be stopped (connections cut) and restarted."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = _free_port()
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        assert self.listener is not None
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        except OSError:
            pass
        self.listener.close()
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self.sockets = []


@pytest.mark.services
def test_postgresql_down_then_back_recovers_on_its_own(pg_app):
    proxy = Proxy(5432)
    proxy.start()
    schema_options = pg_app.config["DATABASE_ENGINE_OPTIONS"]
    pg_app.config["DATABASE_URL"] = f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/test"
    db.forget_engines(pg_app)  # built before the URL change: rebuild through the proxy
    pg_app.config["DATABASE_ENGINE_OPTIONS"] = schema_options
    client = pg_app.test_client()
    try:
        assert client.post("/authors/before").status_code == 201
        proxy.stop()
        for _ in range(3):
            started = time.monotonic()
            r = client.get("/count")
            assert r.status_code == 503, r.data
            assert time.monotonic() - started < 4
        proxy.start()
        assert client.get("/count").json == {"count": 1}
        assert client.post("/authors/after").status_code == 201
        assert db.get_engine(pg_app).pool.checkedout() == 0
    finally:
        proxy.stop()
        db.get_engine(pg_app).dispose()


@pytest.mark.services
def test_postgresql_backend_killed_mid_transaction(pg_app):
    state = {}

    @pg_app.post("/slow")
    def slow():
        state["pid"] = db.session.scalar(text("select pg_backend_pid()"))
        db.session.add(Author(name="first"))
        db.session.flush()
        state["ready"].set()
        db.session.execute(text("select pg_sleep(5)"))
        db.session.add(Author(name="second"))
        db.session.commit()
        return "done"

    state["ready"] = threading.Event()

    def killer():
        state["ready"].wait(5)
        time.sleep(0.3)
        admin = create_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text("select pg_terminate_backend(:p)"), {"p": state["pid"]})
        admin.dispose()

    thread = threading.Thread(target=killer)
    thread.start()
    client = pg_app.test_client()
    r = client.post("/slow", headers={"Accept": "application/json"})
    thread.join()
    assert r.status_code == 503
    assert r.json["error"] == "Service Unavailable"
    assert client.get("/count").json == {"count": 0}  # nothing of that request was committed
    assert client.post("/authors/next").status_code == 201
    assert db.get_engine(pg_app).pool.checkedout() == 0


@pytest.mark.services
def test_mariadb_connection_killed_mid_transaction(maria_app):
    state = {}

    @maria_app.post("/slow")
    def slow():
        state["id"] = db.session.scalar(text("select connection_id()"))
        db.session.add(Author(name="first"))
        db.session.flush()
        admin = create_engine(MARIA_ROOT)
        with admin.begin() as conn:
            conn.exec_driver_sql(f"KILL {int(state['id'])}")
        admin.dispose()
        db.session.add(Author(name="second"))
        db.session.commit()
        return "done"

    client = maria_app.test_client()
    assert client.post("/slow").status_code == 503
    assert client.get("/count").json == {"count": 0}
    assert client.post("/authors/next").status_code == 201


# -- CLI ---------------------------------------------------------------------------------------


def test_cli_db_init_and_drop(sqlite_app):
    runner = sqlite_app.test_cli_runner()
    with sqlite_app.app_context():
        db.drop_all()
    result = runner.invoke(cli, ["db", "init"])
    assert result.exit_code == 0, result.output
    assert "authors" in result.output and "books" in result.output
    client = sqlite_app.test_client()
    assert client.post("/authors/ann").status_code == 201
    refused = runner.invoke(cli, ["db", "drop"], input="n\n")
    assert refused.exit_code == 1 and "Aborted" in refused.output
    assert _names(client) == ["ann"]
    dropped = runner.invoke(cli, ["db", "drop", "--yes"])
    assert dropped.exit_code == 0, dropped.output
    with sqlite_app.app_context():
        assert db.inspect(db.engine).get_table_names() == []


def test_cli_db_init_runs_schema_sql(app, tmp_path):
    (tmp_path / "schema.sql").write_text(
        "CREATE TABLE post (id INTEGER PRIMARY KEY, title TEXT NOT NULL);\n"
        "INSERT INTO post (title) VALUES ('hello');\n"
    )
    runner = app.test_cli_runner()
    result = runner.invoke(cli, ["db", "init"])
    assert result.exit_code == 0, result.output
    assert "schema.sql" in result.output
    with app.app_context():
        assert db.session.scalar(text("select title from post")) == "hello"
    assert runner.invoke(cli, ["db", "drop", "--yes"]).exit_code == 0
    with app.app_context():
        assert "post" not in db.inspect(db.engine).get_table_names()


def test_cli_db_init_database_down_is_a_clean_error(app):
    app.config["DATABASE_URL"] = f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/test"
    result = app.test_cli_runner().invoke(cli, ["db", "init"])
    assert result.exit_code == 1
    assert "The database is unavailable" in result.output
    assert "Traceback" not in result.output


def _rebuild_engine(app, **connect_args) -> None:
    """Drop the app's engine so the next use builds one with these extra connect_args."""
    db.forget_engines(app)
    options = dict(app.config.get("DATABASE_ENGINE_OPTIONS") or {})
    options["connect_args"] = {**options.get("connect_args", {}), **connect_args}
    app.config["DATABASE_ENGINE_OPTIONS"] = options


@pytest.mark.services
def test_mariadb_idle_connection_reaped_by_the_server_is_replaced(maria_app):
    _rebuild_engine(maria_app, init_command="SET SESSION sql_mode='', wait_timeout=1")
    client = maria_app.test_client()
    assert client.post("/authors/before").status_code == 201
    time.sleep(2.5)  # the server closes the pooled connection
    assert client.get("/count").json == {"count": 1}  # pre-ping replaced it
    assert db.get_engine(maria_app).pool.checkedout() == 0


@pytest.mark.services
def test_concurrent_duplicates_one_wins_the_other_gets_409(pg_app):
    results: list[int] = []

    def post(name: str, barrier: threading.Barrier) -> None:
        barrier.wait()
        results.append(pg_app.test_client().post(f"/authors/{name}").status_code)

    for i in range(5):
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=post, args=(f"race {i}", barrier)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(results) == [201] * 5 + [409] * 5
    assert db.get_engine(pg_app).pool.checkedout() == 0
    assert pg_app.test_client().get("/count").json == {"count": 5}


def test_sqlite_autocommit_isolation(sqlite_app):
    with sqlite_app.app_context():
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(Author.__table__.insert().values(name="auto"))
            assert conn.connection.driver_connection.in_transaction is False
    assert _names(sqlite_app.test_client()) == ["auto"]


def test_one_shared_teardown_for_the_data_batteries(app):
    from batteries import _teardown

    assert _teardown.run not in app.teardown_appcontext_funcs  # an app without a database
    with app.app_context() as ctx:
        assert _teardown.KEY not in ctx.g.__dict__  # nothing to clean when nothing was used
    assert _teardown.run not in app.teardown_appcontext_funcs
    with app.app_context():
        session = db.session()
        from batteries.sqlite import get_db

        connection = get_db()
    assert app.teardown_appcontext_funcs.count(_teardown.run) == 1
    assert session.get_bind().pool.checkedout() == 0
    with pytest.raises(Exception, match="closed"):
        connection.execute("select 1")
    with app.app_context():
        db.session()
    assert app.teardown_appcontext_funcs.count(_teardown.run) == 1


def test_the_apps_own_teardown_still_sees_the_session(sqlite_app):
    # the shared teardown joins on first use, yet runs after the app's own teardown functions
    from flask import g

    seen = []

    @sqlite_app.teardown_appcontext
    def same_session(exc):
        seen.append(db.session() is g.opened)

    with sqlite_app.app_context():
        g.opened = db.session()
    with sqlite_app.app_context():
        g.opened = db.session()
    assert seen == [True, True]


@pytest.mark.parametrize("backend", [
    pytest.param("postgresql", marks=pytest.mark.services),
    pytest.param("mariadb", marks=pytest.mark.services),
])
def test_values_the_database_refuses_are_400(request, backend):
    app = request.getfixturevalue({"postgresql": "pg_app", "mariadb": "maria_app"}[backend])
    client = app.test_client()
    too_long = client.post("/authors/" + "x" * 51, headers={"Accept": "application/json"})
    assert too_long.status_code == 400
    assert "does not fit the database" in too_long.json["message"]
    if backend == "postgresql":
        assert client.post("/authors/a%00b").status_code == 400  # NUL in text
    assert client.post("/authors/fine").status_code == 201
    assert _names(client) == ["fine"]  # nothing truncated, nothing half-written
    with app.app_context():
        db.session.add(Author(name="y" * 51))
        with pytest.raises(sqlalchemy_exc.DataError):  # still SQLAlchemy's class
            db.session.commit()


def test_sqlite_database_locked_is_503_busy(sqlite_app):
    import sqlite3

    _rebuild_engine(sqlite_app, timeout=0.05)
    with sqlite_app.app_context():
        path = db.engine.url.database
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock
    try:
        r = sqlite_app.test_client().post("/authors/ann", headers={"Accept": "application/json"})
        assert r.status_code == 503
        assert "busy" in r.json["message"]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert sqlite_app.test_client().post("/authors/ann").status_code == 201


def test_flask_sqlalchemy_on_a_batteries_app_works_beside_db(app, tmp_path):
    from flask_sqlalchemy import SQLAlchemy as FlaskSQLAlchemy

    assert not any(key.startswith("SQLALCHEMY_") for key in app.config)  # nothing written
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'fsa.sqlite'}"
    app.config["DATABASE_URL"] = f"sqlite:///{tmp_path / 'batteries.sqlite'}"
    fsa = FlaskSQLAlchemy()
    fsa.init_app(app)
    with app.app_context():
        assert fsa.session.execute(text("select 1")).scalar() == 1
        assert db.session.execute(text("select 2")).scalar() == 2
        assert fsa.session() is not db.session()
        assert fsa.engine.url.database.endswith("fsa.sqlite")
        assert db.engine.url.database.endswith("batteries.sqlite")
    assert "sqlalchemy" in app.extensions and "batteries" in app.extensions


@pytest.mark.services
def test_postgresql_lock_timeout_is_503_busy(pg_app):
    @pg_app.post("/rename")
    def rename():
        db.session.execute(text("update authors set name = 'bob' where name = 'ann'"))
        db.session.commit()
        return "renamed"

    client = pg_app.test_client()
    assert client.post("/authors/ann").status_code == 201
    options = pg_app.config["DATABASE_ENGINE_OPTIONS"]["connect_args"]["options"]
    _rebuild_engine(pg_app, options=options + " -c lock_timeout=100")

    admin = create_engine(PG_URL, connect_args={"options": options})
    with admin.connect() as locker:
        locker.execute(text("select * from authors for update"))  # holds the row lock
        r = client.post("/rename", headers={"Accept": "application/json"})
        assert r.status_code == 503 and "busy" in r.json["message"]
        locker.rollback()
    admin.dispose()
    assert client.post("/rename").status_code == 200
    assert _names(client) == ["bob"]


def test_sqlite_files_the_engine_creates_are_private(tmp_path):
    # (#13) the default database of batteries.db, and its WAL files: 0600, new folders 0700
    import os
    import stat

    from batteries import Batteries

    app = Batteries("private", root_path=str(tmp_path), instance_path=str(tmp_path / "inst"))
    app.config.update(TESTING=True, SECRET_KEY="k")
    with app.app_context():
        db.session.execute(db.text("create table t (x integer)"))
        db.session.commit()
        folder = tmp_path / "inst"
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
        for name in ("app.sqlite", "app.sqlite-wal", "app.sqlite-shm"):
            assert stat.S_IMODE(os.stat(folder / name).st_mode) == 0o600, name
    db.forget_engines(app)


# -- Flask-SQLAlchemy's shapes: Model.query, default table names, db.event ----------------------


def test_model_query_is_a_legacy_query_of_the_app_context_session(dbapp):
    _fill(dbapp, 3)
    with dbapp.app_context():
        assert Author.query.filter_by(name="author 001").first().name == "author 001"
        assert Author.query.count() == 3
        assert [a.name for a in Author.query.order_by(Author.id.desc()).limit(2)] == [
            "author 002",
            "author 001",
        ]
        assert Author.query.session is db.session()
        assert db.session.query(Author).get_or_404(1) is Author.query.get_or_404(1)


def test_model_query_404_helpers(dbapp):
    from werkzeug.exceptions import NotFound

    _fill(dbapp, 2)
    with dbapp.app_context():
        assert Author.query.get_or_404(2).name == "author 001"
        with pytest.raises(NotFound, match="Author 99 was not found"):
            Author.query.get_or_404(99)
        with pytest.raises(NotFound, match="no such author"):
            Author.query.get_or_404(99, description="no such author")
        assert Author.query.filter_by(name="author 000").first_or_404().id == 1
        with pytest.raises(NotFound):
            Author.query.filter_by(name="nobody").first_or_404()
        assert Author.query.filter_by(name="author 001").one_or_404().id == 2
        with pytest.raises(NotFound):
            Author.query.filter_by(name="nobody").one_or_404()
        with pytest.raises(sqlalchemy_exc.MultipleResultsFound):  # several: still an error
            Author.query.one_or_404()


def test_model_query_paginate_reads_the_query_string(dbapp):
    from werkzeug.exceptions import NotFound

    _fill(dbapp, 25)
    with dbapp.test_request_context("/?page=2&per_page=10"):
        page = Author.query.order_by(Author.id).paginate()
        assert [a.name for a in page.items][:2] == ["author 010", "author 011"]
        assert (page.page, page.per_page, page.total, page.pages) == (2, 10, 25, 3)
        assert Author.query.filter(Author.id > 20).paginate(page=1).total == 5
        with pytest.raises(NotFound):
            Author.query.order_by(Author.id).paginate(page=9)
        assert Author.query.order_by(Author.id).paginate(page=9, error_out=False).items == []
    with dbapp.test_request_context("/?page=x"):
        assert Author.query.order_by(Author.id).paginate(error_out=False).page == 1


def test_model_query_needs_an_app_context():
    with pytest.raises(RuntimeError, match="app context"):
        Author.query  # noqa: B018


def test_a_model_without_a_table_name_gets_its_snake_case_name(app):
    from batteries.sqla import table_name

    assert [table_name(n) for n in ("User", "UserRole", "HTTPLog", "Post2Tag")] == [
        "user",
        "user_role",
        "http_log",
        "post2_tag",
    ]
    other = SQLAlchemy()

    class IdMixin:
        id: Mapped[int] = mapped_column(primary_key=True)

    class UserRole(other.Model):
        id: Mapped[int] = mapped_column(primary_key=True)
        kind: Mapped[str] = mapped_column(String(20))
        __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "role"}

    class Admin(UserRole):  # no key of its own: single-table inheritance, no new table
        __mapper_args__ = {"polymorphic_identity": "admin"}

    class Tagged(IdMixin, other.Model):  # the key comes from a mixin
        pass

    class Named(other.Model):
        __tablename__ = "my_names"
        id: Mapped[int] = mapped_column(primary_key=True)

    class PrefixMixin:
        @declared_attr.directive
        def __tablename__(cls) -> str:
            return "app_" + cls.__name__.lower()

    class Prefixed(PrefixMixin, other.Model):
        id: Mapped[int] = mapped_column(primary_key=True)

    assert Prefixed.__tablename__ == "app_prefixed"  # the mixin's name wins
    assert UserRole.__tablename__ == "user_role"
    assert Admin.__table__ is UserRole.__table__
    assert Tagged.__tablename__ == "tagged"
    assert Named.__table__.name == "my_names"
    assert sorted(other.metadata.tables) == ["app_prefixed", "my_names", "tagged", "user_role"]
    other.init_app(app)
    with app.app_context():
        other.create_all()
        other.session.add(Admin())
        other.session.commit()
        assert UserRole.query.one().kind == "admin"


def test_db_event_listen_on_db_session_means_this_object_s_sessions(app):
    seen: list[str] = []
    other = SQLAlchemy()
    other.init_app(app)

    def committed(session):
        seen.append("db" if isinstance(session, db.session_class) else "other")

    db.event.listen(db.session, "after_commit", committed)
    try:
        assert db.event.contains(db.session, "after_commit", committed)
        with app.app_context():
            db.session.commit()
            other.session.commit()
        assert seen == ["db"]
    finally:
        db.event.remove(db.session, "after_commit", committed)
    assert not db.event.contains(db.session, "after_commit", committed)

    @other.event.listens_for(other.session, "after_commit")
    def also(session):
        seen.append("listens_for")

    with app.app_context():
        db.session.commit()
        other.session.commit()
    assert seen == ["db", "listens_for"]
    assert issubclass(other.session_class, db.Session) and other.session_class is not db.session_class


def test_a_query_class_of_one_s_own_through_session_options(app):
    class Counted(db.Query):
        def names(self):
            return sorted(a.name for a in self)

    other = SQLAlchemy(session_options={"query_cls": Counted})

    class Pet(other.Model):
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(20))

    other.init_app(app)
    with app.app_context():
        other.create_all()
        other.session.add_all([Pet(name="rex"), Pet(name="ada")])
        other.session.commit()
        assert isinstance(Pet.query, Counted)
        assert Pet.query.names() == ["ada", "rex"]
        assert Pet.query.paginate(page=1, per_page=1).total == 2

"""``batteries.sqlite``: get_db, query_db, init_db, SQLITE_DATABASE."""

from __future__ import annotations

import datetime
import sqlite3
import warnings

import pytest
from flask import Flask

from batteries import db
from batteries.sqlite import get_db, init_db, query_db

SCHEMA = """
CREATE TABLE user (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,
                   born DATE, created TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE post (id INTEGER PRIMARY KEY, author_id INTEGER NOT NULL REFERENCES user (id),
                   title TEXT NOT NULL);
INSERT INTO user (name) VALUES ('ann');
"""


@pytest.fixture
def app(app, tmp_path):
    (tmp_path / "schema.sql").write_text(SCHEMA)

    @app.get("/users/<int:id>")
    def user(id):
        row = query_db("select * from user where id = ?", [id], one=True)
        if row is None:
            return {"error": "no such user"}, 404
        return {"name": row["name"], "first": row[1]}

    @app.post("/users/<name>")
    def add(name):
        get_db().execute("insert into user (name) values (?)", [name])
        get_db().commit()
        return "", 201

    @app.post("/uncommitted/<name>")
    def uncommitted(name):
        get_db().execute("insert into user (name) values (?)", [name])
        return ""

    @app.get("/users")
    def users():
        return {"names": [r["name"] for r in query_db("select name from user order by id")]}

    with app.app_context():
        init_db()
    return app


def test_default_database_is_in_instance_folder_and_shared_with_db(app, tmp_path):
    assert (tmp_path / "instance" / "app.sqlite").is_file()
    assert "SQLITE_DATABASE" not in app.config
    with app.app_context():
        assert db.session.execute(db.text("select name from user")).scalar() == "ann"


def test_query_db_rows_and_one(app):
    client = app.test_client()
    assert client.get("/users/1").json == {"name": "ann", "first": "ann"}
    assert client.get("/users/2").status_code == 404
    assert client.post("/users/bob").status_code == 201
    assert client.get("/users").json == {"names": ["ann", "bob"]}
    with app.app_context():
        rows = query_db("select id, name from user where name like :p", {"p": "%n%"})
        assert isinstance(rows, list) and isinstance(rows[0], sqlite3.Row)
        assert rows[0].keys() == ["id", "name"]
        assert query_db("select * from user where id = 99", one=True) is None


def test_one_connection_per_app_context_closed_at_teardown(app):
    with app.app_context():
        first = get_db()
        assert get_db() is first
        with app.app_context():
            assert get_db() is not first
    with pytest.raises(sqlite3.ProgrammingError):  # closed
        first.execute("select 1")


def test_uncommitted_changes_are_discarded(app):
    client = app.test_client()
    client.post("/uncommitted/ghost")
    assert client.get("/users").json == {"names": ["ann"]}


def test_foreign_keys_are_enforced(app):
    with app.app_context():
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            get_db().execute("insert into post (author_id, title) values (42, 'x')")


def test_dates_round_trip_without_deprecated_adapters(app):
    born = datetime.date(1990, 5, 17)
    when = datetime.datetime(2024, 2, 29, 13, 45, 10, 123456)
    with app.app_context(), warnings.catch_warnings():
        warnings.simplefilter("error")
        db_ = get_db()
        db_.execute("update user set born = ?, created = ? where id = 1", [born, when])
        row = query_db("select born, created from user where id = 1", one=True)
        assert row["born"] == born and row["created"] == when
        db_.execute("insert into user (name) values ('default time')")
        created = query_db("select created from user where name = 'default time'", one=True)[0]
        assert isinstance(created, datetime.datetime)
        db_.execute("update user set created = 'not a date' where id = 1")
        assert query_db("select created from user where id = 1", one=True)[0] == "not a date"


def test_sqlite_database_setting_and_memory(app, tmp_path):
    app.config["SQLITE_DATABASE"] = str(tmp_path / "sub" / "other.db")
    with app.app_context():
        init_db()
        assert query_db("select count(*) from user", one=True)[0] == 1
    assert (tmp_path / "sub" / "other.db").is_file()
    app.config["SQLITE_DATABASE"] = ":memory:"
    with app.app_context():
        init_db()
        assert query_db("select name from user", one=True)["name"] == "ann"


def test_init_db_with_another_schema_file(app, tmp_path):
    (tmp_path / "extra.sql").write_text("CREATE TABLE tag (name TEXT);")
    with app.app_context():
        init_db("extra.sql")
        assert query_db("select count(*) from tag", one=True)[0] == 0
        with pytest.raises(FileNotFoundError):
            init_db("missing.sql")


def test_plain_flask_app(tmp_path):
    from batteries import sqlite as battery

    app = Flask("plain", root_path=str(tmp_path), instance_path=str(tmp_path / "inst"))
    battery.init_app(app)
    with app.app_context():
        get_db().execute("create table t (x)")
        conn = get_db()
    assert (tmp_path / "inst" / "app.sqlite").is_file()
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("select 1")


def _mode(path) -> int:
    import os
    import stat

    return stat.S_IMODE(os.stat(path).st_mode)


def test_database_files_batteries_creates_are_private(tmp_path):
    # (#13) the database, its WAL side files and the folders made for it: this user's only
    from batteries import Batteries

    app = Batteries("private", root_path=str(tmp_path), instance_path=str(tmp_path / "inst"))
    app.config.update(TESTING=True, SECRET_KEY="k")
    with app.app_context():
        get_db().execute("PRAGMA journal_mode=WAL")
        get_db().execute("create table t (x)")
        get_db().commit()
        assert _mode(tmp_path / "inst") == 0o700
        path = tmp_path / "inst" / "app.sqlite"
        assert _mode(path) == 0o600
        for side in ("app.sqlite-wal", "app.sqlite-shm"):
            assert (tmp_path / "inst" / side).exists()
            assert _mode(tmp_path / "inst" / side) == 0o600
    # a file that already exists keeps the mode its owner gave it
    mine = tmp_path / "mine.sqlite"
    mine.touch(mode=0o640)
    mine.chmod(0o640)
    app.config["SQLITE_DATABASE"] = str(mine)
    with app.app_context():
        get_db().execute("create table t (x)")
    assert _mode(mine) == 0o640


def test_dispatched_tenants_get_a_database_file_each(tmp_path):
    from batteries import Batteries
    from batteries.sqla import database_url
    from batteries.sqlite import database_path, identity_filename
    from batteries.state import set_identity

    def make(key: str) -> Batteries:
        app = Batteries("tenant", root_path=str(tmp_path), instance_path=str(tmp_path / "i"))
        app.config.update(TESTING=True, SECRET_KEY="k")
        if key:
            set_identity(app, key)
        return app

    plain, one, two, odd = make(""), make("one"), make("two"), make("a/b c")
    assert database_path(plain) == str(tmp_path / "i" / "app.sqlite")
    assert database_path(one) == str(tmp_path / "i" / "app-one.sqlite")
    assert database_url(two)[0] == "sqlite:///" + str(tmp_path / "i" / "app-two.sqlite")
    odd_name = identity_filename(odd, "app", ".sqlite")
    assert "/" not in odd_name and " " not in odd_name
    assert odd_name != identity_filename(make("a_b_c"), "app", ".sqlite")
    for app, name in ((one, "one"), (two, "two")):
        with app.app_context():
            get_db().execute("create table t (name)")
            get_db().execute("insert into t values (?)", [name])
            get_db().commit()
    with one.app_context():
        assert [row["name"] for row in query_db("select name from t")] == ["one"]


def test_a_custom_g_class_without_dict_methods(app):
    # Flask lets app_ctx_globals_class be any class (Flask's own suite uses one without
    # get/pop): the data batteries keep their connections in its __dict__.
    class PlainGlobals:
        pass

    app.app_ctx_globals_class = PlainGlobals
    with app.app_context():
        assert query_db("select name from user", one=True)["name"] == "ann"
        assert db.session.execute(db.text("select count(*) from user")).scalar() == 1


def test_enable_wal_waits_for_another_process_holding_the_file(tmp_path):
    import sqlite3
    import threading

    from batteries.sqlite import enable_wal

    path = str(tmp_path / "shared.sqlite")
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")  # as a second worker creating its tables would
    other = sqlite3.connect(path, timeout=0)  # SQLite answers "locked" at once for the switch
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        other.execute("PRAGMA journal_mode=WAL")
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        enable_wal(other)
    finally:
        release.join()
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.close()
    holder.close()

"""SQLite without an ORM: Flask's "Using SQLite 3 with Flask" pattern, built in.

::

    from batteries.sqlite import get_db, init_db, query_db

    @app.get("/users/<int:id>")
    def user(id):
        row = query_db("select * from user where id = ?", [id], one=True)
        if row is None:
            abort(404)
        return {"name": row["name"]}

    @app.post("/users")
    def add_user():
        db = get_db()
        db.execute("insert into user (name) values (?)", [request.form["name"]])
        db.commit()
        return "", 201

- :func:`get_db` opens one connection per app context, on first use, and closes it at
  teardown (uncommitted changes are discarded: commit what you mean to keep). Rows are
  :class:`sqlite3.Row` (``row["name"]`` and ``row[0]``); foreign keys are enforced; columns
  declared ``date``, ``timestamp`` or ``datetime`` come back as :mod:`datetime` objects through
  explicit adapters (Python 3.12 deprecates sqlite3's implicit ones and warns).
- :func:`init_db` runs ``schema.sql`` from the app's folder.
- The default file is the one ``batteries.db`` uses too (``<instance>/app.sqlite``), so an app can
  move from raw SQL to SQLAlchemy, or mix them, on the same database. Apps made per tenant by a
  dispatcher (:func:`batteries.state.app_identity`) get ``<instance>/app-<tenant>.sqlite``.
- A database file Batteries creates is private to the process's user (mode 0600, and SQLite
  gives its ``-wal``/``-shm``/``-journal`` files the database's mode); folders it creates, 0700.
- The date adapters and converters are sqlite3's own registries, which are process-wide (the
  module has no per-connection ones): Batteries registers them on first use of a connection, with
  the same text format as the defaults Python 3.12 deprecated, so other sqlite3 code in the
  process reads and writes the same values as before, without the deprecation warning.

Config:
    ``SQLITE_DATABASE`` (default ``<instance>/app.sqlite``; the instance folder is created on
    first use).
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import time
import typing as t

from flask import current_app, g

from . import _teardown
from .checks import Check
from .config import Setting
from .state import app_identity

if t.TYPE_CHECKING:  # pragma: no cover
    import sqlite3

    from flask import Flask

_KEY = "_batteries_sqlite"


def identity_filename(app: Flask, stem: str, suffix: str) -> str:
    """``stem + suffix``, or ``stem-<tenant>suffix`` for an app a dispatcher gave an identity.

    The tenant key is kept readable where it is made of letters, digits, ``-`` and ``_``;
    anything else is replaced and a short hash of the key added, so two keys never share a name.
    """
    identity = app_identity(app)
    if not identity:
        return stem + suffix
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", identity)[:40]
    if safe != identity:
        safe += "-" + hashlib.sha256(identity.encode()).hexdigest()[:8]
    return f"{stem}-{safe}{suffix}"


def create_private_file(path: str) -> None:
    """Create ``path`` (and missing folders) private to this user, unless it exists already:
    the file 0600, new folders 0700. SQLite then makes its side files with the file's mode."""
    if path == ":memory:" or path.startswith("file:") or not path:
        return
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


#: How long :func:`enable_wal` keeps trying while another process holds the file (seconds).
WAL_WAIT = 10.0


def enable_wal(connection: t.Any) -> None:
    """Switch ``connection``'s file (a ``sqlite3`` connection) to WAL journaling.

    The switch needs the file to itself, and SQLite answers "database is locked" at once when
    another process holds it, without waiting for the busy timeout: two worker processes
    opening a new file together hit that. So it is tried again for up to :data:`WAL_WAIT`.
    """
    import sqlite3

    deadline = time.monotonic() + WAL_WAIT
    pause = 0.005
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _default_path(app: Flask) -> str:
    return os.path.join(app.instance_path, identity_filename(app, "app", ".sqlite"))


CONFIG = (
    Setting(
        "SQLITE_DATABASE",
        _default_path,
        (str,),
        "file of batteries.sqlite's get_db() (':memory:' for a private in-memory database)",
        shown="<instance>/app.sqlite",
    ),
)
(SQLITE_DATABASE,) = CONFIG


def init_app(app: Flask) -> None:
    """Nothing to build: :func:`get_db` registers the teardown that closes the app context's
    connection the first time it opens one."""


def _close_db(exc: BaseException | None) -> None:
    connection = g.__dict__.pop(_KEY, None)
    if connection is not None:
        connection.close()


def database_path(app: Flask) -> str:
    """The app's ``SQLITE_DATABASE``."""
    return str(SQLITE_DATABASE.get(app))


def connect(path: str) -> sqlite3.Connection:
    """A connection to ``path`` set up as :func:`get_db`'s are (rows, foreign keys, dates)."""
    import sqlite3

    _register_adapters()
    create_private_file(path)
    connection = sqlite3.connect(path, detect_types=sqlite3.PARSE_DECLTYPES)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


def get_db() -> sqlite3.Connection:
    """The current app context's connection, opened on first use."""
    connection = g.__dict__.get(_KEY)
    if connection is None:
        connection = connect(database_path(current_app))
        setattr(g, _KEY, connection)
        _teardown.on_teardown(_close_db)
    return connection


def query_db(query: str, args: t.Sequence[t.Any] | t.Mapping[str, t.Any] = (), one: bool = False) -> t.Any:
    """Run ``query`` with ``args``: all rows, or with ``one=True`` the first row (or None)."""
    cursor = get_db().execute(query, args)
    try:
        return cursor.fetchone() if one else cursor.fetchall()
    finally:
        cursor.close()


def init_db(schema: str = "schema.sql") -> None:
    """Run the SQL script ``schema`` (relative to the app's ``root_path``) and commit."""
    with current_app.open_resource(schema, "r") as f:
        script = f.read()
    connection = get_db()
    connection.executescript(script)
    connection.commit()


_registered = False


def _register_adapters() -> None:
    """Explicit date/datetime adapters and converters (ISO 8601 text, as sqlite3 used to do)."""
    global _registered
    if _registered:
        return
    import sqlite3

    sqlite3.register_adapter(datetime.date, _adapt_date)
    sqlite3.register_adapter(datetime.datetime, _adapt_datetime)
    sqlite3.register_converter("date", _convert_date)
    sqlite3.register_converter("timestamp", _convert_datetime)
    sqlite3.register_converter("datetime", _convert_datetime)
    _registered = True


def _adapt_date(value: datetime.date) -> str:
    return value.isoformat()


def _adapt_datetime(value: datetime.datetime) -> str:
    return value.isoformat(" ")


def _convert_date(raw: bytes) -> datetime.date | datetime.datetime | str:
    return _convert_datetime(raw)


def _convert_datetime(raw: bytes) -> datetime.datetime | datetime.date | str:
    text = raw.decode()
    try:
        if len(text) == 10:  # a bare date stored in a timestamp column
            return datetime.date.fromisoformat(text)
        return datetime.datetime.fromisoformat(text)
    except ValueError:  # not a date after all: the text, rather than a failed request
        return text


#: this battery adds no deploy checks (see batteries.checks)
DEPLOY_CHECKS: tuple[Check, ...] = ()

"""The database engine of an app: its URL, its options, the driver, each connection's settings.

``batteries.db`` (:mod:`batteries.sqla`) builds one engine per app with :func:`make_engine`:
``DATABASE_URL`` (or Flask-SQLAlchemy's ``SQLALCHEMY_DATABASE_URI``; default SQLite in the
instance folder, a file of its own per dispatched tenant), ``DATABASE_ENGINE_OPTIONS``, the
installed driver for a driverless URL, a connect timeout and a check of pooled connections
(:mod:`batteries.poolcheck`) for servers, SQLite's foreign keys and WAL, MariaDB's strict mode,
and errors that name the config key.
"""

from __future__ import annotations

import os
import typing as t

from . import poolcheck
from ._dberrors import install_error_events
from .config import Setting
from .drivers import check_database_url
from .sqlite import create_private_file, enable_wal, identity_filename

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask
    from sqlalchemy import Engine

def _default_url(app: Flask) -> str:
    # Tenants made by a dispatcher share the instance folder: each gets a file of its own.
    return "sqlite:///" + os.path.join(app.instance_path, identity_filename(app, "app", ".sqlite"))


CONFIG = (
    Setting(
        "DATABASE_URL",
        _default_url,
        (str, type(None)),
        "SQLAlchemy database URL (SQLALCHEMY_DATABASE_URI is read when this is unset)",
        shown="sqlite:///<instance>/app.sqlite",
    ),
    Setting(
        "DATABASE_ENGINE_OPTIONS",
        {},
        (dict,),
        "keyword arguments for create_engine (pool_size, echo, connect_args...)",
        write=False,
    ),
    Setting(
        "SQLALCHEMY_DATABASE_URI",
        None,
        (str, type(None)),
        "Flask-SQLAlchemy's spelling of DATABASE_URL, read when DATABASE_URL is unset",
        write=False,
    ),
    Setting(
        "SQLALCHEMY_ENGINE_OPTIONS",
        None,
        (dict, type(None)),
        "Flask-SQLAlchemy's spelling of DATABASE_ENGINE_OPTIONS",
        write=False,
    ),
)

DATABASE_URL, ENGINE_OPTIONS, SQLALCHEMY_DATABASE_URI, SQLALCHEMY_ENGINE_OPTIONS = CONFIG


def database_url(app: Flask) -> tuple[str, str]:
    """The app's database URL and the config key it came from."""
    url = app.config.get(DATABASE_URL.key)
    if url:
        return str(url), DATABASE_URL.key
    url = SQLALCHEMY_DATABASE_URI.get(app)
    if url:
        return str(url), SQLALCHEMY_DATABASE_URI.key
    return _default_url(app), DATABASE_URL.key


def engine_options(app: Flask) -> dict[str, t.Any]:
    options = app.config.get(ENGINE_OPTIONS.key)
    if options is None:
        options = SQLALCHEMY_ENGINE_OPTIONS.get(app)
    if options is None:
        options = ENGINE_OPTIONS.get(app)
    return dict(options)


def make_engine(app: Flask) -> Engine:
    """Build ``app``'s engine from its config, with Batteries' safety defaults."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url

    raw, key = database_url(app)
    url = _pick_driver(make_url(raw))
    check_database_url(url, key)  # a typo or a missing driver names the key and the extra
    options = engine_options(app)
    backend = url.get_backend_name()
    # servers' pooled connections are checked by poolcheck, unless pool_pre_ping is set either way
    check_pool = backend != "sqlite" and "pool_pre_ping" not in options
    if backend == "sqlite":
        database = url.database or ""
        if database and url.query.get("mode") not in ("memory", "ro"):
            create_private_file(database)
    else:
        connect_args = dict(options.get("connect_args") or {})
        if "connect_timeout" not in url.query and "connect_timeout" not in connect_args:
            connect_args["connect_timeout"] = 3
        options["connect_args"] = connect_args
        if backend in ("mysql", "mariadb"):
            options.setdefault("pool_recycle", 3600)
    engine = create_engine(url, **options)
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
    elif backend in ("mysql", "mariadb"):
        event.listen(engine, "connect", _mysql_on_connect)
    if check_pool:
        poolcheck.install(engine)
    install_error_events(engine, key, debug=bool(app.debug))
    return engine


def _pick_driver(url: t.Any) -> t.Any:
    """``postgres://`` and driverless URLs use the driver that is installed (psycopg 3, PyMySQL)."""
    from importlib.util import find_spec

    name = url.drivername
    if name in ("postgres", "postgresql"):
        if name == "postgres" or (not find_spec("psycopg2") and find_spec("psycopg")):
            return url.set(drivername="postgresql+psycopg" if find_spec("psycopg") else "postgresql")
    if name in ("mysql", "mariadb") and not find_spec("MySQLdb") and find_spec("pymysql"):
        return url.set(drivername=f"{name}+pymysql")
    return url


def _sqlite_on_connect(dbapi_connection: t.Any, record: t.Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        row = cursor.execute("PRAGMA database_list").fetchone()
        if row is not None and row[2]:  # a file, not :memory:
            enable_wal(dbapi_connection)
    finally:
        cursor.close()


def _mysql_on_connect(dbapi_connection: t.Any, record: t.Any) -> None:
    # Strict mode: a value too long for its column is an error, never silently truncated.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT @@SESSION.sql_mode")
        mode = (cursor.fetchone() or ("",))[0] or ""
        if "STRICT_TRANS_TABLES" not in mode and "STRICT_ALL_TABLES" not in mode:
            new_mode = ",".join(p for p in (mode, "STRICT_TRANS_TABLES") if p)
            cursor.execute("SET SESSION sql_mode = %s", (new_mode,))
    finally:
        cursor.close()

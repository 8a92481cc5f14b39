"""The same small app written five ways, for the benchmarks.

Each module has ``create_app(db_url=None)`` returning a WSGI app with these routes:

- ``/hello``: a plain string;
- ``/json``: a small dict as JSON;
- ``/page``: a template that extends a base layout showing flashed messages;
- ``/items``: a page listing the 20 rows of an ``items`` table (SQLite by default).

The modules: :mod:`apps.flask_app` (plain Flask, the hand-written SQLAlchemy session of Flask's
"SQLAlchemy in Flask" pattern), :mod:`apps.batteries_app` (Batteries at its defaults),
:mod:`apps.stack_app` (Flask + Flask-SQLAlchemy + Flask-WTF + Flask-Caching + Flask-Login,
initialised as a typical app does), :mod:`apps.django_app` (Django with the middleware of
``startproject``) and :mod:`apps.bare` (a bare WSGI callable, the floor: hello and JSON only).

Gunicorn can serve any of them: ``gunicorn --chdir bench 'apps.flask_app:create_app()'``.
"""

from __future__ import annotations

import os
import tempfile

SECRET_KEY = "bench-secret-key-not-for-production-7f1c2a"
TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")

#: The rows of the ``items`` table (20 of them, as the DB page case asks).
ITEMS = [(i, f"Item number {i}", round(1.5 * i + 0.99, 2)) for i in range(1, 21)]

#: The dict the ``/json`` route answers.
JSON_BODY = {"message": "Hello, World!", "ok": True, "count": 3, "tags": ["a", "b", "c"]}

#: What the template page lists (no database).
PAGE_ROWS = [f"Row {i}" for i in range(10)]


def data_dir() -> str:
    """Where the benchmark databases live (``BENCH_DATA_DIR`` or a folder in the temp dir)."""
    path = os.environ.get("BENCH_DATA_DIR") or os.path.join(
        tempfile.gettempdir(), f"batteries-bench-{os.getuid()}"
    )
    os.makedirs(path, exist_ok=True)
    return path


def sqlite_url(name: str) -> str:
    """A SQLAlchemy URL for the SQLite database file ``<data dir>/<name>.sqlite``."""
    return "sqlite:///" + os.path.join(data_dir(), f"{name}.sqlite")


def fill_items(engine: object) -> None:
    """Create the ``items`` table on a SQLAlchemy engine and put the 20 rows in, once."""
    from sqlalchemy import text

    with engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS items "
                "(id INTEGER PRIMARY KEY, name VARCHAR(80) NOT NULL, price FLOAT NOT NULL)"
            )
        )
        count = conn.execute(text("SELECT count(*) FROM items")).scalar()
        if not count:
            conn.execute(
                text("INSERT INTO items (id, name, price) VALUES (:id, :name, :price)"),
                [{"id": i, "name": n, "price": p} for i, n, p in ITEMS],
            )

"""Whether a loopback service answers (imported by tests as ``from _services import service_up``).

Kept out of ``conftest.py``: the examples have conftest modules of their own, and a plain
``from conftest import ...`` would reach whichever was imported last.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager


def service_up(port: int, host: str = "127.0.0.1") -> bool:
    """True when something answers on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


#: The loopback servers the tests use (trust auth / root without a password, database ``test``).
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MARIA_ROOT = "mysql+pymysql://root@127.0.0.1:3306/test"


@contextmanager
def private_pg_schema(prefix: str = "bt_") -> Iterator[str]:
    """A PostgreSQL schema of this test's own (other test runs share the server), dropped after;
    the test is skipped when PostgreSQL does not answer. Point an app at it with
    ``{"connect_args": {"options": f"-csearch_path={schema}"}}``."""
    yield from _private("PostgreSQL", 5432, PG_URL, prefix, "SCHEMA", " CASCADE")


@contextmanager
def private_maria_database(prefix: str = "bt_") -> Iterator[str]:
    """A MariaDB database of this test's own, dropped after; skipped when MariaDB is down."""
    yield from _private("MariaDB", 3306, MARIA_ROOT, prefix, "DATABASE", "")


def _private(
    server: str, port: int, admin_url: str, prefix: str, kind: str, drop_suffix: str
) -> Iterator[str]:
    import pytest
    from sqlalchemy import create_engine

    if not service_up(port):
        pytest.skip(f"{server} does not answer on 127.0.0.1:{port}")
    name = prefix + uuid.uuid4().hex[:12]
    admin = create_engine(admin_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE {kind} {name}")
    try:
        yield name
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP {kind} {name}{drop_suffix}")
        admin.dispose()

"""The check of pooled server connections (``batteries.poolcheck``).

With the real PostgreSQL and MariaDB on loopback: a connection the server closed is replaced
before a request gets it (the request succeeds), a quiet one is handed out without a ping, one
idle too long is pinged, and a driver without a socket to look at pings each time. The
``readable`` test uses a socket pair, so it runs everywhere.
"""

from __future__ import annotations

import socket
import time

import pytest
from _services import MARIA_ROOT, PG_URL, private_maria_database
from sqlalchemy import create_engine, text

from batteries import db, poolcheck


class _Pings:
    """Counts the pings of ``engine``'s dialect (the check calls ``dialect.do_ping``)."""

    def __init__(self, engine, monkeypatch) -> None:
        self.count = 0
        original = engine.dialect.do_ping

        def counting(dbapi_connection):
            self.count += 1
            return original(dbapi_connection)

        monkeypatch.setattr(engine.dialect, "do_ping", counting)


def _ids(app, query: str):
    """A view answering ``query``'s one value (the server's id of the connection)."""

    @app.get("/id")
    def connection_id():
        return {"id": db.session.execute(text(query)).scalar()}

    client = app.test_client()

    def current() -> int:
        response = client.get("/id")
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        return response.json["id"]

    return current


@pytest.fixture
def pg_app(pg_schema_app):
    return pg_schema_app


@pytest.fixture
def watched(pg_app, monkeypatch):
    """(the pings counted, a function answering the current request's backend pid)."""
    return _Pings(db.get_engine(pg_app), monkeypatch), _ids(pg_app, "SELECT pg_backend_pid()")


def _terminate(pid: int) -> None:
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    finally:
        admin.dispose()
    time.sleep(0.1)  # the backend's exit reaches the client's socket


@pytest.mark.services
def test_quiet_connection_is_not_pinged(watched):
    pings, current = watched
    first = current()
    assert [current() for _ in range(5)] == [first] * 5  # the pooled connection, reused
    assert pings.count == 0


@pytest.mark.services
def test_terminated_connection_is_replaced_before_the_request_gets_it(watched):
    pings, current = watched
    first = current()
    _terminate(first)
    replaced = current()  # 200, not a 503: the dead connection never reached the view
    assert replaced != first
    assert pings.count == 1
    assert current() == replaced
    assert pings.count == 1  # the new connection is quiet again


@pytest.mark.services
def test_connection_with_a_message_waiting_is_pinged_and_kept(pg_app, watched):
    pings, current = watched

    @pg_app.post("/listen")
    def listen():
        db.session.execute(text("LISTEN batteries_poolcheck"))
        db.session.commit()  # LISTEN takes effect at commit
        return {"id": db.session.execute(text("SELECT pg_backend_pid()")).scalar()}

    listening = pg_app.test_client().post("/listen").json["id"]
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text("NOTIFY batteries_poolcheck, 'hello'"))
    finally:
        admin.dispose()
    time.sleep(0.1)
    assert current() == listening  # readable, so pinged; alive, so kept
    assert pings.count == 1


@pytest.mark.services
def test_connection_idle_too_long_is_pinged(watched, monkeypatch):
    pings, current = watched
    first = current()
    now = time.monotonic()
    monkeypatch.setattr(poolcheck, "_clock", lambda: now)
    assert current() == first
    assert pings.count == 0
    monkeypatch.setattr(poolcheck, "_clock", lambda: now + poolcheck.PING_AFTER_IDLE + 1)
    assert current() == first  # pinged, alive, kept
    assert pings.count == 1


@pytest.mark.services
@pytest.mark.parametrize("choice", [True, False])
def test_explicit_pool_pre_ping_is_left_to_sqlalchemy(pg_app, monkeypatch, choice):
    pg_app.config["DATABASE_ENGINE_OPTIONS"]["pool_pre_ping"] = choice
    pings = _Pings(db.get_engine(pg_app), monkeypatch)
    current = _ids(pg_app, "SELECT pg_backend_pid()")
    first = current()
    assert current() == first
    assert pings.count == (1 if choice else 0)  # SQLAlchemy's pre-ping pings a quiet one too
    _terminate(first)
    client = pg_app.test_client()
    response = client.get("/id")
    if choice:
        assert response.status_code == 200
        assert response.json["id"] != first
    else:
        assert response.status_code == 503  # the user chose no check: the request finds out
        assert current() != first  # and the pool recovers by itself


@pytest.mark.services
def test_driver_without_a_socket_pings_every_checkout(app, monkeypatch):
    with private_maria_database() as name:
        app.config["DATABASE_URL"] = f"mysql+pymysql://root@127.0.0.1:3306/{name}"
        try:
            pings = _Pings(db.get_engine(app), monkeypatch)
            current = _ids(app, "SELECT CONNECTION_ID()")
            first = current()
            assert current() == first
            assert pings.count == 1  # PyMySQL has no fileno(): the second checkout pinged
            admin = create_engine(MARIA_ROOT)
            try:
                with admin.begin() as conn:
                    conn.execute(text(f"KILL {int(first)}"))
            finally:
                admin.dispose()
            assert current() != first
        finally:
            db.get_engine(app).dispose()


def test_readable_looks_without_reading():
    ours, theirs = socket.socketpair()
    try:
        assert poolcheck.readable(ours) is False  # quiet
        theirs.sendall(b"N")  # an unasked message (a notice, a "terminating connection")
        assert poolcheck.readable(ours) is True
        assert poolcheck.readable(ours) is True  # still there: nothing was read
        assert ours.recv(1) == b"N"
        assert poolcheck.readable(ours) is False
        theirs.close()  # the server went away
        assert poolcheck.readable(ours) is True
    finally:
        ours.close()
        theirs.close()
    assert poolcheck.readable(ours) is True  # a closed socket: fileno() is -1
    assert poolcheck.readable(object()) is True  # no fileno(): cannot look, so ping

"""A pooled server connection is checked before a request gets it, without a round trip.

SQLAlchemy's ``pool_pre_ping`` sends ``SELECT 1`` each time a connection leaves the pool, so
that one the server has closed (a restart, ``pg_terminate_backend``, MariaDB's
``wait_timeout``, a proxy cutting it) is replaced instead of failing the request. That costs a
round trip per request: on loopback PostgreSQL, 6% of a page listing 20 rows.

The server or the kernel that closes a connection tells the client so: a closed socket (end of
file, a reset) and PostgreSQL's "terminating connection" message both make it *readable*. An
idle connection in a pool has nothing to read. So on checkout :func:`install`'s listener asks
the operating system whether the socket is readable (``poll`` with no wait, no I/O) and pings
only when it is, when the connection has been idle longer than :data:`PING_AFTER_IDLE` seconds
(a firewall or NAT that drops an idle connection silently sends nothing), or when the driver
gives no socket to look at (PyMySQL, Windows): then every checkout pings, as before.

A failed ping recycles the whole pool, as ``pool_pre_ping`` does: SQLAlchemy gets a new
connection for this checkout, and the others are replaced as they are next taken.

An explicit ``pool_pre_ping`` in ``DATABASE_ENGINE_OPTIONS`` (``True`` or ``False``) is left to
SQLAlchemy and this check is not installed.
"""

from __future__ import annotations

import select
import time
import typing as t

if t.TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy import Engine

#: a connection idle in the pool longer than this is pinged even when its socket is quiet
PING_AFTER_IDLE = 30.0

#: the key of a connection's ``info`` holding when it went back to the pool (``info`` is
#: cleared by SQLAlchemy whenever the connection is replaced, so a new one has no entry)
RETURNED = "batteries_returned_at"

_clock = time.monotonic
_POLL_IN = getattr(select, "POLLIN", 0) | getattr(select, "POLLPRI", 0)


def install(engine: Engine) -> None:
    """Check ``engine``'s pooled connections on checkout (see the module's text)."""
    from sqlalchemy import event
    from sqlalchemy.exc import InvalidatePoolError

    dialect = engine.dialect

    def returned(dbapi_connection: t.Any, record: t.Any) -> None:
        record.info[RETURNED] = _clock()

    def checkout(dbapi_connection: t.Any, record: t.Any, proxy: t.Any) -> None:
        since = record.info.get(RETURNED)
        if since is None:
            return  # connected for this very checkout
        if _clock() - since <= PING_AFTER_IDLE and not readable(dbapi_connection):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            if dialect.is_disconnect(error, dbapi_connection, None):  # type: ignore[arg-type]
                raise InvalidatePoolError(f"ping failed: {error}") from error
            raise

    event.listen(engine, "checkin", returned)
    event.listen(engine, "checkout", checkout)


def readable(dbapi_connection: t.Any) -> bool:
    """Whether the connection's socket has something to read (or cannot be looked at).

    Reading is never done here: a quiet socket answers ``False`` at the cost of one ``poll``
    system call; a closed, reset or chatty one, or a driver without ``fileno()``, ``True``.
    """
    fileno = getattr(dbapi_connection, "fileno", None)
    if fileno is None or not _POLL_IN:
        return True
    try:
        poller = select.poll()
        poller.register(fileno(), _POLL_IN)
        return bool(poller.poll(0))
    except Exception:  # a connection the driver already knows is closed, a bad descriptor
        return True

"""Where rate-limit counts are kept: in memory, in a SQLite file, in Redis.

A store counts one hit on each of several keys at once: ``hit(keys, seconds)`` returns
``(count, reset time)`` per key, a key's window (``seconds`` long) starting at its first hit.
``errors`` are what it raises when it is down (:mod:`batteries.ratelimit` then lets the request
through, see ``fail_open``). :func:`make_store` picks one by ``RATELIMIT_URL``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import typing as t

from .drivers import check_service_url
from .sqlite import enable_wal

if t.TYPE_CHECKING:  # pragma: no cover
    import sqlite3

log = logging.getLogger("batteries.ratelimit")

#: Seconds a Redis server may take to answer before the request goes on without a limit.
REDIS_TIMEOUT = 0.5

# Batteries calls SQLite and redis-py itself rather than through ``limits``'
# storages: each of those reads a count and its expiry in two calls and wraps every call in an
# exception translator, and its Redis storage goes through redis-py's pool for every command
# (a liveness probe of the socket: one more recv and two settimeout calls; retries; metrics).


class MemoryStore:
    """``limits``' memory storage: this process only."""

    errors: tuple[type[Exception], ...] = ()

    def __init__(self) -> None:
        from limits.storage import MemoryStorage

        self.storage = MemoryStorage()

    def hit(self, keys: t.Sequence[str], seconds: t.Sequence[int]) -> list[tuple[int, float]]:
        storage = self.storage
        return [
            (storage.incr(key, expiry), storage.get_expiry(key))
            for key, expiry in zip(keys, seconds, strict=True)
        ]


class SQLiteStore:
    """Counts in a SQLite file, shared by every process on the machine.

    One ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` statement counts a request against
    all its limits: SQLite takes the write lock for the statement (``busy_timeout`` waits for
    it), so processes counting at once never lose a hit. Each thread has its own connection.

    Counts are worth nothing after a reboot, so commits are not synced to disk
    (``synchronous=OFF``: a process that dies cannot hurt the file, a power cut can); a file
    found damaged is deleted and made again, the counts starting over.
    """

    #: Seconds between two sweeps of long-gone windows by one process.
    SWEEP_EVERY = 60.0

    def __init__(self, path: str) -> None:
        import sqlite3

        self.path = path
        self.local = threading.local()
        self.errors = (sqlite3.Error, OSError)
        self.damage = sqlite3.DatabaseError
        self.statements: dict[int, str] = {}
        self.swept_at = time.time()

    def connection(self) -> sqlite3.Connection:
        found = getattr(self.local, "conn", None)
        if found is not None and found[0] == os.getpid():
            return t.cast("sqlite3.Connection", found[1])
        import sqlite3

        try:
            conn = self.open()
        except sqlite3.DatabaseError as exc:
            if not self.damaged(exc):
                raise
            self.forget()
            conn = self.open()
        self.local.conn = (os.getpid(), conn)
        return conn

    def open(self) -> sqlite3.Connection:
        import sqlite3

        folder = os.path.dirname(self.path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        # Created 0600 before SQLite opens it (its -wal and -shm files take the same mode).
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None,
                               check_same_thread=False)  # fmt: skip
        try:
            enable_wal(conn)
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS counts (key TEXT PRIMARY KEY, "
                "count INTEGER NOT NULL, expires REAL NOT NULL) WITHOUT ROWID"
            )
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def damaged(exc: Exception) -> bool:
        text = str(exc).lower()
        return "malformed" in text or "not a database" in text

    def forget(self) -> None:
        """Close this thread's connection and delete the damaged file."""
        found = getattr(self.local, "conn", None)
        self.local.conn = None
        if found is not None:
            found[1].close()
        log.warning("Rate-limit file %s was damaged: made anew", self.path)
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(self.path + suffix)
            except FileNotFoundError:
                pass

    def statement(self, n: int) -> str:
        """The statement counting ``n`` keys: parameters ``now``, then key and expiry each."""
        found = self.statements.get(n)
        if found is None:
            rows = ", ".join(f"(?{2 * i + 2}, 1, ?{2 * i + 3})" for i in range(n))
            found = self.statements[n] = (
                f"INSERT INTO counts (key, count, expires) VALUES {rows} "
                "ON CONFLICT (key) DO UPDATE SET "
                "count = CASE WHEN expires <= ?1 THEN 1 ELSE count + 1 END, "
                "expires = CASE WHEN expires <= ?1 THEN excluded.expires ELSE expires END "
                "RETURNING key, count, expires"
            )
        return found

    def hit(self, keys: t.Sequence[str], seconds: t.Sequence[int]) -> list[tuple[int, float]]:
        try:
            return self.count(keys, seconds)
        except self.damage as exc:
            if not self.damaged(exc):
                raise
            self.forget()
            return self.count(keys, seconds)

    def count(self, keys: t.Sequence[str], seconds: t.Sequence[int]) -> list[tuple[int, float]]:
        now = time.time()
        conn = self.connection()
        params: list[t.Any] = [now]
        for key, expiry in zip(keys, seconds, strict=True):
            params += (key, now + expiry)
        rows = conn.execute(self.statement(len(keys)), params).fetchall()
        if now - self.swept_at >= self.SWEEP_EVERY:  # now and then, forget windows long gone
            self.swept_at = now
            conn.execute("DELETE FROM counts WHERE expires < ?", (now,))
        if len(rows) == 1:
            return [(int(rows[0][1]), float(rows[0][2]))]
        # RETURNING gives rows in no promised order.
        found = {row[0]: (int(row[1]), float(row[2])) for row in rows}
        return [found[key] for key in keys]


class RedisStore:
    """Counts in Redis: one script, one round trip for all of a request's limits.

    redis-py's connections are kept in a list of idle ones (taken and given back by single,
    thread-safe list operations; emptied in a forked child) instead of going through its pool
    for each command. A connection that failed is closed; one taken idle from the list and
    found closed by the server (Redis restarted) is reconnected once.
    """

    KEY_PREFIX = "batteries-ratelimit:"
    #: INCR each key; a key without expiry (new) gets its window. Returns count, ms left, ...
    SCRIPT = (
        "local out = {} "
        "for i, key in ipairs(KEYS) do "
        "local count = redis.call('INCR', key) "
        "local ttl = redis.call('PTTL', key) "
        "if ttl < 0 then ttl = tonumber(ARGV[i]) * 1000 redis.call('PEXPIRE', key, ttl) end "
        "out[2 * i - 1] = count out[2 * i] = ttl "
        "end "
        "return out"
    )

    def __init__(self, url: str) -> None:
        import hashlib

        import redis

        self.pool = redis.ConnectionPool.from_url(
            url.replace("redis+unix://", "unix://", 1),
            socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT,
        )  # fmt: skip
        self.sha = hashlib.sha1(self.SCRIPT.encode()).hexdigest().encode()
        self.errors = (redis.RedisError, OSError)
        self.no_script = redis.exceptions.NoScriptError
        self.connection_error = redis.ConnectionError
        self.idle: list[t.Any] = []
        self.pid = os.getpid()

    def hit(self, keys: t.Sequence[str], seconds: t.Sequence[int]) -> list[tuple[int, float]]:
        args = [
            b"%d" % len(keys),
            *[(self.KEY_PREFIX + key).encode() for key in keys],
            *[b"%d" % expiry for expiry in seconds],
        ]
        reply = self.call(args)
        now = time.time()
        return [(int(reply[2 * i]), now + int(reply[2 * i + 1]) / 1000) for i in range(len(keys))]

    def call(self, args: list[bytes]) -> t.Any:
        if self.pid != os.getpid():  # a forked child: the parent's sockets are not ours
            self.idle, self.pid = [], os.getpid()
        try:
            conn, reused = self.idle.pop(), True
        except IndexError:
            conn, reused = self.pool.make_connection(), False
        try:
            try:
                reply = self.evalsha(conn, args)
            except self.connection_error:
                if not reused:
                    raise
                conn.disconnect()  # closed while idle: once more on a new socket
                reply = self.evalsha(conn, args)
        except BaseException:
            conn.disconnect()
            raise
        self.idle.append(conn)
        return reply

    def evalsha(self, conn: t.Any, args: list[bytes]) -> t.Any:
        conn.send_packed_command([_command(b"EVALSHA", self.sha, *args)])
        try:
            return conn.read_response()
        except self.no_script:  # a new or flushed server: EVAL caches the script
            conn.send_packed_command([_command(b"EVAL", self.SCRIPT.encode(), *args)])
            return conn.read_response()


def _command(*args: bytes) -> bytes:
    """A Redis command as sent on the wire (RESP: an array of bulk strings), in half the time
    of redis-py's ``pack_command``, which converts and checks each argument's type."""
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


Store = MemoryStore | SQLiteStore | RedisStore


def make_store(url: str) -> Store:
    """The store for ``url`` (``sqlite:///path``, ``redis://...``, ``memory:``)."""
    scheme = url.partition(":")[0].lower()
    if scheme == "memory":
        return MemoryStore()
    if scheme == "sqlite":
        return SQLiteStore(url.partition("://")[2])
    if scheme in ("redis", "rediss", "redis+unix"):
        check_service_url(url, "RATELIMIT_URL")
        return RedisStore(url)
    raise ValueError(
        f"RATELIMIT_URL {url!r}: unknown store; use redis://host:port/db, memory:, or leave "
        "it unset for SQLite in the instance folder"
    )

"""Rate limits: ``@rate_limit("5/minute; 100/day")``, counted once for all worker processes.

Replaces Flask-Limiter for the common case, without its traps: counts kept in one process's
memory (each gunicorn worker allowing the full limit), a Redis outage answered with a 500, and
the proxy's address taken for the client's::

    from batteries.ratelimit import rate_limit

    @bp.route("/login", methods=["GET", "POST"])
    @rate_limit("5/minute; 100/day", methods=["POST"])
    def login(): ...

    @app.post("/api/search")
    @rate_limit("60/minute", key="user")
    def search(): ...

- ``key``: ``"ip"`` (the client address, see ``TRUSTED_PROXIES``), ``"user"`` (the logged-in
  user's id, the address for anonymous visitors) or a function of no arguments returning a
  string (None: the request is not counted).
- ``methods``: only these methods are counted (default: all). ``scope``: views with the same
  scope share their counts (default: each endpoint counts alone).
- Over a limit: 429 with ``Retry-After`` and the IETF ``RateLimit-Policy``/``RateLimit``
  headers (every answer of a limited view has them), a JSON body for clients that
  ``wants_json``, Werkzeug's HTML page for the rest.
- Storage down: the request is allowed and a warning logged (``fail_open=False``: 503).

The counting is ``limits``' fixed window (a window starts at the first hit of a key), on one
of these stores, by ``RATELIMIT_URL``:

- unset: SQLite in the instance folder (``ratelimit.sqlite``, mode 0600): shared by every
  worker process on the machine with no server; ``memory:`` under ``TESTING``;
- ``redis://host:port/db``: shared by many machines (the ``redis`` package);
- ``memory:``: one process only.

Config: ``RATELIMIT_URL``, ``TRUSTED_PROXIES``.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import random
import re
import threading
import time
import typing as t
from dataclasses import dataclass, field

from flask import after_this_request, current_app, request
from werkzeug.exceptions import ServiceUnavailable, TooManyRequests

from .checks import Check, Found
from .config import Setting
from .drivers import check_service_url
from .state import app_identity, state_of

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask
    from flask.wrappers import Response
    from limits import RateLimitItem
    from limits.storage import Storage
    from limits.strategies import FixedWindowRateLimiter

F = t.TypeVar("F", bound=t.Callable[..., t.Any])

log = logging.getLogger(__name__)

RATELIMIT_URL = Setting(
    "RATELIMIT_URL",
    None,
    (str, type(None)),
    "where rate-limit counts live: redis://host:port/db, memory:, or unset (SQLite in the "
    "instance folder; memory: under TESTING)",
    shown="<instance>/ratelimit.sqlite (memory: under TESTING)",
)
TRUSTED_PROXIES = Setting(
    "TRUSTED_PROXIES",
    0,
    (int,),
    "how many proxies in front of the app set X-Forwarded-For (0: the socket address)",
)
CONFIG = (RATELIMIT_URL, TRUSTED_PROXIES)

SQLITE_FILE = "ratelimit.sqlite"
_ONE = r"\s*[0-9]+\s*(?:/|per)\s*(?:[0-9]+\s*)?(?:second|minute|hour|day|month|year)s?\s*"
#: What ``limits.parse_many`` accepts, checked at decoration time without importing it.
LIMITS_PATTERN = rf"{_ONE}(?:[,;|]{_ONE})*"
#: Seconds a Redis server may take to answer before the request goes on without a limit.
REDIS_TIMEOUT = 0.5
#: At most one "storage down" warning per app in this many seconds.
WARN_EVERY = 60.0


# -- stores -----------------------------------------------------------------------------------


_sqlite_class: list[type] = []


def sqlite_storage_class() -> type:
    """``SQLiteStorage``, defined on first use (``limits`` is imported only when needed)."""
    if _sqlite_class:
        return _sqlite_class[0]
    import sqlite3

    from limits.storage import Storage

    class SQLiteStorage(Storage):
        """A ``limits`` storage on a SQLite file, for the fixed-window strategy.

        Each ``incr`` is one ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` statement: SQLite
        takes the write lock for the statement (``busy_timeout`` waits for it), so processes
        counting at once never lose a hit. The expiry of the last counted key is remembered, so
        the headers cost no second query. ``limits`` ships no file storage; this is it.

        Counts are worth nothing after a reboot, so commits are not synced to disk
        (``synchronous=OFF``: a process that dies cannot hurt the file, a power cut can); a
        file found damaged is deleted and made again, the counts starting over.
        """

        STORAGE_SCHEME = ["batteries+sqlite"]

        def __init__(self, uri: str, wrap_exceptions: bool = False, **options: t.Any) -> None:
            super().__init__(uri, wrap_exceptions=wrap_exceptions)
            self.path = uri.partition("://")[2]
            self.local = threading.local()

        @property
        def base_exceptions(self) -> tuple[type[Exception], ...]:
            return (sqlite3.Error, OSError)

        def connection(self) -> sqlite3.Connection:
            found = getattr(self.local, "conn", None)
            if found is not None and found[0] == os.getpid():
                return t.cast(sqlite3.Connection, found[1])
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
            folder = os.path.dirname(self.path)
            if folder:
                os.makedirs(folder, exist_ok=True)
            # Created 0600 before SQLite opens it (its -wal and -shm files take the same mode).
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None,
                                   check_same_thread=False)  # fmt: skip
            try:
                conn.execute("PRAGMA journal_mode=WAL")
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

        def incr(self, key: str, expiry: int, amount: int = 1) -> int:
            try:
                return self.count(key, expiry, amount)
            except sqlite3.DatabaseError as exc:
                if not self.damaged(exc):
                    raise
                self.forget()
                return self.count(key, expiry, amount)

        def count(self, key: str, expiry: int, amount: int) -> int:
            now = time.time()
            conn = self.connection()
            row = conn.execute(
                "INSERT INTO counts (key, count, expires) VALUES (?1, ?2, ?3) "
                "ON CONFLICT (key) DO UPDATE SET "
                "count = CASE WHEN expires <= ?4 THEN ?2 ELSE count + ?2 END, "
                "expires = CASE WHEN expires <= ?4 THEN ?3 ELSE expires END "
                "RETURNING count, expires",
                (key, amount, now + expiry, now),
            ).fetchone()
            self.local.last = (key, row[1])
            if random.random() < 0.001:  # now and then, forget windows long gone
                conn.execute("DELETE FROM counts WHERE expires < ?", (now,))
            return int(row[0])

        def get(self, key: str) -> int:
            row = self.connection().execute(
                "SELECT count FROM counts WHERE key = ? AND expires > ?", (key, time.time())
            ).fetchone()
            return int(row[0]) if row else 0

        def get_expiry(self, key: str) -> float:
            last = getattr(self.local, "last", None)
            if last is not None and last[0] == key:
                return float(last[1])
            row = self.connection().execute(
                "SELECT expires FROM counts WHERE key = ?", (key,)
            ).fetchone()
            return float(row[0]) if row else time.time()

        def check(self) -> bool:
            try:
                self.connection().execute("SELECT 1")
                return True
            except self.base_exceptions:
                return False

        def reset(self) -> int | None:
            return self.connection().execute("DELETE FROM counts").rowcount

        def clear(self, key: str) -> None:
            self.connection().execute("DELETE FROM counts WHERE key = ?", (key,))

    _sqlite_class.append(SQLiteStorage)
    return SQLiteStorage


def _redis_storage(url: str) -> Storage:
    """``limits``' Redis storage, its count and expiry read in one round trip."""
    from limits.storage import RedisStorage

    class RedisWithExpiry(RedisStorage):
        SCRIPT = (
            "local count = redis.call('INCRBY', KEYS[1], ARGV[2]) "
            "if count == tonumber(ARGV[2]) then redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
            "return {count, redis.call('PTTL', KEYS[1])}"
        )

        def __init__(self, uri: str, **options: t.Any) -> None:
            super().__init__(uri, **options)
            self.local = threading.local()
            self.script = t.cast(t.Any, self.get_connection()).register_script(self.SCRIPT)

        def incr(self, key: str, expiry: int, amount: int = 1) -> int:
            count, pttl = self.script([self.prefixed_key(key)], [expiry, amount])
            self.local.last = (key, time.time() + max(int(pttl), 0) / 1000)
            return int(count)

        def get_expiry(self, key: str) -> float:
            last = getattr(self.local, "last", None)
            if last is not None and last[0] == key:
                return float(last[1])
            return float(super().get_expiry(key))

    return RedisWithExpiry(
        url, wrap_exceptions=True, key_prefix="batteries-ratelimit",
        socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT,
    )  # fmt: skip


def storage_url(app: Flask) -> str:
    """The store in force: ``RATELIMIT_URL``, else SQLite in the instance folder (memory
    under ``TESTING``)."""
    url = RATELIMIT_URL.get(app)
    if url:
        return str(url)
    if app.testing:
        return "memory:"
    identity = app_identity(app)
    name = f"ratelimit-{identity}.sqlite" if identity else SQLITE_FILE
    return "sqlite://" + os.path.join(app.instance_path, name)


def make_storage(url: str) -> Storage:
    """A ``limits`` storage for ``url`` (``sqlite:///path``, ``redis://...``, ``memory:``)."""
    scheme = url.partition(":")[0].lower()
    if scheme == "memory":
        from limits.storage import MemoryStorage

        return MemoryStorage(wrap_exceptions=True)
    if scheme == "sqlite":
        return t.cast("Storage", sqlite_storage_class()(url, wrap_exceptions=True))
    if scheme in ("redis", "rediss", "redis+unix"):
        check_service_url(url, "RATELIMIT_URL")
        return _redis_storage(url)
    raise ValueError(
        f"RATELIMIT_URL {url!r}: unknown store; use redis://host:port/db, memory:, or leave "
        "it unset for SQLite in the instance folder"
    )


@dataclass
class RateLimitState:
    """One app's storage and strategy, rebuilt when ``RATELIMIT_URL`` changes."""

    url: str = ""
    limiter: FixedWindowRateLimiter | None = None
    #: (RATELIMIT_URL, TESTING) the limiter was built for: a changed setting rebuilds it
    built_for: tuple[t.Any, bool] | None = None
    warned_at: float = -math.inf
    lock: threading.Lock = field(default_factory=threading.Lock)


def limiter_of(app: Flask) -> FixedWindowRateLimiter:
    """The app's fixed-window limiter over its store."""
    state = state_of(app, RateLimitState)
    wanted = (RATELIMIT_URL.get(app), app.testing)
    if state.limiter is None or state.built_for != wanted:
        from limits.strategies import FixedWindowRateLimiter

        with state.lock:
            url = storage_url(app)
            if state.limiter is None or state.url != url:
                state.limiter = FixedWindowRateLimiter(make_storage(url))
                state.url = url
            state.built_for = wanted
    return state.limiter


def init_app(app: Flask) -> None:
    """Nothing to build: the store is opened on the first limited request."""


# -- the client --------------------------------------------------------------------------------


def client_address(app: Flask | None = None) -> str:
    """The client's address: the socket's, or with ``TRUSTED_PROXIES = n`` the n-th address
    from the right of ``X-Forwarded-For`` (the one the outermost trusted proxy saw)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    trusted = TRUSTED_PROXIES.get(app)
    if trusted > 0:
        forwarded = [a.strip() for a in request.headers.get("X-Forwarded-For", "").split(",")]
        forwarded = [a for a in forwarded if a]
        if len(forwarded) >= trusted:
            return str(forwarded[-trusted][:64])
    return request.remote_addr or "unknown"


def _key_value(app: Flask, key: str | t.Callable[[], t.Any]) -> str | None:
    if callable(key):
        found = key()
        return None if found is None else f"k:{found}"
    if key == "user":
        from .auth import current_user

        if current_user.is_authenticated:
            return f"u:{current_user.get_id()}"
    return f"ip:{client_address(app)}"


# -- the decorator ----------------------------------------------------------------------------


class RateLimited(TooManyRequests):
    """429 with ``Retry-After`` and the ``RateLimit`` headers (JSON or HTML by negotiation)."""

    def __init__(self, retry_after: int, headers: list[tuple[str, str]]) -> None:
        super().__init__(
            f"Too many requests: try again in {retry_after} seconds.", retry_after=retry_after
        )
        self.limit_headers = headers

    def get_headers(self, *args: t.Any, **kwargs: t.Any) -> list[tuple[str, str]]:
        return [*super().get_headers(*args, **kwargs), *self.limit_headers]


def _policy_name(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return f"{item.amount}-per-{item.multiples}-{unit}"


def policy_header(items: t.Sequence[RateLimitItem]) -> str:
    """The ``RateLimit-Policy`` value of ``items``: ``"name";q=amount;w=seconds`` each."""
    return ", ".join(f'"{_policy_name(i)}";q={i.amount};w={i.get_expiry()}' for i in items)


def _headers(
    counts: list[tuple[RateLimitItem, int, float]], policy: str
) -> list[tuple[str, str]]:
    """``RateLimit-Policy`` (every limit) and ``RateLimit`` (the one nearest its end)."""
    now = time.time()
    item, count, reset = min(counts, key=lambda c: (c[0].amount - c[1], -c[2]))
    remaining = max(0, item.amount - count)
    seconds = max(0, math.ceil(reset - now))
    return [
        ("RateLimit-Policy", policy),
        ("RateLimit", f'"{_policy_name(item)}";r={remaining};t={seconds}'),
    ]


def _masked(url: str) -> str:
    """``url`` with its password hidden."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


def _storage_down(app: Flask, exc: Exception, fail_open: bool) -> None:
    state = state_of(app, RateLimitState)
    now = time.monotonic()
    if now - state.warned_at >= WARN_EVERY:
        state.warned_at = now
        log.warning(
            "Rate limits not counted: the store of RATELIMIT_URL (%s) failed: %s",
            _masked(state.url),
            exc,
        )
    if not fail_open:
        raise ServiceUnavailable(
            "The rate-limit store (RATELIMIT_URL) does not answer; try again shortly."
        )


def hit(app: Flask, items: t.Sequence[RateLimitItem], identifiers: t.Sequence[str]) -> list[tuple[RateLimitItem, int, float]]:
    """Count one request against each of ``items``; ``(item, count, reset time)`` each."""
    limiter = limiter_of(app)
    storage = limiter.storage
    counts = []
    for item in items:
        key = item.key_for(*identifiers)
        count = storage.incr(key, item.get_expiry())
        counts.append((item, count, storage.get_expiry(key)))
    return counts


def rate_limit(
    limits: str,
    key: str | t.Callable[[], t.Any] = "ip",
    *,
    methods: t.Iterable[str] | None = None,
    scope: str | None = None,
    fail_open: bool = True,
) -> t.Callable[[F], F]:
    """Limit how often a view answers one client (see the module docstring). Example::

        @app.post("/auth/reset")
        @rate_limit("3/hour", methods=["POST"])
        def reset(): ...

    ``limits`` is one or more ``N/unit`` separated by ``;`` (``5/minute; 100/day``,
    ``10 per 30 seconds``); a bad string raises ``ValueError`` at decoration time.
    """
    if not isinstance(limits, str) or not re.fullmatch(LIMITS_PATTERN, limits, re.IGNORECASE):
        raise ValueError(
            f"rate_limit: {limits!r} is not a list of limits like '5/minute; 100/day'"
        )
    parsed: list[RateLimitItem] = []
    policy: list[str] = []
    if not (callable(key) or key in ("ip", "user")):
        raise ValueError(f"rate_limit: key must be 'ip', 'user' or a function, got {key!r}")
    counted = {m.upper() for m in methods} if methods is not None else None

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def limited(*args: t.Any, **kwargs: t.Any) -> t.Any:
            app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
            if counted is None or request.method in counted:
                if not parsed:
                    from limits import parse_many

                    found = parse_many(limits)
                    policy[:] = [policy_header(found)]
                    parsed[:] = found
                check(app, parsed, key, scope, fail_open, policy[0])
            return app.ensure_sync(view)(*args, **kwargs)

        limited.rate_limits = limits  # type: ignore[attr-defined]
        return t.cast(F, limited)

    return decorator


def check(
    app: Flask,
    items: t.Sequence[RateLimitItem],
    key: str | t.Callable[[], t.Any],
    scope: str | None,
    fail_open: bool,
    policy: str | None = None,
) -> None:
    """Count this request; raise :class:`RateLimited` when a limit is exceeded."""
    who = _key_value(app, key)
    if who is None:
        return
    identifiers = (app_identity(app), scope or request.endpoint or request.path, who)
    import sqlite3

    from limits.errors import StorageError

    try:
        counts = hit(app, items, identifiers)
    except (StorageError, sqlite3.Error, OSError) as exc:
        _storage_down(app, exc, fail_open)
        return
    headers = _headers(counts, policy or policy_header(items))
    over = [reset for item, count, reset in counts if count > item.amount]
    if over:
        raise RateLimited(max(1, math.ceil(max(over) - time.time())), headers)

    def add_headers(response: Response) -> Response:
        for name, value in headers:
            response.headers[name] = value
        return response

    after_this_request(add_headers)


# -- checks ------------------------------------------------------------------------------------


def _unlimited_login(app: Flask) -> Found:
    from .auth import LOGIN_VIEW

    login_view = LOGIN_VIEW.get(app)
    found = []
    for endpoint, view in app.view_functions.items():
        named = endpoint == login_view or endpoint.rpartition(".")[2] == "login"
        if named and callable(view) and not getattr(view, "rate_limits", None):
            if getattr(view, "__module__", "").startswith("flask."):
                continue
            found.append(f"the login view {endpoint!r} has no @rate_limit")
    return found


DEPLOY_CHECKS = (
    Check(
        "batteries.W032",
        "warning",
        "LOGIN_VIEW",
        'add @rate_limit("5/minute; 100/day", methods=["POST"]) under the route decorator '
        "(passwords can be guessed and scrypt burns CPU)",
        _unlimited_login,
    ),
)

__all__ = ["RateLimited", "client_address", "rate_limit"]

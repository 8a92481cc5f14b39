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

The counting is a fixed window, as ``limits``' (the limit strings are parsed by it): a window
starts at the first hit of a key, and one request is one statement or round trip to the store
whatever the number of limits. The store, by ``RATELIMIT_URL``:

- unset: SQLite in the instance folder (``ratelimit.sqlite``, mode 0600): shared by every
  worker process on the machine with no server; ``memory:`` under ``TESTING``;
- ``redis://host:port/db``: shared by many machines (the ``redis`` package);
- ``memory:``: one process only.

Config: ``RATELIMIT_URL``, ``TRUSTED_PROXIES``.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import os
import re
import threading
import time
import typing as t
from dataclasses import dataclass, field

from flask import after_this_request, current_app, request
from werkzeug.exceptions import ServiceUnavailable, TooManyRequests

from .checks import Check, Found
from .config import Setting
from .counters import (  # noqa: F401  (re-exported: the stores were defined here)
    REDIS_TIMEOUT,
    MemoryStore,
    RedisStore,
    SQLiteStore,
    Store,
    make_store,
)
from .state import app_identity, state_of

if t.TYPE_CHECKING:  # pragma: no cover

    from flask import Flask
    from flask.wrappers import Request, Response
    from limits import RateLimitItem

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
#: At most one "storage down" warning per app in this many seconds.
WARN_EVERY = 60.0




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


@dataclass
class RateLimitState:
    """One app's store, rebuilt when ``RATELIMIT_URL`` changes."""

    url: str = ""
    store: Store | None = None
    #: (RATELIMIT_URL, TESTING) the store was built for: a changed setting rebuilds it
    built_for: tuple[t.Any, bool] | None = None
    warned_at: float = -math.inf
    lock: threading.Lock = field(default_factory=threading.Lock)


def store_of(app: Flask) -> Store:
    """The app's store."""
    state = state_of(app, RateLimitState)
    wanted = (RATELIMIT_URL.get(app), app.testing)
    if state.store is None or state.built_for != wanted:
        with state.lock:
            url = storage_url(app)
            if state.store is None or state.url != url:
                state.store = make_store(url)
                state.url = url
            state.built_for = wanted
    return state.store


def init_app(app: Flask) -> None:
    """Nothing to build: the store is opened on the first limited request."""


# -- the client --------------------------------------------------------------------------------


def client_address(app: Flask | None = None) -> str:
    """The client's address: the socket's, or with ``TRUSTED_PROXIES = n`` the n-th address
    from the right of ``X-Forwarded-For`` (the one the outermost trusted proxy saw)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return _address(app, request._get_current_object())  # type: ignore[attr-defined]


def _address(app: Flask, req: Request) -> str:
    trusted = TRUSTED_PROXIES.get(app)
    if trusted > 0:
        forwarded = [a.strip() for a in req.headers.get("X-Forwarded-For", "").split(",")]
        forwarded = [a for a in forwarded if a]
        if len(forwarded) >= trusted:
            return str(forwarded[-trusted][:64])
    return req.remote_addr or "unknown"


def _key_value(app: Flask, req: Request, key: str | t.Callable[[], t.Any]) -> str | None:
    if callable(key):
        found = key()
        return None if found is None else f"k:{found}"
    if key == "user":
        from .auth import current_user

        if current_user.is_authenticated:
            return f"u:{current_user.get_id()}"
    return f"ip:{_address(app, req)}"


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


class Limits:
    """A decorator's limits, parsed by ``limits.parse_many`` on first use, with all that
    depends on them alone: each one's amount, period, name and key suffix, and the
    ``RateLimit-Policy`` header."""

    __slots__ = ("amounts", "seconds", "names", "suffixes", "policy")

    def __init__(self, text: str) -> None:
        from limits import parse_many

        items: list[RateLimitItem] = []
        for item in parse_many(text):  # "5/minute; 5/minute" counts once
            if item not in items:
                items.append(item)
        self.amounts = [item.amount for item in items]
        self.seconds = [item.get_expiry() for item in items]
        self.names = [_policy_name(item) for item in items]
        # Keys as limits' key_for makes them (identifiers, then amount/multiples/unit).
        self.suffixes = [
            f"/{item.amount}/{item.multiples}/{item.GRANULARITY.name}" for item in items
        ]
        self.policy = policy_header(items)

    def headers(self, counts: list[tuple[int, float]], now: float) -> list[tuple[str, str]]:
        """``RateLimit-Policy`` (every limit) and ``RateLimit`` (the one nearest its end)."""
        best = 0
        if len(counts) > 1:
            # Fewest left; of those, the window ending last.
            best = min(range(len(counts)),
                       key=lambda i: (self.amounts[i] - counts[i][0], -counts[i][1]))  # fmt: skip
        count, reset = counts[best]
        remaining = max(0, self.amounts[best] - count)
        seconds = max(0, math.ceil(reset - now))
        return [
            ("RateLimit-Policy", self.policy),
            ("RateLimit", f'"{self.names[best]}";r={remaining};t={seconds}'),
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
        raise ValueError(f"rate_limit: {limits!r} is not a list of limits like '5/minute; 100/day'")
    if not (callable(key) or key in ("ip", "user")):
        raise ValueError(f"rate_limit: key must be 'ip', 'user' or a function, got {key!r}")
    counted = {m.upper() for m in methods} if methods is not None else None
    parsed: list[Limits] = []  # filled on the first counted request (limits imported then)

    def decorator(view: F) -> F:
        is_async = inspect.iscoroutinefunction(view)

        @functools.wraps(view)
        def limited(*args: t.Any, **kwargs: t.Any) -> t.Any:
            app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
            req: Request = request._get_current_object()  # type: ignore[attr-defined]
            if counted is None or req.method in counted:
                if not parsed:
                    parsed.append(Limits(limits))
                check(app, req, parsed[0], key, scope, fail_open)
            if is_async:
                return app.ensure_sync(view)(*args, **kwargs)
            return view(*args, **kwargs)

        limited.rate_limits = limits  # type: ignore[attr-defined]
        return t.cast(F, limited)

    return decorator


def check(
    app: Flask,
    req: Request,
    limits: Limits,
    key: str | t.Callable[[], t.Any],
    scope: str | None,
    fail_open: bool,
) -> None:
    """Count this request; raise :class:`RateLimited` when a limit is exceeded."""
    who = _key_value(app, req, key)
    if who is None:
        return
    base = f"LIMITER/{app_identity(app)}/{scope or req.endpoint or req.path}/{who}"
    store = store_of(app)
    try:
        counts = store.hit([base + suffix for suffix in limits.suffixes], limits.seconds)
    except store.errors as exc:
        _storage_down(app, exc, fail_open)
        return
    now = time.time()
    headers = limits.headers(counts, now)
    pairs = zip(counts, limits.amounts, strict=True)
    over = [reset for (count, reset), amount in pairs if count > amount]
    if over:
        raise RateLimited(max(1, math.ceil(max(over) - now)), headers)

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

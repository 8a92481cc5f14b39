"""The app's cache (``batteries.cache``); the ``@cached`` view decorator built on it is in
:mod:`batteries.viewcache`.

Replaces Flask's "Caching" pattern (a cachelib cache made by hand)::

    from batteries import cache

    @cache.memoize(timeout=300)
    def exchange_rate(currency):
        return fetch_rate(currency)

``cache`` stands for the current app's cache (a cachelib cache, or :mod:`batteries.filecache` for
the default filesystem cache), built on first use from the config (one per app, and a dispatched
tenant's keys carry its identity, so tenants never share entries). A cache server that is down or hangs turns into
misses and no-ops, fast: the Redis client has 0.5 s timeouts and no retries, a failure opens a
circuit breaker that skips the server for ``CACHE_RETRY_AFTER`` seconds, and one warning is
logged per incident, not per request. It recovers by itself when the server is back.

Config (all read, never written, so Flask-Caching sees only what you set):
``CACHE_TYPE`` (``filesystem``; ``null``, ``simple``, ``redis``, ``memcached``, or Flask-Caching's
``NullCache``, ``SimpleCache``, ``FileSystemCache``, ``RedisCache``, ``MemcachedCache``),
``CACHE_URL`` (``redis://127.0.0.1:6379/0``, memcached ``host:port``, or the cache folder;
Flask-Caching's ``CACHE_REDIS_URL``/``CACHE_DIR`` work too), ``CACHE_DEFAULT_TIMEOUT`` (300),
``CACHE_KEY_PREFIX`` (``"<app.import_name>:"``), ``CACHE_OPTIONS`` (extra arguments for the
cachelib class, or for ``redis.Redis.from_url``), ``CACHE_RETRY_AFTER`` (5 s).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import threading
import time
import typing as t
import uuid
from dataclasses import dataclass

import click
from flask import current_app

from .checks import STATIC_HINT, Check, Found, static_exposure
from .config import ConfigError, Setting
from .drivers import check_service_url
from .state import app_identity, state_of

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

logger = logging.getLogger(__name__)

F = t.TypeVar("F", bound=t.Callable[..., t.Any])

CACHE_TYPE = Setting(
    "CACHE_TYPE",
    "filesystem",
    (str,),
    "cache backend: null, simple, filesystem, redis or memcached",
    write=False,
)
CACHE_URL = Setting(
    "CACHE_URL",
    None,
    (str, type(None)),
    "where the cache lives: redis:// URL, memcached host:port, or a folder",
    write=False,
)
CACHE_DEFAULT_TIMEOUT = Setting(
    "CACHE_DEFAULT_TIMEOUT", 300, (int,), "seconds an entry lives (0: forever)", write=False
)
CACHE_KEY_PREFIX = Setting(
    "CACHE_KEY_PREFIX",
    lambda app: f"{app.import_name}:",
    (str,),
    "prefix of every key, so apps sharing a cache stay apart",
    write=False,
    shown="<app.import_name>:",
)
CACHE_OPTIONS = Setting(
    "CACHE_OPTIONS",
    None,
    (dict, type(None)),
    "extra arguments for the cachelib class (redis: for redis.Redis.from_url)",
    write=False,
)
CACHE_RETRY_AFTER = Setting(
    "CACHE_RETRY_AFTER",
    5.0,
    (int, float),
    "seconds the cache is skipped after a cache server failed",
    write=False,
)
CACHE_DIR = Setting(
    "CACHE_DIR",
    None,
    (str, type(None)),
    "folder of the filesystem cache (Flask-Caching's name; default <instance>/cache)",
    write=False,
)
CACHE_REDIS_URL = Setting(
    "CACHE_REDIS_URL",
    None,
    (str, type(None)),
    "Redis URL (Flask-Caching's name for CACHE_URL)",
    write=False,
)

CONFIG = (
    CACHE_TYPE,
    CACHE_URL,
    CACHE_DEFAULT_TIMEOUT,
    CACHE_KEY_PREFIX,
    CACHE_OPTIONS,
    CACHE_RETRY_AFTER,
    CACHE_DIR,
    CACHE_REDIS_URL,
)

_TYPES = ("null", "simple", "filesystem", "redis", "memcached")
_BUILD_LOCK = threading.Lock()


def init_app(app: Flask) -> None:
    """Nothing to do until the cache is first used."""


# -- the fail-open cache ----------------------------------------------------------------------


class SafeCache:
    """A cachelib cache whose failures become misses and no-ops, behind a circuit breaker.

    After a failure the server is skipped for ``retry_after`` seconds; the first call after
    that tries it again. One warning is logged when the breaker opens (and at most one a minute
    while the server stays down), one info line when it recovers.
    """

    def __init__(
        self,
        backend: t.Any,
        *,
        name: str,
        prefix: str = "",
        default_timeout: int = 300,
        retry_after: float = 5.0,
    ) -> None:
        self.backend = backend
        self.name = name
        self.prefix = prefix
        self.default_timeout = default_timeout
        self.retry_after = retry_after
        self.failures = 0
        self._open_until = 0.0
        self._down = False
        self._logged = float("-inf")

    def __repr__(self) -> str:
        return f"<SafeCache {self.name}>"

    @property
    def available(self) -> bool:
        """False while the breaker is open (the server failed in the last seconds)."""
        return not self._open_until or time.monotonic() >= self._open_until

    def _call(self, method: str, default: t.Any, *args: t.Any) -> t.Any:
        if self._open_until:
            if time.monotonic() < self._open_until:
                return default
        try:
            result = getattr(self.backend, method)(*args)
        except Exception as exc:
            self._failed(exc)
            return default
        if self._down:
            self._down = False
            self._open_until = 0.0
            logger.info("cache %s is back", self.name)
        return result

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        now = time.monotonic()
        self._open_until = now + self.retry_after
        if not self._down or now - self._logged >= 60:
            self._logged = now
            logger.warning(
                "cache %s unavailable (%s: %s); serving without it for %.0f s",
                self.name,
                type(exc).__name__,
                exc,
                self.retry_after,
            )
        self._down = True

    def _key(self, key: str) -> str:
        return self.prefix + key

    def _timeout(self, timeout: int | None) -> int:
        return self.default_timeout if timeout is None else timeout

    def get(self, key: str) -> t.Any:
        return self._call("get", None, self._key(key))

    def get_many(self, *keys: str) -> list[t.Any]:
        return self._call("get_many", [None] * len(keys), *map(self._key, keys))  # type: ignore[no-any-return]

    def get_dict(self, *keys: str) -> dict[str, t.Any]:
        return dict(zip(keys, self.get_many(*keys), strict=False))

    def has(self, key: str) -> bool:
        return bool(self._call("has", False, self._key(key)))

    def set(self, key: str, value: t.Any, timeout: int | None = None) -> bool:
        return bool(self._call("set", False, self._key(key), value, self._timeout(timeout)))

    def add(self, key: str, value: t.Any, timeout: int | None = None) -> bool:
        return bool(self._call("add", False, self._key(key), value, self._timeout(timeout)))

    def set_many(self, mapping: dict[str, t.Any], timeout: int | None = None) -> list[t.Any]:
        prefixed = {self._key(k): v for k, v in mapping.items()}
        return self._call("set_many", [], prefixed, self._timeout(timeout))  # type: ignore[no-any-return]

    def delete(self, key: str) -> bool:
        return bool(self._call("delete", False, self._key(key)))

    def delete_many(self, *keys: str) -> list[t.Any]:
        return self._call("delete_many", [], *map(self._key, keys))  # type: ignore[no-any-return]

    def inc(self, key: str, delta: int = 1) -> int | None:
        return self._call("inc", None, self._key(key), delta)  # type: ignore[no-any-return]

    def dec(self, key: str, delta: int = 1) -> int | None:
        return self._call("dec", None, self._key(key), delta)  # type: ignore[no-any-return]

    def clear(self) -> bool:
        return bool(self._call("clear", False))


# -- building the app's cache -----------------------------------------------------------------


def cache_type(app: Flask) -> str:
    """``CACHE_TYPE`` normalised: Flask-Caching's spellings map to Batteries' names."""
    raw = str(CACHE_TYPE.get(app) or "filesystem")
    name = raw.rsplit(".", 1)[-1].lower().replace("_", "")
    if name.endswith("cache") and name != "cache":
        name = name[: -len("cache")]
    if name not in _TYPES:
        raise ConfigError(
            f"CACHE_TYPE {raw!r} is not supported; use one of {', '.join(_TYPES)} "
            "(or Flask-Caching's NullCache, SimpleCache, FileSystemCache, RedisCache, "
            "MemcachedCache)."
        )
    return name


def cache_folder(app: Flask) -> str:
    """The filesystem cache's folder: ``CACHE_DIR`` (relative: to the current directory, as
    Flask-Caching reads it), else ``<instance>/cache``."""
    return os.path.abspath(CACHE_DIR.get(app) or os.path.join(app.instance_path, "cache"))


def _cache_in_static(app: Flask) -> Found:
    if cache_type(app) != "filesystem":
        return None
    return static_exposure(app, CACHE_URL.get(app) or cache_folder(app))


DEPLOY_CHECKS = (Check("batteries.E015", "error", "CACHE_DIR", STATIC_HINT, _cache_in_static),)


def build_cache(app: Flask) -> SafeCache:
    """Make the app's cache from its config (see the module docstring)."""
    import cachelib

    kind = cache_type(app)
    timeout = int(CACHE_DEFAULT_TIMEOUT.get(app))
    prefix = str(CACHE_KEY_PREFIX.get(app))
    identity = app_identity(app)
    if identity:  # a dispatched tenant: its keys apart from its siblings' (same import name)
        prefix += f"tenant={identity}:"
    options = dict(CACHE_OPTIONS.get(app) or {})
    url = CACHE_URL.get(app)
    retry_after = float(CACHE_RETRY_AFTER.get(app))
    ours = ""  # prefix applied by SafeCache when the backend has none of its own
    if kind == "null":
        backend: t.Any = cachelib.NullCache(default_timeout=timeout)
        name = "null"
    elif kind == "simple":
        backend = cachelib.SimpleCache(default_timeout=timeout, **options)
        name = "simple (in memory)"
    elif kind == "filesystem":
        folder = url or cache_folder(app)
        from .filecache import FileCache

        backend = FileCache(folder, default_timeout=timeout, **options)
        name = f"filesystem {folder}"
        ours = prefix
    elif kind == "redis":
        url = url or CACHE_REDIS_URL.get(app) or "redis://127.0.0.1:6379/0"
        check_service_url(url, "CACHE_URL")
        backend = cachelib.RedisCache(
            host=redis_client(url, options), default_timeout=timeout, key_prefix=prefix
        )
        name = f"redis {_mask(url)}"
    else:
        servers = [s.strip() for s in (url or "127.0.0.1:11211").split(",") if s.strip()]
        servers = [s.split("://", 1)[-1] for s in servers]
        try:
            backend = cachelib.MemcachedCache(
                servers, default_timeout=timeout, key_prefix=prefix, **options
            )
        except RuntimeError as exc:
            raise ConfigError(
                f"CACHE_TYPE 'memcached' needs a memcached client library ({exc}); "
                "pip install pylibmc or python-memcached."
            ) from exc
        name = f"memcached {','.join(servers)}"
    return SafeCache(
        backend, name=name, prefix=ours, default_timeout=timeout, retry_after=retry_after
    )


def redis_client(url: str, options: dict[str, t.Any]) -> t.Any:
    """A redis-py client that fails in milliseconds, not seconds: short timeouts, no retries."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    kwargs: dict[str, t.Any] = {
        "socket_connect_timeout": 0.5,
        "socket_timeout": 0.5,
        "retry": Retry(NoBackoff(), 0),
        "retry_on_timeout": False,
    }
    kwargs.update(options)
    try:
        return redis.Redis.from_url(url, **kwargs)
    except TypeError:  # a redis-py without retry_on_timeout
        kwargs.pop("retry_on_timeout", None)
        return redis.Redis.from_url(url, **kwargs)


def _mask(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        return f"{scheme}://***@{rest.rpartition('@')[2]}"
    return url


@dataclass
class CacheState:
    """Per app: its cache, built on first use."""

    cache: SafeCache | None = None


def get_cache(app: Flask) -> SafeCache:
    """The app's cache, built on first use."""
    state = state_of(app, CacheState)
    found = state.cache
    if found is None:
        with _BUILD_LOCK:
            found = state.cache
            if found is None:
                found = state.cache = build_cache(app)
    return found


# -- the ``cache`` object ---------------------------------------------------------------------


class CacheProxy:
    """``batteries.cache``: the current app's :class:`SafeCache`, plus ``memoize``.

    ``cache.get(key)``, ``cache.set(key, value, timeout=None)``, ``add``, ``delete``,
    ``get_many``, ``set_many``, ``delete_many``, ``has``, ``inc``, ``dec`` and ``clear`` work
    on the current app's cache (an app context is needed).
    """

    def _get_current_object(self) -> SafeCache:
        return get_cache(current_app)

    def __getattr__(self, name: str) -> t.Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(get_cache(current_app), name)

    def __repr__(self) -> str:
        return "<batteries.cache>"

    def memoize(self, timeout: int | None = None) -> t.Callable[[F], F]:
        """Cache a function's result per arguments (their ``repr`` is part of the key)::

            @cache.memoize(timeout=60)
            def price(product_id): ...

        ``cache.delete_memoized(price)`` forgets every result, ``cache.delete_memoized(price,
        3)`` the one for ``price(3)``. A result of ``None`` is cached too.
        """

        def decorator(fn: F) -> F:
            name = f"{fn.__module__}.{fn.__qualname__}"

            @functools.wraps(fn)
            def wrapper(*args: t.Any, **kwargs: t.Any) -> t.Any:
                app = current_app._get_current_object()  # type: ignore[attr-defined]
                store = get_cache(app)
                key = _memo_key(store, app_identity(app), name, args, kwargs)
                found = store.get(key)
                if isinstance(found, tuple) and len(found) == 1:
                    return found[0]
                result = fn(*args, **kwargs)
                store.set(key, (result,), timeout)
                return result

            wrapper._batteries_memoized = name  # type: ignore[attr-defined]
            wrapper.uncached = fn  # type: ignore[attr-defined]
            return t.cast(F, wrapper)

        return decorator

    def delete_memoized(self, fn: t.Callable[..., t.Any], *args: t.Any, **kwargs: t.Any) -> None:
        """Forget ``fn``'s memoized results: all of them, or only those for these arguments."""
        name = getattr(fn, "_batteries_memoized", None)
        if name is None:
            raise TypeError(f"{fn!r} is not decorated with @cache.memoize()")
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        store = get_cache(app)
        tenant = app_identity(app)
        if args or kwargs:
            store.delete(_memo_key(store, tenant, name, args, kwargs))
        else:
            store.set(f"memo-version:{tenant}:{name}", uuid.uuid4().hex[:12], 0)


def _memo_key(
    store: SafeCache, tenant: str, name: str, args: tuple[t.Any, ...], kwargs: dict[str, t.Any]
) -> str:
    """The key of ``name(*args, **kwargs)``: the tenant is in it even when the cache was built
    before a dispatcher named the app (its prefix then lacks the tenant)."""
    version = store.get(f"memo-version:{tenant}:{name}") or "0"
    digest = hashlib.sha256(repr((args, sorted(kwargs.items()))).encode()).hexdigest()[:32]
    return f"memo:{tenant}:{name}:{version}:{digest}"


cache = CacheProxy()


# -- CLI --------------------------------------------------------------------------------------


@click.group("cache", short_help="Manage the app's cache.")
def cache_command() -> None:
    """Manage the app's cache (CACHE_TYPE, CACHE_URL)."""


@cache_command.command("clear")
def clear_command() -> None:
    """Delete every entry of the app's cache."""
    from flask.cli import ScriptInfo

    app = click.get_current_context().ensure_object(ScriptInfo).load_app()
    store = get_cache(app)
    if store.clear():
        click.echo(f"Cleared the cache ({store.name}).")
    else:
        raise click.ClickException(f"Could not clear the cache ({store.name}).")

"""Several apps in one WSGI process: by path prefix, by subdomain, or a fixed set of mounts.

Replaces Flask's "Application Dispatching" pattern, without its races::

    from batteries.dispatch import PathDispatcher, SubdomainDispatcher, combine

    # /<key>/... → the app make_app(key) returns (made once per key), else default_app
    application = PathDispatcher(default_app, make_app)

    # <key>.example.com → make_app(key); example.com itself, or None from make_app → 404;
    # a host outside example.com → 400; no Host header → 404
    application = SubdomainDispatcher("example.com", make_app)

    # fixed mounts: /shop → shop, /blog → blog, everything else → site
    application = combine(site, {"/shop": shop, "/blog": blog})

What they guarantee:

- ``make_app(key)`` is called at most once per key at a time (a lock per key, checked again
  inside the lock), never for the empty key, and its result is kept — unless it is None (the
  default app, or a 404, answers; the next request asks again) or it raised: that request gets
  a 500, the error is logged, the other keys are unaffected and the next request retries.
- At most ``max_apps`` made apps are kept (least recently used dropped first).
- A mounted app (``combine``, ``PathDispatcher``) whose ``SESSION_COOKIE_PATH`` is not set gets
  its mount path (and, if its cookie is still called ``session``, the name
  ``session-<prefix>``), so two apps' session cookies never overwrite or shadow each other.
- Each app made per key gets the key as its identity (:func:`batteries.state.app_identity`),
  and per-app stores (cache keys, ``cache.memoize``, ``@cached``) include it: tenants made by
  one factory, with one import name and one instance folder, never read each other's entries.
  A mounted app (``combine``) without an identity gets its mount path.
- The mount prefix moves from ``PATH_INFO`` to ``SCRIPT_NAME``: ``url_for`` in a mounted app
  builds URLs under its prefix.

Config: ``SESSION_COOKIE_PATH`` (and ``SESSION_COOKIE_NAME``) of the mounted apps, set when unset.
"""

from __future__ import annotations

import collections
import logging
import re
import threading
import typing as t

from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError, NotFound

from .state import app_identity, set_identity

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["PathDispatcher", "SubdomainDispatcher", "combine"]

logger = logging.getLogger("batteries.dispatch")

MakeApp = t.Callable[[str], "WSGIApplication | None"]
_LABELS = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$")
MAX_KEY_LENGTH = 200


def _keep_session_cookie_apart(app: t.Any, path: str) -> None:
    """Give a mounted Flask app's session cookie its mount path (when the app did not say).

    The cookie name gets the path too when it is Flask's default ``session``: browsers send
    every cookie whose path matches, and which of two same-named cookies comes first is only a
    recommendation (RFC 6265), so a path alone could hand one app the other's cookie.
    """
    config = getattr(app, "config", None)
    if config is None or not hasattr(config, "get"):
        return
    if config.get("SESSION_COOKIE_PATH") is None and config.get("APPLICATION_ROOT", "/") == "/":
        config["SESSION_COOKIE_PATH"] = path
        if config.get("SESSION_COOKIE_NAME") == "session":
            suffix = re.sub(r"[^A-Za-z0-9_]+", "-", path).strip("-")
            config["SESSION_COOKIE_NAME"] = f"session-{suffix}"


class _AppCache:
    """Apps made by a factory, once per key, thread-safe, bounded."""

    def __init__(self, make_app: MakeApp, max_apps: int, label: str) -> None:
        if max_apps < 1:
            raise ValueError("max_apps must be at least 1")
        self.make_app = make_app
        self.max_apps = max_apps
        self.label = label
        self._apps: collections.OrderedDict[str, WSGIApplication] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[str, list[t.Any]] = {}  # key -> [lock, users]

    def __len__(self) -> int:
        return len(self._apps)

    def get(self, key: str, on_create: t.Callable[[str, t.Any], None] | None = None) -> t.Any:
        """The app for ``key`` (made when missing), or None. Errors of ``make_app`` propagate."""
        if not key:
            return None
        with self._lock:
            app = self._apps.get(key)
            if app is not None:
                self._apps.move_to_end(key)
                return app
            entry = self._key_locks.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                app = self._apps.get(key)  # made by another thread while we waited?
                if app is not None:
                    return app
                app = self.make_app(key)
                if app is None:
                    return None
                if on_create is not None:
                    on_create(key, app)
                with self._lock:
                    self._apps[key] = app
                    while len(self._apps) > self.max_apps:
                        dropped, _ = self._apps.popitem(last=False)
                        logger.info("%s: dropped the app for %r (max_apps)", self.label, dropped)
                return app
        finally:
            with self._lock:
                entry[1] -= 1
                if entry[1] == 0:
                    self._key_locks.pop(key, None)


def _error(exc: HTTPException, environ: WSGIEnvironment, start_response: StartResponse) -> t.Iterable[bytes]:
    return exc(environ, start_response)


def _shift(environ: WSGIEnvironment, prefix: str) -> None:
    """Move ``prefix`` (a path starting with /) from PATH_INFO to SCRIPT_NAME."""
    environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "").rstrip("/") + prefix
    environ["PATH_INFO"] = environ.get("PATH_INFO", "")[len(prefix) :]


class PathDispatcher:
    """``/<key>/...`` → ``make_app(key)`` (made once per key), else ``default_app``.

    ``make_app`` gets the first path segment; it returns a WSGI app (its ``SCRIPT_NAME`` then
    ends with ``/<key>``) or None (``default_app`` answers, unchanged path).
    """

    def __init__(self, default_app: WSGIApplication, make_app: MakeApp, *, max_apps: int = 64) -> None:
        self.default_app = default_app
        self.apps = _AppCache(make_app, max_apps, "PathDispatcher")

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> t.Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        key = path.lstrip("/").split("/", 1)[0] if path.startswith("/") else ""
        if not key or len(key) > MAX_KEY_LENGTH:
            return self.default_app(environ, start_response)
        try:
            app = self.apps.get(key, _mounted)
        except Exception:
            return _start_failed("PathDispatcher", key, environ, start_response)
        if app is None:
            return self.default_app(environ, start_response)
        _shift(environ, "/" + key)
        return t.cast("t.Iterable[bytes]", app(environ, start_response))


def _identify(key: str, app: t.Any) -> None:
    """Give a Flask app made for ``key`` its tenant identity (a plain WSGI app has no stores)."""
    if hasattr(app, "extensions") and hasattr(app, "config"):
        set_identity(app, key)


def _mounted(key: str, app: t.Any) -> None:
    _identify(key, app)
    _keep_session_cookie_apart(app, "/" + key)


def _normalize_host(host: str) -> str | None:
    host = host.strip().lower()
    if host.startswith("["):  # an IPv6 literal is never a subdomain
        return None
    host = host.rsplit(":", 1)[0] if ":" in host else host
    return host.rstrip(".")


class SubdomainDispatcher:
    """``<key>.<domain>`` → ``make_app(key)`` (made once per key).

    The Host header is lower-cased and its port dropped; ``key`` is everything before
    ``.<domain>`` (``"a.b"`` for ``a.b.example.com``). The bare domain, or ``make_app``
    returning None → 404; a host outside the domain → 400; no Host → 404.
    """

    def __init__(self, domain: str, make_app: MakeApp, *, max_apps: int = 64) -> None:
        normalized = _normalize_host(domain.lstrip("."))
        if not normalized:
            raise ValueError(f"not a domain name: {domain!r}")
        self.domain = normalized
        self.apps = _AppCache(make_app, max_apps, "SubdomainDispatcher")

    def key_for(self, host: str) -> str | None:
        """The subdomain part of ``host``, "" for the bare domain, None outside the domain."""
        host_name = _normalize_host(host)
        if host_name is None:
            return None
        if host_name == self.domain:
            return ""
        suffix = "." + self.domain
        if not host_name.endswith(suffix):
            return None
        return host_name[: -len(suffix)]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> t.Iterable[bytes]:
        host = environ.get("HTTP_HOST", "")
        if not host:
            return _error(NotFound("The request has no Host header."), environ, start_response)
        key = self.key_for(host)
        if key is None:
            return _error(
                BadRequest(f"This server only answers for *.{self.domain}."), environ, start_response
            )
        if not key:
            return _error(NotFound(), environ, start_response)
        if len(key) > MAX_KEY_LENGTH or not _LABELS.match(key):
            return _error(BadRequest("The Host header is not a valid name."), environ, start_response)
        try:
            app = self.apps.get(key, _identify)
        except Exception:
            return _start_failed("SubdomainDispatcher", key, environ, start_response)
        if app is None:
            return _error(NotFound(), environ, start_response)
        return t.cast("t.Iterable[bytes]", app(environ, start_response))


def _start_failed(
    owner: str, key: str, environ: WSGIEnvironment, start_response: StartResponse
) -> t.Iterable[bytes]:
    """Log a failing ``make_app(key)`` and answer 500 for this key only (retried next time)."""
    logger.exception("%s: make_app(%r) failed", owner, key)
    return _error(
        InternalServerError(f"The application for {key!r} could not be started."),
        environ,
        start_response,
    )


class _Combined:
    def __init__(self, default_app: WSGIApplication, mounts: dict[str, WSGIApplication]) -> None:
        self.default_app = default_app
        # longest prefix first, so /shop/admin wins over /shop
        self.mounts = sorted(mounts.items(), key=lambda item: -len(item[0]))

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> t.Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        for prefix, app in self.mounts:
            if path == prefix or path.startswith(prefix + "/"):
                _shift(environ, prefix)
                return app(environ, start_response)
        return self.default_app(environ, start_response)


def combine(default_app: WSGIApplication, mounts: dict[str, WSGIApplication]) -> WSGIApplication:
    """One WSGI app: ``mounts`` (``{"/shop": shop_app}``) by path prefix, else ``default_app``.

    Prefixes start with ``/`` and match whole segments (``/shop`` serves ``/shop`` and
    ``/shop/...``, not ``/shopping``). Each mounted Flask app without a ``SESSION_COOKIE_PATH``
    gets its prefix as the cookie path.
    """
    cleaned: dict[str, WSGIApplication] = {}
    for prefix, app in mounts.items():
        if not isinstance(prefix, str) or not prefix.startswith("/") or prefix.strip("/") == "":
            raise ValueError(f"a mount prefix looks like '/shop', got {prefix!r}")
        prefix = "/" + prefix.strip("/")
        if prefix in cleaned:
            raise ValueError(f"two apps are mounted at {prefix!r}")
        cleaned[prefix] = app
        if hasattr(app, "extensions") and not app_identity(t.cast(t.Any, app)):
            _identify(prefix, app)
        _keep_session_cookie_apart(app, prefix)
    return _Combined(default_app, cleaned)

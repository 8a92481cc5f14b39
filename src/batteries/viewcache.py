"""``@cached``: the caching view decorator of Flask's "View Decorators" pattern, made safe.

The docs' decorator keys on ``request.path`` only, so it hands one visitor's page to another.
This one follows the rules of a shared HTTP cache (RFC 9111 §3, §4.1, §3.5) and stores in the
app's cache (:mod:`batteries.caching`)::

    from batteries import cached

    @app.get("/report")
    @cached(timeout=60)
    def report():
        return render_template("report.html", rows=slow_query())

The rules, in short (``docs/cache.md`` has them in full):

- The key is the app (import name and tenant), host, ``script_root``, the path as sent
  (``/a%3Fb`` and ``/a?b`` differ) and as routed, and the query string in one canonical form
  (pairs sorted by name, the order of a repeated name kept: ``?p=9&p=2`` is not ``?p=2&p=9``).
- Every request header the stored response ``Vary``s on is part of the key: a URL keeps an
  index (the ``Vary`` names) and one entry per variant. GET and HEAD share entries.
- Not stored: responses that are not 200, stream, set a cookie, say ``Cache-Control:
  private``/``no-store``/``no-cache``, ``Vary: *``, are already stale (``max-age=0``, a past
  ``Expires``), answer a request with ``Authorization`` or ``Cache-Control: no-store``, or
  embed a value made for one request (:func:`mark_uncacheable`).
- A request with ``Authorization`` is never answered from the cache.
- A request carrying the session or remember-me cookie is answered from the cache only with
  a response that did not read the session (no ``Vary: Cookie``).
- A page that used the CSP nonce is stored with it, and each replay gets a fresh nonce.
- A hit carries ``Age``; a conditional request (``If-None-Match``, ``If-Modified-Since``)
  that matches the stored ``ETag``/``Last-Modified`` gets a 304.
- A request's ``Cache-Control: no-cache`` is not a way around the cache (as in Varnish and
  Django): the cache is part of the site, and any client could otherwise make every request
  a miss. Its ``no-store`` is honoured: that response is not stored.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import time
import typing as t
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

from flask import current_app, request, request_finished

from .auth import REMEMBER_COOKIE
from .caching import get_cache
from .headers import csp_nonce, request_nonce
from .negotiation import is_marked_uncacheable, mark_uncacheable
from .sessions import sends_session_cookie
from .signals import cache_hit, cache_miss
from .state import app_identity, state_of

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask
    from flask.wrappers import Response

    from .caching import SafeCache

F = t.TypeVar("F", bound=t.Callable[..., t.Any])

__all__ = ["cached", "cacheable", "mark_uncacheable", "is_marked_uncacheable"]

_PENDING = "_batteries_cache_store"
_INDEX = "batteries-vary-1"  # tag of a URL's index entry: (tag, vary names, entry or None)
_ENTRY = "batteries-page-1"  # tag of a stored page
_NOT_STORED_HEADERS = frozenset({"set-cookie", "content-length", "age"})
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


@dataclass
class ViewCacheState:
    """Per app: whether the ``request_finished`` receiver that stores pages is connected."""

    hooked: bool = False


@dataclass(frozen=True)
class _Options:
    timeout: int | None
    key: t.Callable[[], t.Any] | None
    query_string: bool
    unless: t.Callable[[], bool] | None
    vary_on: t.Callable[[], t.Any] | None
    vary_headers: tuple[str, ...]




# -- the decorator ----------------------------------------------------------------------------


def cached(
    timeout: int | None = None,
    key: t.Callable[[], t.Any] | None = None,
    query_string: bool = True,
    unless: t.Callable[[], bool] | None = None,
    vary_on: t.Callable[[], t.Any] | t.Iterable[str] | None = None,
) -> t.Callable[[F], F]:
    """Cache a view's response in the app's cache, as a shared HTTP cache would.

    ``timeout`` is the entry's lifetime in seconds (``None``: ``CACHE_DEFAULT_TIMEOUT``; a
    response's own ``s-maxage``/``max-age``/``Expires`` shortens it). ``key`` is a callable
    whose value replaces host, path and query in the key (the app, tenant and ``Vary`` parts
    stay); ``query_string=False`` leaves the query out. ``unless()`` true skips the cache.
    ``vary_on`` adds key parts: a callable whose value joins the key (e.g. ``lambda:
    request.cookies.get("theme")``) or a list of request header names. It never loosens the
    rules of the module docstring: a response that read the session (``Vary: Cookie``) is
    still never served to a request with the session cookie.

    Works on ``async def`` views, on blueprints and on the app alike. Sends
    ``cache_hit``/``cache_miss`` (with ``key``) from :mod:`batteries.signals`. The response is
    checked and stored after the session is saved, so what is checked is what the client gets.
    """
    if vary_on is None or callable(vary_on):
        options = _Options(timeout, key, query_string, unless, vary_on, ())
    else:
        names = tuple(sorted({name.strip().lower() for name in vary_on if name.strip()}))
        options = _Options(timeout, key, query_string, unless, None, names)

    def decorator(view: F) -> F:
        if inspect.iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_wrapper(*args: t.Any, **kwargs: t.Any) -> t.Any:
                found = _lookup(options)
                if found is not None:
                    return found
                return await view(*args, **kwargs)

            return t.cast(F, async_wrapper)

        @functools.wraps(view)
        def wrapper(*args: t.Any, **kwargs: t.Any) -> t.Any:
            found = _lookup(options)
            if found is not None:
                return found
            return view(*args, **kwargs)

        return t.cast(F, wrapper)

    return decorator


def _has_identity(app: Flask) -> bool:
    """Whether the request carries the session or the remember-me cookie."""
    if not request.environ.get("HTTP_COOKIE"):
        return False
    return sends_session_cookie(app, request) or REMEMBER_COOKIE.get(app) in request.cookies


def _lookup(options: _Options) -> Response | None:
    """The stored response for this request, or None (then the view's response is stored
    when the request finishes, if it may be)."""
    if request.method not in ("GET", "HEAD"):
        return None
    if options.unless is not None and options.unless():
        return None
    if "HTTP_AUTHORIZATION" in request.environ:
        return None  # RFC 9111 §3.5: never answered from, nor stored in, a shared cache
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    base = _base_key(app, options)
    store = get_cache(app)
    identified = _has_identity(app)
    index = store.get(base)
    if isinstance(index, tuple) and len(index) == 3 and index[0] == _INDEX:
        names = index[1]
        if not (identified and "cookie" in names):
            entry = index[2] if not names else store.get(_variant_key(base, names))
            if _valid(entry, names):
                if cache_hit.receivers:
                    cache_hit.send(app, key=base)
                return _replay(app, entry)
    if cache_miss.receivers:
        cache_miss.send(app, key=base)
    _hook(app)
    request.__dict__[_PENDING] = (store, base, options, identified)
    return None


def _valid(entry: t.Any, names: tuple[str, ...]) -> bool:
    return isinstance(entry, tuple) and len(entry) == 7 and entry[0] == _ENTRY and entry[1] == names


def _replay(app: Flask, entry: tuple[t.Any, ...]) -> Response:
    _, _, body, status, headers, nonce, stored_at = entry
    if nonce:
        fresh = csp_nonce()
        body = body.replace(nonce.encode("ascii"), fresh.encode("ascii"))
        headers = [(name, value.replace(nonce, fresh)) for name, value in headers]
    response = app.response_class(body, status=status, headers=headers)
    response.headers["Age"] = str(max(0, int(time.time() - stored_at)))
    environ = request.environ
    if "HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MODIFIED_SINCE" in environ:
        response.make_conditional(environ)  # 304 when the stored validators match
    return response


# -- keys -------------------------------------------------------------------------------------


def _digest(parts: t.Any) -> str:
    return hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _base_key(app: Flask, options: _Options) -> str:
    environ = request.environ
    parts: list[t.Any] = [app_identity(app), app.import_name]
    if options.key is not None:
        parts.append(("key", repr(options.key())))
    else:
        parts += [request.host, request.script_root, raw_path(environ), request.path]
        if options.query_string:
            parts.append(canonical_query(environ.get("QUERY_STRING", "")))
    if options.vary_headers:
        parts.append(tuple(_header(environ, name) for name in options.vary_headers))
    if options.vary_on is not None:
        parts.append(("vary_on", repr(options.vary_on())))
    return "view:" + _digest(parts)


def _variant_key(base: str, names: tuple[str, ...]) -> str:
    environ = request.environ
    return base + ":" + _digest((names, tuple(_header(environ, name) for name in names)))


def _header(environ: dict[str, t.Any], name: str) -> str | None:
    """The request header ``name`` (lower-case) as the server gave it, None when absent."""
    if name in ("content-type", "content-length"):
        key = name.upper().replace("-", "_")
    else:
        key = "HTTP_" + name.upper().replace("-", "_")
    found = environ.get(key)
    return None if found is None else str(found)


def raw_path(environ: dict[str, t.Any]) -> str:
    """The request's path as the client sent it (percent-encoding kept).

    Taken from ``RAW_URI``/``REQUEST_URI`` when the server gives one (Werkzeug, gunicorn,
    uWSGI), else rebuilt from ``SCRIPT_NAME`` and ``PATH_INFO``.
    """
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if isinstance(raw, str) and raw:
        if not raw.startswith("/") and "://" in raw:  # absolute form: drop scheme and host
            raw = "/" + raw.split("://", 1)[1].partition("/")[2]
        if raw.startswith("/"):
            return raw.partition("?")[0].partition("#")[0]
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    return quote(path.encode("latin-1", "replace"), safe=_PATH_SAFE)


def canonical_query(query: str) -> tuple[tuple[bytes, bytes], ...]:
    """The query string's pairs, decoded to bytes and sorted by name, a repeated name keeping
    the order of its values: ``?b=2&a=1`` and ``?a=1&b=2`` meet, ``?p=9&p=2`` and
    ``?p=2&p=9`` do not, nor do two different byte strings (no lossy decoding)."""
    if not query:
        return ()
    pairs = []
    for part in query.encode("latin-1", "replace").split(b"&"):
        if not part:
            continue
        name, _, value = part.partition(b"=")
        pairs.append(
            (unquote_to_bytes(name.replace(b"+", b" ")), unquote_to_bytes(value.replace(b"+", b" ")))
        )
    pairs.sort(key=lambda pair: pair[0])  # stable: a repeated name keeps its order
    return tuple(pairs)


# -- storing ----------------------------------------------------------------------------------


def _hook(app: Flask) -> None:
    state = state_of(app, ViewCacheState)
    if not state.hooked:
        # Only apps that use @cached pay for this receiver, and only once a view missed.
        request_finished.connect(_store_response, sender=app, weak=False)
        state.hooked = True


def vary_names(response: Response) -> tuple[str, ...] | None:
    """The response's ``Vary`` names, lower-cased and sorted; None for ``Vary: *``."""
    names = {name.strip().lower() for name in response.vary if name.strip()}
    if "*" in names:
        return None
    return tuple(sorted(names))


def freshness(response: Response, now: float | None = None) -> float | None:
    """Seconds a shared cache may keep ``response`` (``s-maxage``, else ``max-age``, else
    ``Expires``), None when it says nothing; 0 or less: already stale."""
    control = response.cache_control
    if control.s_maxage is not None:
        return float(control.s_maxage)
    if control.max_age is not None:
        return float(control.max_age)
    if "Expires" in response.headers:
        expires = response.expires
        if expires is None:
            return 0.0  # an invalid Expires means "already expired" (RFC 9111 §5.3)
        return expires.timestamp() - (time.time() if now is None else now)
    return None


def cacheable(response: Response) -> bool:
    """Whether a finished response may be stored by ``@cached`` (for any request)."""
    if response.status_code != 200 or response.is_streamed or response.direct_passthrough:
        return False
    if "Set-Cookie" in response.headers:
        return False
    control = response.cache_control
    if control.private or control.no_store or control.no_cache:
        return False
    if vary_names(response) is None:
        return False
    lifetime = freshness(response)
    return lifetime is None or lifetime >= 1


def _timeout(store: SafeCache, wanted: int | None, lifetime: float | None) -> int:
    timeout = store.default_timeout if wanted is None else wanted
    if lifetime is not None:
        timeout = int(lifetime) if timeout == 0 else min(timeout, int(lifetime))
    return timeout


def _store_response(sender: Flask, response: Response, **extra: t.Any) -> None:
    pending = request.__dict__.pop(_PENDING, None)
    if pending is None:
        return
    store, base, options, identified = pending
    if is_marked_uncacheable() or not cacheable(response):
        return
    if request.cache_control.no_store:
        return
    names = vary_names(response) or ()
    if identified and "cookie" in names:
        return  # the page read this visitor's session: theirs alone
    timeout = _timeout(store, options.timeout, freshness(response))
    headers = [(k, v) for k, v in response.headers.items() if k.lower() not in _NOT_STORED_HEADERS]
    entry = (_ENTRY, names, response.get_data(), response.status_code, headers, request_nonce(), time.time())
    if not names:
        store.set(base, (_INDEX, names, entry), timeout)
    else:
        store.set_many({base: (_INDEX, names, None), _variant_key(base, names): entry}, timeout)

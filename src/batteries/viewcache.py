"""``@cached``: the caching view decorator of Flask's "View Decorators" pattern, made safe.

The docs' decorator keys on ``request.path`` only; this one keys on the host, ``script_root``,
path and sorted query string, caches only what is safe to share, and stores in the app's cache
(:mod:`batteries.caching`)::

    from batteries import cached

    @app.get("/report")
    @cached(timeout=60)
    def report():
        return render_template("report.html", rows=slow_query())
"""

from __future__ import annotations

import functools
import hashlib
import typing as t
from urllib.parse import urlencode

from flask import current_app, request, request_finished

from .caching import get_cache
from .sessions import sends_session_cookie
from .signals import cache_hit, cache_miss
from .state import get_state

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask
    from flask.wrappers import Response

F = t.TypeVar("F", bound=t.Callable[..., t.Any])

# -- @cached ----------------------------------------------------------------------------------

_PENDING = "_batteries_cache_store"
_NOT_STORED_HEADERS = frozenset({"set-cookie", "content-length"})


def cached(
    timeout: int | None = None,
    key: t.Callable[[], str] | None = None,
    query_string: bool = True,
    unless: t.Callable[[], bool] | None = None,
    vary_on: t.Callable[[], t.Any] | t.Iterable[str] | None = None,
) -> t.Callable[[F], F]:
    """Cache a view's response in the app's cache (GET and HEAD only, which share an entry).

    The key is the host, ``script_root``, path and sorted query string (``query_string=False``
    leaves the query out; ``key=`` is a callable returning your own key). Not cached: other
    methods, ``unless()`` being true, responses that are not 200, set a cookie, say
    ``Cache-Control: private``/``no-store``, stream, or vary on something the key does not
    cover. Requests carrying the session or remember cookie skip the cache, so a page that read
    the session (``Vary: Cookie``) is stored only when the request had no session: the
    anonymous page, served again only to visitors without a session. ``vary_on`` says how to key such responses: a callable whose
    value joins the key (e.g. ``lambda: current_user.get_id()``) covers them all, and lets
    requests with cookies use the cache; a list of header names (``["Accept-Language"]``) adds
    those request headers to the key and covers those ``Vary`` entries.

    Sends ``cache_hit``/``cache_miss`` (with ``key``) from :mod:`batteries.signals`. Works on
    blueprints and on the app alike. The response is stored after the session is saved, so
    what is checked is what the client gets.
    """
    if vary_on is None or callable(vary_on):
        vary_headers: tuple[str, ...] = ()
    else:
        vary_headers = tuple(vary_on)

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: t.Any, **kwargs: t.Any) -> t.Any:
            if request.method not in ("GET", "HEAD") or (unless is not None and unless()):
                return view(*args, **kwargs)
            app = current_app._get_current_object()  # type: ignore[attr-defined]
            if (vary_on is None or vary_headers) and _has_identity(app):
                return view(*args, **kwargs)
            cache_key = _view_key(key, query_string, vary_on, vary_headers)
            store = get_cache(app)
            found = store.get(cache_key)
            if isinstance(found, tuple) and len(found) == 3:
                if cache_hit.receivers:
                    cache_hit.send(app, key=cache_key)
                body, status, headers = found
                return app.response_class(body, status=status, headers=headers)
            if cache_miss.receivers:
                cache_miss.send(app, key=cache_key)
            _hook(app)
            request.__dict__[_PENDING] = (store, cache_key, timeout, vary_on, vary_headers)
            return view(*args, **kwargs)

        return t.cast(F, wrapper)

    return decorator


def _has_identity(app: Flask) -> bool:
    """Whether the request carries the session or the remember-me cookie (such requests skip
    the cache unless ``vary_on`` says how to key them)."""
    return sends_session_cookie(app, request) or (
        bool(request.environ.get("HTTP_COOKIE"))
        and app.config.get("LOGIN_REMEMBER_COOKIE", "batteries_remember") in request.cookies
    )


def _view_key(
    key: t.Callable[[], str] | None,
    query_string: bool,
    vary_on: t.Any,
    vary_headers: tuple[str, ...],
) -> str:
    if key is not None:
        raw = str(key())
    else:
        raw = request.host + request.script_root + request.path
        if query_string and request.args:
            raw += "?" + urlencode(sorted(request.args.items(multi=True)))
    if vary_headers:
        raw += "|" + "|".join(request.headers.get(name, "") for name in vary_headers)
    elif vary_on is not None:
        raw += "|" + str(vary_on())
    if len(raw) > 200:
        raw = "#" + hashlib.sha256(raw.encode()).hexdigest()
    return "view:" + raw


def _hook(app: Flask) -> None:
    state = get_state(app)
    if not getattr(state, "cache_hooked", False):
        # Only apps that use @cached pay for this receiver, and only once a view missed.
        request_finished.connect(_store_response, sender=app, weak=False)
        state.cache_hooked = True  # type: ignore[attr-defined]


def cacheable(response: Response, vary_on: t.Any, vary_headers: tuple[str, ...]) -> bool:
    """Whether a finished response may be stored by ``@cached``."""
    if response.status_code != 200 or response.is_streamed or response.direct_passthrough:
        return False
    headers = response.headers
    if "Set-Cookie" in headers:
        return False
    control = response.cache_control
    if control.private or control.no_store:
        return False
    vary = {v.lower() for v in response.vary}
    if "*" in vary:
        return False
    if vary_on is not None and not vary_headers:
        return True  # a callable vary_on covers every Vary entry, Cookie included
    # ``Vary: Cookie`` here means the page read the session of a request that carried no
    # session or remember cookie (those skip the cache): it is the anonymous page, and it is
    # only ever served again to requests without those cookies.
    return vary - {"cookie"} <= {h.lower() for h in vary_headers}


def _store_response(sender: Flask, response: Response, **extra: t.Any) -> None:
    pending = request.__dict__.pop(_PENDING, None)
    if pending is None:
        return
    store, cache_key, timeout, vary_on, vary_headers = pending
    if not cacheable(response, vary_on, vary_headers):
        return
    headers = [(k, v) for k, v in response.headers.items() if k.lower() not in _NOT_STORED_HEADERS]
    store.set(cache_key, (response.get_data(), response.status_code, headers), timeout)

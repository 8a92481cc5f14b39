"""Content negotiation: the one place that decides whether a client wants JSON.

``request.wants_json`` (a property of :class:`batteries.Request`) calls :func:`wants_json`; error
bodies, ``@login_required`` (401 or a redirect), flashes in error bodies and the single-page-app
fallback all follow its answer, so a client is never answered in two styles.

The rule, in order:

1. ``Accept`` names ``application/json`` (or any ``+json`` type) explicitly with a higher quality
   than ``text/html`` → JSON; ``text/html`` named with a higher quality → HTML. Wildcards
   (``*/*``, ``application/*``) count for neither, so a browser's navigation (which lists
   ``text/html``) and a test client (which sends no ``Accept``) both get HTML.
2. Otherwise HTML for an htmx request (``HX-Request: true``): htmx swaps HTML fragments into
   the page, even when it sends a JSON body or comes from ``fetch()``.
3. Otherwise JSON when the request has a JSON body, carries ``X-Requested-With: XMLHttpRequest``
   (jQuery and similar helpers) or ``Sec-Fetch-Mode: cors`` (a ``fetch()`` from script).
4. Otherwise HTML.

Since the answer depends on those headers, reading ``request.wants_json`` in a request marks
its response ``Vary: Accept, X-Requested-With, Sec-Fetch-Mode, HX-Request``
(:func:`vary_on_negotiation`), so a shared cache (or ``@cached``) never serves the JSON variant
to a browser, or the reverse.
"""

from __future__ import annotations

import typing as t

from flask import after_this_request, has_request_context
from flask import request as current_request

if t.TYPE_CHECKING:  # pragma: no cover
    from werkzeug.wrappers import Request, Response

#: the request headers :func:`wants_json` reads: what its answer varies on
VARY = ("Accept", "X-Requested-With", "Sec-Fetch-Mode", "HX-Request")


def _is_json_type(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def accept_preference(accept_header: str | None, accept: t.Iterable[tuple[str, float]]) -> bool | None:
    """True if ``Accept`` prefers JSON over HTML, False if the reverse, None if it does not say."""
    if not accept_header:
        return None
    json_q = html_q = 0.0
    for value, quality in accept:
        value = value.lower()
        if value == "text/html":
            html_q = max(html_q, quality)
        elif _is_json_type(value):
            json_q = max(json_q, quality)
    if json_q > html_q:
        return True
    if html_q > json_q:
        return False
    return None


def wants_json(request: Request) -> bool:
    """Decide whether ``request`` should be answered with JSON (see the module docstring)."""
    environ = request.environ
    preference = accept_preference(environ.get("HTTP_ACCEPT"), request.accept_mimetypes)
    if preference is not None:
        return preference
    if environ.get("HTTP_HX_REQUEST", "").strip().lower() == "true":
        return False
    if environ.get("HTTP_X_REQUESTED_WITH", "").lower() == "xmlhttprequest":
        return True
    if environ.get("HTTP_SEC_FETCH_MODE", "").lower() == "cors":
        return True
    return request.is_json


def _add_vary(response: Response) -> Response:
    response.vary.update(VARY)
    return response


def vary_on_negotiation(request: Request) -> None:
    """Mark the response to ``request`` as varying on the headers :func:`wants_json` reads.

    Uses Flask's ``after_this_request``, so it holds for whatever response the request gets
    (the view's, an error page's); nothing happens outside the request's own context.
    """
    if has_request_context() and current_request.environ is request.environ:
        after_this_request(_add_vary)


# -- responses made for one request only ---------------------------------------------------


#: the environ key of the mark (the environ: one per request, even in a reused app context)
_UNCACHEABLE = "batteries.uncacheable"


def mark_uncacheable(reason: str = "per-request value") -> None:
    """Say that this request's response embeds a value made for this request only.

    ``@cached`` then does not store the response. Call it from code that renders such a value
    into a page (a CSRF token, a one-time link); outside a request it does nothing.
    """
    if has_request_context():  # the environ: one per request, even when an app context is reused
        current_request.environ[_UNCACHEABLE] = reason


def is_marked_uncacheable() -> bool:
    """Whether :func:`mark_uncacheable` was called during this request."""
    return has_request_context() and _UNCACHEABLE in current_request.environ

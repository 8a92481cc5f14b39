"""Content negotiation: the one place that decides whether a client wants JSON.

``request.wants_json`` (a property of :class:`batteries.Request`) calls :func:`wants_json`; error
bodies, ``@login_required`` (401 or a redirect), flashes in error bodies and the single-page-app
fallback all follow its answer, so a client is never answered in two styles.

The rule, in order:

1. ``Accept`` names ``application/json`` (or any ``+json`` type) explicitly with a higher quality
   than ``text/html`` → JSON; ``text/html`` named with a higher quality → HTML. Wildcards
   (``*/*``, ``application/*``) count for neither, so a browser's navigation (which lists
   ``text/html``) and a test client (which sends no ``Accept``) both get HTML.
2. Otherwise JSON when the request has a JSON body, carries ``X-Requested-With: XMLHttpRequest``
   (jQuery, htmx-style helpers) or ``Sec-Fetch-Mode: cors`` (a ``fetch()`` from script).
3. Otherwise HTML.
"""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:  # pragma: no cover
    from werkzeug.wrappers import Request


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
    if environ.get("HTTP_X_REQUESTED_WITH", "").lower() == "xmlhttprequest":
        return True
    if environ.get("HTTP_SEC_FETCH_MODE", "").lower() == "cors":
        return True
    return request.is_json

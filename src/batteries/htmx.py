"""HTML over the wire with htmx: request details, fragments, logins, errors and flashes.

htmx (https://htmx.org) sends ``HX-Request: true`` with every request it makes and swaps the
HTML it gets back into the page. This module gives a Batteries app what such requests need:

- ``request.htmx``: falsy for other requests; for htmx requests ``.target``, ``.trigger``,
  ``.trigger_name``, ``.boosted``, ``.current_url``, ``.history_restore`` and ``.prompt``
  (the ``HX-*`` headers, URI-decoded when htmx had to encode them)::

      @app.get("/search")
      def search():
          rows = find(request.args.get("q", ""))
          if request.htmx.target == "results":
              return render_template("_rows.html", rows=rows)
          return render_template("search.html", rows=rows)

- ``@templated(block="content")`` and :func:`batteries.templating.render_block` answer a
  non-boosted htmx request with one block of the page (see :mod:`batteries.templating`).
- ``@login_required`` answers an htmx request of an anonymous visitor with a 401 carrying
  ``HX-Redirect`` to the login page, ``next`` being the page the visitor was on
  (``HX-Current-URL`` when it is a path of this site, see :func:`current_page`), so htmx loads
  the login page instead of swapping it into a table cell.
- Errors (404, 400, 403, 500...) answer htmx requests with a small HTML fragment
  (:func:`error_response`), neither a whole page nor JSON; an htmx request is a JSON client only
  when its ``Accept`` ranks JSON above HTML.
- Flashed messages reach the page: when messages are waiting after an htmx request, an
  out-of-band element (``hx-swap-oob="innerHTML:#flashes"``) with them is appended to the
  HTML fragment, and htmx puts them into the layout's flash area (``<div id="flashes">`` in
  ``batteries/base.html``).

htmx itself is not shipped: the app includes it (a ``<script>`` of its own static folder or a
CDN, see docs/views.md). htmx 2 swaps only 2xx answers by default; a form that fails validation
can answer 422 with the re-rendered form once ``htmx.config.responseHandling`` swaps 422.

Config: ``HTMX_FLASH_TARGET`` (``"#flashes"``): CSS selector of the layout's flash area that
out-of-band flashes go into; None keeps messages waiting for the next full page.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from flask import after_this_request, current_app, has_request_context, request
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

from .checks import Check
from .config import Setting
from .flashing import render_flashes, session_in_use
from .negotiation import accept_preference
from .redirects import is_safe_path, next_url

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask
    from flask.wrappers import Response
    from werkzeug.wrappers import Request

HTMX_FLASH_TARGET = Setting(
    "HTMX_FLASH_TARGET",
    "#flashes",
    (str, type(None)),
    "CSS selector of the layout's flash area htmx responses swap waiting messages into "
    "(None: they wait for the next page)",
)

CONFIG = (HTMX_FLASH_TARGET,)
#: this battery adds no deploy checks (see batteries.checks)
DEPLOY_CHECKS: tuple[Check, ...] = ()

#: The request headers a response built from them should ``Vary`` on.
VARY_HEADERS = ("HX-Request", "HX-Boosted", "HX-History-Restore-Request")

# Response headers after which htmx leaves the page: nothing is swapped, flashes keep waiting.
_LEAVING_HEADERS = ("HX-Redirect", "HX-Location", "HX-Refresh")


@dataclass(frozen=True)
class HtmxDetails:
    """What htmx said about a request (``request.htmx``); falsy when htmx did not send it."""

    request: bool = False
    #: ``HX-Target``: the id of the element the answer is swapped into
    target: str | None = None
    #: ``HX-Trigger``: the id of the element that triggered the request
    trigger: str | None = None
    #: ``HX-Trigger-Name``: the name of that element
    trigger_name: str | None = None
    #: ``HX-Boosted``: a boosted link or form (the answer is a whole page)
    boosted: bool = False
    #: ``HX-Current-URL``: the URL of the page in the browser (absolute, as the browser has it)
    current_url: str | None = None
    #: ``HX-History-Restore-Request``: htmx wants the whole page to restore its history
    history_restore: bool = False
    #: ``HX-Prompt``: the user's answer to ``hx-prompt``
    prompt: str | None = None

    def __bool__(self) -> bool:
        return self.request


NOT_HTMX = HtmxDetails()


def _header(environ: dict[str, t.Any], name: str) -> str | None:
    key = "HTTP_" + name.upper().replace("-", "_")
    found = environ.get(key)
    if found is None:
        return None
    if environ.get(key + "_URI_AUTOENCODED", "").lower() == "true":
        return unquote(found)
    return t.cast(str, found)


def parse(environ: dict[str, t.Any]) -> HtmxDetails:
    """The :class:`HtmxDetails` of a WSGI environ (:data:`NOT_HTMX` without ``HX-Request``)."""
    if environ.get("HTTP_HX_REQUEST", "").lower() != "true":
        return NOT_HTMX
    return HtmxDetails(
        request=True,
        target=_header(environ, "HX-Target"),
        trigger=_header(environ, "HX-Trigger"),
        trigger_name=_header(environ, "HX-Trigger-Name"),
        boosted=environ.get("HTTP_HX_BOOSTED", "").lower() == "true",
        current_url=_header(environ, "HX-Current-URL"),
        history_restore=environ.get("HTTP_HX_HISTORY_RESTORE_REQUEST", "").lower() == "true",
        prompt=_header(environ, "HX-Prompt"),
    )


def details(request: Request) -> HtmxDetails:
    """``request.htmx`` of a Batteries request; parsed from the headers for any other one."""
    found = getattr(request, "htmx", None)
    if isinstance(found, HtmxDetails):
        return found
    return parse(request.environ)


def _prefers_json(request: Request) -> bool:
    environ = request.environ
    return accept_preference(environ.get("HTTP_ACCEPT"), request.accept_mimetypes) is True


def wants_html(request: Request) -> bool:
    """An htmx request that should be answered with HTML: ``Accept`` does not rank JSON above
    HTML (htmx's own requests never do)."""
    return bool(details(request)) and not _prefers_json(request)


def wants_fragment(request: Request) -> bool:
    """An htmx request that swaps a part of the page: :func:`wants_html`, neither boosted nor a
    history restore (those two swap a whole page)."""
    found = details(request)
    return wants_html(request) and not (found.boosted or found.history_restore)


def current_page(request: Request) -> str | None:
    """The page the user is on, as a path of this site for ``next``, else None.

    For a boosted GET that is the page asked for (this request's path and query); otherwise
    ``HX-Current-URL``, kept only when it is ``http(s)`` on this request's host and its path and
    query pass :func:`batteries.redirects.is_safe_path` (the rules of ``safe_next``).
    """
    found = details(request)
    if found.boosted and request.method in ("GET", "HEAD"):
        return next_url()
    url = found.current_url
    # urlsplit drops tabs and newlines: a URL holding any is refused whole, not cleaned.
    if not url or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or parts.netloc.lower() != request.host.lower():
        return None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return path if is_safe_path(path) else None


UNAUTHORIZED_FRAGMENT = '<p class="error" role="alert">Log in to see this page.</p>'


def login_redirect(target: str) -> Response:
    """The answer to an anonymous htmx request: 401 with ``HX-Redirect: target`` (htmx then
    loads the login page as a whole page) and a short fragment for clients that stay."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    response = app.response_class(UNAUTHORIZED_FRAGMENT, status=401, mimetype="text/html")
    response.headers["HX-Redirect"] = target
    response.vary.add("HX-Request")
    return response


def error_fragment(error: HTTPException) -> Markup:
    """The HTML of an error for htmx: a ``role="alert"`` block with its status, name and
    message, to be swapped into a part of the page."""
    return Markup(
        '<div class="error error-{code}" role="alert" data-status="{code}">'
        "<strong>{code} {name}</strong> <span>{message}</span></div>\n"
    ).format(code=error.code, name=error.name, message=error.description or error.name)


def error_response(app: Flask, error: object, request: Request) -> Response | None:
    """The fragment answer to ``error`` (an HTTP error of 400 or more without a response of its
    own) for a request that :func:`wants_fragment`, else None. The error's own headers
    (``Allow``, ``Retry-After``, ``WWW-Authenticate``) are kept."""
    if not (
        isinstance(error, HTTPException)
        and error.code is not None
        and error.code >= 400
        and error.response is None
        and has_request_context()
        and wants_fragment(request)
    ):
        return None
    response = app.response_class(str(error_fragment(error)), status=error.code, mimetype="text/html")
    for name, value in error.get_headers():
        if name.lower() not in ("content-type", "content-length"):
            response.headers.add(name, value)
    response.vary.update(VARY_HEADERS[:2])
    return response


def flash_element(app: Flask) -> Markup:
    """The out-of-band element that carries the waiting flashes into the layout's flash area
    (``HTMX_FLASH_TARGET``), consuming them; empty when none are waiting."""
    selector = HTMX_FLASH_TARGET.get(app)
    if not selector or not session_in_use():
        return Markup("")
    messages = render_flashes()
    if not messages:
        return Markup("")
    return Markup('\n<div hx-swap-oob="innerHTML:{selector}">{messages}\n</div>\n').format(
        selector=selector, messages=messages
    )


def deliver_flashes(response: Response) -> Response:
    """``after_request`` step: append :func:`flash_element` to the HTML answer of a fragment
    request. Not to redirects, empty answers (204, 304), streams, boosted or history-restore
    requests (whole pages show flashes themselves) or answers that make htmx leave the page."""
    # Cheapest tests first: most requests leave at the first line, most htmx requests without
    # a session (nothing can be waiting) at the session test.
    if request.environ.get("HTTP_HX_REQUEST") is None:
        return response
    status = response.status_code
    if status < 200 or status in (204, 304) or 300 <= status < 400:
        return response
    if response.mimetype != "text/html" or response.is_streamed or response.direct_passthrough:
        return response
    if any(name in response.headers for name in _LEAVING_HEADERS):
        return response
    if not session_in_use() or not wants_fragment(request):
        return response
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    element = flash_element(app)
    if element:
        response.set_data(response.get_data() + str(element).encode())
    return response


#: environ key: this request's flash delivery is already scheduled
_SCHEDULED = "batteries.htmx.flashes"


def init_app(app: Flask) -> None:
    """Nothing to register: ``Batteries.make_response`` calls :func:`schedule_flashes`, so a
    request without ``HX-Request`` pays one dictionary lookup, not a hook."""


def schedule_flashes(environ: dict[str, t.Any]) -> None:
    """For an htmx request, run :func:`deliver_flashes` on its response (once per request).

    Called when a response is made; on a plain Flask app, register :func:`deliver_flashes`
    with ``app.after_request`` instead.
    """
    if "HTTP_HX_REQUEST" in environ and _SCHEDULED not in environ:
        environ[_SCHEDULED] = True
        after_this_request(deliver_flashes)


def vary(response: Response) -> Response:
    """Mark ``response`` as differing by the htmx request headers (:data:`VARY_HEADERS`)."""
    response.vary.update(VARY_HEADERS)
    return response


__all__ = [
    "HtmxDetails",
    "NOT_HTMX",
    "current_page",
    "details",
    "error_response",
    "login_redirect",
    "wants_fragment",
    "wants_html",
]

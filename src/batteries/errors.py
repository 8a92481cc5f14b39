"""HTTP errors answered in the client's language: JSON for JSON clients, HTML for the rest.

Any :class:`~werkzeug.exceptions.HTTPException` with a status of 400 or more that reaches the end
of the request without an error handler of the app's own becomes, for a client that
``wants_json``::

    {"error": "Not Found", "message": "The requested URL was not found ...", "status": 404}

plus ``"flashes": [{"category": ..., "message": ...}]`` when flashed messages are waiting in a
session the client already has. The exception's own headers (``Allow``, ``WWW-Authenticate``,
``Retry-After``) are kept. Everyone else gets Werkzeug's HTML page, as with Flask. Handlers the
app registers with ``@app.errorhandler`` still run first and win.

``error`` is Batteries' own name for the status (:data:`ERROR_NAMES`, the reason phrases of
RFC 9110 as Werkzeug 3.1 spelled them), the same whatever Werkzeug or Python version renders the
HTML page (Werkzeug 3.2 takes its phrases from ``http.HTTPStatus``: "I'm a Teapot", and Python
3.13 renamed 413 and 422). An exception class that sets its own ``name`` keeps it.

This is done in ``Batteries.make_response`` (not with an ``errorhandler(HTTPException)`` of our
own, which would take the place of the app's generic handlers).
"""

from __future__ import annotations

import typing as t

from flask import json
from werkzeug.exceptions import HTTPException

from .checks import Check
from .config import Setting
from .flashing import pop_flashes
from .translations import http_error_text

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask
    from flask.wrappers import Response
    from werkzeug.wrappers import Request


#: The ``error`` of a JSON error body, by status code.
ERROR_NAMES: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Request Entity Too Large",
    414: "Request URI Too Long",
    415: "Unsupported Media Type",
    416: "Requested Range Not Satisfiable",
    417: "Expectation Failed",
    418: "I'm a teapot",
    421: "Misdirected Request",
    422: "Unprocessable Entity",
    423: "Locked",
    424: "Failed Dependency",
    425: "Too Early",
    426: "Upgrade Required",
    428: "Precondition Required",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    451: "Unavailable For Legal Reasons",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
    506: "Variant Also Negotiates",
    507: "Insufficient Storage",
    508: "Loop Detected",
    510: "Not Extended",
    511: "Network Authentication Required",
}


def error_name(error: HTTPException) -> str:
    """Batteries' name for ``error``: its class's own ``name`` if it sets one, else
    :data:`ERROR_NAMES` by status, else ``"Error"``."""
    if type(error).name is not HTTPException.name:
        return str(error.name)
    return ERROR_NAMES.get(error.code or 0, "Error")


def error_body(error: HTTPException, request: Request | None = None) -> dict[str, t.Any]:
    """The JSON body for ``error``."""
    name = error_name(error)
    body: dict[str, t.Any] = {
        "error": name,
        "message": http_error_text(error)[1],
        "status": error.code,
    }
    if request is not None:
        flashes = waiting_flashes(request)
        if flashes:
            body["flashes"] = flashes
    return body


def waiting_flashes(request: Request) -> list[dict[str, str]]:
    """Flashed messages waiting for this client, consumed (:func:`batteries.flashing.pop_flashes`:
    nothing is read from the session of a client that sent no session cookie, which would
    create one, and ``Vary: Cookie``, just to find it empty)."""
    return [{"category": c, "message": str(m)} for c, m in pop_flashes()]


def json_error_response(app: Flask, error: HTTPException, request: Request) -> Response:
    """Build the JSON response for ``error``, keeping its headers (``Allow``, ``Retry-After``...)."""
    response = app.response_class(
        json.dumps(error_body(error, request)) + "\n",
        status=error.code,
        mimetype="application/json",
    )
    for name, value in error.get_headers():
        if name.lower() not in ("content-type", "content-length"):
            response.headers.add(name, value)
    return response


def should_render_json(error: object, request: Request | None) -> bool:
    return (
        request is not None
        and isinstance(error, HTTPException)
        and error.code is not None
        and error.code >= 400
        and error.response is None
        and bool(getattr(request, "wants_json", False))
    )


# -- HTML error pages in Batteries' layout (#18) ---------------------------------------------

ERROR_PAGES = Setting(
    "ERROR_PAGES",
    False,
    (bool,),
    "answer 4xx/5xx for browsers with batteries/error.html (Batteries' layout) instead of "
    "Werkzeug's plain page; on in new projects and the examples",
)
CONFIG = (ERROR_PAGES,)
DEPLOY_CHECKS: tuple[Check, ...] = ()


def init_app(app: Flask) -> None:
    """Nothing to register: :func:`html_error_response` runs from ``Batteries.make_response``."""


def should_render_html(app: Flask, error: object) -> bool:
    return (
        isinstance(error, HTTPException)
        and error.code is not None
        and error.code >= 400
        and error.response is None
        and bool(ERROR_PAGES.get(app))
    )


def html_error_response(app: Flask, error: HTTPException) -> Response | None:
    """``batteries/error.html`` (or the app's own template of that name) for ``error``,
    keeping its headers; None (Werkzeug's page then) when the page itself fails to render."""
    from flask import render_template

    name, description = http_error_text(error)
    try:
        html = render_template(
            "batteries/error.html", error=error, code=error.code, name=name, description=description
        )
    except Exception:  # an error page must never turn a 404 into a 500 (or a 500 into a crash)
        app.logger.exception("batteries/error.html failed to render; sent Werkzeug's page")
        return None
    response = app.response_class(html, status=error.code, mimetype="text/html")
    for name, value in error.get_headers():
        if name.lower() not in ("content-type", "content-length"):
            response.headers.add(name, value)
    return response

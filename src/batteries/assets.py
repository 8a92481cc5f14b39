"""Files Batteries serves without registering a route: the favicon and its own static files.

Flask's "Adding a favicon" pattern registers a route; a route added by a Flask subclass shows
up in ``flask routes``, can shadow the app's own, and breaks Flask's tests. Batteries answers
instead when routing found nothing (a 404 for GET or HEAD):

- ``/favicon.ico`` → ``<static folder>/favicon.ico`` when that file exists;
- ``/_batteries/<file>`` (``BATTERIES_STATIC_URL``) → the package's own static files, such as
  ``batteries.js``.

A route of the app's own always wins: these only run when routing failed.
"""

from __future__ import annotations

import os
import typing as t

from flask import send_from_directory

from .checks import Check
from .config import Setting

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask
    from flask.wrappers import Response
    from werkzeug.wrappers import Request

PACKAGE_STATIC = os.path.join(os.path.dirname(__file__), "static")

BATTERIES_STATIC_URL = Setting(
    "BATTERIES_STATIC_URL",
    "/_batteries",
    (str,),
    "URL prefix of Batteries' own static files (batteries.js, batteries.css)",
)
FAVICON = Setting(
    "FAVICON", True, (bool,), "serve /favicon.ico from the static folder when the file exists"
)
CONFIG = (BATTERIES_STATIC_URL, FAVICON)


def init_app(app: Flask) -> None:
    """Nothing to register: :func:`serve` is called from ``raise_routing_exception``."""


def serve(app: Flask, request: Request) -> Response | None:
    """The favicon or a package static file for a GET/HEAD that found no route, else None."""
    path = request.path
    if path == "/favicon.ico":
        if not FAVICON.get(app) or not app.static_folder:
            return None
        if not os.path.isfile(os.path.join(app.static_folder, "favicon.ico")):
            return None
        return send_from_directory(
            app.static_folder, "favicon.ico", mimetype="image/vnd.microsoft.icon"
        )
    prefix = BATTERIES_STATIC_URL.get(app).rstrip("/") + "/"
    if path.startswith(prefix):
        name = path[len(prefix) :]
        if name and os.path.isfile(os.path.join(PACKAGE_STATIC, name)):
            # send_from_directory refuses anything that escapes the folder (404).
            return send_from_directory(PACKAGE_STATIC, name, max_age=3600)
    return None


#: this battery adds no deploy checks (see batteries.checks)
DEPLOY_CHECKS: tuple[Check, ...] = ()

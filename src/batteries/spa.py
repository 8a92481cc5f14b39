"""Serve a single-page application's build folder, with client-side routes falling back to it.

Replaces Flask's "Single-Page Applications" pattern (a catch-all route) without a route: a
catch-all route shadows 404s, swallows API typos and breaks ``flask routes``. ``app.spa()``
answers only where routing found nothing (a GET or HEAD 404), so no route of the app is ever
shadowed::

    app = Batteries(__name__)
    app.spa("frontend/dist")             # relative to app.root_path

    @app.get("/api/items")
    def items(): ...

- a file of the folder is served as it is, for any ``Accept``: names with a content hash
  (``app.3f9a2c1d.js``) as ``public, max-age=31536000, immutable``, others ``no-cache``
  (revalidated with their ETag);
- a client route (``/settings/profile``) gets ``index.html`` (``no-cache``) when the request is a
  GET/HEAD that accepts HTML (no ``Accept`` header counts as accepting it) and is not a JSON
  request, its last segment has no dot, and it is outside ``api_prefix``;
- a missing asset (``/app.js``), anything under ``api_prefix`` and anything else is a real 404
  (JSON for JSON clients); paths that try to leave the folder are refused (404).

Config: none (arguments of ``app.spa``).
"""

from __future__ import annotations

import os
import re
import typing as t
from dataclasses import dataclass

from flask import send_file
from werkzeug.security import safe_join

from .state import state_of

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask
    from flask.wrappers import Response
    from werkzeug.wrappers import Request

__all__ = ["configure", "serve"]

#: ``name.<8+ hex or base36/64-ish chars>.ext``: a bundler's content hash, safe to cache forever.
_HASHED = re.compile(r"[.-][A-Za-z0-9_]{8,}\.[A-Za-z0-9]+$")
_HEX_OR_MIXED = re.compile(r"(?=[A-Za-z0-9_]*\d)[A-Za-z0-9_]{8,}")
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class SPA:
    directory: str
    url_prefix: str
    index: str
    api_prefix: str | None


@dataclass
class SPAState:
    """The single-page apps of one app, most specific URL prefix first."""

    spas: tuple[SPA, ...] = ()


def _clean_prefix(prefix: str, what: str) -> str:
    if not isinstance(prefix, str) or not prefix.startswith("/"):
        raise ValueError(f"{what} must start with '/', got {prefix!r}")
    return "/" + prefix.strip("/")


def configure(
    app: Flask,
    directory: str | os.PathLike[str],
    url_prefix: str = "/",
    index: str = "index.html",
    api_prefix: str | None = "/api",
) -> None:
    """Record an SPA for ``app`` (see :meth:`batteries.Batteries.spa`)."""
    prefix = _clean_prefix(url_prefix, "url_prefix")
    api = None if api_prefix is None else _clean_prefix(api_prefix, "api_prefix")
    if api == "/":
        raise ValueError("api_prefix cannot be '/' (every path would be an API path)")
    if not index or "/" in index or "\\" in index or index.startswith("."):
        raise ValueError(f"index must be a file name in the folder, got {index!r}")
    folder = os.path.join(app.root_path, os.fspath(directory))
    state = state_of(app, SPAState)
    spas: list[SPA] = [s for s in state.spas if s.url_prefix != prefix]
    spas.append(SPA(os.path.abspath(folder), prefix, index, api))
    spas.sort(key=lambda s: -len(s.url_prefix))  # the most specific prefix first
    state.spas = tuple(spas)


def _under(path: str, prefix: str) -> bool:
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


def _accepts_html(request: Request) -> bool:
    if getattr(request, "wants_json", False):  # a script's fetch(), an XHR, a JSON body
        return False
    if not request.headers.get("Accept"):
        return True
    return bool(request.accept_mimetypes.accept_html)


def _is_hashed(name: str) -> bool:
    match = _HASHED.search(name)
    return bool(match and _HEX_OR_MIXED.fullmatch(match.group(0)[1:].rsplit(".", 1)[0]))


def serve(app: Flask, request: Request) -> Response | None:
    """The SPA's answer for a GET/HEAD that matched no route, or None for a real 404."""
    spas = state_of(app, SPAState).spas
    if not spas:
        return None
    path = request.path
    for spa in spas:
        if not _under(path, spa.url_prefix):
            continue
        if spa.api_prefix is not None and _under(path, spa.api_prefix):
            return None
        relative = (
            path[len(spa.url_prefix) :].strip("/") if spa.url_prefix != "/" else path.strip("/")
        )
        if relative:
            full = safe_join(spa.directory, relative)
            if full is not None and os.path.isfile(full):
                return _file(full, index=relative == spa.index)
            if "." in relative.rsplit("/", 1)[-1]:
                return None  # a missing asset: a real 404
        if not _accepts_html(request):
            return None
        index = os.path.join(spa.directory, spa.index)
        if not os.path.isfile(index):
            return None
        return _file(index, index=True)
    return None


def _file(path: str, index: bool) -> Response:
    response = send_file(path, conditional=True, etag=True, max_age=None)
    if index or not _is_hashed(os.path.basename(path)):
        response.headers["Cache-Control"] = "no-cache"
    else:
        response.headers["Cache-Control"] = IMMUTABLE
    return response

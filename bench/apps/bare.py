"""A bare WSGI callable: the floor under every framework (hello and JSON only)."""

from __future__ import annotations

import json
import typing as t

from apps import JSON_BODY

HELLO = b"Hello, World!"


def application(environ: dict[str, t.Any], start_response: t.Callable[..., t.Any]) -> list[bytes]:
    path = environ.get("PATH_INFO", "")
    if path == "/hello":
        body, ctype = HELLO, "text/html; charset=utf-8"
    elif path == "/json":
        body, ctype = (json.dumps(JSON_BODY) + "\n").encode(), "application/json"
    else:
        start_response("404 NOT FOUND", [("Content-Type", "text/plain"), ("Content-Length", "9")])
        return [b"Not Found"]
    start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]


def create_app(db_url: str | None = None) -> t.Callable[..., t.Any]:
    return application

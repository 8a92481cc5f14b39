"""HTTP method override, applied where Flask matches the request to a route.

Replaces Flask's "HTTP Method Overrides" pattern (a WSGI middleware that trusted the header on any
method). HTML forms can only send GET and POST; with Batteries a POST can say which method it
means, and ``request.method``, ``environ["REQUEST_METHOD"]`` and routing follow::

    <form method="post" action="/items/3">
      <input type="hidden" name="_method" value="DELETE">   <!-- first field of the form -->
      ...

    @app.delete("/items/<int:id>")
    def delete_item(id): ...

The rules:

- Only a POST is overridden, never a GET or HEAD. The method asked for comes from the
  ``X-HTTP-Method-Override`` header, ``_method`` in the query string, or ``_method`` in the body:
  an urlencoded body (up to 1 MiB), or the *first* part of a multipart body. Values are stripped
  and upper-cased; empty ones are ignored; when several sources are present they must agree.
- The value must be in ``METHOD_OVERRIDE_ALLOWED`` (default PUT, PATCH, DELETE); GET, HEAD,
  CONNECT and TRACE never are; ``POST`` changes nothing. Anything else is a 400 that names it.
- The request is routed with the real method first; ``_method`` is read only when routing did
  not already answer (a redirect or a 404). The body is peeked through a push-back buffer, so the
  view still reads all of it (streaming, checksums, ``request.files`` and a
  ``request.max_content_length`` set by the view keep working).
- The original method stays in ``environ["batteries.original_method"]`` and
  ``request.original_method``.

Config: ``METHOD_OVERRIDE`` (True), ``METHOD_OVERRIDE_ALLOWED`` ({"PUT", "PATCH", "DELETE"}).

Flask 3.2 merges the request context into the app context: this module is the one place that
will have to follow.
"""

from __future__ import annotations

import typing as t
from urllib.parse import parse_qsl

from flask.ctx import RequestContext as FlaskRequestContext
from werkzeug.exceptions import BadRequest, HTTPException, NotFound
from werkzeug.routing import RequestRedirect
from werkzeug.sansio import multipart

from .checks import Check
from .config import Setting

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask
    from flask.wrappers import Request

CONFIG = (
    Setting("METHOD_OVERRIDE", True, (bool,), "let a POST ask for another method (_method)"),
    Setting(
        "METHOD_OVERRIDE_ALLOWED",
        frozenset({"PUT", "PATCH", "DELETE"}),
        (set, frozenset, list, tuple),
        "methods a POST may ask for with X-HTTP-Method-Override or _method",
    ),
)

HEADER_KEY = "HTTP_X_HTTP_METHOD_OVERRIDE"
FIELD = "_method"
ORIGINAL_KEY = "batteries.original_method"
NEVER = frozenset({"GET", "HEAD", "CONNECT", "TRACE"})
#: the largest urlencoded body searched for ``_method``
URLENCODED_PEEK_LIMIT = 1024 * 1024
#: how much of a multipart body is read looking for a first ``_method`` part
MULTIPART_PEEK_LIMIT = 64 * 1024
_READ = 8 * 1024


def init_app(app: Flask) -> None:
    """Nothing to register: ``Batteries.request_context()`` returns :class:`RequestContext`."""


class MethodOverrideError(BadRequest):
    """A POST asked for a method it may not have (400)."""


class PeekedInput:
    """A WSGI input whose first bytes were already read: they are served again, then the rest.

    ``error`` is an exception met while peeking, raised once the peeked bytes are used up (so
    a client that disconnected is noticed by whoever reads the body, as without the peek).
    """

    def __init__(self, head: bytes, raw: t.Any, error: BaseException | None = None) -> None:
        self._head = head
        self._pos = 0
        self._raw = raw
        self._error = error

    def _left(self) -> int:
        return len(self._head) - self._pos

    def _take(self, size: int) -> bytes:
        data = self._head[self._pos : self._pos + size]
        self._pos += len(data)
        return data

    def _raw_call(self, name: str, *args: t.Any) -> t.Any:
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return getattr(self._raw, name)(*args)

    def read(self, size: int | None = -1) -> bytes:
        left = self._left()
        if size is None or size < 0:
            return self._take(left) + self._raw_call("read")  # type: ignore[no-any-return]
        if left:
            return self._take(size)
        return self._raw_call("read", size)  # type: ignore[no-any-return]

    def readinto(self, buffer: t.Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._left():
            data = self._take(len(view))
            view[: len(data)] = data
            return len(data)
        if hasattr(self._raw, "readinto"):
            return self._raw_call("readinto", view) or 0
        data = self._raw_call("read", len(view))
        view[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        if not self._left():
            return self._raw_call("readline", -1 if size is None else size)  # type: ignore[no-any-return]
        end = self._head.find(b"\n", self._pos) + 1 or len(self._head)
        if size is not None and size >= 0:
            end = min(end, self._pos + size)
        line = self._take(end - self._pos)
        if line.endswith(b"\n") or (size is not None and 0 <= size <= len(line)):
            return line
        rest = -1 if size is None or size < 0 else size - len(line)
        return line + self._raw_call("readline", rest)  # type: ignore[no-any-return]

    def close(self) -> None:
        close = getattr(self._raw, "close", None)
        if close is not None:
            close()


class RequestContext(FlaskRequestContext):
    """Flask's request context, applying the method override after routing."""

    _override: t.Any = None

    def match_request(self) -> None:
        decided = self._override
        if decided is None:
            super().match_request()
            decided = self._override = _decide(self)
            if decided is False:
                return
        elif decided is False:
            super().match_request()
            return
        request = self.request
        if isinstance(decided, HTTPException):
            request.url_rule = request.view_args = None
            request.routing_exception = decided
            return
        try:
            result = self.url_adapter.match(method=decided, return_rule=True)  # type: ignore[union-attr]
            request.url_rule, request.view_args = result  # type: ignore[assignment]
            request.routing_exception = None
        except HTTPException as e:
            request.url_rule = request.view_args = None
            request.routing_exception = e


def _decide(ctx: RequestContext) -> t.Any:
    """False (no override), a method name (applied to the request), or the 400 to answer."""
    request = ctx.request
    environ = request.environ
    if environ.get("REQUEST_METHOD", "").upper() != "POST" or ORIGINAL_KEY in environ:
        return False
    if not ctx.app.config.get("METHOD_OVERRIDE", True):
        return False
    if isinstance(request.routing_exception, (RequestRedirect, NotFound)):
        return False
    try:
        found = _sources(request)
    except HTTPException as e:
        return e
    if not found:
        return False
    values = {value for _, value in found}
    if len(values) > 1:
        said = ", ".join(f"{source} {_quoted(value)}" for source, value in found)
        return MethodOverrideError(f"The method override values disagree: {said}.")
    method = values.pop()
    if method == "POST":
        return False
    allowed = {str(m).strip().upper() for m in ctx.app.config.get("METHOD_OVERRIDE_ALLOWED", ())}
    allowed -= NEVER
    if method not in allowed:
        names = ", ".join(sorted(allowed)) or "none"
        return MethodOverrideError(
            f"The method override {_quoted(method)} is not allowed (allowed: {names}; "
            "METHOD_OVERRIDE_ALLOWED)."
        )
    environ[ORIGINAL_KEY] = environ["REQUEST_METHOD"]
    environ["REQUEST_METHOD"] = method
    request.method = method
    return method


def _quoted(value: str, limit: int = 24) -> str:
    if len(value) > limit:
        value = value[: limit - 3] + "..."
    return repr(value)


def _sources(request: Request) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []

    def add(source: str, raw: str) -> None:
        value = raw.strip().upper()
        if value:
            found.append((source, value))

    header = request.environ.get(HEADER_KEY)
    if header is not None:
        add("header X-HTTP-Method-Override", header)
    if FIELD in request.environ.get("QUERY_STRING", ""):
        for value in request.args.getlist(FIELD):
            add("query _method", value)
    for value in _body_values(request):
        add("form field _method", value)
    return found


def _body_values(request: Request) -> list[str]:
    mimetype = request.mimetype
    if mimetype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return []
    d = request.__dict__
    if "form" in d:
        return request.form.getlist(FIELD)
    if "stream" in d or "_batteries_body" in d or getattr(request, "_cached_data", None):
        return []  # the body is already being read by someone else: leave it alone
    length = request.content_length
    if not length:
        return []
    if mimetype == "multipart/form-data":
        return _peek_multipart(request, length)
    if length > URLENCODED_PEEK_LIMIT:
        return []
    head = _peek(request, length, lambda data: False)
    if FIELD.encode() not in head:
        return []
    pairs = parse_qsl(head.decode("utf-8", "replace"), keep_blank_values=True)
    return [value for key, value in pairs if key == FIELD]


def _peek(request: Request, limit: int, done: t.Callable[[bytes], bool]) -> bytes:
    """Read up to ``limit`` bytes of raw input (until ``done(head)``) and push them back."""
    environ = request.environ
    raw = environ["wsgi.input"]
    chunks: list[bytes] = []
    got = 0
    error: BaseException | None = None
    try:
        while got < limit:
            data = raw.read(min(_READ, limit - got))
            if not data:
                break
            chunks.append(data)
            got += len(data)
            if done(data):
                break
    except (OSError, ValueError) as e:
        error = e
    head = b"".join(chunks)
    environ["wsgi.input"] = PeekedInput(head, raw, error)
    return head


def _peek_multipart(request: Request, length: int) -> list[str]:
    boundary = request.mimetype_params.get("boundary", "")
    if not boundary:
        return []
    try:
        decoder = multipart.MultipartDecoder(boundary.encode("latin-1"))
    except UnicodeEncodeError:
        return []
    result: list[str] = []
    state: dict[str, t.Any] = {"first": True, "in_field": False, "value": b""}

    def done(data: bytes) -> bool:
        if state["first"]:
            # no "_method" anywhere in the first chunk: the first part is something else
            state["first"] = False
            if FIELD.encode() not in data:
                return True
        try:
            return _scan(data)
        except ValueError:  # a malformed body: the form parser will say so, not us
            return True

    def _scan(data: bytes) -> bool:
        decoder.receive_data(data)
        while True:
            event = decoder.next_event()
            if isinstance(event, multipart.NeedData):
                return False
            if isinstance(event, multipart.Preamble):
                continue
            if isinstance(event, multipart.Field) and event.name == FIELD:
                state["in_field"] = True
                continue
            if isinstance(event, multipart.Data) and state["in_field"]:
                state["value"] += event.data
                if len(state["value"]) > 256:
                    return True
                if not event.more_data:
                    result.append(state["value"].decode("utf-8", "replace"))
                    return True
                continue
            return True  # another field, a file, or the end: no _method first

    _peek(request, min(length, MULTIPART_PEEK_LIMIT), done)
    return result

#: this battery adds no deploy checks (see batteries.checks)
DEPLOY_CHECKS: tuple[Check, ...] = ()

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
  an urlencoded body (up to 1 MiB, and never past the body size limit), or the *first* part of a
  multipart body. Values are stripped and upper-cased; empty ones are ignored; when several
  sources are present they must agree.
- The value must be in ``METHOD_OVERRIDE_ALLOWED`` (default PUT, PATCH, DELETE); GET, HEAD,
  CONNECT and TRACE never are; ``POST`` changes nothing. Anything else is a 400 that names it.
- The request is routed with the real method first; ``_method`` is read only when routing did
  not already answer (a redirect or a 404). The body is peeked through a push-back buffer, so the
  view still reads all of it (streaming, checksums, ``request.files`` and a
  ``request.max_content_length`` set by the view keep working).
- When the body gave ``_method`` and its declared Content-Length is over the effective limit
  (``request.max_content_length``, i.e. ``MAX_CONTENT_LENGTH``), the answer is a 413, as a form
  parse would give: the override never lets an over-limit body reach a view.
- The original method stays in ``environ["batteries.original_method"]`` and
  ``request.original_method``.

How it is wired, with public seams only (the same on Flask 3.1 and on Flask 3.2, where the
request context is merged into the app context): ``Batteries.request_context()`` builds Flask's
own context and, for a POST, wraps its ``url_adapter`` (a Werkzeug ``MapAdapter``) in
:class:`OverridingAdapter`. Flask calls ``url_adapter.match()`` when the context is pushed, with
the session open and the context active, as for any request; the wrapper matches with the real
method, then decides the override and matches again with the method asked for.

Config: ``METHOD_OVERRIDE`` (True), ``METHOD_OVERRIDE_ALLOWED`` ({"PUT", "PATCH", "DELETE"}).
"""

from __future__ import annotations

import io
import typing as t
from urllib.parse import parse_qsl

from werkzeug.exceptions import BadRequest, HTTPException, NotFound
from werkzeug.routing import RequestRedirect
from werkzeug.sansio import multipart
from werkzeug.wsgi import get_content_length

from .checks import Check
from .config import Setting
from .wrappers import content_too_large

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask
    from flask.wrappers import Request

METHOD_OVERRIDE = Setting(
    "METHOD_OVERRIDE", True, (bool,), "let a POST ask for another method (_method)"
)
METHOD_OVERRIDE_ALLOWED = Setting(
    "METHOD_OVERRIDE_ALLOWED",
    frozenset({"PUT", "PATCH", "DELETE"}),
    (set, frozenset, list, tuple),
    "methods a POST may ask for with X-HTTP-Method-Override or _method",
)
CONFIG = (METHOD_OVERRIDE, METHOD_OVERRIDE_ALLOWED)

HEADER_KEY = "HTTP_X_HTTP_METHOD_OVERRIDE"
FIELD = "_method"
#: how a ``_method`` found in the body is named in messages (and told apart from the others)
BODY_SOURCE = "form field _method"
ORIGINAL_KEY = "batteries.original_method"
NEVER = frozenset({"GET", "HEAD", "CONNECT", "TRACE"})
#: the largest urlencoded body searched for ``_method``
URLENCODED_PEEK_LIMIT = 1024 * 1024
#: how much of a multipart body is read looking for a first ``_method`` part
MULTIPART_PEEK_LIMIT = 64 * 1024
_READ = 8 * 1024


def init_app(app: Flask) -> None:
    """Nothing to register: ``Batteries.request_context()`` calls :func:`override_routing`."""


def override_routing(app: Flask, ctx: t.Any) -> t.Any:
    """Give ``ctx`` (Flask's request context, just built) the method override; return it.

    Only a POST is touched (its ``url_adapter`` wrapped): for every other request this costs
    one dictionary lookup.
    """
    adapter = getattr(ctx, "url_adapter", None)
    if adapter is None or ctx.request.environ.get("REQUEST_METHOD") != "POST":
        return ctx
    ctx.url_adapter = OverridingAdapter(adapter, app, ctx.request)
    return ctx


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


class MethodOverrideError(BadRequest):
    """A POST asked for a method it may not have (400)."""


class OverridingAdapter:
    """A request's URL adapter that applies the method override when the request is matched.

    Everything but matching the request itself (``build``, ``match`` of another path, the
    adapter's attributes) goes to the wrapped Werkzeug ``MapAdapter`` unchanged. The decision is
    taken once: a context pushed again (``stream_with_context``) matches the same way.
    """

    def __init__(self, adapter: t.Any, app: Flask, request: Request) -> None:
        self.__dict__.update(_adapter=adapter, _app=app, _request=request, _decided=None)

    def __getattr__(self, name: str) -> t.Any:
        return getattr(self._adapter, name)

    def __setattr__(self, name: str, value: t.Any) -> None:
        setattr(self._adapter, name, value)

    def match(
        self,
        path_info: str | None = None,
        method: str | None = None,
        return_rule: bool = False,
        query_args: t.Any = None,
        websocket: bool | None = None,
    ) -> t.Any:
        adapter = self._adapter
        if path_info is not None or method is not None or query_args is not None:
            return adapter.match(path_info, method, return_rule, query_args, websocket)
        decided = self._decided
        if decided is None:
            error: HTTPException | None = None
            try:
                result = adapter.match(return_rule=return_rule, websocket=websocket)
            except HTTPException as e:
                error = e
            decided = self.__dict__["_decided"] = _decide(self._app, self._request, error)
            if decided is False:
                if error is not None:
                    raise error
                return result
        elif decided is False:
            return adapter.match(return_rule=return_rule, websocket=websocket)
        if isinstance(decided, HTTPException):
            raise decided
        return adapter.match(method=decided, return_rule=return_rule, websocket=websocket)


def _decide(app: Flask, request: Request, routed: HTTPException | None) -> t.Any:
    """False (no override), a method name (applied to the request), or the error to answer."""
    environ = request.environ
    if environ.get("REQUEST_METHOD") != "POST" or ORIGINAL_KEY in environ:
        return False
    if not METHOD_OVERRIDE.get(app):
        return False
    if isinstance(routed, (RequestRedirect, NotFound)):
        return False  # routing answered: the body stays unread, the answer stands
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
    allowed = {str(m).strip().upper() for m in METHOD_OVERRIDE_ALLOWED.get(app)} - NEVER
    if method not in allowed:
        names = ", ".join(sorted(allowed)) or "none"
        return MethodOverrideError(
            f"The method override {_quoted(method)} is not allowed (allowed: {names}; "
            "METHOD_OVERRIDE_ALLOWED)."
        )
    if any(source == BODY_SOURCE for source, _ in found):
        limit = request.max_content_length
        length = request.content_length
        if limit is not None and length is not None and length > limit:
            return content_too_large(limit)
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
        add(BODY_SOURCE, value)
    return found


def _body_values(request: Request) -> list[str]:
    # Read from the environ, not through the request's properties (each of those parses
    # headers again): this runs for every form POST.
    environ = request.environ
    mimetype = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
    if mimetype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return []
    d = request.__dict__
    if "form" in d:  # parsed already (a hook of a test): read it there
        return request.form.getlist(FIELD)
    if "stream" in d:
        return []  # the body is already being read by someone else: leave it alone
    length = get_content_length(environ)
    if not length:
        return []
    limit = request.max_content_length
    if mimetype == "multipart/form-data":
        peek = min(length, MULTIPART_PEEK_LIMIT, length if limit is None else max(limit, 0))
        return _peek_multipart(request, peek)
    if length > URLENCODED_PEEK_LIMIT or (limit is not None and length > limit):
        return []  # not searched: finding _method would mean reading past a limit
    head = _peek(request, length, lambda data: False, whole=length)
    if FIELD.encode() not in head:
        return []
    pairs = parse_qsl(head.decode("utf-8", "replace"), keep_blank_values=True)
    return [value for key, value in pairs if key == FIELD]


def _peek(
    request: Request, limit: int, done: t.Callable[[bytes], bool], whole: int | None = None
) -> bytes:
    """Read up to ``limit`` bytes of raw input (until ``done(head)``) and push them back;
    ``whole``: the body's length, when ``limit`` is all of it."""
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
    if error is None and whole is not None and got == whole:
        # The whole body is in hand: the form parser reads it from memory, at C speed, not
        # through PeekedInput (the body is no larger than URLENCODED_PEEK_LIMIT here).
        environ["wsgi.input"] = io.BytesIO(head)
    else:
        environ["wsgi.input"] = PeekedInput(head, raw, error)
    return head


def _peek_multipart(request: Request, peek: int) -> list[str]:
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

    if peek > 0:
        _peek(request, peek, done)
    return result

#: this battery adds no deploy checks (see batteries.checks)
DEPLOY_CHECKS: tuple[Check, ...] = ()

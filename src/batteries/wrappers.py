"""``batteries.Request``: Flask's request with content negotiation and body checksums built in.

Set as ``Batteries.request_class``. It replaces Flask's "Request Content Checksums" pattern (a
stream wrapper the view had to install before touching ``request.form``) and adds:

- ``request.wants_json``: whether the client should be answered with JSON
  (see :mod:`batteries.negotiation`). Reading it marks the response
  ``Vary: Accept, X-Requested-With, Sec-Fetch-Mode, HX-Request``.
- The body is hashed as it is read, by whatever reads it (``get_data()``, ``form``, ``files``,
  ``json``, ``stream``, ``input_stream``), without buffering it and in the request's own thread
  (see :mod:`batteries.bodydigest`): sha256 always, plus any algorithm a digest header names.
  Memory grows with the bytes received, never with what Content-Length claims.
  ``request.content_digest("sha256")`` gives the hex digest of the whole body (reading the rest
  if needed; ``form`` and ``get_data()`` stay usable)::

      @app.post("/api/blob")
      def blob():
          data = request.get_data()
          return {"size": len(data), "sha256": request.content_digest()}

- Verification: a request carrying ``Content-Digest`` or ``Repr-Digest`` (RFC 9530, ``sha-256``
  and ``sha-512``; entries with other algorithms are ignored, every known entry must match) or
  ``Content-MD5`` (RFC 1864) is checked when its body has been read to the end. A mismatch
  raises :class:`ChecksumMismatch` (a 400 naming the header) from inside the read, so nothing
  derived from the body (form, files, JSON) reaches the view; the ``checksum_mismatch`` signal
  is sent. A malformed digest header is a 400; a body of unknown length (chunked, and the server
  does not terminate the stream) with a digest header is a 411. Digests are compared in constant
  time. ``Repr-Digest`` is checked against the bytes as sent, so it is not checked when the body
  has a ``Content-Encoding``.
- JSON bodies nested deeper than ``JSON_MAX_DEPTH`` are refused with a 400 before decoding. The
  check reads the body's encoding as ``json.loads`` does (UTF-8, -16, -32), is linear in the
  body and costs less than decoding it (see :func:`json_too_deep`).
- A body over ``MAX_CONTENT_LENGTH`` is a 413 whose message says what the limit is.

Config: ``JSON_MAX_DEPTH`` (512), ``MAX_CONTENT_LENGTH`` (16 MiB, Flask's key).
"""

from __future__ import annotations

import json
import typing as t
from itertools import accumulate

from flask import Request as FlaskRequest
from flask import Response as FlaskResponse
from flask import current_app
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import get_input_stream

from . import negotiation
from .bodydigest import (  # noqa: F401  (re-exported: the request's checksum API)
    _CHUNK,
    DIGEST_ALGORITHMS,
    BodyDigest,
    ChecksumMismatch,
    DigestLengthRequired,
    MalformedDigest,
    expected_digests,
    hashlib_name,
    parse_digest_field,
)
from .checks import Check
from .config import Setting
from .headers import add_to_wsgi_headers
from .htmx import HtmxDetails
from .htmx import parse as parse_htmx

if t.TYPE_CHECKING:  # pragma: no cover
    from _typeshed.wsgi import WSGIEnvironment
    from flask import Flask

JSON_MAX_DEPTH = Setting(
    "JSON_MAX_DEPTH",
    512,
    (int, type(None)),
    "deepest nesting accepted in a JSON request body (400 above it; null: no check)",
)
CONFIG = (JSON_MAX_DEPTH,)

#: where the request keeps its :class:`BodyDigest` (``request.__dict__``)
BODY_KEY = "_batteries_body"


def init_app(app: Flask) -> None:
    """Nothing to set up: ``Batteries.request_class`` is :class:`Request`."""


FORM_MIMETYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class ContentTooLarge(RequestEntityTooLarge):
    """A 413 whose message names the limit that was exceeded."""


def content_too_large(limit: int) -> ContentTooLarge:
    """The 413 for a body over ``limit`` bytes, naming the limit and ``MAX_CONTENT_LENGTH``."""
    return ContentTooLarge(
        f"The request body is larger than the {_size(limit)} this server accepts "
        "(MAX_CONTENT_LENGTH)."
    )


def check_body(request: t.Any) -> None:
    """Raise the error of ``request``'s body if it has one (a digest that did not match, a
    malformed digest header); nothing for a body not read yet or a request of another class.
    Used before storing anything derived from the body (``save_upload``)."""
    body = request.__dict__.get(BODY_KEY)
    if body is not None:
        body.check()


# -- JSON depth ---------------------------------------------------------------------------

#: every byte but the ones that shape a JSON document's nesting: deleted from the skeleton
_NOT_STRUCTURE = bytes(c for c in range(256) if c not in b'"[]{}')
_OBJECTS_AS_ARRAYS = bytes.maketrans(b"{}", b"[]")
_SIGNED = bytes.maketrans(b"[]", b"\x01\xff")  # +1 and -1 as signed bytes
#: brackets scanned per step: a step is one C call; between steps other threads may run
_SCAN_STEP = 256 * 1024


def _skeleton(data: bytes) -> bytes:
    """The brackets of a UTF-8 JSON text that are outside strings, ``{}`` written as ``[]``.

    All C-speed passes over the bytes: escaped backslashes and quotes go first (``\\\\`` pairs,
    then ``\\"``, left to right as JSON reads them), then everything but quotes and brackets,
    then adjacent quotes (their removal changes no other byte's inside/outside status), then the
    strings themselves (every other piece between quotes).
    """
    if b"\\" in data:
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = data.translate(_OBJECTS_AS_ARRAYS, _NOT_STRUCTURE)
    if b'"' in skeleton:
        skeleton = skeleton.replace(b'""', b"")
        if b'"' in skeleton:
            skeleton = b"".join(skeleton.split(b'"')[::2])
    return skeleton


def _scan(brackets: bytes, stop: int) -> int:
    """The deepest nesting of ``brackets`` (only ``[`` and ``]``), or the first depth above
    ``stop`` met on the way (the scan ends there)."""
    signed = memoryview(brackets.translate(_SIGNED)).cast("b")
    depth = deepest = 0
    for start in range(0, len(signed), _SCAN_STEP):
        step = signed[start : start + _SCAN_STEP]
        deepest = max(deepest, max(accumulate(step, initial=depth)))
        if deepest > stop:
            return deepest
        depth += 2 * brackets.count(b"[", start, start + _SCAN_STEP) - len(step)
    return deepest


def _depth_above(brackets: bytes, limit: int, passes_from: int = 1024) -> int | None:
    """A depth above ``limit`` that ``brackets`` reaches, or None when it stays within it.

    Removing every ``[]`` pair (one ``bytes.replace``) lowers the deepest nesting by at most
    one and shrinks a wide document (many brackets, little depth) to almost nothing, so a few
    such passes come first while they pay; the scan of what is left decides, unless its answer
    is within the number of passes of ``limit``: then the whole skeleton is scanned.
    """
    shrunk, passes = brackets, 0
    while len(shrunk) > passes_from and passes < 8:
        smaller = shrunk.replace(b"[]", b"")
        if len(smaller) * 4 > len(shrunk) * 3:
            break  # less than a quarter went: another pass would not pay
        shrunk, passes = smaller, passes + 1
    depth = _scan(shrunk, limit)
    if depth > limit:
        return depth
    if depth + passes <= limit:
        return None
    depth = _scan(brackets, limit)
    return depth if depth > limit else None


def _json_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in UTF-8 ``data`` (strings skipped)."""
    return _scan(_skeleton(data), 1 << 62)


def json_too_deep(data: str | bytes, limit: int) -> int | None:
    """A nesting depth over ``limit`` that the JSON text ``data`` reaches, else None.

    Bytes are read in the encoding ``json.loads`` would detect (UTF-8, UTF-16 or UTF-32, with or
    without a BOM); bytes that do not decode give None (``json.loads`` refuses them itself).
    Linear in the body: a few C-speed passes, then a scan of the brackets only.
    """
    if isinstance(data, str):
        raw = data.encode("utf-8", "surrogatepass")
    else:
        raw = bytes(data)
        if raw.count(b"[") + raw.count(b"{") <= limit:
            return None  # (an upper bound in every encoding: each bracket has a 0x5B/0x7B byte)
        encoding = json.detect_encoding(raw)
        if encoding not in ("utf-8", "utf-8-sig"):
            try:
                raw = raw.decode(encoding, "surrogatepass").encode("utf-8", "surrogatepass")
            except UnicodeError:
                return None
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return None
    return _depth_above(_skeleton(raw), limit)


class JSONTooDeep(ValueError):
    """A JSON body nests deeper than ``JSON_MAX_DEPTH`` (answered with a 400)."""


class _DepthCheckedJSON:
    """The app's JSON provider, refusing too-deep documents before decoding them."""

    def __init__(self, inner: t.Any, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    def loads(self, s: str | bytes, **kwargs: t.Any) -> t.Any:
        if json_too_deep(s, self._limit) is not None:
            # a ValueError becomes Werkzeug's 400 (or None with silent=True)
            raise JSONTooDeep(
                f"The JSON body is nested more than {self._limit} levels deep "
                f"(JSON_MAX_DEPTH allows {self._limit})."
            )
        return self._inner.loads(s, **kwargs)

    def __getattr__(self, name: str) -> t.Any:
        return getattr(self._inner, name)


def _size(n: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor and n % (factor // 8) == 0:
            return f"{n / factor:g} {unit}"
    return f"{n} bytes"


class _FormParser:
    """Werkzeug's form parser for one request, cleaning up when parsing fails.

    Half-received files are closed at once (not at the next garbage collection), a 413 gets a
    message naming the limit, and a truncated file part that never reaches ``request.files``
    has its temporary file closed. Built by :meth:`Request.make_form_data_parser` (public).
    """

    def __init__(self, parser: t.Any, request: Request) -> None:
        self._parser = parser
        self._request = request
        self._spooled: list[t.IO[bytes]] = []
        make = parser.stream_factory

        def stream_factory(*args: t.Any, **kwargs: t.Any) -> t.IO[bytes]:
            stream: t.IO[bytes] = make(*args, **kwargs)
            self._spooled.append(stream)
            return stream

        parser.stream_factory = stream_factory

    def __getattr__(self, name: str) -> t.Any:
        return getattr(self._parser, name)

    def parse(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        try:
            result = self._parser.parse(*args, **kwargs)
        except BaseException as e:
            for stream in self._spooled:
                stream.close()
            if isinstance(e, RequestEntityTooLarge):
                raise self._request._explain_too_large(e) from None
            raise
        finally:
            self._parser.stream_factory = None  # the closure refers to this object: no cycle
        files = result[2]
        kept = {id(f.stream) for f in files.values()} if files else set()
        for stream in self._spooled:
            if id(stream) not in kept:
                stream.close()
        self._spooled = []
        return result


class Response(FlaskResponse):
    """Flask's response class; as it is sent, the security headers ``Batteries.make_response``
    planned for this request (``SECURITY_HEADERS``) join the header list handed to the server
    (:func:`batteries.headers.add_to_wsgi_headers`)."""

    def get_wsgi_response(
        self, environ: WSGIEnvironment
    ) -> tuple[t.Iterable[bytes], str, list[tuple[str, str]]]:
        app_iter, status, headers = super().get_wsgi_response(environ)
        return app_iter, status, add_to_wsgi_headers(environ, headers)


class Request(FlaskRequest):
    """The request class of a Batteries app (``app.request_class``)."""

    @cached_property
    def wants_json(self) -> bool:
        """True when the client should be answered with JSON rather than HTML.

        Reading it marks the response ``Vary: Accept, X-Requested-With, Sec-Fetch-Mode,
        HX-Request`` (as reading the session marks ``Vary: Cookie``).
        """
        negotiation.vary_on_negotiation(self)
        return negotiation.wants_json(self)

    # -- method override ---------------------------------------------------------------------

    @property
    def original_method(self) -> str:
        """The method the client sent (``POST`` when a method override was applied)."""
        return self.environ.get("batteries.original_method", self.method)  # type: ignore[no-any-return]

    # -- body hashing ------------------------------------------------------------------------

    def _body_digest(self) -> BodyDigest:
        body = self.__dict__.get(BODY_KEY)
        if body is None:
            body = self.__dict__[BODY_KEY] = BodyDigest(self.environ)
        return body

    @cached_property
    def stream(self) -> t.IO[bytes]:
        """Werkzeug's guarded input stream, reading through the hashing layer."""
        if self.shallow:
            raise RuntimeError(
                "This request was created with shallow=True: reading the body is disabled."
            )
        body = self._body_digest()
        body.check()
        # A copy with the hashing layer as its input (copied in C; a ChainMap's lookups run
        # Python code); get_input_stream only reads it.
        environ = {**self.environ, "wsgi.input": body}
        try:
            return get_input_stream(environ, max_content_length=self.max_content_length)
        except RequestEntityTooLarge as e:
            raise self._explain_too_large(e) from None

    @property
    def input_stream(self) -> t.IO[bytes]:  # type: ignore[override]
        """The raw WSGI input (no length guard, as in Werkzeug), still hashed as it is read."""
        body = self._body_digest()
        body.check()
        return body  # type: ignore[return-value]

    def content_digest(self, algorithm: str = "sha256") -> str:
        """Hex digest of the whole body with ``algorithm`` (a hashlib name or ``"sha-256"``).

        Reads what is left of the body first; ``request.form``/``get_data()`` stay usable when
        they were not read yet. sha256 (and any algorithm a digest header names) is always
        available; another algorithm only before the body is read, else ValueError.
        """
        name = hashlib_name(algorithm)
        body = self._body_digest()
        body.check()
        body.add_algorithm(name)
        if not body.finished:
            self._read_to_end(body)
        return body.hexdigest(name)

    def _read_to_end(self, body: BodyDigest) -> None:
        untouched = "stream" not in self.__dict__
        if "form" not in self.__dict__ and self.mimetype in FORM_MIMETYPES and untouched:
            self.form  # noqa: B018  (parsed now, so request.form stays usable)
        elif body.total == 0 and untouched:
            self.get_data(cache=True)  # kept, so get_data() stays usable
        stream = self.stream
        while not body.finished:
            if not stream.read(_CHUNK):
                break
        body.check()

    # -- limits and JSON ---------------------------------------------------------------------

    def _explain_too_large(self, error: RequestEntityTooLarge) -> RequestEntityTooLarge:
        if isinstance(error, ContentTooLarge):
            return error
        limit = self.max_content_length
        length = self.content_length
        body = self.__dict__.get(BODY_KEY)
        read = body.total if body is not None else 0
        if limit is not None and ((length is not None and length > limit) or read >= limit):
            return content_too_large(limit)
        return ContentTooLarge(
            "A form field is larger than MAX_FORM_MEMORY_SIZE, or the form has more parts "
            "than MAX_FORM_PARTS."
        )

    def close(self) -> None:
        """Werkzeug's ``close()`` (files closed), and the environ's reference to this request
        dropped: Flask 3.1 cleared it after the request, Flask 3.2 no longer does, and the
        cycle would keep the request and its body alive until the next garbage collection."""
        try:
            super().close()
        finally:
            if self.environ.get("werkzeug.request") is self:
                del self.environ["werkzeug.request"]

    def make_form_data_parser(self) -> t.Any:
        """Werkzeug's form parser, with clean-up and clear messages when parsing fails."""
        return _FormParser(super().make_form_data_parser(), self)

    def get_data(  # type: ignore[override]
        self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False
    ) -> bytes | str:
        try:
            return super().get_data(cache=cache, as_text=as_text, parse_form_data=parse_form_data)  # type: ignore[call-overload,no-any-return]
        except RequestEntityTooLarge as e:
            raise self._explain_too_large(e) from None

    def on_json_loading_failed(self, e: ValueError | None) -> t.Any:
        if isinstance(e, JSONTooDeep):
            raise BadRequest(str(e)) from e
        return super().on_json_loading_failed(e)

    @property
    def json_module(self) -> t.Any:
        """The app's JSON provider, with ``JSON_MAX_DEPTH`` checked before decoding."""
        inner = self.__dict__.get("_json_module", FlaskRequest.json_module)
        limit = JSON_MAX_DEPTH.get(current_app) if current_app else JSON_MAX_DEPTH.default
        if limit is None:
            return inner
        return _DepthCheckedJSON(inner, limit)

    @json_module.setter
    def json_module(self, value: t.Any) -> None:
        self.__dict__["_json_module"] = value

    # -- htmx ----------------------------------------------------------------------------

    @cached_property
    def htmx(self) -> HtmxDetails:
        """What htmx sent (``.target``, ``.trigger``, ``.boosted``...); falsy for other requests.
        See :mod:`batteries.htmx`."""
        return parse_htmx(self.environ)


#: this battery adds no deploy checks (see batteries.checks)
DEPLOY_CHECKS: tuple[Check, ...] = ()

"""``batteries.Request``: Flask's request with content negotiation and body checksums built in.

Set as ``Batteries.request_class``. It replaces Flask's "Request Content Checksums" pattern (a
stream wrapper the view had to install before touching ``request.form``) and adds:

- ``request.wants_json``: whether the client should be answered with JSON
  (see :mod:`batteries.negotiation`).
- The body is hashed as it is read, by whatever reads it (``get_data()``, ``form``, ``files``,
  ``json``, ``stream``, ``input_stream``), without buffering it: sha256 always, plus any algorithm
  a digest header names. A body of 1 MiB or more is hashed in a helper thread while the request's
  thread parses it (hashlib releases the GIL), so the two overlap when a core is free.
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
- JSON bodies nested deeper than ``JSON_MAX_DEPTH`` are refused with a 400 before decoding.
- A body over ``MAX_CONTENT_LENGTH`` is a 413 whose message says what the limit is.

Config: ``JSON_MAX_DEPTH`` (512), ``MAX_CONTENT_LENGTH`` (16 MiB, Flask's key).
"""

from __future__ import annotations

import re
import typing as t
import weakref
from collections import ChainMap
from itertools import accumulate

from flask import Request as FlaskRequest
from flask import current_app
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream, get_input_stream

from . import negotiation
from .bodydigest import (  # noqa: F401  (re-exported: the request's checksum API)
    _CHUNK,
    DIGEST_ALGORITHMS,
    THREAD_MIN_BODY,
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
from .htmx import HtmxDetails
from .htmx import parse as parse_htmx

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

CONFIG = (
    Setting(
        "JSON_MAX_DEPTH",
        512,
        (int, type(None)),
        "deepest nesting accepted in a JSON request body (400 above it; null: no check)",
    ),
)

def init_app(app: Flask) -> None:
    """Nothing to set up: ``Batteries.request_class`` is :class:`Request`."""


FORM_MIMETYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class ContentTooLarge(RequestEntityTooLarge):
    """A 413 whose message names the limit that was exceeded."""


_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1


def _json_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in ``data`` (brackets inside strings skipped)."""
    data = re.sub(rb"\\.", b"", data, flags=re.DOTALL)  # escapes, including \"
    data = re.sub(rb'"[^"]*"', b"", data)  # strings
    brackets = re.sub(rb"[^\[\]{}]+", b"", data)
    if not brackets:
        return 0
    return max(accumulate(map(_STEP.__getitem__, brackets)))


class JSONTooDeep(ValueError):
    """A JSON body nests deeper than ``JSON_MAX_DEPTH`` (answered with a 400)."""


class _DepthCheckedJSON:
    """The app's JSON provider, refusing too-deep documents before decoding them."""

    def __init__(self, inner: t.Any, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    def loads(self, s: str | bytes, **kwargs: t.Any) -> t.Any:
        data = s.encode("utf-8", "surrogatepass") if isinstance(s, str) else bytes(s)
        if data.count(b"[") + data.count(b"{") > self._limit:
            depth = _json_depth(data)
            if depth > self._limit:
                # a ValueError becomes Werkzeug's 400 (or None with silent=True)
                raise JSONTooDeep(
                    f"The JSON body is nested {depth} levels deep; JSON_MAX_DEPTH allows {self._limit}."
                )
        return self._inner.loads(s, **kwargs)

    def __getattr__(self, name: str) -> t.Any:
        return getattr(self._inner, name)


def _size(n: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor and n % (factor // 8) == 0:
            return f"{n / factor:g} {unit}"
    return f"{n} bytes"


class _WholeBodyStream(LimitedStream):
    """Werkzeug's ``LimitedStream`` for a body of known length, reading ``bytes`` as they come.

    ``read(n)`` returns what the hashing layer read, with no copy into a fresh buffer (Werkzeug
    copies every read twice), so the hashing thread can hash the very same bytes object while
    the multipart parser works on it. ``readall`` reads straight into one buffer of the body's
    size, in 1 MiB steps (Werkzeug copies every 64 KiB step into a growing buffer); bodies over
    64 MiB (only possible when ``MAX_CONTENT_LENGTH`` allows them) use Werkzeug's loop, so a
    lying Content-Length never reserves memory up front.
    """

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        remaining = self.limit - self._pos
        if remaining <= 0:
            self.on_exhausted()
            return b""
        if size == 0:
            return b""
        try:
            data = self._stream.read(min(size, remaining))
        except (OSError, ValueError) as e:
            self.on_disconnect(error=e)
            return b""
        if not data:
            self.on_disconnect()
            return b""
        self._pos += len(data)
        return data

    def readinto(self, buffer: t.Any) -> int | None:  # type: ignore[override]
        if not len(buffer) and self._pos < self.limit:
            return 0  # Werkzeug would take the empty read for a disconnect
        return super().readinto(buffer)

    def readall(self) -> bytes:
        remaining = self.limit - self._pos
        if remaining <= 0 or remaining > 64 * 1024 * 1024:
            return super().readall()
        buffer = bytearray(remaining)
        with memoryview(buffer) as view:
            got = 0
            while got < remaining:
                n = self.readinto(view[got : got + 1024 * 1024])
                if not n:
                    break
                got += n
        if got < remaining:
            del buffer[got:]
        return bytes(buffer)


class Request(FlaskRequest):
    """The request class of a Batteries app (``app.request_class``)."""

    #: Bodies of at least this many bytes are hashed in a helper thread, overlapping the parsing
    #: (see :class:`BodyDigest`); ``None``: always in the request's thread (e.g. when every core
    #: is kept busy by worker processes, where the thread cannot run beside the parser).
    body_thread_min_size: int | None = THREAD_MIN_BODY

    @cached_property
    def wants_json(self) -> bool:
        """True when the client should be answered with JSON rather than HTML."""
        return negotiation.wants_json(self)

    # -- method override ---------------------------------------------------------------------

    @property
    def original_method(self) -> str:
        """The method the client sent (``POST`` when a method override was applied)."""
        return self.environ.get("batteries.original_method", self.method)  # type: ignore[no-any-return]

    # -- body hashing ------------------------------------------------------------------------

    def _body_digest(self) -> BodyDigest:
        body = self.__dict__.get("_batteries_body")
        if body is None:
            body = self.__dict__["_batteries_body"] = BodyDigest(
                self.environ, self.body_thread_min_size
            )
            if self.body_thread_min_size is not None:
                self.close = self._close_and_release  # type: ignore[method-assign]
        return body  # type: ignore[no-any-return]

    @cached_property
    def stream(self) -> t.IO[bytes]:
        """Werkzeug's guarded input stream, reading through the hashing layer."""
        if self.shallow:
            raise RuntimeError(
                "This request was created with shallow=True: reading the body is disabled."
            )
        body = self._body_digest()
        body.check()
        environ = ChainMap({"wsgi.input": body}, self.environ)
        try:
            stream = get_input_stream(environ, max_content_length=self.max_content_length)  # type: ignore[arg-type]
        except RequestEntityTooLarge as e:
            raise self._explain_too_large(e) from None
        if type(stream) is LimitedStream and stream.limit == body.length:
            stream.__class__ = _WholeBodyStream
        body.outer = weakref.ref(stream)  # (the stream refers to the body: no cycle)
        return stream

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
        cached = getattr(self, "_cached_data", None)
        if cached is None:
            if "form" not in self.__dict__ and self.mimetype in FORM_MIMETYPES:
                self._load_form_data()
            elif body.total == 0 and "stream" not in self.__dict__:
                self.get_data(cache=True)
        outer = body.outer() if body.outer is not None else None
        stream = outer if outer is not None else self.stream
        while not body.finished:
            if isinstance(stream, LimitedStream) and stream.is_exhausted:
                break
            if not stream.read(_CHUNK):
                break
        body.check()

    # -- limits and JSON ---------------------------------------------------------------------

    def _explain_too_large(self, error: RequestEntityTooLarge) -> RequestEntityTooLarge:
        if isinstance(error, ContentTooLarge):
            return error
        limit = self.max_content_length
        length = self.content_length
        body = self.__dict__.get("_batteries_body")
        read = body.total if body is not None else 0
        if limit is not None and ((length is not None and length > limit) or read >= limit):
            message = (
                f"The request body is larger than the {_size(limit)} this server accepts "
                "(MAX_CONTENT_LENGTH)."
            )
        else:
            message = (
                "A form field is larger than MAX_FORM_MEMORY_SIZE, or the form has more parts "
                "than MAX_FORM_PARTS."
            )
        return ContentTooLarge(message)

    def _close_and_release(self) -> None:
        """``close()`` of a request whose body was read: also ends the body's hashing thread.

        Set on the instance when the body is first touched, so that requests without a body
        keep Werkzeug's ``close()`` as it is (Flask calls it for every request).
        """
        self.__dict__.pop("close", None)  # it refers to the request: no cycle left behind
        body = self.__dict__.get("_batteries_body")
        try:
            if body is not None:
                body.release()
        finally:
            FlaskRequest.close(self)

    def _get_file_stream(self, *args: t.Any, **kwargs: t.Any) -> t.IO[bytes]:
        stream = super()._get_file_stream(*args, **kwargs)
        self.__dict__.setdefault("_batteries_spooled", []).append(stream)
        return stream

    def _load_form_data(self) -> None:
        try:
            super()._load_form_data()
        except BaseException as e:
            # A body cut short or refused: drop the half-received files now, not at GC.
            for stream in self.__dict__.pop("_batteries_spooled", ()):
                stream.close()
            body = self.__dict__.get("_batteries_body")
            if body is not None:
                body.release()
            if isinstance(e, RequestEntityTooLarge):
                raise self._explain_too_large(e) from None
            raise
        spooled = self.__dict__.pop("_batteries_spooled", None)
        if spooled:
            # A truncated file part never reaches request.files: close its stream now.
            files = self.__dict__.get("files")
            kept = {id(f.stream) for f in files.values()} if files else set()
            for stream in spooled:
                if id(stream) not in kept:
                    stream.close()

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

    @property  # type: ignore[override]
    def json_module(self) -> t.Any:
        """The app's JSON provider, with ``JSON_MAX_DEPTH`` checked before decoding."""
        inner = self.__dict__.get("_json_module", FlaskRequest.json_module)
        limit = current_app.config.get("JSON_MAX_DEPTH", 512) if current_app else 512
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

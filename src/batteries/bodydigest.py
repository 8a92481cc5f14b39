"""Request body digests: hashing the body as it is read, and verifying digest headers.

The machinery behind ``batteries.Request``'s checksums (Flask's "Request Content Checksums"
pattern, built in; see :mod:`batteries.wrappers` for the request side and the docs): parsing
``Content-Digest``/``Repr-Digest`` (RFC 9530) and ``Content-MD5`` (RFC 1864), and
:class:`BodyDigest`, the layer between the WSGI input and Werkzeug's guarded stream that hashes
every byte read, in the request's own thread, as it is read::

    body = BodyDigest(environ)          # environ["wsgi.input"] is read through it
    data = body.read()                  # hashed; digests checked at the end of the body
    body.hexdigest("sha256")

Memory grows with the bytes received, never with what Content-Length claims: a read takes at
most what its caller asked for (Werkzeug's readers ask for 64 KiB at a time), and reading the
whole body gathers it in 64 KiB steps. (An earlier version hashed big bodies in a helper thread;
``bench/checksum.py`` showed it lost on a busy machine, so it went.)

Config: none.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import typing as t

from flask import has_app_context
from flask.globals import app_ctx
from werkzeug.exceptions import BadRequest, LengthRequired
from werkzeug.wsgi import get_content_length

from . import signals

#: digest header keys (RFC 9530) Batteries verifies, and their hashlib names
DIGEST_ALGORITHMS = {"sha-256": "sha256", "sha-512": "sha512"}
_DIGEST_SIZES = {"sha256": 32, "sha512": 64, "md5": 16}
_HEADERS = (
    ("HTTP_CONTENT_DIGEST", "Content-Digest"),
    ("HTTP_REPR_DIGEST", "Repr-Digest"),
    ("HTTP_CONTENT_MD5", "Content-MD5"),
)
_SF_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*\Z")
#: the size of one read when the whole body is read (memory grows by this much at a time)
_CHUNK = 64 * 1024


class ChecksumMismatch(BadRequest):
    """The body does not match a digest header of the request (400)."""

    def __init__(self, header: str, algorithm: str) -> None:
        self.header = header
        self.algorithm = algorithm
        super().__init__(
            f"The request body does not match its {header} header ({algorithm}); "
            "it was changed or cut on the way. Nothing from it was used."
        )


class MalformedDigest(BadRequest):
    """A digest header could not be parsed (400)."""


class DigestLengthRequired(LengthRequired):
    """A digest header came with a body of unknown length (411)."""

    description = (
        "A request with a digest header must have a Content-Length (or a server that "
        "terminates chunked bodies), so that its body can be checked."
    )


def _shown(value: str, limit: int = 40) -> str:
    if len(value) > limit:
        value = value[: limit - 3] + "..."
    return repr(value)


def _b64(value: str, header: str, algorithm: str) -> bytes:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise MalformedDigest(f"The {header} header is malformed: {_shown(value)} is not base64.") from None
    if len(raw) != _DIGEST_SIZES[algorithm]:
        raise MalformedDigest(
            f"The {header} header is malformed: its {algorithm} value has {len(raw)} bytes, "
            f"not {_DIGEST_SIZES[algorithm]}."
        )
    return raw


def parse_digest_field(value: str, header: str) -> dict[str, bytes]:
    """Parse an RFC 9530 digest field into ``{hashlib name: digest}`` for the known algorithms.

    ``parse_digest_field("sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:, md5=:x:", h)``
    gives ``{"sha256": <the 32 bytes of sha256(b"")>}`` (``md5`` is not verified: skipped).

    Unknown algorithms are skipped; anything that is not a dictionary of byte sequences raises
    :class:`MalformedDigest`.
    """
    found: dict[str, bytes] = {}
    if not value.strip():
        raise MalformedDigest(f"The {header} header is empty.")
    for member in value.split(","):
        member = member.strip()
        key, sep, rest = member.partition("=")
        key = key.strip()
        if not _SF_KEY.match(key):
            raise MalformedDigest(f"The {header} header is malformed near {_shown(member)}.")
        algorithm = DIGEST_ALGORITHMS.get(key)
        if algorithm is None:
            continue  # an algorithm Batteries does not verify: ignored, as RFC 9530 allows
        item = rest.split(";", 1)[0].strip()  # parameters are ignored
        if not sep or len(item) < 2 or item[0] != ":" or item[-1] != ":":
            raise MalformedDigest(
                f"The {header} header is malformed: {key} must be a byte sequence (:base64:)."
            )
        digest = _b64(item[1:-1], header, algorithm)
        if algorithm in found and not hmac.compare_digest(found[algorithm], digest):
            raise MalformedDigest(f"The {header} header gives {key} twice, differently.")
        found[algorithm] = digest
    return found


def expected_digests(environ: t.Mapping[str, t.Any]) -> list[tuple[str, str, bytes]]:
    """``(header, hashlib name, digest)`` for every digest the request's headers announce."""
    expected: list[tuple[str, str, bytes]] = []
    for key, header in _HEADERS:
        value = environ.get(key)
        if value is None:
            continue
        if header == "Content-MD5":
            expected.append((header, "md5", _b64(value, header, "md5")))
            continue
        if header == "Repr-Digest":
            encoding = environ.get("HTTP_CONTENT_ENCODING", "").strip().lower()
            if encoding not in ("", "identity"):
                continue  # the representation is the decoded body, which we never see
        for algorithm, digest in parse_digest_field(value, header).items():
            expected.append((header, algorithm, digest))
    return expected


def hashlib_name(algorithm: str) -> str:
    """``"sha-256"``/``"SHA256"`` → ``"sha256"``; ValueError when hashlib does not know it."""
    name = algorithm.strip().lower()
    name = DIGEST_ALGORITHMS.get(name, name.replace("-", "") if name.startswith("sha") else name)
    try:
        hashlib.new(name)
    except (ValueError, TypeError):
        raise ValueError(f"Unknown digest algorithm {algorithm!r}.") from None
    return name


class BodyDigest:
    """The request's raw input, hashed (and verified) as it is read.

    Sits between the WSGI input and Werkzeug's ``LimitedStream``, so every path to the body goes
    through it once. The end of the body is reached when Content-Length bytes were read, or, for
    a stream the server terminates, when a read returns nothing. There the digests are checked;
    a mismatch is raised (and kept: every later read raises it again).
    """

    def __init__(self, environ: t.MutableMapping[str, t.Any]) -> None:
        self.raw = environ["wsgi.input"]
        self.hashers: dict[str, t.Any] = {"sha256": hashlib.sha256()}
        self.total = 0
        self.finished = False
        self.error: Exception | None = None
        self._has_readinto = hasattr(self.raw, "readinto")
        self.length = get_content_length(environ)  # type: ignore[arg-type]
        self.terminated = "wsgi.input_terminated" in environ
        try:
            self.expected = expected_digests(environ)
        except MalformedDigest as e:
            self.expected = []
            self.error = e
            return
        for _, algorithm, _ in self.expected:
            if algorithm not in self.hashers:
                self.hashers[algorithm] = hashlib.new(algorithm)
        if self.length is None and not self.terminated:
            if self.expected and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
                self.error = DigestLengthRequired()
                return
            if not self.expected and environ.get("HTTP_TRANSFER_ENCODING"):
                return  # Werkzeug hides this body; raw readers may still read it to its end
            self.length = 0
        if self.length == 0:
            try:
                self._finish()
            except ChecksumMismatch:
                pass  # kept in self.error, raised by whoever reads

    # -- state ------------------------------------------------------------------------------

    def check(self) -> None:
        if self.error is not None:
            raise self.error

    def add_algorithm(self, name: str) -> None:
        if name in self.hashers:
            return
        if self.total:
            raise ValueError(
                f"The {name} digest of this body cannot be computed: {self.total} bytes were "
                "already read. Ask for it before the body is read."
            )
        self.hashers[name] = hashlib.new(name)

    def hexdigest(self, name: str) -> str:
        return self.hashers[name].hexdigest()  # type: ignore[no-any-return]

    def _finish(self) -> None:
        self.finished = True
        for header, algorithm, digest in self.expected:
            if not hmac.compare_digest(self.hashers[algorithm].digest(), digest):
                self.error = ChecksumMismatch(header, algorithm)
                if has_app_context():
                    app = app_ctx.app  # the app itself, not the proxy: the signal's sender
                    app.logger.warning("Request body does not match its %s (%s).", header, algorithm)
                    signals.checksum_mismatch.send(app, header=header, algorithm=algorithm)
                raise self.error

    def _took(self, data: t.Any, asked: int) -> None:
        """Count and hash ``data`` (what one read returned for ``asked`` bytes)."""
        n = len(data)
        if n:
            self.total += n
            for hasher in self.hashers.values():
                hasher.update(data)
            if self.length is not None and self.total >= self.length:
                self._finish()
        elif asked and self.length is None and self.terminated:
            self._finish()

    def _room(self, size: int | None) -> int:
        """How many bytes one read may take (never past Content-Length)."""
        if self.length is None:
            return _CHUNK if size is None or size < 0 else size
        left = self.length - self.total
        return left if size is None or size < 0 else min(size, left)

    # -- the stream interface ----------------------------------------------------------------

    def readinto(self, buffer: t.Any) -> int:
        if self.error is not None:
            raise self.error
        size = len(buffer)
        if type(buffer) is bytearray and self._has_readinto and self.length is not None:
            # the common case (Werkzeug's LimitedStream, 64 KiB at a time): straight into the
            # caller's buffer, hashed there
            if self.length - self.total >= size > 0:
                n = self.raw.readinto(buffer) or 0
                self._took(buffer if n == size else memoryview(buffer)[:n], size)
                return n
        view = memoryview(buffer).cast("B")
        room = self._room(len(view))
        if room <= 0:
            return 0
        if room < len(view):
            view = view[:room]
        if self._has_readinto:
            n = self.raw.readinto(view) or 0
        else:
            data = self.raw.read(room)
            n = len(data)
            view[:n] = data
        self._took(view[:n], room)
        return n

    def read(self, size: int | None = -1) -> bytes:
        if self.error is not None:
            raise self.error
        if size is None or size < 0:
            return self.readall()
        room = self._room(size)
        if room <= 0:
            return b""
        data = self.raw.read(room)
        self._took(data, room)
        return data  # type: ignore[no-any-return]

    def readall(self) -> bytes:
        """The rest of the body, read in ``_CHUNK`` steps (memory grows as bytes arrive)."""
        self.check()
        parts = []
        while not self.finished:
            room = self._room(_CHUNK)
            if room <= 0:
                break
            data = self.raw.read(room)
            self._took(data, room)
            if not data:
                break
            parts.append(data)
        return b"".join(parts)

    def readline(self, size: int | None = -1) -> bytes:
        self.check()
        room = self._room(-1 if size is None else size)
        if room <= 0:
            return b""
        data = self.raw.readline(room)
        self._took(data, room)
        return data  # type: ignore[no-any-return]

    def __iter__(self) -> t.Iterator[bytes]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        close = getattr(self.raw, "close", None)
        if close is not None:
            close()

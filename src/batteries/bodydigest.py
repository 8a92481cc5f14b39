"""Request body digests: hashing the body as it is read, and verifying digest headers.

The machinery behind ``batteries.Request``'s checksums (Flask's "Request Content Checksums"
pattern, built in; see :mod:`batteries.wrappers` for the request side and the docs): parsing
``Content-Digest``/``Repr-Digest`` (RFC 9530) and ``Content-MD5`` (RFC 1864), and
:class:`BodyDigest`, the layer between the WSGI input and Werkzeug's guarded stream that hashes
every byte read, in the request's thread or, for big bodies parsed in small reads, in a helper
thread that overlaps the parsing::

    body = BodyDigest(environ)          # environ["wsgi.input"] is read through it
    data = body.read()                  # hashed; digests checked at the end of the body
    body.hexdigest("sha256")

Config: none (``Request.body_thread_min_size`` sets when the helper thread is used).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import threading
import time
import typing as t
import weakref
from queue import SimpleQueue

from flask import current_app
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
_CHUNK = 64 * 1024
#: bodies at least this long (or, of unknown length, once this much was read) are hashed in a
#: helper thread while the request's thread parses them
THREAD_MIN_BODY = 1024 * 1024
_SMALL = 16 * 1024  # smaller reads are gathered before they go to the hashing thread
_AHEAD = 1024 * 1024  # in threaded mode, smaller reads are served from a block read ahead
_MIN_CYCLE = 0.0005  # seconds: shorter feed cycles say nothing about overlap
_SERIAL_SHARE = 0.8  # a cycle this much longer than the feeder's CPU time did not overlap
_SERIAL_LIMIT = 3  # blocks in a row that did not overlap: hash the rest in the request's thread


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


def spare_core() -> bool:
    """Whether a core is likely free for the hashing thread: the 1-minute load average is below
    the number of CPUs this process may run on (with every core busy, a second thread cannot
    run beside the parser and only adds hand-overs)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - no load average
        return cores > 1
    return cores > 1 and load < cores


def _hash_loop(
    updates: list[t.Any], chunks: SimpleQueue, taken: SimpleQueue, spent: list[float]
) -> None:
    """The hashing thread: take a chunk, say so, ``update()`` with it (hashlib releases the GIL
    while it hashes, so the feeder parses meanwhile); ``spent[0]``: CPU time of the last one."""
    clock = time.thread_time
    try:
        while (chunk := chunks.get()) is not None:
            taken.put(True)
            start = clock()
            for update in updates:
                update(chunk)
            spent[0] = clock() - start
    except BaseException as e:  # pragma: no cover - hashlib does not fail on bytes
        taken.put(e)
        return
    taken.put(None)


class _HashThread:
    """Hashes the chunks it is fed, in order, in a thread of its own.

    ``feed`` returns once the thread has taken the chunk (it waits while the previous one is
    still being hashed): at most two chunks are alive, whatever the body's size. Waiting there
    matters for more than memory: it is the moment the feeder lets go of the GIL, so the thread
    gets it at once to start on the chunk (a thread that needs the GIL while the feeder parses
    gets it only at the interpreter's switch interval, every 5 ms).

    ``serial`` counts the blocks in a row whose hashing did not overlap the feeder's work (the
    wall time between two feeds covered the feeder's CPU time *plus* most of the thread's: no
    free core, e.g. every core busy with other processes); the caller then stops using the thread.
    """

    def __init__(self, hashers: dict[str, t.Any]) -> None:
        self.chunks: SimpleQueue = SimpleQueue()
        self.taken: SimpleQueue = SimpleQueue()
        self.spent = [0.0]
        self.serial = 0
        self._mark: tuple[float, float] | None = None
        updates = [hasher.update for hasher in hashers.values()]
        self.thread = threading.Thread(
            target=_hash_loop,
            args=(updates, self.chunks, self.taken, self.spent),
            name="batteries-body-hash",
            daemon=True,
        )
        self.thread.start()

    def _wait(self) -> t.Any:
        answer = self.taken.get()
        if isinstance(answer, BaseException):  # pragma: no cover - see _hash_loop
            self.thread.join()
            raise RuntimeError("The body hashing thread failed.") from answer
        return answer

    def feed(self, chunk: bytes) -> None:
        self.chunks.put(chunk)
        self._wait()
        now, mine = time.perf_counter(), time.thread_time()
        if self._mark is not None:
            wall, cpu = now - self._mark[0], mine - self._mark[1]
            if wall > _MIN_CYCLE and wall >= cpu + _SERIAL_SHARE * self.spent[0]:
                self.serial += 1
            else:
                self.serial = 0
        self._mark = (now, mine)

    def join(self) -> None:
        """Wait until every chunk fed is hashed, and end the thread."""
        self.chunks.put(None)
        self._wait()
        self.thread.join()


class BodyDigest:
    """The request's raw input, hashed (and verified) as it is read.

    Sits between the WSGI input and Werkzeug's ``LimitedStream``, so every path to the body goes
    through it once. The end of the body is reached when Content-Length bytes were read, or, for
    a stream the server terminates, when a read returns nothing. There the digests are checked;
    a mismatch is raised (and kept: every later read raises it again).

    A body of ``thread_min`` bytes or more (``Request.body_thread_min_size``) is hashed in a
    helper thread (:class:`_HashThread`) while the caller parses it: the input is then read in
    ``_AHEAD`` blocks, each handed whole to the thread and served to the caller in the pieces it
    asks for. The thread is joined before the digests are compared (and by :meth:`release`,
    which the request's ``close()`` calls, whatever happened).
    """

    def __init__(
        self, environ: t.MutableMapping[str, t.Any], thread_min: int | None = THREAD_MIN_BODY
    ) -> None:
        self.raw = environ["wsgi.input"]
        self.hashers: dict[str, t.Any] = {"sha256": hashlib.sha256()}
        self.total = 0
        self.finished = False
        self.error: Exception | None = None
        self.outer: weakref.ref[t.IO[bytes]] | None = None  # the guarded stream reading this
        self._has_readinto = hasattr(self.raw, "readinto")
        self.length = get_content_length(environ)  # type: ignore[arg-type]
        self.worker: _HashThread | None = None
        self._small = bytearray()
        self._ahead = b""  # read (and hashed) ahead of the reader, from _ahead_pos on
        self._ahead_pos = 0
        if thread_min is None:
            self._thread_after = 1 << 62  # never
        elif self.length is not None and self.length >= thread_min:
            self._thread_after = 0
        else:
            self._thread_after = max(thread_min - 1, 0)
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
        self.release()
        return self.hashers[name].hexdigest()  # type: ignore[no-any-return]

    def release(self) -> None:
        """Hash what the helper thread still holds and end it (a later read starts another)."""
        worker = self.worker
        if worker is None:
            return
        if self._small:
            worker.feed(bytes(self._small))
            self._small.clear()
        self.worker = None
        worker.join()

    def _start_thread(self) -> _HashThread:
        worker = self.worker = _HashThread(self.hashers)
        # a request object dropped without close(): the thread still ends
        weakref.finalize(self, worker.chunks.put, None)
        return worker

    def _finish(self) -> None:
        self.finished = True
        self.release()
        for header, algorithm, digest in self.expected:
            if not hmac.compare_digest(self.hashers[algorithm].digest(), digest):
                self.error = ChecksumMismatch(header, algorithm)
                if current_app:
                    app = current_app._get_current_object()  # type: ignore[attr-defined]
                    app.logger.warning("Request body does not match its %s (%s).", header, algorithm)
                    signals.checksum_mismatch.send(app, header=header, algorithm=algorithm)
                raise self.error

    def _took(self, data: t.Any, asked: int, ahead: bool = False) -> None:
        """Count and hash ``data``. Blocks read ahead start the hashing thread; other reads
        (``get_data()`` reads 1 MiB at a time, with nothing to parse meanwhile) are hashed
        here, unless the thread already runs (the order of the bytes must be kept)."""
        n = len(data)
        if n:
            self.total += n
            if self.worker is not None or ahead:
                self._hand_over(data, n)
            elif len(self.hashers) == 1:
                self.hashers["sha256"].update(data)
            else:
                for hasher in self.hashers.values():
                    hasher.update(data)
            if self.length is not None and self.total >= self.length:
                self._finish()
        elif asked and self.length is None and self.terminated:
            self._finish()

    def _hand_over(self, data: t.Any, n: int) -> None:
        worker = self.worker or self._start_thread()
        small = self._small
        if n < _SMALL:  # gathered: a small update would not release the GIL
            small += data
            if len(small) < _CHUNK:
                return
            data = bytes(small)
            small.clear()
        elif small:
            worker.feed(bytes(small))
            small.clear()
        # the caller may reuse its buffer: the thread gets bytes of its own
        worker.feed(data if type(data) is bytes else bytes(data))
        if worker.serial >= _SERIAL_LIMIT:
            # no core to overlap with: the thread only adds hand-overs; the rest is hashed here
            self._thread_after = 1 << 62
            self.release()

    def _room(self, size: int | None) -> int:
        """How many bytes one read may take (never past Content-Length)."""
        if self.length is None:
            return _CHUNK if size is None or size < 0 else size
        left = self.length - self.total
        return left if size is None or size < 0 else min(size, left)

    # -- the stream interface ----------------------------------------------------------------

    def _ahead_of(self, size: int) -> bool:
        """Read a big block ahead (and hand it to the hashing thread) for this read?"""
        if self._ahead or size >= _AHEAD:
            return False
        if self.worker is None:
            if self.total + size <= self._thread_after:
                return False
            if not spare_core():
                self._thread_after = 1 << 62  # every core is busy: hashed in the request
                return False
        room = self._room(_AHEAD)
        if room <= size:
            return False  # this read takes all there is left anyway
        data = self.raw.read(room)
        self._took(data, room, ahead=True)  # may raise ChecksumMismatch: nothing is given out
        self._ahead, self._ahead_pos = data, 0
        return bool(data)

    def _take(self, size: int) -> bytes:
        """Up to ``size`` bytes from the block read ahead."""
        ahead, pos = self._ahead, self._ahead_pos
        end = pos + size
        if end >= len(ahead):
            self._ahead, self._ahead_pos = b"", 0
            return ahead if pos == 0 else ahead[pos:]
        self._ahead_pos = end
        return ahead[pos:end]

    def readinto(self, buffer: t.Any) -> int:
        if self.error is not None:
            raise self.error
        size = len(buffer)
        if self._ahead or self._ahead_of(size):
            data = self._take(size)
            n = len(data)
            memoryview(buffer).cast("B")[:n] = data
            return n
        room = self._room(size)
        if room <= 0:
            return 0
        if room == size and self._has_readinto and type(buffer) is bytearray:
            # the common case (Werkzeug's LimitedStream): straight into the caller's buffer
            n = self.raw.readinto(buffer) or 0
            self._took(buffer if n == size else memoryview(buffer)[:n], room)
            return n
        view = memoryview(buffer).cast("B")[:room]
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
        ahead = self._ahead
        if ahead:  # the parser's usual read, inlined: a piece of the block read ahead
            pos = self._ahead_pos
            end = pos + size
            if end < len(ahead):
                self._ahead_pos = end
                return ahead[pos:end]
            return self._take(size)
        if size and self._ahead_of(size):
            return self._take(size)
        room = self._room(size)
        if room <= 0:
            return b""
        data = self.raw.read(room)
        self._took(data, room)
        return data  # type: ignore[no-any-return]

    def readall(self) -> bytes:
        self.check()
        parts = [self._take(len(self._ahead))] if self._ahead else []
        while not self.finished:
            room = self._room(_CHUNK if self.length is None else None)
            if room <= 0:
                break
            data = self.raw.read(min(room, 1024 * 1024))
            self._took(data, room)
            if not data:
                break
            parts.append(data)
        return b"".join(parts)

    def readline(self, size: int | None = -1) -> bytes:
        self.check()
        if size is None:
            size = -1
        if self._ahead:
            ahead, pos = self._ahead, self._ahead_pos
            end = ahead.find(b"\n", pos) + 1 or len(ahead)
            if size >= 0:
                end = min(end, pos + size)
            line = self._take(end - pos)
            if line.endswith(b"\n") or len(line) == size:
                return line
            return line + self.readline(size - len(line) if size >= 0 else -1)
        room = self._room(size)
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

"""batteries.bodydigest through batteries.Request: the body hashed whatever reads it, digest
headers verified, memory that grows with the bytes received."""

from __future__ import annotations

import base64
import gc
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest
from flask import request
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder, run_wsgi_app

from batteries import Batteries
from batteries.signals import checksum_mismatch
from batteries.wrappers import parse_digest_field

BOUNDARY = "batteriesboundary"
MULTIPART = (
    f"--{BOUNDARY}\r\n"
    'Content-Disposition: form-data; name="a"\r\n\r\n'
    "1\r\n"
    f"--{BOUNDARY}\r\n"
    'Content-Disposition: form-data; name="f"; filename="x.txt"\r\n'
    "Content-Type: text/plain\r\n\r\n"
    "hello file\r\n"
    f"--{BOUNDARY}--\r\n"
).encode()

BODIES = {
    "urlencoded": (b"a=1&b=%C3%A9", "application/x-www-form-urlencoded"),
    "multipart": (MULTIPART, f"multipart/form-data; boundary={BOUNDARY}"),
    "json": (b'{"a": [1, 2, {"b": "c"}]}', "application/json"),
    "raw": (bytes(range(256)) * 300, "application/octet-stream"),
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def b64(algorithm: str, data: bytes) -> str:
    return base64.b64encode(hashlib.new(algorithm, data).digest()).decode()


def content_digest(data: bytes, algorithm: str = "sha256") -> str:
    key = {"sha256": "sha-256", "sha512": "sha-512"}[algorithm]
    return f"{key}=:{b64(algorithm, data)}:"


READERS = {
    "get_data": lambda: request.get_data(),
    "data": lambda: request.data,
    "form": lambda: request.form.to_dict(),
    "files": lambda: {k: v.read() for k, v in request.files.items()},
    "json": lambda: request.get_json(silent=True),
    "stream": lambda: request.stream.read(),
    "stream_chunks": lambda: b"".join(iter(lambda: request.stream.read(7), b"")),
    "input_stream": lambda: request.input_stream.read(),
    "values": lambda: request.values.to_dict(),
}


@pytest.fixture
def echo(app):
    """POST /echo?read=<reader>: reads the body one way, then returns its digest."""

    @app.post("/echo")
    def echo():
        READERS[request.args.get("read", "get_data")]()
        return {"sha256": request.content_digest()}

    return app


@pytest.mark.parametrize("kind", sorted(BODIES))
@pytest.mark.parametrize("reader", sorted(READERS))
def test_digest_whatever_reads_the_body(echo, kind, reader):
    body, content_type = BODIES[kind]
    response = echo.test_client().post(
        f"/echo?read={reader}", data=body, content_type=content_type
    )
    assert response.status_code == 200, response.data
    assert response.json["sha256"] == sha256(body)


@pytest.mark.parametrize("kind", sorted(BODIES))
def test_content_digest_keeps_form_and_data_usable(app, kind):
    body, content_type = BODIES[kind]

    @app.post("/")
    def view():
        digest = request.content_digest()
        return {
            "digest": digest,
            "form": request.form.to_dict(),
            "files": sorted(request.files),
            "json": request.get_json(silent=True),
            "data": len(request.get_data()),
        }

    result = app.test_client().post("/", data=body, content_type=content_type).json
    assert result["digest"] == sha256(body)
    if kind == "urlencoded":
        assert result["form"] == {"a": "1", "b": "é"}
    if kind == "multipart":
        assert result["form"] == {"a": "1"} and result["files"] == ["f"]
    if kind == "json":
        assert result["json"] == {"a": [1, 2, {"b": "c"}]}
    if kind in ("json", "raw"):
        assert result["data"] == len(body)


def test_form_parsed_in_a_hook_before_the_view(app):
    @app.before_request
    def touch_form():
        request.form  # noqa: B018

    @app.post("/")
    def view():
        return {"digest": request.content_digest(), "a": request.form["a"]}

    result = app.test_client().post("/", data={"a": "x" * 1000}).json
    assert result == {"digest": sha256(b"a=" + b"x" * 1000), "a": "x" * 1000}


def test_content_digest_after_partial_stream_read(app):
    body = b"0123456789" * 10_000

    @app.post("/")
    def view():
        first = request.stream.read(10)
        return {"first": first.decode(), "digest": request.content_digest()}

    result = app.test_client().post("/", data=body).json
    assert result == {"first": "0123456789", "digest": sha256(body)}


def test_other_algorithms(app):
    body = b"some body"

    @app.post("/before")
    def before():
        name = request.args["a"]
        return {name: request.content_digest(name), "sha256": request.content_digest("sha-256")}

    @app.post("/after")
    def after():
        request.get_data()
        try:
            request.content_digest("sha1")
        except ValueError as e:
            return {"error": str(e)}
        return {"error": None}

    client = app.test_client()
    for name in ("sha1", "MD5", "sha512"):
        assert client.post(f"/before?a={name}", data=body).json == {
            name: hashlib.new(name.lower(), body).hexdigest(),
            "sha256": sha256(body),
        }
    error = client.post("/after", data=body).json["error"]
    assert "sha1" in error and "already read" in error
    with app.test_request_context(data=b""), pytest.raises(ValueError, match="nope"):
        request.content_digest("nope")


def test_empty_and_bodyless_requests(app):
    @app.route("/", methods=["GET", "POST"])
    def view():
        return request.content_digest()

    client = app.test_client()
    assert client.get("/").text == sha256(b"")
    assert client.post("/").text == sha256(b"")


# -- verification -------------------------------------------------------------------------


@pytest.fixture
def verified(app):
    ran = []

    @app.post("/v")
    def view():
        value = READERS[request.args.get("read", "get_data")]()
        ran.append(value)
        return {"ok": True}

    app.ran = ran  # type: ignore[attr-defined]
    return app


@pytest.mark.parametrize("kind", sorted(BODIES))
@pytest.mark.parametrize("header", ["Content-Digest", "Repr-Digest", "Content-MD5"])
def test_good_digest_passes_bad_digest_is_400(verified, kind, header):
    body, content_type = BODIES[kind]
    reader = {"urlencoded": "form", "multipart": "files", "json": "json", "raw": "stream"}[kind]

    def value(data: bytes) -> str:
        return b64("md5", data) if header == "Content-MD5" else content_digest(data)

    client = verified.test_client()
    ok = client.post(
        f"/v?read={reader}", data=body, content_type=content_type, headers={header: value(body)}
    )
    assert ok.status_code == 200

    bad = client.post(
        f"/v?read={reader}",
        data=body,
        content_type=content_type,
        headers={header: value(body + b"x")},
    )
    assert bad.status_code == 400
    assert header in bad.text
    assert len(verified.ran) == 1  # the view never got the bad body's content


def test_mismatch_sends_signal_and_json_error(verified):
    seen = []

    def receiver(sender, **extra):
        seen.append((sender, extra))

    with checksum_mismatch.connected_to(receiver):
        response = verified.test_client().post(
            "/v",
            data=b'{"x": 1}',
            content_type="application/json",
            headers={"Content-Digest": content_digest(b"other"), "Accept": "application/json"},
        )
    assert response.status_code == 400
    assert response.json["status"] == 400
    assert "Content-Digest" in response.json["message"]
    assert seen == [(verified, {"header": "Content-Digest", "algorithm": "sha256"})]


def test_every_known_entry_must_match_unknown_ignored(verified):
    body = b"payload"
    client = verified.test_client()
    good = f"{content_digest(body)}, {content_digest(body, 'sha512')}"
    assert client.post("/v", data=body, headers={"Content-Digest": good}).status_code == 200
    half = f"{content_digest(body)}, {content_digest(b'nope', 'sha512')}"
    response = client.post("/v", data=body, headers={"Content-Digest": half})
    assert response.status_code == 400 and "sha512" in response.text
    unknown = f"md5=:{b64('md5', b'other')}:, unixsum=:AAAA:, {content_digest(body)}"
    assert client.post("/v", data=body, headers={"Content-Digest": unknown}).status_code == 200
    only_unknown = "crc32c=:AAAAAA==:;param=1"
    assert client.post("/v", data=body, headers={"Content-Digest": only_unknown}).status_code == 200


def test_repr_digest_not_checked_for_encoded_bodies(verified):
    body = b"\x1f\x8b gzip bytes"
    response = verified.test_client().post(
        "/v",
        data=body,
        headers={"Repr-Digest": content_digest(b"decoded"), "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "header, value",
    [
        ("Content-Digest", "sha-256=abc"),
        ("Content-Digest", "sha-256=:not base64!:"),
        ("Content-Digest", "sha-256=:AAAA:"),  # wrong length
        ("Content-Digest", "sha-256"),
        ("Content-Digest", "SHA-256=:AAAA:"),
        ("Content-Digest", ""),
        ("Content-Digest", "=:AAAA:"),
        ("Repr-Digest", "sha-512=:" + "A" * 10 + ":"),
        ("Content-MD5", "not base64"),
        ("Content-MD5", base64.b64encode(b"short").decode()),
    ],
)
def test_malformed_digest_header_is_400(verified, header, value):
    for reader in ("get_data", "form", "stream"):
        response = verified.test_client().post(
            f"/v?read={reader}", data={"a": "1"}, headers={header: value}
        )
        assert response.status_code == 400, (reader, response.data)
        assert header in response.text
    assert verified.ran == []


def test_empty_body_is_verified_once(app):
    seen = []

    @app.route("/", methods=["GET", "POST"])
    def view():
        for _ in range(2):
            try:
                request.get_data()
            except Exception:
                pass
        return request.content_digest()

    client = app.test_client()
    good = {"Content-Digest": content_digest(b"")}
    assert client.post("/", headers=good).text == sha256(b"")
    with checksum_mismatch.connected_to(lambda sender, **extra: seen.append(extra)):
        response = client.get("/", headers={"Content-Digest": content_digest(b"x")})
    assert response.status_code == 400
    assert seen == [{"header": "Content-Digest", "algorithm": "sha256"}]


def test_parse_digest_field():
    digest = hashlib.sha256(b"").digest()
    encoded = base64.b64encode(digest).decode()
    assert parse_digest_field(f"sha-256=:{encoded}:;x=1", "Content-Digest") == {"sha256": digest}
    assert parse_digest_field("adler=:AAAA:", "Content-Digest") == {}


def test_unknown_length_with_digest_header_is_411(app):
    @app.post("/")
    def view():
        return {"data": request.get_data().decode()}

    def post(headers):
        builder = EnvironBuilder(
            path="/", method="POST", input_stream=io.BytesIO(b"chunked body"), headers=headers
        )
        environ = builder.get_environ()
        environ.pop("CONTENT_LENGTH", None)
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
        return app.test_client().open(environ)

    response = post({"Content-Digest": content_digest(b"chunked body")})
    assert response.status_code == 411
    assert "Content-Length" in response.text
    # Without a digest header Werkzeug's safe default applies: no body, no error.
    assert post({}).json == {"data": ""}


def test_terminated_stream_is_verified_at_its_end(app):
    body = b"streamed without a length " * 1000

    @app.post("/")
    def view():
        return {"n": len(request.get_data()), "digest": request.content_digest()}

    def post(header):
        builder = EnvironBuilder(
            path="/",
            method="POST",
            input_stream=io.BytesIO(body),
            headers={"Content-Digest": header},
        )
        environ = builder.get_environ()
        environ.pop("CONTENT_LENGTH", None)
        environ["wsgi.input_terminated"] = True
        return app.test_client().open(environ)

    assert post(content_digest(body)).json == {"n": len(body), "digest": sha256(body)}
    assert post(content_digest(b"other")).status_code == 400


def test_failure_is_sticky(app):
    with app.test_request_context(
        "/", method="POST", data=b"abc", headers={"Content-Digest": content_digest(b"abd")}
    ):
        for _ in range(2):
            with pytest.raises(Exception, match="does not match"):
                request.get_data()
        with pytest.raises(Exception, match="does not match"):
            request.content_digest()


def test_client_disconnect_is_400(app):
    @app.post("/")
    def view():
        return {"value": repr(READERS[request.args["read"]]())}

    for reader in ("form", "get_data"):
        environ = EnvironBuilder(
            path=f"/?read={reader}",
            method="POST",
            data=b"a=1&b=2",
            content_type="application/x-www-form-urlencoded",
        ).get_environ()
        environ["CONTENT_LENGTH"] = "1000"  # the client promised more than it sent
        _, status, _ = run_wsgi_app(app, environ, buffered=True)
        assert status.startswith("400")


# -- properties ---------------------------------------------------------------------------

_PROP_APP: list[Batteries] = []


@settings(max_examples=60, deadline=None)
@given(
    body=st.binary(max_size=3000),
    steps=st.lists(st.integers(min_value=1, max_value=700), max_size=6),
    reader=st.sampled_from(["stream", "input_stream", "readline", "readinto"]),
)
def test_any_read_pattern_hashes_the_whole_body(body, steps, reader):
    if not _PROP_APP:
        _PROP_APP.append(Batteries("prop"))
    app = _PROP_APP[0]
    with app.test_request_context("/", method="POST", data=body):
        stream = request.input_stream if reader == "input_stream" else request.stream
        got = b""
        for step in steps:
            if reader == "readline":
                got += stream.readline(step)
            elif reader == "readinto":
                buffer = bytearray(step)
                got += bytes(buffer[: stream.readinto(buffer)])
            else:
                got += stream.read(step)
        assert body.startswith(got)
        assert request.content_digest() == sha256(body)
        good = {"HTTP_CONTENT_DIGEST": content_digest(body)}
    with app.test_request_context("/", method="POST", data=body, environ_overrides=good):
        for step in steps:
            request.stream.read(step)
        assert request.get_data(cache=False) == body[min(sum(steps), len(body)) :]
        assert request.content_digest() == sha256(body)


def test_chunked_upload_through_a_real_server(app):
    """Werkzeug's server terminates chunked bodies: they are hashed and verified at their end."""
    import http.client
    import threading

    from werkzeug.serving import make_server

    @app.post("/chunked")
    def chunked():
        return {"n": len(request.get_data()), "digest": request.content_digest()}

    body = bytes(range(256)) * 4000
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def send(header: str) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
        try:
            pieces = (body[i : i + 10_000] for i in range(0, len(body), 10_000))
            connection.request(
                "POST",
                "/chunked",
                body=pieces,
                headers={"Content-Digest": header, "Content-Type": "application/octet-stream"},
                encode_chunked=True,
            )
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    try:
        status, data = send(content_digest(body))
        assert status == 200
        assert json.loads(data) == {"n": len(body), "digest": sha256(body)}
        status, data = send(content_digest(body[:-1]))
        assert status == 400 and b"Content-Digest" in data
    finally:
        server.shutdown()
        server.server_close()




def test_a_request_that_read_its_body_is_freed_without_the_gc(app):
    """Nothing Batteries adds to a request refers back to it: the request and its body go as
    soon as Flask is done with it, not at the next garbage collection."""
    import weakref

    refs = []

    @app.post("/")
    def view():
        if "parse" in request.args:
            n = len(request.files["f"].read())
        else:
            n = len(request.get_data())
        refs.append(weakref.ref(request._get_current_object()))
        refs.append(weakref.ref(request.__dict__["_batteries_body"]))
        refs.append(weakref.ref(request.stream))
        return {"n": n}

    big = bytes(range(256)) * 4096
    gc.collect()
    gc.disable()
    try:
        client = app.test_client()
        assert client.post("/", data=b"x" * 5000).json == {"n": 5000}
        body = (
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="f"; filename="big.bin"\r\n\r\n'
        ).encode() + big + f"\r\n--{BOUNDARY}--\r\n".encode()
        ctype = BODIES["multipart"][1]
        assert client.post("/?parse", data=body, content_type=ctype).json == {"n": len(big)}
        assert [ref() for ref in refs] == [None] * 6
    finally:
        gc.enable()


# -- memory grows with the bytes received -------------------------------------------------


class TrickleInput:
    """A WSGI input that has ``data`` and then nothing (a client that stopped sending), and
    records the size of every read asked of it."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)
        self.asked: list[int] = []

    def read(self, size: int = -1) -> bytes:
        self.asked.append(size)
        return self.data.read(size)

    def readinto(self, buffer) -> int:
        self.asked.append(len(buffer))
        return self.data.readinto(buffer)

    def readline(self, size: int = -1) -> bytes:
        self.asked.append(size)
        return self.data.readline(size)


@pytest.mark.parametrize(
    "reader", ["json", "get_data", "content_digest", "form", "stream", "input_stream"]
)
def test_claimed_length_reserves_nothing(app, reader):
    """Headers claiming 16 MiB and one byte sent: no read asks for more than 64 KiB and the
    peak of Python's allocations stays far below the claim (it was a 16 MiB bytearray)."""
    import tracemalloc

    @app.post("/")
    def view():
        if reader == "json":
            request.get_json()
        elif reader == "get_data":
            request.get_data()
        elif reader == "content_digest":
            request.content_digest()
        elif reader == "form":
            request.form  # noqa: B018
        elif reader == "stream":
            request.stream.read()
        else:
            request.input_stream.read()
        return "read"

    claimed = 16 * 1024 * 1024
    ctype = "application/x-www-form-urlencoded" if reader == "form" else "application/json"
    environ = EnvironBuilder(path="/", method="POST", content_type=ctype).get_environ()
    raw = TrickleInput(b"[")
    environ.update({"wsgi.input": raw, "CONTENT_LENGTH": str(claimed)})
    app.config["MAX_CONTENT_LENGTH"] = 32 * 1024 * 1024
    tracemalloc.start()
    try:
        _, status, _ = run_wsgi_app(app, environ, buffered=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # a cut body: ClientDisconnected (a form that big may be refused first, on Werkzeug 3.2)
    expected = ("200",) if reader == "input_stream" else ("400", "413") if reader == "form" else ("400",)
    assert status.startswith(expected), status
    assert max(raw.asked, default=0) <= 64 * 1024, raw.asked
    assert peak < 2 * 1024 * 1024, peak


GUNICORN_APP = """
import threading

from flask import request

from batteries import Batteries

app = Batteries("slowbody")
app.config.update(SECRET_KEY="x")  # MAX_CONTENT_LENGTH: 16 MiB, the default
entered = [0]
lock = threading.Lock()


@app.before_request
def count():
    if request.method == "POST":
        with lock:
            entered[0] += 1


@app.get("/entered")
def entered_count():
    return str(entered[0])


@app.post("/login")
def login():
    return {"got": request.get_json(silent=True) is not None}
"""


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _get(port: int, path: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data.split(b"\r\n\r\n", 1)[1].decode()


def _slow_posts(port: int, n: int, claimed: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.sendall(
            (
                f"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {claimed}\r\n\r\n["
            ).encode()
        )
        socks.append(sock)
    return socks


def _wait_entered(port: int, count: int) -> None:
    for _ in range(300):
        if int(_get(port, "/entered")) >= count:
            time.sleep(0.5)  # (they are in get_json, waiting for the rest of the body)
            return
        time.sleep(0.05)
    raise AssertionError(f"only {_get(port, '/entered')} of {count} requests reached the view")


@pytest.mark.slow
def test_slow_body_connections_cost_little_memory_in_a_real_gunicorn_worker(tmp_path):
    """Issue 13 #1 with a real server: N connections send headers claiming 16 MiB and one byte
    to a view that calls get_json(); the worker's RSS grows by less than 256 KiB for each."""
    pytest.importorskip("gunicorn")
    n = 24
    (tmp_path / "slowbody.py").write_text(textwrap.dedent(GUNICORN_APP))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "1", "-k", "gthread", "--threads", str(n + 4),
         "-b", f"127.0.0.1:{port}", "--timeout", "120", "slowbody:app"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])},
    )
    try:
        for _ in range(200):
            try:
                _get(port, "/entered")
                break
            except OSError:
                time.sleep(0.05)
        with open(f"/proc/{server.pid}/task/{server.pid}/children", encoding="ascii") as f:
            worker = int(f.read().split()[0])
        # warm up: as many requests in flight as below, so the worker's threads exist already
        warm = _slow_posts(port, n, 2)
        _wait_entered(port, n)
        for sock in warm:
            sock.sendall(b"]")
            sock.recv(65536)
            sock.close()
        time.sleep(0.5)
        before = _rss_kib(worker)
        slow = _slow_posts(port, n, 16 * 1024 * 1024)
        _wait_entered(port, 2 * n)
        grown = _rss_kib(worker) - before
        for sock in slow:
            sock.close()
        per_connection = grown / n
        print(f"RSS per slow-body connection: {per_connection:.0f} KiB ({n} connections)")
        assert per_connection < 256, per_connection
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


# -- big bodies (several 64 KiB reads) ----------------------------------------------------

BIG = bytes(range(256)) * (12 * 1024 + 7)  # ~3 MiB, not a multiple of any read size


def big_multipart(payload: bytes) -> bytes:
    return (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="a"\r\n\r\n'
        "1\r\n"
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="f"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + payload + f"\r\n--{BOUNDARY}--\r\n".encode()


@pytest.mark.parametrize("reader", sorted(set(READERS) - {"stream_chunks"}))
def test_digest_whatever_reads_a_big_body(echo, reader):
    for kind in ("multipart", "raw"):
        body = big_multipart(BIG) if kind == "multipart" else BIG
        ctype = BODIES[kind][1]
        response = echo.test_client().post(f"/echo?read={reader}", data=body, content_type=ctype)
        assert response.status_code == 200, response.data
        assert response.json["sha256"] == sha256(body)


def test_big_upload_verified_and_intact(app):
    body = big_multipart(BIG)

    @app.post("/up")
    def up():
        return {
            "a": request.form["a"],
            "file": sha256(request.files["f"].read()),
            "digest": request.content_digest(),
        }

    headers = {"Content-Digest": content_digest(body)}
    client = app.test_client()
    result = client.post("/up", data=body, content_type=BODIES["multipart"][1], headers=headers)
    assert result.status_code == 200, result.data
    assert result.json == {"a": "1", "file": sha256(BIG), "digest": sha256(body)}


def test_big_mismatch_is_400_and_nothing_is_used(app):
    body = big_multipart(BIG)
    ran, mismatches = [], []

    @app.post("/up")
    def up():
        ran.append(request.files["f"])
        return "stored"

    def receiver(sender, **extra):
        mismatches.append(extra)

    wrong = {"Content-Digest": content_digest(body[:-1])}
    with checksum_mismatch.connected_to(receiver, app):
        response = app.test_client().post(
            "/up", data=body, content_type=BODIES["multipart"][1], headers=wrong
        )
    assert response.status_code == 400 and b"Content-Digest" in response.data
    assert ran == [] and mismatches == [{"header": "Content-Digest", "algorithm": "sha256"}]


def test_big_body_extra_algorithms(app):
    @app.post("/v")
    def view():
        while request.stream.read(65536):
            pass
        return {"digest": request.content_digest(request.args["alg"])}

    client = app.test_client()
    both = f"{content_digest(BIG)}, {content_digest(BIG, 'sha512')}"
    result = client.post("/v?alg=sha512", data=BIG, headers={"Content-Digest": both})
    assert result.json == {"digest": hashlib.sha512(BIG).hexdigest()}
    result = client.post("/v?alg=md5", data=BIG, headers={"Content-MD5": b64("md5", BIG)})
    assert result.json == {"digest": hashlib.md5(BIG).hexdigest()}
    bad_md5 = {"Content-MD5": b64("md5", BIG[:-1])}
    response = client.post("/v?alg=md5", data=BIG, headers=bad_md5)
    assert response.status_code == 400 and b"Content-MD5" in response.data
    bad = f"{content_digest(BIG)}, {content_digest(BIG[1:], 'sha512')}"
    response = client.post("/v?alg=sha512", data=BIG, headers={"Content-Digest": bad})
    assert response.status_code == 400 and b"sha512" in response.data


@pytest.mark.parametrize("how", ["disconnect", "partial-read", "view-error", "form-too-large"])
def test_big_body_cut_short_refused_or_left(app, how):
    app.config["MAX_FORM_MEMORY_SIZE"] = 1000 if how == "form-too-large" else 500_000

    @app.post("/")
    def view():
        if how == "partial-read":
            return {"first": len(request.stream.read(100_000))}
        if how == "view-error":
            request.stream.read(100_000)
            raise RuntimeError("boom")
        return {"form": request.form.to_dict()}

    body, ctype = big_multipart(BIG), BODIES["multipart"][1]
    if how == "form-too-large":
        body = (
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n".encode()
            + b"x" * len(BIG)
            + f"\r\n--{BOUNDARY}--\r\n".encode()
        )
    environ = EnvironBuilder(path="/", method="POST", data=body, content_type=ctype).get_environ()
    if how == "disconnect":
        environ["CONTENT_LENGTH"] = str(2 * len(body))  # the client went away halfway
    app.testing = how != "view-error"
    _, status, _ = run_wsgi_app(app, environ, buffered=True)
    expected = {"disconnect": "400", "partial-read": "200", "view-error": "500"}
    assert status.startswith(expected.get(how, "413")), status


def test_client_disconnect_mid_upload_through_a_real_server(app):
    """A client that sends half of a big upload and hangs up: the parser sees the disconnect."""
    import threading

    from werkzeug.serving import make_server

    seen = []

    @app.post("/up")
    def up():
        try:
            request.files  # noqa: B018
        except Exception as e:
            seen.append(type(e).__name__)
            raise
        return "complete?"

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        body = big_multipart(BIG)
        head = (
            f"POST /up HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len(body)}\r\n"
            f"Content-Type: {BODIES['multipart'][1]}\r\n"
            f"Content-Digest: {content_digest(body)}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as sock:
            sock.sendall(head + body[: len(body) // 2])
            time.sleep(0.2)
        for _ in range(200):
            if seen:
                break
            time.sleep(0.02)
        assert seen == ["ClientDisconnected"]
    finally:
        server.shutdown()
        server.server_close()


@settings(max_examples=80, deadline=None)
@given(
    body=st.binary(max_size=200_000),
    steps=st.lists(
        st.tuples(
            st.sampled_from(["read", "readinto", "readline", "readall"]),
            # from 1: Werkzeug's LimitedStream takes a read of 0 bytes for a client that hung
            # up (ClientDisconnected), on plain Flask too
            st.integers(min_value=1, max_value=100_000),
        ),
        max_size=8,
    ),
    verify=st.booleans(),
    raw=st.booleans(),
)
def test_mixed_read_patterns_give_the_body_and_its_digest(body, steps, verify, raw):
    """Whatever mix of reads, of whatever sizes: the bytes read are the body's, in order, and
    the digest (and its verification) is the one of the whole body."""
    if not _PROP_APP:
        _PROP_APP.append(Batteries("prop"))
    app = _PROP_APP[0]
    headers = {"HTTP_CONTENT_DIGEST": content_digest(body)} if verify else {}
    with app.test_request_context("/", method="POST", data=body, environ_overrides=headers):
        got = b""
        stream = request.input_stream if raw else request.stream
        for how, n in steps:
            if how == "readline":
                got += stream.readline(n)
            elif how == "readinto":
                buffer = bytearray(n)
                got += bytes(buffer[: stream.readinto(buffer)])
            elif how == "readall":
                got += stream.read()
            else:
                got += stream.read(n)
        assert body.startswith(got)
        assert request.content_digest() == sha256(body)

"""Fault injection with the real services on loopback: outages give clear errors, lose nothing.

The shared services are never stopped. Outages are made instead with:

- :class:`FaultProxy`, a small threaded TCP proxy between the app and a service, whose mode is
  switched while requests run: ``pass``, ``refuse`` (nothing listens), ``reset`` (accept, then
  close with RST), ``blackhole`` (accept, never answer). Switching away from ``pass`` also cuts
  the connections already open through it, as a server restart does;
- ``pg_terminate_backend`` on the app's own PostgreSQL connections (found by
  ``application_name``);
- a private ``redis-server`` on a spare port, killed and started again;
- a 1 MiB tmpfs as the upload folder (disk full), remounted read-only.

A worker SIGKILLed mid-task is covered by the tasks battery's own tests (``tests/test_tasks.py``).
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import uuid

import pytest
from _services import service_up
from flask import jsonify, request

from batteries import Batteries

pytestmark = [pytest.mark.services, pytest.mark.slow]

PG_PORT = 5432


class FaultProxy:
    """A TCP proxy on 127.0.0.1 to ``target`` whose behaviour can be switched at any time."""

    MODES = ("pass", "refuse", "reset", "blackhole")

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.mode = "pass"
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.open: set[socket.socket] = set()
        self.held: list[socket.socket] = []
        self.closed = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def set_mode(self, mode: str) -> None:
        assert mode in self.MODES
        self.mode = mode
        if mode != "pass":
            self.cut()

    def cut(self) -> None:
        """Close every connection passing through (the server went away)."""
        with self.lock:
            sockets, self.open = list(self.open), set()
        for sock in sockets:
            _reset(sock)

    def close(self) -> None:
        self.closed = True
        self.cut()
        for sock in self.held:
            _reset(sock)
        self.listener.close()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            mode = self.mode
            if mode in ("refuse", "reset"):
                # refuse: closing at once looks like a dead port to the client (ECONNRESET /
                # ECONNREFUSED at its first read); reset sends an RST.
                _reset(client)
            elif mode == "blackhole":
                self.held.append(client)
            else:
                threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _pipe(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=2)
        except OSError:
            _reset(client)
            return
        with self.lock:
            self.open.update((client, upstream))
        pair = {client: upstream, upstream: client}
        try:
            while True:
                readable, _, _ = select.select(list(pair), [], [], 0.5)
                if self.mode != "pass" or client not in self.open:
                    break
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    pair[sock].sendall(data)
        except (OSError, ValueError):  # ValueError: select() on a socket cut() just closed
            pass
        finally:
            with self.lock:
                self.open.discard(client)
                self.open.discard(upstream)
            _reset(client)
            _reset(upstream)


def _reset(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


@pytest.fixture
def pg_proxy():
    if not service_up(PG_PORT):
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
    proxy = FaultProxy(("127.0.0.1", PG_PORT))
    yield proxy
    proxy.close()


def _pg_admin():
    import psycopg

    return psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True)


def _pg_app(tmp_path, url: str, table: str) -> Batteries:
    """An app writing pairs of rows (one batch = two rows in one transaction)."""
    import sqlalchemy as sa

    from batteries import db

    app = Batteries("faults_pg", root_path=str(tmp_path), instance_path=str(tmp_path / "i"))
    app.config.update(TESTING=True, SECRET_KEY="x" * 40, DATABASE_URL=url)
    # exceptions become responses (a 503 here), as in production
    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.logger.disabled = True
    rows = sa.table(table, sa.column("batch"), sa.column("part"))

    @app.post("/batch")
    def write_batch():
        batch = request.args["batch"]
        pause = float(request.args.get("pause", 0))
        db.session.execute(sa.insert(rows).values(batch=batch, part=1))
        if pause:
            db.session.execute(sa.text("SELECT pg_sleep(:s)"), {"s": pause})
        db.session.execute(sa.insert(rows).values(batch=batch, part=2))
        db.session.commit()
        return jsonify(batch=batch), 201

    @app.get("/count")
    def count_rows():
        return jsonify(n=db.session.execute(sa.select(sa.func.count()).select_from(rows)).scalar())

    return app


@contextlib.contextmanager
def _pg_table():
    table = f"batteries_fault_{uuid.uuid4().hex[:10]}"
    with _pg_admin() as conn:
        conn.execute(f"CREATE TABLE {table} (batch text NOT NULL, part int NOT NULL)")
    try:
        yield table
    finally:
        with _pg_admin() as conn:
            conn.execute(f"DROP TABLE IF EXISTS {table}")


def _committed(table: str) -> dict[str, list[int]]:
    with _pg_admin() as conn:
        found: dict[str, list[int]] = {}
        for batch, part in conn.execute(f"SELECT batch, part FROM {table} ORDER BY batch, part"):
            found.setdefault(batch, []).append(part)
    return found


def _bounded(fn, limit: float = 30.0):
    """Run ``fn`` in a thread; fail if it has not returned after ``limit`` seconds (a hang)."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:  # pragma: no cover - reported below
            box["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), f"request still running after {limit} s"
    if "error" in box:
        raise box["error"]
    return box["value"]


@pytest.mark.parametrize("mode", ["reset", "refuse", "blackhole"])
def test_postgres_outage_through_proxy(tmp_path, pg_proxy: FaultProxy, mode: str) -> None:
    with _pg_table() as table:
        url = (
            f"postgresql+psycopg://postgres@127.0.0.1:{pg_proxy.port}/test"
            "?connect_timeout=2&application_name=batteries-fault"
        )
        app = _pg_app(tmp_path, url, table)
        client = app.test_client()
        accepted: set[str] = set()
        statuses: list[int] = []

        def write(batch: str) -> int:
            response = _bounded(lambda: client.post(f"/batch?batch={batch}"))
            assert response.status_code in (201, 503), response.get_data()[:300]
            assert b"Traceback" not in response.get_data()
            if response.status_code == 201:
                accepted.add(batch)
            else:
                assert b"DATABASE_URL" in response.get_data()  # names the key to look at
                assert response.headers.get("Retry-After")
            statuses.append(response.status_code)
            return response.status_code

        for i in range(5):
            assert write(f"before-{i}") == 201
        pg_proxy.set_mode(mode)
        during = [write(f"during-{i}") for i in range(4)]
        assert during == [503] * 4
        json_client = client.get("/count", headers={"Accept": "application/json"})
        assert json_client.status_code == 503
        assert json_client.json["status"] == 503
        pg_proxy.set_mode("pass")
        after = [write(f"after-{i}") for i in range(5)]
        assert after == [201] * 5  # recovers by itself, first request included

        committed = _committed(table)
        assert set(committed) == accepted  # nothing accepted was lost, nothing refused was kept
        assert all(parts == [1, 2] for parts in committed.values())  # no half batch


def test_postgres_outage_with_concurrent_writers(tmp_path, pg_proxy: FaultProxy) -> None:
    """Four writers keep posting while the database goes away and comes back: the ledger holds."""
    with _pg_table() as table:
        url = (
            f"postgresql+psycopg://postgres@127.0.0.1:{pg_proxy.port}/test"
            "?connect_timeout=2&application_name=batteries-fault"
        )
        app = _pg_app(tmp_path, url, table)
        accepted: set[str] = set()
        refused: set[str] = set()
        statuses: list[int] = []
        lock = threading.Lock()
        stop = threading.Event()

        def writer(n: int) -> None:
            client = app.test_client()
            i = 0
            while not stop.is_set():
                batch = f"w{n}-{i}"
                i += 1
                response = client.post(f"/batch?batch={batch}")
                with lock:
                    statuses.append(response.status_code)
                    if response.status_code == 201:
                        accepted.add(batch)
                    else:
                        refused.add(batch)
                assert response.status_code in (201, 503), response.get_data()[:300]

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        pg_proxy.set_mode("reset")
        time.sleep(1.0)
        pg_proxy.set_mode("pass")
        time.sleep(1.5)
        stop.set()
        for thread in threads:
            thread.join(30)
            assert not thread.is_alive()
        assert 503 in statuses and statuses.count(201) > 4
        # the last requests succeeded: recovered without a restart
        client = app.test_client()
        assert client.post("/batch?batch=final").status_code == 201
        accepted.add("final")
        committed = _committed(table)
        assert accepted <= set(committed)  # every 201 was kept
        # A COMMIT whose reply was cut on its way back is in doubt: the server kept it, the
        # client got a 503. Only requests in flight at the cut (one per writer) can be so.
        in_doubt = set(committed) - accepted
        assert in_doubt <= refused
        assert len(in_doubt) <= len(threads)
        assert all(parts == [1, 2] for parts in committed.values())  # never half a batch


def test_postgres_backend_terminated_mid_transaction(tmp_path) -> None:
    if not service_up(PG_PORT):
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
    name = f"batteries-fault-{uuid.uuid4().hex[:8]}"
    with _pg_table() as table:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{PG_PORT}/test?application_name={name}"
        app = _pg_app(tmp_path, url, table)
        client = app.test_client()
        assert client.post("/batch?batch=first").status_code == 201

        def kill_soon() -> None:
            deadline = time.monotonic() + 10
            with _pg_admin() as conn:
                while time.monotonic() < deadline:
                    killed = conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = %s AND state = 'active' "
                        "AND query LIKE '%%pg_sleep%%'",
                        (name,),
                    ).fetchall()
                    if killed:
                        return
                    time.sleep(0.05)

        killer = threading.Thread(target=kill_soon)
        killer.start()
        response = _bounded(lambda: client.post("/batch?batch=killed&pause=5"))
        killer.join()
        assert response.status_code == 503
        assert b"Traceback" not in response.get_data()
        for i in range(3):
            assert client.post(f"/batch?batch=next-{i}").status_code == 201
        committed = _committed(table)
        assert set(committed) == {"first", "next-0", "next-1", "next-2"}
        assert all(parts == [1, 2] for parts in committed.values())
        from batteries import db

        with app.app_context():
            assert db.engine.pool.checkedout() == 0


# -- Redis cache stopped and started -----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """A redis-server of the test's own on a spare port (no persistence)."""

    def __init__(self, tmp_path) -> None:
        self.port = _free_port()
        self.dir = tmp_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not service_up(self.port):
            assert time.monotonic() < deadline, "private redis-server did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def private_redis(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.kill()


def _cached_report_app(tmp_path, name: str, redis_port: int):
    """An app with a Redis cache on ``redis_port`` and a cached view; returns (get, calls)."""
    from batteries import cached

    app = Batteries(name, root_path=str(tmp_path), instance_path=str(tmp_path / "i"))
    app.config.update(
        TESTING=True,
        CACHE_TYPE="redis",
        CACHE_URL=f"redis://127.0.0.1:{redis_port}/0",
        CACHE_RETRY_AFTER=0.2,
    )
    calls: list[int] = []

    @app.get("/report")
    @cached(timeout=300)
    def report():
        calls.append(1)
        return f"report {len(calls)}"

    client = app.test_client()

    def get() -> str:
        response = _bounded(lambda: client.get("/report"), 10)
        assert response.status_code == 200, response.get_data()[:300]
        return response.text

    return get, calls


def test_redis_cache_stopped_and_started(tmp_path, private_redis: PrivateRedis) -> None:
    get, calls = _cached_report_app(tmp_path, "faults_cache", private_redis.port)

    assert get() == "report 1"
    assert get() == "report 1"  # a hit
    private_redis.kill()
    down = [get() for _ in range(5)]  # misses: the view answers every time
    assert down == [f"report {n}" for n in range(2, 7)]
    private_redis.start()  # same port, empty
    time.sleep(0.3)  # past CACHE_RETRY_AFTER: the breaker lets the next call try again
    first = get()
    assert get() == first  # cached again
    assert calls.count(1) == 7


def test_redis_cache_hangs(tmp_path, private_redis: PrivateRedis) -> None:
    """A cache server that accepts and never answers (SIGSTOP-like): bounded misses, recovery."""
    proxy = FaultProxy(("127.0.0.1", private_redis.port))
    try:
        get, _ = _cached_report_app(tmp_path, "faults_hang", proxy.port)

        assert get() == get() == "report 1"
        proxy.set_mode("blackhole")
        hung = [get() for _ in range(4)]  # each call gives up on the socket timeout, or skips
        assert hung == [f"report {n}" for n in range(2, 6)]
        proxy.set_mode("pass")
        time.sleep(0.3)
        first = get()
        assert get() == first  # cached again once the server answers
    finally:
        proxy.close()


# -- broker down at enqueue --------------------------------------------------------------------


@pytest.mark.parametrize(
    "outage",
    [
        "dead-port",
        "blackhole",
    ],
)
def test_broker_down_at_enqueue(tmp_path, outage: str) -> None:
    if outage == "blackhole" and not service_up(6379):
        pytest.skip("Redis does not answer on 127.0.0.1:6379")
    proxy = FaultProxy(("127.0.0.1", 6379)) if outage == "blackhole" else None
    port = proxy.port if proxy else _free_port()
    if proxy:
        proxy.set_mode("blackhole")
    try:
        app = Batteries("faults_broker", root_path=str(tmp_path), instance_path=str(tmp_path / "i"))
        app.config.update(
            TESTING=True,
            CELERY={"broker_url": f"redis://127.0.0.1:{port}/15", "result_backend": None},
        )
        app.config["PROPAGATE_EXCEPTIONS"] = False
        app.logger.disabled = True

        @app.celery.task(shared=False)
        def add(a, b):  # pragma: no cover - never delivered
            return a + b

        @app.post("/enqueue")
        def enqueue():
            return jsonify(id=add.delay(1, 2).id), 202

        client = app.test_client()
        response = _bounded(lambda: client.post("/enqueue"), 15)
        assert response.status_code == 503, response.get_data()[:300]
        assert b"Traceback" not in response.get_data()
        assert b"broker" in response.get_data().lower()
        again = _bounded(
            lambda: client.post("/enqueue", headers={"Accept": "application/json"}), 15
        )
        assert again.status_code == 503 and again.json["status"] == 503
    finally:
        if proxy:
            proxy.close()


# -- uploads: client gone, disk full, read-only ------------------------------------------------


def _upload_app(tmp_path, folder) -> Batteries:
    from batteries.uploads import save_upload

    app = Batteries("faults_upload", root_path=str(tmp_path), instance_path=str(tmp_path / "i"))
    app.config.update(TESTING=True, UPLOAD_FOLDER=str(folder))
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.post("/up")
    def up():
        return jsonify(name=save_upload(request.files["f"])), 201

    return app


def _multipart_head(boundary: str) -> bytes:
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="f"; filename="big.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()


# A client that hangs up mid-upload: the half-received file is closed at once (no fd waits
# for the garbage collector) and nothing is kept.
def test_client_disconnects_mid_upload(tmp_path) -> None:
    from werkzeug.serving import make_server

    folder = tmp_path / "uploads"
    app = _upload_app(tmp_path, folder)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_port
        fds_before = len(os.listdir("/proc/self/fd"))
        for size in [300_000, 3_000_000] * 5:  # in memory, and spooled to a temp file
            with socket.create_connection(("127.0.0.1", port)) as sock:
                head = _multipart_head("B")
                sock.sendall(
                    b"POST /up HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: multipart/form-data; boundary=B\r\n"
                    + f"Content-Length: {size * 2}\r\n\r\n".encode()
                    + head
                    + b"x" * size
                )
                sock.shutdown(socket.SHUT_WR)
                sock.settimeout(10)
                reply = sock.recv(4096)  # the server gives up on the body, or just closes
            assert not reply or reply.split(b" ", 2)[1] in (b"400", b"408"), reply[:200]
        time.sleep(0.3)
        assert not folder.exists() or os.listdir(folder) == []  # no partial file kept
        gc.collect()
        assert len(os.listdir("/proc/self/fd")) <= fds_before + 2  # no file descriptor kept
        # the server still serves the next upload
        import urllib.request

        body = _multipart_head("B") + b"hello\r\n--B--\r\n"
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/up",
            data=body,
            headers={"Content-Type": "multipart/form-data; boundary=B"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 201
        assert len(os.listdir(folder)) == 1
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        gc.collect()  # what Werkzeug left open is closed here, under this test's filters


@contextlib.contextmanager
def _tmpfs(path, size: str = "1m"):
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_disk_full_and_read_only_upload_folder(tmp_path, caplog) -> None:
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    with _tmpfs(tmp_path / "small") as folder:
        app = _upload_app(tmp_path, folder)
        client = app.test_client()

        def upload(size: int, **headers: str):
            # encoded in memory: the test client would spool a body over 500 kB to a temp
            # file that nothing closes
            boundary, body = encode_multipart(
                {"f": FileStorage(io.BytesIO(b"y" * size), "data.txt")}
            )
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
            return client.post("/up", data=body, headers=headers)

        assert upload(10_000).status_code == 201
        kept = set(os.listdir(folder))
        caplog.clear()
        full = upload(2_000_000)
        assert full.status_code == 507, full.get_data()[:300]
        assert b"Traceback" not in full.get_data()
        assert set(os.listdir(folder)) == kept  # no partial file
        assert any("no space" in r.getMessage().lower() for r in caplog.records)
        as_json = upload(2_000_000, Accept="application/json")
        assert as_json.status_code == 507 and as_json.json["status"] == 507
        assert upload(10_000).status_code == 201  # healthy again once there is room

        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        caplog.clear()
        before = set(os.listdir(folder))
        read_only = upload(1_000)
        assert 500 <= read_only.status_code < 600, read_only.status_code
        assert b"Traceback" not in read_only.get_data()
        assert b"Nothing was kept" in read_only.get_data() or b"not" in read_only.get_data()
        assert set(os.listdir(folder)) == before
        assert any("UPLOAD_FOLDER" in r.getMessage() for r in caplog.records)

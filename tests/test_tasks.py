"""app.celery, FlaskTask, the embedded broker and the results endpoint, with real workers."""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid

import pytest
from _services import service_up
from flask import current_app

from batteries import Batteries
from batteries.signals import task_enqueued
from batteries.tasks import BrokerUnavailable, result_payload

REDIS = "redis://127.0.0.1:6379/0"
AMQP = "amqp://guest:guest@127.0.0.1:5672//"

WORKER_APP = '''
import os, json, sqlite3, time
from flask import current_app
from batteries import Batteries

app = Batteries(__name__, instance_path=os.environ["TASKS_INSTANCE"])
app.config["CELERY"] = json.loads(os.environ["TASKS_CELERY"])


def db():
    os.makedirs(current_app.instance_path, exist_ok=True)
    conn = sqlite3.connect(os.path.join(current_app.instance_path, "effects.sqlite"), timeout=30)
    conn.execute("create table if not exists effects (key text primary key, pid int)")
    conn.execute("create table if not exists starts (key text, pid int)")
    return conn


@app.celery.task
def record(key, value):
    with db() as conn:
        conn.execute("insert into effects values (?, ?)", (key, os.getpid()))
    return {"key": key, "value": value * 2, "app": current_app.name}


@app.get("/record/<key>")
def record_view(key):
    return record.delay(key, 4).get(timeout=30)


@app.celery.task
def slow_effect(key, seconds):
    with db() as conn:
        conn.execute("insert into starts values (?, ?)", (key, os.getpid()))
    time.sleep(seconds)
    with db() as conn:
        conn.execute("insert into effects values (?, ?)", (key, os.getpid()))
    return "done"
'''


def spare_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=30.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


class Project:
    """A worker app module in a temporary folder, imported here and run by worker processes."""

    def __init__(self, tmp_path, monkeypatch, celery: dict):
        self.tmp_path = tmp_path
        self.queue = f"batteries-test-{uuid.uuid4().hex[:12]}"
        self.module_name = f"tasksapp_{uuid.uuid4().hex[:8]}"
        (tmp_path / f"{self.module_name}.py").write_text(WORKER_APP)
        self.instance = tmp_path / "instance"
        celery = {"task_default_queue": self.queue, **celery}
        self.env = {
            **os.environ,
            "TASKS_INSTANCE": str(self.instance),
            "TASKS_CELERY": json.dumps(celery),
        }
        monkeypatch.setenv("TASKS_INSTANCE", self.env["TASKS_INSTANCE"])
        monkeypatch.setenv("TASKS_CELERY", self.env["TASKS_CELERY"])
        monkeypatch.syspath_prepend(str(tmp_path))
        self.module = importlib.import_module(self.module_name)
        self.app = self.module.app
        self.workers: list[subprocess.Popen] = []

    def start_worker(self) -> subprocess.Popen:
        log_path = self.tmp_path / f"worker-{len(self.workers)}.log"
        log = open(log_path, "wb")
        command = [
            sys.executable, "-m", "batteries", "--app", self.module_name, "worker",
            "-c", "1", "-P", "prefork", "--without-mingle", "--without-gossip",
            "--without-heartbeat", "-Q", self.queue, "--loglevel", "INFO",
        ]  # fmt: skip
        process = subprocess.Popen(
            command,
            cwd=self.tmp_path,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.workers.append(process)
        ready = wait_until(
            lambda: b"ready." in log_path.read_bytes() or process.poll() is not None, 60, 0.1
        )
        if not ready or process.poll() is not None:
            raise AssertionError("worker did not start:\n" + log_path.read_text()[-3000:])
        return process

    def kill_worker(self, process: subprocess.Popen) -> None:
        """SIGKILL the whole worker: its main process and its pool children."""
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(10)

    def close(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                self.kill_worker(process)
        sys.modules.pop(self.module_name, None)

    def rows(self, table: str, key: str) -> int:
        path = self.instance / "effects.sqlite"
        if not path.exists():
            return 0
        with sqlite3.connect(path, timeout=30) as conn:
            try:
                return conn.execute(f"select count(*) from {table} where key = ?", (key,)).fetchone()[0]
            except sqlite3.OperationalError:
                return 0


@pytest.fixture
def project(tmp_path, monkeypatch):
    made: list[Project] = []

    def make(**celery) -> Project:
        made.append(Project(tmp_path, monkeypatch, celery))
        return made[-1]

    yield make
    for p in made:
        p.close()


def round_trip(project: Project) -> None:
    key = uuid.uuid4().hex
    with project.app.app_context():
        result = project.module.record.delay(key, 21)
        value = result.get(timeout=30)
    assert value == {"key": key, "value": 42, "app": project.module_name}
    assert project.rows("effects", key) == 1


def killed_worker_task_runs_once(project: Project) -> None:
    """F7/F8: SIGKILL the whole worker mid-task; a new worker runs it again, exactly once."""
    running = [w for w in project.workers if w.poll() is None]
    assert len(running) == 1  # the worker of the round trip: the only one that may take it
    first = running[0]
    key = uuid.uuid4().hex
    with project.app.app_context():
        result = project.module.slow_effect.delay(key, 2)
    assert wait_until(lambda: project.rows("starts", key) == 1)
    project.kill_worker(first)
    assert project.rows("effects", key) == 0
    project.start_worker()
    with project.app.app_context():
        assert result.get(timeout=60) == "done"
    assert project.rows("starts", key) == 2
    assert project.rows("effects", key) == 1


def killed_pool_child_task_runs_once(project: Project) -> None:
    """F7: SIGKILL only the pool child running the task; the worker runs it again, once."""
    key = uuid.uuid4().hex
    with project.app.app_context():
        result = project.module.slow_effect.delay(key, 1)
    assert wait_until(lambda: project.rows("starts", key) == 1)
    with sqlite3.connect(project.instance / "effects.sqlite", timeout=30) as conn:
        (child,) = conn.execute("select pid from starts where key = ?", (key,)).fetchone()
    os.kill(child, signal.SIGKILL)
    with project.app.app_context():
        assert result.get(timeout=60) == "done"
    assert project.rows("starts", key) == 2
    assert project.rows("effects", key) == 1


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found.update(int(x) for x in f.read().split())
    return found


# -- real workers -------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="needs Linux /proc")
def test_run_with_worker_serves_and_runs_tasks(project):
    p = project()
    port = spare_port()
    log_path = p.tmp_path / "run.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "batteries", "--app", p.module_name, "run", "--debug",
             "--no-reload", "--port", str(port), "--with-worker"],  # fmt: skip
            cwd=p.tmp_path,
            env=p.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        import urllib.request

        assert wait_until(lambda: service_up(port), 60), log_path.read_text()[-2000:]
        worker_pids = children(server.pid)
        assert worker_pids
        key = uuid.uuid4().hex
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/record/{key}", timeout=60) as r:
            body = json.loads(r.read())
        assert body == {"key": key, "value": 8, "app": p.module_name}
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(20)
    # The worker goes with the server, however the server ended.
    assert wait_until(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in worker_pids), 30)


@pytest.mark.slow
def test_embedded_broker_round_trip_and_acked_rows_deleted(project):
    p = project(broker_transport_options={"visibility_timeout": 2})
    p.start_worker()
    round_trip(p)
    broker = p.instance / "celery-broker.sqlite"

    def pending():
        with sqlite3.connect(broker, timeout=30) as conn:
            return conn.execute("select count(*) from kombu_message").fetchone()[0]

    assert wait_until(lambda: pending() == 0)  # acked messages are deleted
    # A pickled message (CVE-2021-23727's class) is refused and dropped; the worker lives on.
    with p.app.app_context():
        p.app.celery.send_task(f"{p.module_name}.record", args=["pickled", 1], serializer="pickle")
    assert wait_until(lambda: pending() == 0)
    assert p.workers[0].poll() is None
    assert p.rows("effects", "pickled") == 0
    round_trip(p)
    killed_worker_task_runs_once(p)
    killed_pool_child_task_runs_once(p)


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.skipif(not service_up(6379), reason="Redis on 127.0.0.1:6379 is down")
def test_redis_broker_round_trip_and_killed_worker(project):
    prefix = f"batteries-test-{uuid.uuid4().hex[:8]}:"
    p = project(
        broker_url=REDIS,
        result_backend=REDIS,
        broker_transport_options={
            "visibility_timeout": 2,
            "global_keyprefix": prefix,
            # kombu sweeps for expired messages every interval x throttle seconds (100 s)
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
        },
    )
    try:
        p.start_worker()
        round_trip(p)
        killed_worker_task_runs_once(p)
    finally:
        import redis

        client = redis.Redis.from_url(REDIS)
        keys = list(client.scan_iter(prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.skipif(not service_up(5672), reason="RabbitMQ on 127.0.0.1:5672 is down")
def test_rabbitmq_broker_round_trip(project):
    p = project(broker_url=AMQP)
    try:
        p.start_worker()
        round_trip(p)
    finally:
        from kombu import Connection, Queue

        with Connection(AMQP, connect_timeout=2) as conn:
            Queue(p.queue, channel=conn.channel()).delete()


# -- the embedded broker without a worker --------------------------------------------------------


def test_embedded_transport_leases_and_redelivers(tmp_path):
    from kombu import Connection

    url = f"sqlite:///{tmp_path / 'broker.sqlite'}"
    options = {"polling_interval": 0.01, "visibility_timeout": 0.3, "engine_options": {}}

    def connect():
        return Connection(url, transport="batteries.broker:Transport", transport_options=options)

    with connect() as producer:
        queue = producer.SimpleQueue("q")
        queue.put({"n": 1})
        queue.put({"n": 2})
        first = queue.get(timeout=2)
        assert first.payload == {"n": 1}
        first.ack()
        taken = queue.get(timeout=2)  # taken, never acked: as if the worker died
        assert taken.payload == {"n": 2}
        taken.channel.qos._delivered.clear()  # a SIGKILL: nothing put back at close
        queue.close()
    with connect() as consumer:
        queue = consumer.SimpleQueue("q")
        again = queue.get(timeout=5)
        assert again.payload == {"n": 2}
        again.ack()
        queue.close()
    with sqlite3.connect(tmp_path / "broker.sqlite") as conn:
        assert conn.execute("select count(*) from kombu_message").fetchone()[0] == 0


def test_embedded_transport_requeues_rejected_and_drops_poison(tmp_path):
    from kombu import Connection

    url = f"sqlite:///{tmp_path / 'broker.sqlite'}"
    options = {"polling_interval": 0.01, "visibility_timeout": 0.05, "max_deliveries": 2}
    with Connection(url, transport="batteries.broker:Transport", transport_options=options) as c:
        queue = c.SimpleQueue("q")
        queue.put("x")
        message = queue.get(timeout=2)
        message.requeue()
        message = queue.get(timeout=2)  # second delivery
        assert message.payload == "x"
        message.channel.qos._delivered.clear()  # "dies" again
        time.sleep(0.1)
        with pytest.raises(queue.Empty):
            queue.get(timeout=0.3)  # delivered max_deliveries times: left alone
        queue.close()
    with sqlite3.connect(tmp_path / "broker.sqlite") as conn:
        assert conn.execute("select count(*) from kombu_message").fetchone()[0] == 1


def test_embedded_transport_a_live_consumer_keeps_its_lease(tmp_path):
    from kombu import Connection

    url = f"sqlite:///{tmp_path / 'broker.sqlite'}"
    options = {"polling_interval": 0.01, "visibility_timeout": 1.0}

    def connect():
        return Connection(url, transport="batteries.broker:Transport", transport_options=options)

    with connect() as a, connect() as b:
        queue_a = a.SimpleQueue("q")
        queue_a.consumer.qos(prefetch_count=1)  # holding one, it takes no more (a worker)
        queue_a.put("x")
        held = queue_a.get(timeout=2)
        queue_b = b.SimpleQueue("q")
        deadline = time.monotonic() + 2.5  # well past the visibility timeout
        while time.monotonic() < deadline:
            try:
                a.drain_events(timeout=0.05)  # the holder is alive: it renews its lease
            except TimeoutError:
                pass
            with pytest.raises(queue_b.Empty):
                queue_b.get(timeout=0.05)
        held.ack()
        queue_a.close()
        queue_b.close()


# -- app.celery without a worker -------------------------------------------------------------------


@pytest.fixture
def tasks_app(app):
    app.config["CELERY"] = {"task_default_queue": f"t-{uuid.uuid4().hex[:8]}"}
    return app


def test_celery_is_built_on_first_use_with_safe_defaults(tasks_app):
    assert "celery" not in tasks_app.extensions
    celery_app = tasks_app.celery
    assert tasks_app.celery is celery_app
    assert tasks_app.extensions["celery"] is celery_app
    conf = celery_app.conf
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.result_expires
    assert conf.broker_url.startswith("sqlite:///") and tasks_app.instance_path in conf.broker_url
    assert os.path.exists(os.path.join(tasks_app.instance_path, "celery-broker.sqlite"))
    with sqlite3.connect(os.path.join(tasks_app.instance_path, "celery-results.sqlite")) as conn:
        tables = {r[0] for r in conn.execute("select name from sqlite_master")}
    assert "celery_taskmeta" in tables  # created up front
    assert "CELERY" in tasks_app.config and "broker_url" not in tasks_app.config["CELERY"]


def test_users_own_celery_is_respected(app):
    from celery import Celery

    mine = Celery("mine", set_as_current=False)
    app.extensions["celery"] = mine
    assert app.celery is mine


def test_eager_fixture_runs_tasks_in_an_app_context(tasks_app, celery_eager):
    @tasks_app.celery.task
    def where(x):
        return [current_app.name, x]

    assert where.delay(3).get() == ["test_app", 3]


def test_shared_tasks_and_asyncresult_follow_the_current_app(tmp_path):
    from celery import current_app as celery_current
    from celery import shared_task

    a = Batteries("app_a", root_path=str(tmp_path), instance_path=str(tmp_path / "a"))
    b = Batteries("app_b", root_path=str(tmp_path), instance_path=str(tmp_path / "b"))
    for x in (a, b):
        x.config["CELERY"] = {"task_always_eager": True}
    celery_a, celery_b = a.celery, b.celery

    @shared_task(name=f"which-{uuid.uuid4().hex[:6]}")
    def which():
        return current_app.name

    with a.app_context():
        assert celery_current._get_current_object() is celery_a
        assert which.delay().get() == "app_a"
        with b.app_context():
            assert celery_current._get_current_object() is celery_b
            assert which.delay().get() == "app_b"
            from celery.result import AsyncResult

            assert AsyncResult("x").app is celery_b
        assert celery_current._get_current_object() is celery_a


def test_task_enqueued_signal_and_json_only(tasks_app):
    from kombu.exceptions import EncodeError

    seen = []

    def on_enqueued(sender, task_id, task_name, **extra):
        seen.append((sender, task_id, task_name))

    @tasks_app.celery.task(name="send-report")
    def send_report(x):
        return x

    task_enqueued.connect(on_enqueued)
    try:
        with tasks_app.app_context():
            result = send_report.delay(1)
            with pytest.raises(EncodeError):
                send_report.delay(object())
    finally:
        task_enqueued.disconnect(on_enqueued)
    assert seen == [(tasks_app, result.id, "send-report")]


@pytest.mark.parametrize("scheme", ["redis", "amqp"])
@pytest.mark.timeout(30)
def test_broker_down_at_enqueue_is_a_clear_error(app, scheme):
    port = spare_port()
    app.config["CELERY"] = {
        "broker_url": f"{scheme}://guest:secret@127.0.0.1:{port}/",
        "result_backend": "cache+memory://",
    }

    @app.celery.task(name="nowhere", shared=False)
    def nowhere():
        return 1

    with app.app_context(), pytest.raises(BrokerUnavailable) as info:
        nowhere.delay()
    message = info.value.description
    assert "CELERY['broker_url']" in message and "nowhere" in message
    assert "secret" not in message
    assert info.value.code == 503


def test_task_results_endpoint(tasks_app):
    tasks_app.config["CELERY"]["task_store_eager_result"] = True
    tasks_app.config["CELERY"]["task_always_eager"] = True
    tasks_app.task_results("/tasks/<id>")

    @tasks_app.celery.task
    def double(x):
        return x * 2

    @tasks_app.celery.task
    def broken():
        raise ValueError("the disk is full")

    client = tasks_app.test_client()
    with tasks_app.app_context():
        ok = double.delay(21)
        bad = broken.apply()
        tasks_app.celery.backend.store_result("in-progress", {"done": 3, "total": 10}, "PROGRESS")
    body = client.get(f"/tasks/{ok.id}").json
    assert body == {
        "id": ok.id, "state": "SUCCESS", "ready": True, "successful": True,
        "value": 42, "progress": None,
    }  # fmt: skip
    failed = client.get(f"/tasks/{bad.id}")
    assert failed.status_code == 200
    assert failed.json["ready"] and not failed.json["successful"]
    assert failed.json["error"] == {"type": "ValueError", "message": "the disk is full"}
    assert "Traceback" not in failed.text and "raise" not in failed.text
    progress = client.get("/tasks/in-progress").json
    assert progress["state"] == "PROGRESS" and progress["progress"] == {"done": 3, "total": 10}
    assert not progress["ready"]
    unknown = client.get("/tasks/no-such-task").json
    assert unknown["state"] == "PENDING" and unknown["ready"] is False
    assert client.get("/tasks/" + "x" * 300).status_code == 404
    assert client.get(f"/tasks/{ok.id}").headers["Cache-Control"] == "no-store"


def test_result_payload_of_a_revoked_task():
    class Revoked:
        id = "r"
        state = "REVOKED"
        info = None

    assert result_payload(Revoked())["error"] == {"type": "Revoked", "message": ""}


def test_worker_and_beat_commands_are_registered():
    from batteries.cli import cli

    assert cli.commands["worker"].context_settings["ignore_unknown_options"]
    assert "beat" in cli.commands
    assert any(p.name == "with_worker" for p in cli.commands["run"].params)


@pytest.mark.timeout(30)
def test_results_endpoint_with_the_result_backend_down(app):
    # Celery is built inside the request here (through current_app), and the backend is dead.
    dead = f"redis://127.0.0.1:{spare_port()}/0"
    app.config["CELERY"] = {"broker_url": dead, "result_backend": dead}
    app.task_results("/tasks/<task_id>")
    response = app.test_client().get("/tasks/abc")
    assert response.status_code == 200
    assert response.json["state"] == "UNKNOWN" and response.json["ready"] is False

"""Worker processes for the task tests (``from _workers import Project, ...``).

A :class:`Project` writes a small Batteries app with tasks into a temporary folder, imports it
in the test's process (to send tasks) and runs ``batteries worker`` processes on it. Used by
``test_tasks.py`` (brokers and results) and ``test_broker.py`` (the embedded broker).
"""

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


def project_fixture(tmp_path, monkeypatch):
    """The body of a ``project`` fixture: yields a function making :class:`Project` objects."""
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

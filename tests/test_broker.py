"""The embedded broker and result store (``batteries.broker``): kombu transport, leases,
private files, tenants, tables made up front; with real worker processes."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import time

import pytest
from _workers import (
    killed_pool_child_task_runs_once,
    killed_worker_task_runs_once,
    project_fixture,
    round_trip,
    wait_until,
)

from batteries import Batteries
from batteries.state import set_identity

project = pytest.fixture(project_fixture)

TRANSPORT = "batteries.broker:Transport"


def connect(url: str, **options):
    from kombu import Connection

    return Connection(url, transport=TRANSPORT, transport_options=options)


def count(path, where: str = "1=1") -> int:
    with sqlite3.connect(path, timeout=30) as conn:
        return conn.execute(f"select count(*) from batteries_message where {where}").fetchone()[0]


# -- with a real worker ---------------------------------------------------------------------------


@pytest.mark.slow
def test_embedded_broker_round_trip_and_acked_rows_deleted(project):
    p = project(broker_transport_options={"visibility_timeout": 2})
    p.start_worker()
    round_trip(p)
    broker = p.instance / "celery-broker.sqlite"

    def pending():
        with sqlite3.connect(broker, timeout=30) as conn:
            return conn.execute("select count(*) from batteries_message").fetchone()[0]

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


# -- the transport without a worker ------------------------------------------------------------


def test_embedded_transport_leases_and_redelivers(tmp_path):
    path = tmp_path / "broker.sqlite"
    url = f"sqlite:///{path}"
    with connect(url, polling_interval=0.01, visibility_timeout=60, engine_options={}) as producer:
        queue = producer.SimpleQueue("q")
        queue.put({"n": 1})
        queue.put({"n": 2})
        first = queue.get(timeout=2)
        assert first.payload == {"n": 1}
        first.ack()
        taken = queue.get(timeout=2)  # taken, never acked: as if the worker died
        assert taken.payload == {"n": 2}
        taken.channel.do_restore = False  # a SIGKILL: nothing put back at close
        queue.close()
    now = time.time()
    assert count(path) == 1  # the acked row is gone
    assert count(path, f"deliveries = 1 and visible_at > {now + 50}") == 1  # leased for 60 s
    with connect(url, polling_interval=0.01) as consumer:
        queue = consumer.SimpleQueue("q")
        with pytest.raises(queue.Empty):
            queue.get(timeout=0.2)  # the lease holds
        with sqlite3.connect(path) as db:  # the lease ends (as 60 s later)
            db.execute("update batteries_message set visible_at = ?", (now - 1,))
        again = queue.get(timeout=5)
        assert again.payload == {"n": 2}
        assert count(path, "deliveries = 2") == 1
        again.ack()
        queue.close()
    assert count(path) == 0


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
        message.channel.do_restore = False  # "dies" again
        time.sleep(0.1)
        with pytest.raises(queue.Empty):
            queue.get(timeout=0.3)  # delivered max_deliveries times: left alone
        queue.close()
    with sqlite3.connect(tmp_path / "broker.sqlite") as conn:
        assert conn.execute("select count(*) from batteries_message").fetchone()[0] == 1


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


def test_no_ack_consumers_take_rows_away_and_purge_size_delete(tmp_path):
    path = tmp_path / "broker.sqlite"
    with connect(f"sqlite:///{path}", polling_interval=0.01) as conn:
        queue = conn.SimpleQueue("q", no_ack=True)
        queue.put("a")
        queue.put("b")
        queue.put("c")
        assert queue.qsize() == 3
        assert queue.get(timeout=2).payload == "a"  # no ack will come: the row goes now
        assert count(path) == 2
        assert queue.qsize() == 2
        assert queue.clear() == 2
        assert count(path) == 0 and queue.qsize() == 0
        queue.close()
        held = conn.SimpleQueue("held")
        held.put("x")
        taken = held.get(timeout=2)
        assert held.clear() == 0  # a message held by a consumer is not purged
        taken.ack()
        held.close()
    assert count(path) == 0


def test_own_table_and_no_kombu_sqlalchemy_models(tmp_path):
    path = tmp_path / "broker.sqlite"
    with connect(f"sqlite:///{path}") as conn:
        conn.SimpleQueue("q").put("x")
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
        columns = {r[1] for r in db.execute("pragma table_info(batteries_message)")}
    assert tables == {"batteries_message"}
    assert {"visible_at", "deliveries", "queue", "payload"} <= columns
    assert "kombu.transport.sqlalchemy" not in sys.modules


# -- files: private, made up front, per tenant ------------------------------------------------------


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_broker_and_result_files_are_private(tmp_path):
    old = os.umask(0o022)
    os.chmod(tmp_path, 0o755)
    try:
        app = Batteries("private", root_path=str(tmp_path), instance_path=str(tmp_path / "a" / "i"))
        app.config["CELERY"] = {"task_default_queue": "private"}

        @app.celery.task(name="private.add", shared=False)
        def add(a, b):
            return a + b

        with app.app_context():
            add.delay(1, 2)
            app.celery.backend.store_result("done", 3, "SUCCESS")
        instance = tmp_path / "a" / "i"
        readers = []  # open readers keep the -wal and -shm files (the last close removes them)
        for name in ("broker", "results"):
            readers.append(sqlite3.connect(instance / f"celery-{name}.sqlite"))
            readers[-1].execute("select count(*) from sqlite_master").fetchone()
            for suffix in ("", "-wal", "-shm"):
                path = instance / f"celery-{name}.sqlite{suffix}"
                assert path.exists(), path
                assert mode(path) == 0o600, (path, oct(mode(path)))
        for reader in readers:
            reader.close()
        assert mode(instance) == 0o700 and mode(tmp_path / "a") == 0o700
        assert mode(tmp_path) == 0o755  # a folder Batteries did not make is left alone
    finally:
        os.umask(old)


def test_files_made_on_first_use_are_private_too(tmp_path):
    import celery  # noqa: F401 - imported: a context push builds app.celery without its files

    app = Batteries("lazy", root_path=str(tmp_path), instance_path=str(tmp_path / "lazy"))
    app.config["CELERY"] = {"task_default_queue": "lazy"}
    with app.app_context():
        celery_app = app.extensions["celery"]  # built by the push, no file made yet
        assert not (tmp_path / "lazy").exists()
        celery_app.send_task("lazy.anything")
        celery_app.backend.store_result("lazy-id", 1, "SUCCESS")
    for name in ("broker", "results"):
        path = tmp_path / "lazy" / f"celery-{name}.sqlite"
        assert mode(path) == 0o600
        with sqlite3.connect(path) as db:
            assert db.execute("pragma journal_mode").fetchone()[0] == "wal"
    assert mode(tmp_path / "lazy") == 0o700


TWO_STARTS = """
import os, sys, time
from batteries import Batteries
app = Batteries("together", root_path=sys.argv[1], instance_path=sys.argv[2])
app.config["CELERY"] = {"task_default_queue": "together"}
while time.time() < float(sys.argv[3]):
    time.sleep(0.001)
app.celery  # builds it: files and tables made up front
print(sorted(m for m in sys.modules if m.startswith("kombu.transport.")))
"""


def test_two_processes_starting_together_make_the_tables_once(tmp_path):
    instance = tmp_path / "instance"
    start = time.time() + 1.5  # both wait for this moment, then build app.celery
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", TWO_STARTS, str(tmp_path), str(instance), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60) for p in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err[-2000:]
        assert "kombu.transport.sqlalchemy" not in out
    assert count(instance / "celery-broker.sqlite") == 0
    with sqlite3.connect(instance / "celery-results.sqlite") as db:
        tables = {r[0] for r in db.execute("select name from sqlite_master")}
    assert "celery_taskmeta" in tables


def test_dispatched_tenants_sharing_an_instance_folder_never_share_tasks(tmp_path):
    instance = tmp_path / "shared"
    tenants = {}
    for key in ("acme", "globex", "a/b"):
        app = Batteries("tenant", root_path=str(tmp_path), instance_path=str(instance))
        app.config["CELERY"] = {"task_default_queue": "celery"}
        set_identity(app, key)
        tenants[key] = app
    urls = {key: app.celery.conf.broker_url for key, app in tenants.items()}
    results = {key: str(app.celery.backend.url) for key, app in tenants.items()}
    assert len(set(urls.values())) == 3 and len(set(results.values())) == 3
    assert urls["acme"].endswith("/celery-broker-acme.sqlite")
    assert results["globex"].endswith("/celery-results-globex.sqlite")
    assert "/" not in urls["a/b"].rsplit("/", 1)[1].removeprefix("celery-broker-")
    acme, globex = tenants["acme"], tenants["globex"]

    @acme.celery.task(name="tenant.work", shared=False)
    def work_acme():
        return "acme"

    with acme.app_context():
        sent = work_acme.delay()
        acme.celery.backend.store_result(sent.id, "acme's secret", "SUCCESS")
    assert count(instance / "celery-broker-acme.sqlite") == 1
    assert count(instance / "celery-broker-globex.sqlite") == 0
    with globex.app_context():
        assert globex.celery.AsyncResult(sent.id).state == "PENDING"  # not acme's result
    # an app made by hand keeps the plain names
    plain = Batteries("plain", root_path=str(tmp_path), instance_path=str(instance))
    assert plain.celery.conf.broker_url.endswith("/celery-broker.sqlite")


def test_expired_results_are_cleaned_up(tmp_path):
    app = Batteries("cleanup", root_path=str(tmp_path), instance_path=str(tmp_path / "i"))
    app.config["CELERY"] = {"result_expires": 60}
    backend = app.celery.backend
    backend.store_result("old", 1, "SUCCESS")
    with sqlite3.connect(tmp_path / "i" / "celery-results.sqlite", timeout=30) as db:
        db.execute("update celery_taskmeta set date_done = '2000-01-01 00:00:00'")
    backend.cleanup_every = 0.0  # clean up on the next store
    backend.store_result("new", 2, "SUCCESS")
    with sqlite3.connect(tmp_path / "i" / "celery-results.sqlite", timeout=30) as db:
        ids = {r[0] for r in db.execute("select task_id from celery_taskmeta")}
    assert ids == {"new"}

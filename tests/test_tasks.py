"""app.celery, FlaskTask, binding Celery's current app, the results endpoint, with real workers
(the embedded broker's own tests are in ``test_broker.py``)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import uuid

import pytest
from _services import service_up
from _workers import (
    AMQP,
    REDIS,
    children,
    killed_worker_task_runs_once,
    project_fixture,
    round_trip,
    spare_port,
    wait_until,
)
from flask import Flask, current_app

from batteries import Batteries
from batteries.signals import task_enqueued
from batteries.tasks import BrokerUnavailable, get_celery

project = pytest.fixture(project_fixture)


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


# -- app.celery without a worker -------------------------------------------------------------------


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


def test_the_threads_current_celery_is_restored_at_teardown(tmp_path):
    import threading

    from celery import Celery
    from celery import current_app as celery_current

    app = Batteries("restore", root_path=str(tmp_path), instance_path=str(tmp_path / "i"))
    app.config["CELERY"] = {"task_always_eager": True}
    seen = {}

    def in_a_thread():  # a new thread: no Celery app is current for it
        ours = app.celery
        seen["outside"] = celery_current.main
        with app.app_context():
            seen["inside"] = celery_current._get_current_object() is ours
        # None again: a Celery app built later (the default) is what this thread sees
        later = Celery("built-later", set_as_current=False)
        later.set_default()
        seen["after"] = celery_current.main
        theirs = Celery("theirs")  # set_as_current=True: the thread's current app
        with app.app_context():
            seen["inside again"] = celery_current._get_current_object() is ours
        seen["theirs again"] = celery_current._get_current_object() is theirs
        ours.set_default()

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert seen == {
        "outside": "restore", "inside": True, "after": "built-later",
        "inside again": True, "theirs again": True,
    }  # fmt: skip


def test_celery_built_inside_a_context_is_bound_for_the_rest_of_it(tmp_path):
    from celery import current_app as celery_current

    plain = Flask("plain_flask", root_path=str(tmp_path), instance_path=str(tmp_path / "p"))
    plain.config["CELERY"] = {"task_always_eager": True}
    with plain.app_context():
        celery_app = get_celery(current_app)  # the proxy works too
        assert celery_app is get_celery(plain)
        assert celery_current._get_current_object() is celery_app
        with plain.app_context():  # a plain Flask app is connected once its Celery is built
            assert celery_current._get_current_object() is celery_app
        assert celery_current._get_current_object() is celery_app


def test_results_poll_the_embedded_backend_quickly(tasks_app):
    import threading

    from celery.exceptions import TimeoutError

    from batteries.broker import QuickResult

    celery_app = tasks_app.celery
    result = celery_app.AsyncResult("later")
    assert isinstance(result, QuickResult)
    with pytest.raises(TimeoutError):
        result.get(timeout=0.05)
    timer = threading.Timer(0.1, celery_app.backend.store_result, ("later", 42, "SUCCESS"))
    timer.start()
    try:
        assert result.get(timeout=10) == 42
    finally:
        timer.join()
    celery_app.backend.store_result("failed", ValueError("no"), "FAILURE")
    with pytest.raises(ValueError, match="no"):
        celery_app.AsyncResult("failed").get(timeout=10)
    assert isinstance(celery_app.AsyncResult("failed").get(propagate=False), ValueError)


def test_other_result_backends_keep_celerys_results(app):
    from batteries.broker import QuickResult

    app.config["CELERY"] = {"result_backend": "cache+memory://"}
    assert not isinstance(app.celery.AsyncResult("x"), QuickResult)


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
    assert "127.0.0.1" not in message  # visitors see no address outside debug (#18)
    assert info.value.code == 503
    app.debug = True
    with app.app_context(), pytest.raises(BrokerUnavailable) as info:
        nowhere.delay()
    assert f"127.0.0.1:{port}" in info.value.description and "secret" not in info.value.description


def test_worker_and_beat_commands_are_registered():
    from batteries.cli import cli

    assert cli.commands["worker"].context_settings["ignore_unknown_options"]
    assert "beat" in cli.commands
    assert any(p.name == "with_worker" for p in cli.commands["run"].params)


BIND_ON_IMPORT = r"""
import sys
from flask import appcontext_pushed
from batteries import Batteries

app = Batteries("bind_on_import", instance_path=sys.argv[1])
app.get("/")(lambda: "ok")


@app.get("/ping")
def call_ping():
    from celery import current_app

    return {"same": current_app._get_current_object() is app.celery}


client = app.test_client()
client.get("/")
assert "celery" not in sys.modules
assert not appcontext_pushed.receivers  # no signal paid per context while Celery is absent
from celery import current_app  # a module with tasks is imported later

assert client.get("/ping").json == {"same": True}  # the first context after the import
with app.app_context():
    assert current_app._get_current_object() is app.celery
print("ok")
"""


def test_the_celery_binding_starts_when_celery_is_imported(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", BIND_ON_IMPORT, str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"

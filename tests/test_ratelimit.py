"""@rate_limit: counts, headers, keys, stores (memory, SQLite, Redis), outages, real workers.

The stores themselves, called directly: ``tests/test_counters.py``.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import pytest
from _services import service_up

from batteries import Batteries, login_user
from batteries.app import DEPLOY_CHECKS
from batteries.checks import run
from batteries.ratelimit import rate_limit

REDIS = "redis://127.0.0.1:6379/0"
needs_redis = pytest.mark.skipif(not service_up(6379), reason="Redis is not running")


def spare_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def limited_app(app, limits="3/minute", **options):
    @app.route("/hit", methods=["GET", "POST"])
    @rate_limit(limits, **options)
    def hit():
        return "ok"

    return app


def test_over_the_limit_is_429_with_headers(app):
    client = limited_app(app, "3/minute; 100/day").test_client()
    first = client.get("/hit")
    assert first.status_code == 200
    assert first.headers["RateLimit-Policy"] == (
        '"3-per-1-minute";q=3;w=60, "100-per-1-day";q=100;w=86400'
    )
    assert first.headers["RateLimit"] == '"3-per-1-minute";r=2;t=60'
    assert [client.get("/hit").status_code for _ in range(2)] == [200, 200]
    over = client.get("/hit")
    assert over.status_code == 429
    assert 55 <= int(over.headers["Retry-After"]) <= 60
    assert over.headers["RateLimit"].startswith('"3-per-1-minute";r=0;t=')
    assert "RateLimit-Policy" in over.headers
    assert over.mimetype == "text/html" and "Too many requests" in over.text
    as_json = client.get("/hit", headers={"Accept": "application/json"})
    assert as_json.status_code == 429 and as_json.json["status"] == 429
    assert "try again in" in as_json.json["message"] and "Retry-After" in as_json.headers


def test_window_ends(app, monkeypatch):
    client = limited_app(app, "2/minute").test_client()
    assert [client.get("/hit").status_code for _ in range(3)] == [200, 200, 429]
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 61)
    assert client.get("/hit").status_code == 200


def test_methods_and_scope(app):
    @app.route("/login", methods=["GET", "POST"])
    @rate_limit("2/minute", methods=["post"], scope="auth")
    def login():
        return "login"

    @app.post("/reset")
    @rate_limit("2/minute", scope="auth")
    def reset():
        return "reset"

    client = app.test_client()
    assert all(client.get("/login").status_code == 200 for _ in range(5))  # GET not counted
    assert client.post("/login").status_code == 200
    assert client.post("/reset").status_code == 200
    assert client.post("/login").status_code == 429  # the two views share their counts


def test_keys_user_callable_and_trusted_proxies(app):
    class User:
        def __init__(self, uid):
            self.uid = uid

        def get_id(self):
            return self.uid

    app.user_loader(lambda uid: User(uid))

    @app.post("/as/<uid>")
    def as_user(uid):
        login_user(User(uid))
        return "in"

    @app.get("/per-user")
    @rate_limit("1/minute", key="user")
    def per_user():
        return "ok"

    @app.get("/per-team/<team>")
    @rate_limit("1/minute", key=lambda: __import__("flask").request.view_args["team"] or None)
    def per_team(team):
        return "ok"

    limited_app(app, "1/minute")
    ann, bob = app.test_client(), app.test_client()
    ann.post("/as/ann")
    bob.post("/as/bob")
    assert ann.get("/per-user").status_code == 200
    assert bob.get("/per-user").status_code == 200  # same address, another user
    assert ann.get("/per-user").status_code == 429
    anonymous = app.test_client()
    assert anonymous.get("/per-user").status_code == 200  # anonymous: by address
    assert anonymous.get("/per-user").status_code == 429
    assert ann.get("/per-team/red").status_code == 200
    assert ann.get("/per-team/blue").status_code == 200
    assert bob.get("/per-team/red").status_code == 429

    client = app.test_client()
    assert client.get("/hit", headers={"X-Forwarded-For": "1.1.1.1"}).status_code == 200
    # TRUSTED_PROXIES = 0: a forged X-Forwarded-For does not give a fresh count.
    assert client.get("/hit", headers={"X-Forwarded-For": "2.2.2.2"}).status_code == 429
    app.config["TRUSTED_PROXIES"] = 1
    for address in ("3.3.3.3", "9.9.9.9, 4.4.4.4"):
        assert client.get("/hit", headers={"X-Forwarded-For": address}).status_code == 200
    # With one proxy, only the address it appended counts: the client's own claim is ignored.
    assert client.get("/hit", headers={"X-Forwarded-For": "5.5.5.5, 4.4.4.4"}).status_code == 429


def test_bad_arguments_fail_at_decoration():
    for bad in ("5/fortnight", "", "five per minute", "5/minute;;"):
        with pytest.raises(ValueError, match="not a list of limits"):
            rate_limit(bad)
    with pytest.raises(ValueError, match="key must be"):
        rate_limit("1/minute", key="session")
    rate_limit("10 per 30 seconds, 2/second|5 per hour")


def test_sqlite_default_shared_between_apps_and_private(tmp_path):
    def make():
        app = Batteries("rl", root_path=str(tmp_path), instance_path=str(tmp_path / "instance"))
        return limited_app(app, "3/minute")

    first, second = make().test_client(), make().test_client()  # as two worker processes
    assert first.get("/hit").status_code == 200
    assert second.get("/hit").status_code == 200
    assert first.get("/hit").status_code == 200
    assert second.get("/hit").status_code == 429
    path = tmp_path / "instance" / "ratelimit.sqlite"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_sqlite_damaged_file_is_made_anew(tmp_path, caplog):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "ratelimit.sqlite").write_bytes(b"this is no database " * 400)
    app = Batteries("rl", root_path=str(tmp_path), instance_path=str(instance))
    client = limited_app(app, "2/minute").test_client()
    with caplog.at_level(logging.WARNING, logger="batteries.ratelimit"):
        assert [client.get("/hit").status_code for _ in range(3)] == [200, 200, 429]
    assert "damaged" in caplog.text
    assert stat.S_IMODE((instance / "ratelimit.sqlite").stat().st_mode) == 0o600


def test_sqlite_down_fails_open_with_a_warning_or_closed(tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the instance folder should be")
    app = Batteries("rl", root_path=str(tmp_path), instance_path=str(blocker))

    @app.get("/closed")
    @rate_limit("1/minute", fail_open=False)
    def closed():
        return "ok"

    client = limited_app(app, "1/minute").test_client()
    with caplog.at_level(logging.WARNING, logger="batteries.ratelimit"):
        assert [client.get("/hit").status_code for _ in range(3)] == [200, 200, 200]
    assert len([r for r in caplog.records if "RATELIMIT_URL" in r.getMessage()]) == 1
    down = client.get("/closed", headers={"Accept": "application/json"})
    assert down.status_code == 503 and "RATELIMIT_URL" in down.json["message"]


def test_redis_down_fails_open(app, caplog):
    app.config["RATELIMIT_URL"] = f"redis://:hunter2@127.0.0.1:{spare_port()}/0"
    client = limited_app(app, "1/minute").test_client()
    with caplog.at_level(logging.WARNING, logger="batteries.ratelimit"):
        assert [client.get("/hit").status_code for _ in range(2)] == [200, 200]
    assert "RATELIMIT_URL" in caplog.text and "***" in caplog.text
    assert "hunter2" not in caplog.text


@needs_redis
def test_redis_counts(app):
    app.config["RATELIMIT_URL"] = REDIS
    scope = f"test-{uuid.uuid4().hex}"
    client = limited_app(app, "2/minute", scope=scope).test_client()
    assert [client.get("/hit").status_code for _ in range(3)] == [200, 200, 429]
    again = client.get("/hit")
    assert 55 <= int(again.headers["Retry-After"]) <= 60


def on_store(app, store):
    """``app`` counting on ``store``: memory, SQLite in its instance folder, or Redis."""
    if store == "sqlite":
        app.config["TESTING"] = False  # TESTING alone picks memory:
    else:
        app.config["RATELIMIT_URL"] = REDIS if store == "redis" else "memory:"
    return app


STORES = ["memory", "sqlite", pytest.param("redis", marks=needs_redis)]


@pytest.mark.parametrize("store", STORES)
@pytest.mark.parametrize(
    ("limits", "first", "retry_after"),
    [
        # The first limit reached is the minute, whichever order they are written in ...
        ("2/minute; 3/hour", '"2-per-1-minute";r=1;t=60', (55, 60)),
        ("3/hour; 2/minute", '"2-per-1-minute";r=1;t=60', (55, 60)),
        # ... or the hour: the store counted both and gave each its own window.
        ("2/hour; 3/minute", '"2-per-1-hour";r=1;t=3600', (3590, 3600)),
    ],
)
def test_several_limits_are_counted_together(app, store, limits, first, retry_after):
    client = limited_app(on_store(app, store), limits, scope=uuid.uuid4().hex).test_client()
    answer = client.get("/hit")
    assert answer.status_code == 200 and answer.headers["RateLimit"] == first
    policy = ", ".join(
        f'"{n}-per-1-{unit}";q={n};w={60 if unit == "minute" else 3600}'
        for n, unit in (part.strip().split("/") for part in limits.split(";"))
    )
    assert answer.headers["RateLimit-Policy"] == policy
    assert client.get("/hit").status_code == 200
    over = client.get("/hit")
    assert over.status_code == 429
    assert retry_after[0] <= int(over.headers["Retry-After"]) <= retry_after[1]
    assert over.headers["RateLimit"].startswith(first.partition(";")[0] + ";r=0;")


@pytest.mark.parametrize("store", STORES)
def test_a_limit_written_twice_counts_once(app, store):
    limited_app(on_store(app, store), "2/minute; 2 per minute", scope=uuid.uuid4().hex)
    client = app.test_client()
    answers = [client.get("/hit") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].headers["RateLimit-Policy"] == '"2-per-1-minute";q=2;w=60'


def test_sqlite_windows_end_and_old_ones_are_swept(app, monkeypatch):
    on_store(app, "sqlite")

    @app.get("/other")
    @rate_limit("1/minute")
    def other():
        return "ok"

    client = limited_app(app, "2/minute; 3/hour").test_client()
    assert [client.get("/hit").status_code for _ in range(3)] == [200, 200, 429]
    assert client.get("/other").status_code == 200
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 61)
    # A new minute, but the hour's count goes on (4 > 3).
    assert client.get("/hit").status_code == 429
    monkeypatch.setattr(time, "time", lambda: now + 3601)
    assert client.get("/hit").status_code == 200
    # The windows of /other have ended: the next count of this process deletes them.
    db = sqlite3.connect(os.path.join(app.instance_path, "ratelimit.sqlite"))
    try:
        keys = [key for (key,) in db.execute("SELECT key FROM counts")]
    finally:
        db.close()
    assert len(keys) == 2 and not [key for key in keys if "/other/" in key], keys


@needs_redis
def test_redis_connection_closed_by_the_server_is_opened_again(app, caplog):
    import redis

    on_store(app, "redis")
    admin = redis.Redis.from_url(REDIS)
    before = {c["id"] for c in admin.client_list()}
    client = limited_app(app, "2/minute", scope=uuid.uuid4().hex).test_client()
    assert client.get("/hit").status_code == 200
    ours = [c for c in admin.client_list() if c["id"] not in before and "eval" in c["cmd"]]
    assert len(ours) == 1, ours
    admin.client_kill_filter(_id=ours[0]["id"])  # as a Redis restart or its idle timeout would
    with caplog.at_level(logging.WARNING, logger="batteries.ratelimit"):
        # Counted on a new connection: not let through uncounted.
        assert [client.get("/hit").status_code for _ in range(2)] == [200, 429]
    assert "not counted" not in caplog.text


def test_unknown_store_is_named(app):
    app.config["RATELIMIT_URL"] = "etcd://x"
    client = limited_app(app).test_client()
    with pytest.raises(ValueError, match="RATELIMIT_URL"):
        client.get("/hit")


def test_deploy_check_finds_an_unlimited_login(tmp_path):
    from flask import Blueprint

    app = Batteries("rl", root_path=str(tmp_path), instance_path=str(tmp_path / "i"))
    bp = Blueprint("auth", __name__)

    @bp.route("/login", methods=["GET", "POST"])
    def login():
        return "login"

    @bp.route("/signin", methods=["POST"])
    @rate_limit("5/minute")
    def signin():
        return "signin"

    app.register_blueprint(bp)
    [problem] = [p for p in run(app, DEPLOY_CHECKS) if p.id == "batteries.W032"]
    assert "'auth.login'" in problem.message

    app2 = Batteries("rl2", root_path=str(tmp_path), instance_path=str(tmp_path / "i2"))
    app2.config["LOGIN_VIEW"] = "signin"
    app2.add_url_rule("/signin", view_func=signin, methods=["POST"])
    assert not [p for p in run(app2, DEPLOY_CHECKS) if p.id == "batteries.W032"]


# -- two real gunicorn workers ----------------------------------------------------------------

GUNICORN_APP = """
import os
from batteries import Batteries
from batteries.ratelimit import rate_limit

app = Batteries(__name__, instance_path=os.environ["RL_INSTANCE"])
if os.environ.get("RL_URL"):
    app.config["RATELIMIT_URL"] = os.environ["RL_URL"]

@app.get("/hit")
@rate_limit("10/minute", scope=os.environ["RL_SCOPE"])
def hit():
    return str(os.getpid())
"""


def _exactly_ten(tmp_path, url: str | None) -> None:
    port = spare_port()
    (tmp_path / "rlapp.py").write_text(GUNICORN_APP)
    env = {**os.environ, "RL_INSTANCE": str(tmp_path / "instance"),
           "RL_SCOPE": uuid.uuid4().hex, "RL_URL": url or ""}  # fmt: skip
    log = open(tmp_path / "gunicorn.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "rlapp:app"],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    log.close()
    try:
        deadline = time.monotonic() + 60
        while (tmp_path / "gunicorn.log").read_text().count("Booting worker") < 2:
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        while not service_up(port):
            time.sleep(0.1)

        def get(_):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/hit", timeout=30) as r:
                    return r.status, r.read().decode()
            except urllib.error.HTTPError as error:
                return error.code, ""

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(get, range(16)))
        statuses = sorted(status for status, _ in answers)
        assert statuses == [200] * 10 + [429] * 6, statuses
    finally:
        server.terminate()
        server.wait(30)


@pytest.mark.slow
def test_two_gunicorn_workers_sqlite_exactly_ten(tmp_path):
    _exactly_ten(tmp_path, None)


@pytest.mark.slow
@needs_redis
def test_two_gunicorn_workers_redis_exactly_ten(tmp_path):
    _exactly_ten(tmp_path, REDIS)

"""batteries.cache: backends, memoize, the filesystem cache, fail-open Redis (``@cached`` is in
test_viewcache.py)."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid

import pytest
from _services import service_up

from batteries import Batteries, cache, cached
from batteries.caching import SafeCache, get_cache
from batteries.config import ConfigError

REDIS_URL = "redis://127.0.0.1:6379/0"


def spare_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def simple_app(app):
    app.config["CACHE_TYPE"] = "simple"
    return app


def counted_view(app, rule="/page", **options):
    calls = {"n": 0}

    @app.route(rule, methods=["GET", "HEAD", "POST"], endpoint=f"v{uuid.uuid4().hex[:8]}")
    @cached(**options)
    def view():
        calls["n"] += 1
        return f"body {calls['n']}"

    return calls


# -- the cache object ---------------------------------------------------------------------------


def test_default_is_filesystem_in_instance_folder_and_config_untouched(app):
    assert not any(key.startswith("CACHE_") for key in app.config)
    with app.app_context():
        assert cache.set("k", {"a": 1})
        assert cache.get("k") == {"a": 1}
        store = get_cache(app)
    assert store.name == "filesystem " + os.path.join(app.instance_path, "cache")
    assert store.prefix == "test_app:"
    assert os.listdir(os.path.join(app.instance_path, "cache"))
    assert not any(key.startswith("CACHE_") for key in app.config)


def test_filesystem_cache_is_shared_between_app_instances_of_one_project(tmp_path):
    def make():
        a = Batteries("proj", root_path=str(tmp_path), instance_path=str(tmp_path / "inst"))
        return a

    first, second = make(), make()  # as two gunicorn workers would
    with first.app_context():
        cache.set("shared", 42)
    with second.app_context():
        assert cache.get("shared") == 42
    other = Batteries("other", root_path=str(tmp_path), instance_path=str(tmp_path / "inst"))
    with other.app_context():
        assert cache.get("shared") is None  # its own key prefix


def test_simple_cache_operations(simple_app):
    with simple_app.app_context():
        assert cache.get("missing") is None
        assert cache.set("a", 1)
        assert cache.add("a", 2) is False
        assert cache.has("a")
        assert cache.get_many("a", "b") == [1, None]
        cache.set_many({"b": 2, "c": 3})
        assert cache.get_dict("b", "c") == {"b": 2, "c": 3}
        assert cache.inc("n") == 1 and cache.inc("n", 5) == 6
        assert cache.delete("a")
        assert cache.get("a") is None
        assert cache.clear()
        assert cache.get("b") is None


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("null", "null"),
        ("NullCache", "null"),
        ("SimpleCache", "simple"),
        ("flask_caching.backends.SimpleCache", "simple"),
        ("FileSystemCache", "filesystem"),
        ("filesystem", "filesystem"),
    ],
)
def test_flask_caching_spellings(app, setting, expected):
    app.config["CACHE_TYPE"] = setting
    store = get_cache(app)
    assert store.name.startswith(expected)


def test_flask_caching_cache_dir(app, tmp_path):
    app.config.update(CACHE_TYPE="FileSystemCache", CACHE_DIR=str(tmp_path / "fc"))
    with app.app_context():
        cache.set("x", 1)
    assert os.listdir(tmp_path / "fc")


def test_unknown_cache_type_is_a_clear_error(app):
    app.config["CACHE_TYPE"] = "mongo"
    with app.app_context(), pytest.raises(ConfigError, match="CACHE_TYPE 'mongo'"):
        cache.get("x")


def test_null_cache_never_stores(app):
    app.config["CACHE_TYPE"] = "null"
    with app.app_context():
        cache.set("x", 1)
        assert cache.get("x") is None


def test_two_apps_have_separate_caches(tmp_path):
    a = Batteries("a", root_path=str(tmp_path), instance_path=str(tmp_path / "a"))
    b = Batteries("b", root_path=str(tmp_path), instance_path=str(tmp_path / "b"))
    for x in (a, b):
        x.config["CACHE_TYPE"] = "simple"
    with a.app_context():
        cache.set("k", "from a")
        with b.app_context():
            assert cache.get("k") is None
            cache.set("k", "from b")
        assert cache.get("k") == "from a"
    assert get_cache(a) is not get_cache(b)


def test_memoize_and_delete_memoized(simple_app):
    calls = []

    @cache.memoize(timeout=60)
    def square(n, *, offset=0):
        calls.append(n)
        return n * n + offset if n else None

    with simple_app.app_context():
        assert square(3) == 9 and square(3) == 9
        assert square(3, offset=1) == 10
        assert square(0) is None and square(0) is None  # None is cached too
        assert calls == [3, 3, 0]
        cache.delete_memoized(square, 3)
        assert square(3) == 9 and calls == [3, 3, 0, 3]
        assert square(3, offset=1) == 10 and len(calls) == 4
        cache.delete_memoized(square)
        square(3)
        square(3, offset=1)
        assert len(calls) == 6
        with pytest.raises(TypeError, match="not decorated"):
            cache.delete_memoized(len)


def test_cache_clear_command(app):
    from batteries.cli import cli

    with app.app_context():
        cache.set("x", 1)
    result = app.test_cli_runner().invoke(cli, ["cache", "clear"])
    assert result.exit_code == 0, result.output
    assert "Cleared the cache" in result.output
    with app.app_context():
        assert cache.get("x") is None


# -- Redis ----------------------------------------------------------------------------------------


needs_redis = pytest.mark.skipif(not service_up(6379), reason="Redis on 127.0.0.1:6379 is down")


@pytest.fixture
def redis_app(app):
    prefix = f"batteries-test-{uuid.uuid4().hex}:"
    app.config.update(CACHE_TYPE="redis", CACHE_URL=REDIS_URL, CACHE_KEY_PREFIX=prefix)
    yield app
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.mark.services
@needs_redis
def test_redis_cache_and_clear_keep_to_their_prefix(redis_app):
    import redis

    raw = redis.Redis.from_url(REDIS_URL)
    outsider = f"batteries-test-outsider-{uuid.uuid4().hex}"
    raw.set(outsider, "x", ex=60)
    try:
        calls = counted_view(redis_app)
        client = redis_app.test_client()
        assert client.get("/page").text == "body 1"
        assert client.get("/page").text == "body 1"
        with redis_app.app_context():
            cache.set("n", 5)
            assert cache.inc("n") == 6
            assert cache.clear()
            assert cache.get("n") is None
        assert raw.get(outsider) == b"x"
        assert calls["n"] == 1
    finally:
        raw.delete(outsider)
        raw.close()


@pytest.mark.services
@needs_redis
def test_flask_caching_redis_spelling(app):
    prefix = f"batteries-test-{uuid.uuid4().hex}:"
    app.config.update(CACHE_TYPE="RedisCache", CACHE_REDIS_URL=REDIS_URL, CACHE_KEY_PREFIX=prefix)
    with app.app_context():
        assert cache.set("k", [1, 2])
        assert cache.get("k") == [1, 2]
        cache.delete("k")


def test_dead_redis_degrades_to_misses_and_logs_once(app, caplog):
    app.config.update(CACHE_TYPE="redis", CACHE_URL=f"redis://127.0.0.1:{spare_port()}/0")
    calls = counted_view(app)
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="batteries.caching"):
        bodies = [client.get("/page").text for _ in range(5)]
        with app.app_context():
            assert cache.set("x", 1) is False
            assert cache.get_many("a", "b") == [None, None]
            assert cache.has("x") is False
            store = get_cache(app)
    assert bodies == [f"body {n}" for n in range(1, 6)]
    assert calls["n"] == 5
    assert store.failures == 1  # the breaker kept later calls from dialling
    warnings = [r for r in caplog.records if r.name == "batteries.caching"]
    assert len(warnings) == 1
    assert "unavailable" in warnings[0].getMessage()


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of our own on a spare port: ours to kill, stop and restart."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = spare_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", str(tmp_path)]

    class Server:
        process: subprocess.Popen | None = None

        def start(self):
            self.process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            deadline = time.monotonic() + 10
            while not service_up(port):
                if time.monotonic() > deadline:
                    raise RuntimeError("private redis-server did not start")
                time.sleep(0.02)

        def kill(self):
            self.process.kill()
            self.process.wait()

    server = Server()
    server.port = port
    server.start()
    yield server
    if server.process.poll() is None:
        os.kill(server.process.pid, signal.SIGCONT)
        server.kill()


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.services
def test_redis_killed_then_restarted_recovers(app, private_redis, caplog):
    app.config.update(
        CACHE_TYPE="redis",
        CACHE_URL=f"redis://127.0.0.1:{private_redis.port}/0",
        CACHE_RETRY_AFTER=0.2,
    )
    calls = counted_view(app)
    client = app.test_client()
    assert client.get("/page").text == "body 1"
    assert client.get("/page").text == "body 1"
    private_redis.kill()
    with caplog.at_level(logging.INFO, logger="batteries.caching"):
        assert client.get("/page").text == "body 2"  # served, uncached
        assert client.get("/page").text == "body 3"
        private_redis.start()  # empty: the old entry is gone
        with app.app_context():
            assert wait_until(lambda: cache.set("probe", 1))
        assert client.get("/page").text == "body 4"
        assert client.get("/page").text == "body 4"  # cached again
    messages = [r.getMessage() for r in caplog.records if r.name == "batteries.caching"]
    assert any("unavailable" in m for m in messages)
    assert any("is back" in m for m in messages)
    assert calls["n"] == 4


@pytest.mark.services
def test_hung_redis_is_skipped_then_recovers(app, private_redis):
    app.config.update(
        CACHE_TYPE="redis",
        CACHE_URL=f"redis://127.0.0.1:{private_redis.port}/0",
        CACHE_RETRY_AFTER=0.2,
    )
    with app.app_context():
        assert cache.set("k", "v")
        os.kill(private_redis.process.pid, signal.SIGSTOP)
        try:
            assert cache.get("k") is None  # the 0.5 s socket timeout, then a miss
            store: SafeCache = cache._get_current_object()
            assert not store.available
            assert cache.get("k") is None  # breaker open: not dialled
            assert store.failures == 1
        finally:
            os.kill(private_redis.process.pid, signal.SIGCONT)
        assert wait_until(lambda: cache.get("k") == "v")


def test_a_full_filesystem_cache_prunes_in_bulk(app):
    app.config["CACHE_OPTIONS"] = {"threshold": 20}
    folder = os.path.join(app.instance_path, "cache")
    with app.app_context():
        for n in range(22):  # the set after the count passed the threshold prunes
            cache.set(f"k{n}", n)
        # down to 80% of the threshold at once (+ the new entry)
        assert len(os.listdir(folder)) <= 16 + 1
        assert cache.get("k21") == 21  # the newest entries are kept
        for n in range(22, 25):
            cache.set(f"k{n}", n)
        assert len(os.listdir(folder)) <= 21  # no pruning needed for a while


def test_corrupt_filesystem_entries_are_misses_and_rewritten(app):
    calls = counted_view(app)
    client = app.test_client()
    assert client.get("/page").text == "body 1"
    folder = os.path.join(app.instance_path, "cache")
    for name in os.listdir(folder):
        with open(os.path.join(folder, name), "wb") as f:
            f.write(os.urandom(64))
    assert client.get("/page").status_code == 200  # F13: a corrupt entry is a miss
    assert client.get("/page").text == "body 2"  # ... rewritten, then served again
    assert calls["n"] == 2


def test_flask_caching_alongside(app):
    from flask_caching import Cache

    fc = Cache(app, config={"CACHE_TYPE": "SimpleCache"})
    assert not any(key.startswith("CACHE_") for key in app.config)  # Batteries wrote none
    theirs = {"n": 0}

    @app.get("/theirs")
    @fc.cached(timeout=30)
    def their_view():
        theirs["n"] += 1
        return str(theirs["n"])

    ours = counted_view(app, "/ours")
    client = app.test_client()
    assert [client.get("/theirs").text for _ in range(2)] == ["1", "1"]
    assert [client.get("/ours").text for _ in range(2)] == ["body 1", "body 1"]
    assert ours["n"] == 1
    assert app.extensions["cache"][fc] is not get_cache(app).backend

"""batteries.counters: the rate-limit stores, called directly (``hit(keys, seconds)``).

Through ``@rate_limit`` (windows, outages, real workers): ``tests/test_ratelimit.py``.
"""

from __future__ import annotations

import os
import stat
import time
import uuid

import pytest
from _services import service_up

from batteries.counters import MemoryStore, RedisStore, SQLiteStore, make_store

REDIS = "redis://127.0.0.1:6379/0"
needs_redis = pytest.mark.skipif(not service_up(6379), reason="Redis is not running")


def stores(tmp_path):
    found = [MemoryStore(), SQLiteStore(str(tmp_path / "counts.sqlite"))]
    if service_up(6379):
        found.append(RedisStore(REDIS))
    return found


def test_each_store_counts_keys_together_with_their_windows(tmp_path):
    for store in stores(tmp_path):
        a, b = uuid.uuid4().hex, uuid.uuid4().hex
        before = time.time()
        first = store.hit([a, b], [60, 3600])
        second = store.hit([b, a], [3600, 60])
        assert [count for count, _ in first] == [1, 1], store
        assert [count for count, _ in second] == [2, 2], store  # in the order asked
        for (_, reset), seconds in zip(first, (60, 3600), strict=True):
            assert before + seconds - 1 <= reset <= time.time() + seconds + 1, store


def test_sqlite_store_window_restarts_and_file_is_private(tmp_path, monkeypatch):
    path = tmp_path / "deep" / "counts.sqlite"
    store = SQLiteStore(str(path))
    assert [store.hit(["k"], [60])[0][0] for _ in range(3)] == [1, 2, 3]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 61)
    count, reset = store.hit(["k"], [60])[0]
    assert count == 1 and reset == pytest.approx(now + 121, abs=1)


def test_make_store_by_url(tmp_path):
    assert isinstance(make_store("memory:"), MemoryStore)
    assert isinstance(make_store(f"sqlite://{tmp_path}/c.sqlite"), SQLiteStore)
    assert isinstance(make_store("redis://127.0.0.1:6379/0"), RedisStore)
    with pytest.raises(ValueError, match="RATELIMIT_URL"):
        make_store("etcd://x")


@needs_redis
def test_redis_loads_its_script_when_the_server_lacks_it():
    import redis

    class Fresh(RedisStore):  # a script this server has never seen, as after a restart
        SCRIPT = RedisStore.SCRIPT + f" -- {uuid.uuid4().hex}"

    store = Fresh(REDIS)
    admin = redis.Redis.from_url(REDIS)
    assert admin.script_exists(store.sha.decode()) == [False]
    key = uuid.uuid4().hex
    assert [store.hit([key], [60])[0][0] for _ in range(2)] == [1, 2]
    assert admin.script_exists(store.sha.decode()) == [True]
    assert 0 < admin.pttl(RedisStore.KEY_PREFIX + key) <= 60_000

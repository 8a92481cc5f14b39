"""``batteries.filecache.FileCache``: the filesystem cache on public API only."""

from __future__ import annotations

import multiprocessing
import os
import stat
import threading
import time

import pytest

from batteries.filecache import FileCache


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_basic_operations(tmp_path):
    cache = FileCache(str(tmp_path / "c"))
    assert cache.get("k") is None and not cache.has("k")
    assert cache.set("k", {"a": [1, 2]})
    assert cache.get("k") == {"a": [1, 2]} and cache.has("k")
    assert cache.add("k", "other") is False
    assert cache.add("new", None) and cache.has("new") and cache.get("new") is None
    assert cache.get_many("k", "missing") == [{"a": [1, 2]}, None]
    assert cache.set_many({"x": 1, "y": 2}) == ["x", "y"]
    assert cache.inc("x") == 2 and cache.dec("y", 2) == 0
    assert cache.delete("x") and not cache.delete("x")
    assert cache.delete_many("y", "nothing") == ["y", "nothing"]
    assert cache.clear() and cache.get("k") is None


def test_files_and_folder_are_private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        folder = tmp_path / "deep" / "cache"
        cache = FileCache(str(folder))
        cache.set("k", "secret")
    finally:
        os.umask(old)
    assert mode_of(folder) == 0o700  # issue 13 #11
    (entry,) = os.listdir(folder)
    assert mode_of(folder / entry) == 0o600


def test_expiry_and_forever(tmp_path, monkeypatch):
    cache = FileCache(str(tmp_path), default_timeout=10)
    cache.set("short", 1)
    cache.set("forever", 2, timeout=0)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 11)
    assert cache.get("short") is None and not cache.has("short")
    assert cache.get("forever") == 2
    assert cache.add("short", 3)  # an expired entry does not block add
    assert cache.get("short") == 3


def test_corrupt_and_foreign_files_are_misses_and_removed(tmp_path):
    cache = FileCache(str(tmp_path))
    cache.set("a", 1)
    cache.set("b", 2)
    with open(cache.path_for("a"), "wb") as f:
        f.write(os.urandom(64))
    with open(cache.path_for("b"), "wb") as f:
        f.write(b"")
    assert cache.get("a") is None and cache.get("b") is None
    assert not os.path.exists(cache.path_for("a"))
    assert cache.set("a", 5) and cache.get("a") == 5


def test_threshold_prunes_in_bulk_expired_and_soonest_first(tmp_path):
    cache = FileCache(str(tmp_path), threshold=10)
    for n in range(5):
        cache.set(f"keep{n}", n, timeout=0)
    for n in range(6):
        cache.set(f"soon{n}", n, timeout=100 + n)
    assert len(os.listdir(tmp_path)) <= 8 + 1  # pruned to 80% of the threshold
    assert all(cache.get(f"keep{n}") == n for n in range(5))  # never-expiring entries last
    assert cache.get("soon5") == 5 and cache.get("soon0") is None


def test_no_threshold_means_no_limit(tmp_path):
    cache = FileCache(str(tmp_path), threshold=0)
    for n in range(30):
        cache.set(f"k{n}", n)
    assert len(os.listdir(tmp_path)) == 30


def test_leftover_temporary_files_go_at_the_next_prune(tmp_path):
    cache = FileCache(str(tmp_path), threshold=2)
    leftover = tmp_path / ".tmp-crashed"
    leftover.write_bytes(b"half an entry")
    old = time.time() - 3600
    os.utime(leftover, (old, old))
    fresh = tmp_path / ".tmp-writing"
    fresh.write_bytes(b"being written")
    for n in range(4):
        cache.set(f"k{n}", n)
    assert not leftover.exists() and fresh.exists()
    assert cache.get("k3") == 3


def test_the_folder_comes_back_when_removed(tmp_path):
    folder = tmp_path / "c"
    cache = FileCache(str(folder))
    os.rmdir(folder)
    assert cache.set("k", 1) and cache.get("k") == 1


def test_an_existing_folder_keeps_its_mode(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    FileCache(str(folder)).set("k", 1)
    assert mode_of(folder) == 0o755


def test_threads_see_whole_entries_only(tmp_path):
    cache = FileCache(str(tmp_path), threshold=50)
    big = [b"x" * 50_000, b"y" * 50_000]
    errors: list[object] = []

    def writer(n: int) -> None:
        for i in range(200):
            cache.set(f"k{i % 60}", big[(i + n) % 2])

    def reader() -> None:
        for i in range(400):
            found = cache.get(f"k{i % 60}")
            if found is not None and found not in big:
                errors.append(found)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    threads += [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len([n for n in os.listdir(tmp_path) if not n.startswith(".")]) <= 60


def _add_in_process(folder: str, key: str, results) -> None:
    results.put(FileCache(folder).add(key, os.getpid()))


def test_add_is_atomic_across_processes(tmp_path):
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [
        context.Process(target=_add_in_process, args=(str(tmp_path), "lock", results))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    won = [results.get(timeout=10) for _ in workers]
    assert won.count(True) == 1
    assert FileCache(str(tmp_path)).get("lock") in {w.pid for w in workers}


@pytest.mark.parametrize("mode", [0o640])
def test_mode_option(tmp_path, mode):
    cache = FileCache(str(tmp_path / "c"), mode=mode)
    cache.set("k", 1)
    assert mode_of(cache.path_for("k")) == mode

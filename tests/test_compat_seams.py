"""Each touch of a dependency's non-public API (``batteries._compat``) tested on its own.

A test here fails loudly when Flask, Werkzeug, Celery, kombu or cachelib changes what the touch
relies on, so the break shows in this file rather than as a wrong behaviour somewhere else.
"""

from __future__ import annotations

# -- Flask -----------------------------------------------------------------------------------


# -- Werkzeug --------------------------------------------------------------------------------


# -- Celery and kombu ------------------------------------------------------------------------


# -- cachelib, SQLite, others ----------------------------------------------------------------


def test_cachelib_base_cache_builds_its_many_methods_on_get_set_delete() -> None:
    """``batteries.filecache.FileCache`` implements get/set/add/delete/has/clear only and relies
    on ``cachelib.BaseCache``'s public ``get_many``/``set_many``/``inc``/``dec`` calling them."""
    from cachelib import BaseCache

    calls: list[str] = []

    class Recording(BaseCache):
        store: dict[str, object] = {}

        def get(self, key):
            calls.append("get")
            return self.store.get(key)

        def set(self, key, value, timeout=None):
            calls.append("set")
            self.store[key] = value
            return True

    cache = Recording()
    assert cache.set_many({"a": 1}) == ["a"]
    assert cache.get_many("a", "b") == [1, None]
    assert cache.inc("a") == 2
    assert calls == ["set", "get", "get", "get", "set"]

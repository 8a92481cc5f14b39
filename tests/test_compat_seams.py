"""Each touch of a dependency's non-public API (``batteries._compat``) tested on its own.

A test here fails loudly when Flask, Werkzeug, Celery, kombu or cachelib changes what the touch
relies on, so the break shows in this file rather than as a wrong behaviour somewhere else.
"""

from __future__ import annotations

# -- Flask -----------------------------------------------------------------------------------


# -- Werkzeug --------------------------------------------------------------------------------


# -- Celery and kombu ------------------------------------------------------------------------


def test_celery_thread_app_reads_what_set_current_writes():
    from celery import Celery

    from batteries import _compat

    before = _compat.celery_thread_app()
    mine = Celery("seam-read", set_as_current=False)
    try:
        mine.set_current()
        assert _compat.celery_thread_app() is mine
    finally:
        if before is None:
            _compat.clear_celery_thread_app()
        else:
            before.set_current()  # type: ignore[attr-defined]
    assert _compat.celery_thread_app() is before


def test_clear_celery_thread_app_falls_back_to_the_default_app():
    import threading

    from celery import Celery, current_app

    from batteries import _compat

    seen = {}

    def in_a_thread():  # a thread of its own: the test's thread state is left alone
        previous_default = current_app._get_current_object()  # a new thread: the default app
        default = Celery("seam-default", set_as_current=False)
        default.set_default()
        current = Celery("seam-current", set_as_current=False)
        current.set_current()
        seen["set"] = current_app.main
        _compat.clear_celery_thread_app()
        seen["cleared"] = _compat.celery_thread_app()
        seen["falls back"] = current_app.main
        previous_default.set_default()

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert seen == {"set": "seam-current", "cleared": None, "falls back": "seam-default"}


# -- cachelib, SQLite, others ----------------------------------------------------------------

"""Every touch of a dependency's non-public API, one function each (DESIGN rule 8).

Batteries meets Flask, Werkzeug, Celery, kombu and cachelib through their public APIs. Where a
behaviour has no public door, the touch lives here, alone, with a test in
``tests/test_compat_seams.py`` that fails loudly when the library changes it, and with the same
behaviour on Flask 3.1 and Flask ``main``. Nothing else in ``src/batteries`` reads a private
name of another library.
"""

from __future__ import annotations

# -- Flask -----------------------------------------------------------------------------------


# -- Werkzeug --------------------------------------------------------------------------------


# -- Celery and kombu ------------------------------------------------------------------------
#
# Celery's public API can make an app current for a thread (``Celery.set_current()``) but
# cannot say which app a thread had made current, nor clear it again (``celery.current_app``
# falls back to the default app, so it cannot tell "none" from "the default"). Binding an app's
# Celery for one Flask app context and restoring the thread's state at teardown needs both.


def celery_thread_app() -> object:
    """The Celery app made current for this thread, or None (Celery's default app applies).

    Reads ``celery._state._tls.current_app``, where ``Celery.set_current()`` writes.
    """
    from celery import _state

    return _state._tls.current_app


def clear_celery_thread_app() -> None:
    """Make no Celery app current for this thread: ``celery.current_app`` is the default app.

    Calls ``celery._state._set_current_app(None)`` (what ``Celery.set_current()`` calls).
    """
    from celery import _state

    _state._set_current_app(None)


# -- cachelib, SQLite, others ----------------------------------------------------------------

"""One app-context teardown for the data batteries, registered when a database is first used.

Each ``teardown_appcontext`` function costs every request something (Flask calls it through
``ensure_sync``), also in apps that never touch a database. So ``batteries.db`` and
``batteries.sqlite`` share one: when either opens something in an app context it registers its
clean-up with :func:`on_teardown`, and :func:`run` calls those (last registered first) when the
context ends. :func:`run` joins the app's teardown functions the first time one of its contexts
opens something, at the front of the list (so it runs after the app's own teardown functions,
which may still use the session); an app that never opens a database never pays for it.
"""

from __future__ import annotations

import logging
import threading
import typing as t
from dataclasses import dataclass

from flask import current_app, g, has_app_context

from .state import state_of

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

#: the ``g`` attribute holding the current context's clean-ups (Batteries' own name)
KEY = "_batteries_data_teardown"
logger = logging.getLogger("batteries.sqla")


@dataclass
class TeardownState:
    registered: bool = False


_lock = threading.Lock()


def init_app(app: Flask) -> None:
    """Register :func:`run` with ``app`` (once; it is also done on first use by
    :func:`on_teardown`). Safe after the first request."""
    state = state_of(app, TeardownState)
    if state.registered:
        return
    with _lock:
        if state.registered:
            return
        # Not app.teardown_appcontext(): this may run after the first request. A new list, not
        # an insert: a thread tearing a context down may be iterating the old one right now.
        app.teardown_appcontext_funcs = [run, *app.teardown_appcontext_funcs]
        state.registered = True


def on_teardown(
    callback: t.Callable[[BaseException | None], None],
    namespace: dict[str, t.Any] | None = None,
    app: Flask | None = None,
) -> None:
    """Call ``callback(exc)`` when the current app context ends (needs an app context).

    ``namespace`` (the ``__dict__`` of the context's ``g``) and ``app`` save looking them up
    again when the caller has them. A context that opens something for the first time in its
    app's life registers :func:`run` first; opened while the context is being torn down (by a
    teardown function), that first clean-up waits for garbage collection.
    """
    if namespace is None:
        namespace = g._get_current_object().__dict__  # type: ignore[attr-defined]
    callbacks: list[t.Callable[[BaseException | None], None]] | None = namespace.get(KEY)
    if callbacks is None:
        callbacks = namespace[KEY] = []
        init_app(app if app is not None else current_app._get_current_object())  # type: ignore[attr-defined]
    callbacks.append(callback)


def run(exc: BaseException | None) -> None:
    if not has_app_context():
        return
    namespace = g._get_current_object().__dict__  # type: ignore[attr-defined]
    callbacks = namespace.pop(KEY, None)
    if callbacks:
        for callback in reversed(callbacks):
            try:
                callback(exc)
            except Exception:  # one failed clean-up must not stop the others
                logger.exception("a database clean-up at app context teardown failed")

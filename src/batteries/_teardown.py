"""One app-context teardown for the data batteries, doing nothing when no database was used.

Each ``teardown_appcontext`` function costs every request something (Flask calls it through
``ensure_sync``), also in apps that never touch a database. So ``batteries.db`` and
``batteries.sqlite`` share one: when either opens something in an app context it registers its
clean-up with :func:`on_teardown`, and :func:`run` calls those (last registered first) when the
context ends. A context that opened nothing costs one dictionary lookup.
"""

from __future__ import annotations

import logging
import typing as t

from flask.globals import _cv_app

from .state import get_state

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

KEY = "_batteries_data_teardown"
logger = logging.getLogger("batteries.sqla")


def init_app(app: Flask) -> None:
    """Register :func:`run` once per app."""
    state: t.Any = get_state(app)
    if getattr(state, "data_teardown", False):
        return
    state.data_teardown = True
    app.teardown_appcontext(run)


def on_teardown(callback: t.Callable[[BaseException | None], None]) -> None:
    """Call ``callback(exc)`` when the current app context ends."""
    ctx = _cv_app.get()
    ctx.g.__dict__.setdefault(KEY, []).append(callback)


def run(exc: BaseException | None) -> None:
    ctx = _cv_app.get(None)
    if ctx is None:
        return
    callbacks = ctx.g.__dict__.pop(KEY, None)
    if callbacks:
        for callback in reversed(callbacks):
            try:
                callback(exc)
            except Exception:  # one failed clean-up must not stop the others
                logger.exception("a database clean-up at app context teardown failed")

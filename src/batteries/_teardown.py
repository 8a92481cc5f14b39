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
from dataclasses import dataclass

from flask import g, has_app_context

from .state import state_of

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

#: the ``g`` attribute holding the current context's clean-ups (Batteries' own name)
KEY = "_batteries_data_teardown"
logger = logging.getLogger("batteries.sqla")


@dataclass
class TeardownState:
    registered: bool = False


def init_app(app: Flask) -> None:
    """Register :func:`run` once per app."""
    state = state_of(app, TeardownState)
    if state.registered:
        return
    state.registered = True
    app.teardown_appcontext(run)


def on_teardown(callback: t.Callable[[BaseException | None], None]) -> None:
    """Call ``callback(exc)`` when the current app context ends (needs an app context)."""
    g.__dict__.setdefault(KEY, []).append(callback)


def run(exc: BaseException | None) -> None:
    if not has_app_context():
        return
    callbacks = g.__dict__.pop(KEY, None)
    if callbacks:
        for callback in reversed(callbacks):
            try:
                callback(exc)
            except Exception:  # one failed clean-up must not stop the others
                logger.exception("a database clean-up at app context teardown failed")

"""Per-app state of the batteries, kept in ``app.extensions["batteries"]``.

Each battery keeps what it builds for one app (an engine, a cache, a Celery app...) as an
attribute here, never on a module-level object, so several apps in one process (tests,
dispatching) never share state.
"""

from __future__ import annotations

import typing as t

EXTENSION_KEY = "batteries"

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask


class State:
    """A namespace of per-app battery state. Attributes are added by the batteries."""

    def __repr__(self) -> str:
        return f"<batteries state {sorted(vars(self))}>"


def get_state(app: Flask) -> State:
    """The app's battery state, created when missing (a plain Flask app gets one too)."""
    state = app.extensions.get(EXTENSION_KEY)
    if state is None:
        state = app.extensions[EXTENSION_KEY] = State()
    return state  # type: ignore[no-any-return]

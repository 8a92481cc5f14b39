"""Per-app state of the batteries, kept in ``app.extensions["batteries"]``.

Each battery keeps what it builds for one app (an engine, a cache, a Celery app...) in a typed
state object of its own, never on a module-level object, so several apps in one process (tests,
dispatching) never share state::

    @dataclass
    class CacheState:
        cache: SafeCache | None = None

    state = state_of(app, CacheState)   # created empty on first use, one per app
    state.cache = build_cache(app)

A battery never reads another battery's state class: it calls that battery's public function.
"""

from __future__ import annotations

import typing as t

EXTENSION_KEY = "batteries"

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

T = t.TypeVar("T")


class State:
    """The state objects of one app's batteries, one per state class."""

    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: dict[type, t.Any] = {}

    def part(self, cls: type[T]) -> T:
        """The app's instance of ``cls``, made with ``cls()`` on first use."""
        try:
            return t.cast(T, self.parts[cls])
        except KeyError:
            made = self.parts[cls] = cls()
            return made

    def __repr__(self) -> str:
        return f"<batteries state {sorted(c.__name__ for c in self.parts)}>"


def get_state(app: Flask) -> State:
    """The app's battery state, created when missing (a plain Flask app gets one too)."""
    state = app.extensions.get(EXTENSION_KEY)
    if state is None:
        state = app.extensions[EXTENSION_KEY] = State()
    return t.cast(State, state)


def state_of(app: Flask, cls: type[T]) -> T:
    """The state object of class ``cls`` for ``app`` (see the module docstring).

    Batteries call this on every request: once the object exists it is two ``dict.get`` calls in
    one call.
    """
    state = app.extensions.get(EXTENSION_KEY)
    if state is not None:
        found = state.parts.get(cls)
        if found is not None:
            return found  # type: ignore[no-any-return]
    return get_state(app).part(cls)


class _Identity:
    """Which tenant an app serves, when a dispatcher made it (see :func:`app_identity`)."""

    def __init__(self) -> None:
        self.key = ""


def set_identity(app: Flask, key: str) -> None:
    """Mark ``app`` as the app of tenant ``key`` (called by :mod:`batteries.dispatch`)."""
    state_of(app, _Identity).key = key


def app_identity(app: Flask) -> str:
    """The tenant key a dispatcher gave ``app``, or ``""`` for an app made by hand.

    Per-app stores (cache keys, the embedded broker's and database's files when tenants share
    an instance folder) include it, so tenants made from one factory never share entries.
    """
    found = get_state(app).parts.get(_Identity)
    return found.key if found is not None else ""

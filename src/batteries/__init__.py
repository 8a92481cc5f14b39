"""Batteries: Flask with every pattern of "Patterns for Flask" built in.

Write ``app = Batteries(__name__)`` where you wrote ``app = Flask(__name__)``.

``import batteries`` is cheap: SQLAlchemy, WTForms and Celery are imported only when something
that needs them is first used (``batteries.db``, a form, ``app.celery``).
"""

from __future__ import annotations

import importlib
import typing as t

from .app import Batteries
from .auth import current_user, login_required, login_user, logout_user
from .caching import cache
from .deferred import call_after_response
from .flashing import flash
from .lazy import LazyView
from .scaffold import Blueprint
from .templating import templated
from .viewcache import cached
from .wrappers import Request

__version__ = "0.1.0.dev0"

# Names resolved on first access, so ``import batteries`` stays light.
_LAZY: dict[str, tuple[str, str]] = {
    "db": (".sqla", "db"),
}


def __getattr__(name: str) -> t.Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'batteries' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module_name, __name__), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Batteries",
    "Blueprint",
    "LazyView",
    "Request",
    "cache",
    "cached",
    "call_after_response",
    "current_user",
    "db",
    "flash",
    "login_required",
    "login_user",
    "logout_user",
    "templated",
]

"""Lazily loaded views and a URL map that builds its URL builders on first use.

Replaces Flask's "Lazily Loading Views" pattern. Two costs make a big app slow to start:

1. importing every view module (and what they import) before the first request;
2. registering each rule: Werkzeug compiles two URL-builder functions per rule (Python source
   generated, ``compile``\\d and ``exec``\\d) when the rule is added — about 90% of what
   ``add_url_rule`` costs, ~0.5 ms a rule.

:class:`LazyView` fixes the first: it stands in for a view function and imports the real one on
the first request that needs it. :class:`LazyRule` (``Batteries.url_rule_class``) fixes the second
for every rule of a Batteries app, lazy or not: the builders are compiled on the first
``url_for`` that needs that rule. Converter errors (an unknown converter, bad arguments) are
still raised by ``add_url_rule``, because the rule is parsed as before.

Example::

    app = Batteries(__name__)
    app.lazy_url(".views.index", "/")                    # endpoint "index"
    app.lazy_url("myapp.views.user", ["/u/<int:id>", "/user/<int:id>"], methods=["GET", "POST"])

    with app.test_request_context():
        url_for("index")        # works before myapp.views is imported

A view module that cannot be imported answers 500 on its first request, with an error in the
log that names the import path; ``batteries routes --check`` imports every lazy view so CI
catches a typo before users do.

Config: none.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import typing as t

from ._compat import DeferredBuilderRule

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

__all__ = ["LazyRule", "LazyView", "LazyViewError", "check_lazy_views", "resolve_import_name"]


class LazyViewError(ImportError):
    """The view behind a :class:`LazyView` could not be imported (the message names its path)."""


class LazyRule(DeferredBuilderRule):
    """A Werkzeug ``Rule`` whose URL builders are compiled on the first ``url_for`` for it.

    Parsing, converters and matching are unchanged; only the two builder functions Werkzeug
    generates per rule wait until they are needed. Set as ``Batteries.url_rule_class``. (Werkzeug
    has no public door for this: the touch is ``batteries._compat.DeferredBuilderRule``.)
    """


def _package_of(import_name: str) -> str | None:
    """The package that a relative view name is resolved against, for an app or blueprint."""
    module = sys.modules.get(import_name)
    if module is not None:
        if hasattr(module, "__path__"):
            return import_name
        return getattr(module, "__package__", None) or None
    if import_name == "__main__":
        return None
    # Not imported (an app made with a made-up name, say): treat the name as the package.
    return import_name


def resolve_import_name(import_name: str, owner_import_name: str | None = None) -> str:
    """``import_name`` made absolute; a leading dot is relative to ``owner_import_name``'s package.

    >>> resolve_import_name(".views.index", "shop")
    'shop.views.index'
    """
    if not isinstance(import_name, str) or not import_name.strip(". :"):
        raise ValueError(f"a lazy view needs an import path such as 'pkg.views.index', got {import_name!r}")
    if not import_name.startswith("."):
        return import_name
    package = _package_of(owner_import_name) if owner_import_name else None
    if not package:
        raise ValueError(
            f"cannot resolve the relative view path {import_name!r}: "
            f"{owner_import_name or 'its owner'!r} is not in a package. "
            "Use an absolute path such as 'myapp.views.index'."
        )
    try:
        return importlib.util.resolve_name(import_name, package)
    except ImportError as e:  # too many leading dots
        raise ValueError(f"cannot resolve the relative view path {import_name!r}: {e}") from None


def _split(import_name: str) -> tuple[str, str]:
    if ":" in import_name:
        module, _, attr = import_name.partition(":")
    else:
        module, _, attr = import_name.rpartition(".")
    if not module or not attr:
        raise ValueError(
            f"a lazy view path names a module and a view in it, such as 'pkg.views.index' "
            f"or 'pkg.views:index'; got {import_name!r}"
        )
    return module, attr


class LazyView:
    """A stand-in for a view function that imports the real one when first called.

    ``LazyView("myapp.views.index")`` (or ``"myapp.views:index"``; a leading dot is relative to
    ``package``). Its ``__name__`` is the view's name, so it gives the endpoint like a function.
    Two LazyViews for the same path are equal, so registering one path twice is not an endpoint
    collision. It has no ``__getattr__``: Flask probes a view for ``methods`` when a rule is added,
    and that must not import the module (pass ``methods=`` to the rule instead).

    After the first call, the app's ``view_functions`` entry is replaced by the real view, so
    later requests cost exactly what a normal view costs.
    """

    __slots__ = ("__name__", "__qualname__", "_view", "import_name", "module", "attr")

    def __init__(self, import_name: str, package: str | None = None) -> None:
        if import_name.startswith(".") and package is not None:
            import_name = resolve_import_name(import_name, package)
        elif import_name.startswith("."):
            raise ValueError(
                f"relative view path {import_name!r} needs package=... (or use app.lazy_url)"
            )
        self.import_name = import_name
        self.module, self.attr = _split(import_name)
        self.__name__ = self.__qualname__ = self.attr
        self._view: t.Callable[..., t.Any] | None = None

    def __repr__(self) -> str:
        state = "loaded" if self._view is not None else "not loaded"
        return f"<LazyView {self.import_name!r} ({state})>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyView):
            return self.import_name == other.import_name
        return NotImplemented

    def __hash__(self) -> int:
        return hash((LazyView, self.import_name))

    @property
    def loaded(self) -> bool:
        return self._view is not None

    def load(self) -> t.Callable[..., t.Any]:
        """Import and return the real view; :class:`LazyViewError` naming the path if that fails.

        A failure is not remembered: the next call tries again (the module may be fixed by a
        reload).
        """
        view = self._view
        if view is not None:
            return view
        try:
            module = importlib.import_module(self.module)
        except Exception as e:
            raise LazyViewError(
                f"could not import the lazy view {self.import_name!r}: "
                f"importing module {self.module!r} failed: {type(e).__name__}: {e}"
            ) from e
        try:
            view = getattr(module, self.attr)
        except AttributeError:
            raise LazyViewError(
                f"could not import the lazy view {self.import_name!r}: "
                f"module {self.module!r} has no attribute {self.attr!r}"
            ) from None
        if not callable(view):
            raise LazyViewError(
                f"the lazy view {self.import_name!r} is not callable "
                f"(it is a {type(view).__name__})"
            )
        if isinstance(view, LazyView):
            view = view.load()
        self._view = view
        return view

    def __call__(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        view = self._view or self.load()
        from flask import current_app, has_request_context, request

        if not has_request_context():
            return view(*args, **kwargs)
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        rule = request.url_rule
        if rule is not None and app.view_functions.get(rule.endpoint) is self:
            # From now on Flask calls the real view directly.
            app.view_functions[rule.endpoint] = view
        return app.ensure_sync(view)(*args, **kwargs)


def lazy_views(app: Flask) -> dict[str, LazyView]:
    """The app's endpoints whose view is a :class:`LazyView` not yet replaced by the real one."""
    return {
        endpoint: view
        for endpoint, view in app.view_functions.items()
        if isinstance(view, LazyView)
    }


def check_lazy_views(app: Flask) -> list[tuple[str, str, str]]:
    """Import every lazy view of ``app``; ``(endpoint, import path, error)`` for each failure."""
    failures = []
    for endpoint, view in sorted(lazy_views(app).items()):
        try:
            view.load()
        except LazyViewError as e:
            failures.append((endpoint, view.import_name, str(e)))
    return failures

"""Every touch of a dependency's non-public API, one function each (DESIGN rule 8).

Batteries meets Flask, Werkzeug, Celery, kombu and cachelib through their public APIs. Where a
behaviour has no public door, the touch lives here, alone, with a test in
``tests/test_compat_seams.py`` that fails loudly when the library changes it, and with the same
behaviour on Flask 3.1 and Flask ``main``. Nothing else in ``src/batteries`` reads a private
name of another library.
"""

from __future__ import annotations

import typing as t
from collections import ChainMap

import jinja2.runtime as _jinja_runtime
from jinja2 import Template as _JinjaTemplate
from werkzeug.routing import Rule

# -- Flask -----------------------------------------------------------------------------------


def update_template_context(app: t.Any, context: dict[str, t.Any]) -> None:
    """``app.update_template_context`` on Flask 3.1 (``(context)``) and 3.2 (``(ctx, context)``).

    Its arguments change in Flask 3.2, which passes the app context along; rendering one block
    of a template (``templating.render_block``) needs the context processors' values like a
    whole page, and Flask has no other public way to get them.
    """
    import inspect

    if len(inspect.signature(app.update_template_context).parameters) >= 2:
        from flask.globals import app_ctx

        app.update_template_context(app_ctx._get_current_object(), context)  # type: ignore[attr-defined]
    else:
        app.update_template_context(context)


# -- Jinja -----------------------------------------------------------------------------------


class FlatGlobalsTemplate(_JinjaTemplate):
    """A Jinja ``Template`` whose render context starts from a plain copy of the environment's
    globals (set as the environment's public ``template_class``).

    Jinja builds each render's context from ``Environment.make_globals()``'s ``ChainMap`` of
    the template's globals over the environment's; copying a ``ChainMap`` calls Python code
    per name (~0.3 µs each), and an app with Batteries' and the i18n globals has 29 of them.
    When the template has no globals of its own (the usual case) the chain holds one dict
    that matters, which is copied in C instead. The context is built as Jinja's internal
    ``runtime.new_context`` builds it; ``Template.new_context`` is public, ``context_class``
    is the environment's documented context class.
    """

    def new_context(
        self,
        vars: dict[str, t.Any] | None = None,
        shared: bool = False,
        locals: t.Mapping[str, t.Any] | None = None,
    ) -> _jinja_runtime.Context:
        chain = self.globals
        if shared or locals or type(chain) is not ChainMap or len(chain.maps) != 2 or chain.maps[0]:
            return super().new_context(vars, shared, locals)
        parent = {**chain.maps[1], **vars} if vars else dict(chain.maps[1])
        env = self.environment
        return env.context_class(env, parent, self.name, self.blocks, globals=chain)


# -- Werkzeug --------------------------------------------------------------------------------

#: the attributes ``Rule.compile()`` stores its two URL builders in, by ``append_unknown``
_RULE_BUILDERS = {False: "_build", True: "_build_unknown"}


def compile_rule_builder(rule: Rule, append_unknown: bool) -> t.Callable[..., tuple[str, str]]:
    """Werkzeug's URL builder for ``rule`` (``Rule._compile_builder``), bound to the rule and
    stored where ``Rule.build()`` looks for it, so later builds call it directly."""
    builder = Rule._compile_builder(rule, append_unknown).__get__(rule, None)
    setattr(rule, _RULE_BUILDERS[append_unknown], builder)
    return builder  # type: ignore[no-any-return]


class DeferredBuilderRule(Rule):
    """A ``Rule`` whose ``compile()`` leaves its two URL builders (generated Python source,
    ``compile``\\d and ``exec``\\d: most of what adding a rule costs) to the first ``build()``.

    Werkzeug has no public door for this: ``compile()`` asks ``_compile_builder`` for each
    builder; here that hands back a stand-in that calls :func:`compile_rule_builder` once.
    """

    def _compile_builder(self, append_unknown: bool = True) -> t.Callable[..., tuple[str, str]]:
        return _BUILD_ON_FIRST_USE[append_unknown]


def _build_on_first_use(append_unknown: bool) -> t.Callable[..., tuple[str, str]]:
    def build_on_first_use(rule: Rule, /, **values: t.Any) -> tuple[str, str]:
        # ``rule`` is positional-only: a URL variable may be called ``self``.
        return compile_rule_builder(rule, append_unknown)(**values)

    build_on_first_use.__name__ = _RULE_BUILDERS[append_unknown]
    return build_on_first_use


_BUILD_ON_FIRST_USE = {flag: _build_on_first_use(flag) for flag in (False, True)}


def builders_share_files(builder_class: t.Any = None) -> bool:
    """Whether two new ``EnvironBuilder`` objects share one ``files`` dict (and ``form``).

    Werkzeug ``main`` (3.2.dev, commit 1b00618e) keeps ``_form`` and ``_files`` as class-level
    defaults that ``__init__`` never replaces, so every builder adds its files to the same dict,
    and a builder that is garbage-collected (``__del__`` calls ``close()``) closes the files of
    the builders still in use: a test posting a file fails now and then with "I/O operation on
    closed file", depending on when the collector runs.
    """
    if builder_class is None:
        from werkzeug.test import EnvironBuilder as builder_class
    first, second = builder_class(), builder_class()
    try:
        return bool(first.files is second.files or first.form is second.form)
    finally:
        first.close()
        second.close()


def give_builders_their_own_files(builder_class: t.Any = None) -> bool:
    """Where :func:`builders_share_files`, make each new builder start with a ``form`` and
    ``files`` dict of its own (what Werkzeug 3.1 does). Returns whether it had to; a Werkzeug
    that is not affected is left untouched. Called by the pytest plugin."""
    from werkzeug.datastructures import FileMultiDict, MultiDict

    if builder_class is None:
        from werkzeug.test import EnvironBuilder as builder_class
    if not builders_share_files(builder_class):
        return False
    original = builder_class.__init__

    def __init__(self: t.Any, *args: t.Any, **kwargs: t.Any) -> None:
        self._form = MultiDict()
        self._files = FileMultiDict()
        original(self, *args, **kwargs)

    __init__.__wrapped__ = original  # type: ignore[attr-defined]
    builder_class.__init__ = __init__
    return True


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


def is_plain_select(statement: t.Any) -> bool:
    """Whether a SQLAlchemy ``Select`` has no DISTINCT, GROUP BY, HAVING, LIMIT or OFFSET, so
    its rows can be counted by swapping its columns for ``count(*)`` (SQLAlchemy has no public
    accessor for these clauses; a count over a subquery is the safe fallback)."""
    return (
        not statement._distinct
        and not statement._group_by_clauses
        and not statement._having_criteria
        and statement._limit_clause is None
        and statement._offset_clause is None
    )


def result_needs_unique(result: t.Any) -> bool:
    """Whether SQLAlchemy will insist on ``unique()`` for an ORM ``result`` (joined eager
    loading of a collection); SQLAlchemy says so only by raising when rows are fetched
    without it, and has no public accessor for the filter it keeps for this."""
    state: t.Any = getattr(result, "_unique_filter_state", None)
    return bool(state) and getattr(state[1], "__name__", "") == "require_unique"


# cachelib: no touch. The filesystem cache (``batteries.filecache``) is Batteries' own on the
# public ``cachelib.BaseCache``; the other backends are used as cachelib documents them.

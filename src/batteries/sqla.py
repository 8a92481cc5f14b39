"""SQLAlchemy 2 for Batteries apps: ``from batteries import db``.

Replaces Flask's "SQLAlchemy in Flask" pattern (and Flask-SQLAlchemy) with one object that
serves any number of apps, each with its own engine and its own session::

    from batteries import Batteries, db
    from sqlalchemy import select
    from sqlalchemy.orm import Mapped, mapped_column

    class User(db.Model):
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(db.String(50), unique=True)

    app = Batteries(__name__)

    @app.get("/users")
    def users():
        page = db.paginate(select(User).order_by(User.id))   # ?page=2&per_page=50
        return {"names": [u.name for u in page.items], "pages": page.pages}

    @app.get("/users/<int:id>")
    def user(id):
        return {"name": db.get_or_404(User, id).name}

- Code written for Flask-SQLAlchemy keeps its shapes: ``User.query.filter_by(...).first()``
  (a legacy ``Query`` of the current app context's session, with ``get_or_404``,
  ``first_or_404``, ``one_or_404`` and ``paginate``), table names from class names (``UserRole``
  → ``user_role``), ``db.event.listen(db.session, "after_commit", fn)`` (this ``db``'s sessions).
- ``db.session`` is used like a ``scoped_session`` (``db.session.add(x)``, ``db.session()``),
  but the scope is the *app context*, not the thread: each app context gets its own Session,
  bound to its app's engine, created on first use and closed at teardown (which rolls back
  whatever was not committed; teardown never commits).
- ``db.engine`` is built on first use from ``DATABASE_URL`` and disposed when the app is freed.
  SQLite gets foreign keys and WAL; server databases
  get a connect timeout and their pooled connections checked before use (without a round trip,
  :mod:`batteries.poolcheck`); MySQL/MariaDB get a strict ``sql_mode`` (no silent
  truncation).
- A database that is down answers **503** (naming the database and ``DATABASE_URL``, with
  ``Retry-After``), never a traceback, and the app recovers by itself when it is back. A unique
  constraint violation that the view does not catch answers **409**, a value the database
  refuses (too long, NUL in PostgreSQL text, out of range) **400**. These exceptions are
  still SQLAlchemy's (``OperationalError``/``IntegrityError``/``DataError`` subclasses), so ``except`` clauses
  keep working.

Nothing here imports SQLAlchemy until a database is used: ``import batteries`` and
``Batteries(__name__)`` stay light.

Config:
    ``DATABASE_URL`` (default ``sqlite:///<instance>/app.sqlite``, ``app-<tenant>.sqlite`` for a
    tenant of a dispatcher; the file is made 0600; ``SQLALCHEMY_DATABASE_URI``
    is read when it is unset), ``DATABASE_ENGINE_OPTIONS`` (keyword arguments of
    ``create_engine``; ``SQLALCHEMY_ENGINE_OPTIONS`` when unset).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import typing as t
import weakref
from dataclasses import dataclass, field

from flask import current_app, g, has_app_context
from werkzeug.exceptions import NotFound

from . import _teardown
from .checks import Check
from .engines import CONFIG as ENGINE_CONFIG
from .engines import (  # noqa: F401  (re-exported: where they were before)
    DATABASE_URL,
    ENGINE_OPTIONS,
    SQLALCHEMY_DATABASE_URI,
    SQLALCHEMY_ENGINE_OPTIONS,
    database_url,
    engine_options,
    make_engine,
)
from .pagination import MAX_PER_PAGE, Pagination, paginate
from .state import state_of

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask
    from sqlalchemy import Engine
    from sqlalchemy.orm import DeclarativeBase, Session
    from sqlalchemy.sql import Select

logger = logging.getLogger("batteries.sqla")


#: the settings of the app's engine (declared in :mod:`batteries.engines`)
CONFIG = ENGINE_CONFIG


@dataclass
class SqlaState:
    """Per app: which SQLAlchemy objects are wired, their engines, test connections."""

    wired: set[str] = field(default_factory=set)
    engines: dict[str, Engine] = field(default_factory=dict)
    test_binds: dict[str, t.Any] = field(default_factory=dict)


def init_app(app: Flask) -> None:
    """Wire the default :data:`db` into ``app`` (Batteries does it for every app)."""
    db.init_app(app)


class _SessionProxy:
    """``db.session``: the current app context's Session, reached like a ``scoped_session``."""

    __slots__ = ("_db",)

    def __init__(self, owner: SQLAlchemy) -> None:
        self._db = owner

    def __call__(self) -> Session:
        return self._db._current_session()

    def remove(self) -> None:
        """Close and forget the current app context's session (a new one is made on next use)."""
        self._db._remove_session(None)

    def __getattr__(self, name: str) -> t.Any:
        return getattr(self._db._current_session(), name)

    def __repr__(self) -> str:
        return f"<db.session proxy of {self._db!r}>"


class SQLAlchemy:
    """One object serving the database of any number of apps (``batteries.db`` is one).

    ``db.Model`` is a SQLAlchemy 2 ``DeclarativeBase`` (typed ``Mapped[...]`` columns);
    ``db.session`` the current app context's Session; ``db.engine`` the current app's engine.
    Attributes it does not have come from ``sqlalchemy`` and ``sqlalchemy.orm``
    (``db.select``, ``db.String``, ``db.ForeignKey``, ``db.relationship``...).

    Another instance (say for a second set of models) must be wired with ``init_app(app)``.
    """

    def __init__(self, session_options: dict[str, t.Any] | None = None) -> None:
        self.session_options = dict(session_options or {})
        self.session = _SessionProxy(self)
        self.event = _Events()
        self._key = f"_batteries_db_session_{id(self):x}"
        self._model: type[DeclarativeBase] | None = None
        self._session_class: type[Session] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "<batteries.db>" if self is db else f"<SQLAlchemy {id(self):#x}>"

    # -- wiring ---------------------------------------------------------------------------

    def init_app(self, app: Flask) -> None:
        """Set ``app`` up: its session of each app context is closed at teardown (the
        teardown is registered when a context first opens a session)."""
        wired = state_of(app, SqlaState).wired
        if self._key in wired:
            return
        wired.add(self._key)

    def _close_current(self, exc: BaseException | None) -> None:
        session = g._get_current_object().__dict__.pop(self._key, None)  # type: ignore[attr-defined]
        if session is not None:
            _close(session, exc)

    # -- the model base -------------------------------------------------------------------

    @property
    def Model(self) -> type[DeclarativeBase]:
        """The declarative base of this object's models (built on first access)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = _make_model_base(self)
        return self._model

    @property
    def Query(self) -> type[t.Any]:
        """The legacy ``Query`` class behind ``Model.query`` and ``db.session.query()``: SQLAlchemy's
        own, plus ``get_or_404``, ``first_or_404``, ``one_or_404`` and ``paginate``."""
        return query_class()

    @property
    def session_class(self) -> type[Session]:
        """The ``Session`` subclass of this object's sessions: listen to its events with
        ``db.event.listen(db.session, "before_commit", fn)`` (or name this class)."""
        if self._session_class is None:
            from sqlalchemy.orm import Session

            with self._lock:
                if self._session_class is None:
                    self._session_class = type("Session", (Session,), {"__module__": __name__})
        return self._session_class

    @property
    def metadata(self) -> t.Any:
        return self.Model.metadata

    def __getattr__(self, name: str) -> t.Any:
        if name.startswith("_"):
            raise AttributeError(name)
        import sqlalchemy
        import sqlalchemy.orm

        for module in (sqlalchemy, sqlalchemy.orm):
            found = getattr(module, name, None)
            if found is not None:
                return found
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- engines --------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The current app's engine (built on first use)."""
        return self.get_engine(current_app._get_current_object())  # type: ignore[attr-defined]

    def get_engine(self, app: Flask) -> Engine:
        """``app``'s engine for this object, built from its config on first use."""
        state = state_of(app, SqlaState)
        engines = state.engines
        if self._key not in state.wired:
            raise RuntimeError(
                f"{self!r} is not set up on app {app.name!r}: call init_app(app) at start-up."
            )
        engine = engines.get(self._key)
        if engine is None:
            with self._lock:
                engine = engines.get(self._key)
                if engine is None:
                    engine = engines[self._key] = make_engine(app)
                    weakref.finalize(app, engine.dispose)
        return engine

    # -- sessions -------------------------------------------------------------------------

    def _current_session(self) -> Session:
        if not has_app_context():
            raise RuntimeError(
                "db.session needs an app context: use it in a request, a CLI command, or inside "
                "'with app.app_context():'."
            )
        namespace = g._get_current_object().__dict__  # type: ignore[attr-defined]
        session = namespace.get(self._key)
        if session is None:
            app = current_app._get_current_object()  # type: ignore[attr-defined]
            session = namespace[self._key] = self.make_session(app)
            _teardown.on_teardown(self._close_current, namespace, app)
        return session  # type: ignore[no-any-return]

    def make_session(self, app: Flask) -> Session:
        """A new Session bound to ``app``'s engine (or to the test transaction)."""
        state = state_of(app, SqlaState)
        options = {"query_cls": query_class(), **self.session_options}
        test_bind = state.test_binds.get(self._key)
        if test_bind is not None:
            return self.session_class(
                bind=test_bind, join_transaction_mode="create_savepoint", **options
            )
        engine = state.engines.get(self._key)
        if engine is None or self._key not in state.wired:
            engine = self.get_engine(app)  # builds it, or explains a missing init_app
        return self.session_class(bind=engine, **options)

    @contextlib.contextmanager
    def bound_to(self, app: Flask, connection: t.Any) -> t.Iterator[None]:
        """Within the block, ``app``'s sessions of this object join ``connection``'s transaction
        (savepoints); the ``db`` fixture of the pytest plugin uses it."""
        binds = state_of(app, SqlaState).test_binds
        binds[self._key] = connection
        try:
            yield
        finally:
            binds.pop(self._key, None)

    def forget_engines(self, app: Flask) -> None:
        """Dispose of ``app``'s engine for this object; the next use builds one from the config."""
        engine = state_of(app, SqlaState).engines.pop(self._key, None)
        if engine is not None:
            engine.dispose()

    def _remove_session(self, exc: BaseException | None) -> None:
        if not has_app_context():
            return
        session = g.__dict__.pop(self._key, None)
        if session is not None:
            _close(session, exc)

    # -- schema ---------------------------------------------------------------------------

    def create_all(self, app: Flask | None = None) -> None:
        """Create the tables of every model that do not exist yet."""
        engine = self.get_engine(app) if app is not None else self.engine
        self.Model.metadata.create_all(engine)

    def drop_all(self, app: Flask | None = None) -> None:
        """Drop the tables of every model."""
        engine = self.get_engine(app) if app is not None else self.engine
        self.Model.metadata.drop_all(engine)

    # -- queries that answer 404 ----------------------------------------------------------

    def get_or_404(
        self, entity: type[t.Any], ident: t.Any, *, description: str | None = None, **kw: t.Any
    ) -> t.Any:
        """``session.get(entity, ident)``, or a 404 naming what was not found."""
        found = self.session.get(entity, ident, **kw)
        if found is None:
            raise NotFound(description or f"{_entity_name(entity)} {ident!r} was not found.")
        return found

    def first_or_404(self, statement: Select[t.Any], *, description: str | None = None) -> t.Any:
        """The first result (first column) of ``statement``, or a 404."""
        found = self.session.execute(statement).scalars().first()
        if found is None:
            raise NotFound(description or "No matching record was found.")
        return found

    def one_or_404(self, statement: Select[t.Any], *, description: str | None = None) -> t.Any:
        """The only result of ``statement``; 404 when there is none (several still raise)."""
        from sqlalchemy.exc import NoResultFound

        try:
            return self.session.execute(statement).scalar_one()
        except NoResultFound:
            raise NotFound(description or "No matching record was found.") from None

    def paginate(
        self,
        statement: Select[t.Any],
        *,
        page: int | None = None,
        per_page: int | None = None,
        max_per_page: int | None = MAX_PER_PAGE,
        error_out: bool = True,
    ) -> Pagination:
        """One page of ``statement``'s results, as a :class:`Pagination`.

        ``page`` and ``per_page`` default to the ``page`` and ``per_page`` query arguments
        (1 and 20). A ``per_page`` above ``max_per_page`` is clamped to it. A page or per_page
        that is not an integer or is below 1, or an empty page past the first, is a 404 (with
        ``error_out=False``: the defaults, and an empty page).

        The count query is skipped when the page is not full (it is then the last page), so
        short lists cost one round trip.
        """
        return paginate(
            self.session(),
            statement,
            page=page,
            per_page=per_page,
            max_per_page=max_per_page,
            error_out=error_out,
        )


class _Events:
    """``db.event``: ``sqlalchemy.event``, where a ``db.session`` target means that object's
    sessions (its :attr:`SQLAlchemy.session_class`), as Flask-SQLAlchemy apps write it::

        db.event.listen(db.session, "after_commit", reindex)
    """

    __slots__ = ()

    @staticmethod
    def _target(target: t.Any) -> t.Any:
        if isinstance(target, _SessionProxy):
            return target._db.session_class
        return target

    def listen(self, target: t.Any, identifier: str, fn: t.Any, *args: t.Any, **kw: t.Any) -> None:
        from sqlalchemy import event

        event.listen(self._target(target), identifier, fn, *args, **kw)

    def listens_for(self, target: t.Any, identifier: str, *args: t.Any, **kw: t.Any) -> t.Any:
        from sqlalchemy import event

        return event.listens_for(self._target(target), identifier, *args, **kw)

    def remove(self, target: t.Any, identifier: str, fn: t.Any) -> None:
        from sqlalchemy import event

        event.remove(self._target(target), identifier, fn)

    def contains(self, target: t.Any, identifier: str, fn: t.Any) -> bool:
        from sqlalchemy import event

        return event.contains(self._target(target), identifier, fn)


_query_class: list[type[t.Any]] = []


def query_class() -> type[t.Any]:
    """SQLAlchemy's legacy ``Query`` with the 404 helpers and ``paginate`` (built on first use)."""
    if not _query_class:
        with _query_lock:
            if not _query_class:
                _query_class.append(_make_query_class())
    return _query_class[0]


_query_lock = threading.Lock()


def _make_query_class() -> type[t.Any]:
    from sqlalchemy.orm import Query as LegacyQuery

    class Query(LegacyQuery):  # type: ignore[type-arg]
        """``Model.query``: SQLAlchemy's legacy ``Query`` plus the helpers that answer 404."""

        def get_or_404(self, ident: t.Any, description: str | None = None) -> t.Any:
            entity: t.Any = self.column_descriptions[0]["entity"]
            found = self.session.get(entity, ident)
            if found is None:
                name = _entity_name(entity)
                raise NotFound(description or f"{name} {ident!r} was not found.")
            return found

        def first_or_404(self, description: str | None = None) -> t.Any:
            found = self.first()
            if found is None:
                raise NotFound(description or "No matching record was found.")
            return found

        def one_or_404(self, description: str | None = None) -> t.Any:
            from sqlalchemy.exc import NoResultFound

            try:
                return self.one()
            except NoResultFound:
                raise NotFound(description or "No matching record was found.") from None

        def paginate(
            self,
            *,
            page: int | None = None,
            per_page: int | None = None,
            max_per_page: int | None = MAX_PER_PAGE,
            error_out: bool = True,
        ) -> Pagination:
            """One page of this query, like :meth:`SQLAlchemy.paginate`."""
            return paginate(
                self.session,
                t.cast("Select[t.Any]", self.statement),
                page=page,
                per_page=per_page,
                max_per_page=max_per_page,
                error_out=error_out,
            )

    return Query


class _QueryProperty:
    """``Model.query``: ``db.session.query(Model)`` in the current app context."""

    __slots__ = ("_db",)

    def __init__(self, owner: SQLAlchemy) -> None:
        self._db = owner

    def __get__(self, obj: t.Any, cls: type[t.Any]) -> t.Any:
        return self._db.session.query(cls)


def _close(session: Session, exc: BaseException | None) -> None:
    """Roll back what was not committed and give the connection back; never raise."""
    try:
        if exc is not None:
            session.rollback()
        session.close()
    except Exception:  # a dead connection cannot fail a teardown
        logger.warning("closing the database session failed", exc_info=True)
        try:
            session.invalidate()
        except Exception:
            pass


def _entity_name(entity: t.Any) -> str:
    return getattr(entity, "__name__", None) or str(entity)


def _make_model_base(owner: SQLAlchemy) -> type[DeclarativeBase]:
    from sqlalchemy import MetaData
    from sqlalchemy.orm import DeclarativeBase

    class Model(DeclarativeBase):
        """Base class of ``db``'s models (SQLAlchemy 2 declarative, typed columns)."""

        # Named constraints, so Alembic can drop and alter them later.
        metadata = MetaData(
            naming_convention={
                "ix": "ix_%(column_0_label)s",
                "uq": "uq_%(table_name)s_%(column_0_name)s",
                "ck": "ck_%(table_name)s_%(constraint_name)s",
                "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
                "pk": "pk_%(table_name)s",
            }
        )

        #: ``User.query.filter_by(name="x").first()``: a legacy ``Query`` of the current app
        #: context's session (Flask-SQLAlchemy's ``Model.query``; prefer ``db.select``).
        query: t.ClassVar[t.Any] = _QueryProperty(owner)

        def __init_subclass__(cls, **kw: t.Any) -> None:
            # Flask-SQLAlchemy's rule: a model with a primary key of its own and no table
            # named gets the snake_case class name; a subclass without one shares its
            # parent's table (single-table inheritance).
            if _wants_table_name(cls, Model):
                cls.__tablename__ = table_name(cls.__name__)
            super().__init_subclass__(**kw)

        def __repr__(self) -> str:
            from sqlalchemy import inspect

            identity = inspect(self).identity
            shown = identity[0] if identity and len(identity) == 1 else identity
            return f"<{type(self).__name__} {shown}>"

    return Model


def table_name(class_name: str) -> str:
    """The table name a model gets when it names none: ``UserRole`` → ``user_role``."""
    import re

    return re.sub(r"((?<=[a-z0-9])[A-Z]|(?!^)[A-Z](?=[a-z]))", r"_\1", class_name).lower()


def _wants_table_name(cls: type[t.Any], base: type[t.Any]) -> bool:
    from sqlalchemy import Column

    own = cls.__dict__
    if "__tablename__" in own or "__table__" in own or own.get("__abstract__"):
        return False
    key = False
    for klass in cls.__mro__:  # the class itself and its unmapped mixins
        if klass is not cls and issubclass(klass, base):
            continue
        if "__tablename__" in vars(klass):  # a mixin names it (often a declared_attr)
            return False
        for value in vars(klass).values():
            column = getattr(value, "column", value)  # mapped_column() holds a Column
            if isinstance(column, Column) and column.primary_key:
                key = True
    return key


#: The default object, wired into every Batteries app.
db = SQLAlchemy()

#: this battery adds no deploy checks (see batteries.checks)
DEPLOY_CHECKS: tuple[Check, ...] = ()

"""Database errors that answer with the right HTTP status: 503 when down, 409 on a duplicate.

An engine built by :mod:`batteries.sqla` gets a ``handle_error`` listener that replaces two kinds
of SQLAlchemy error with subclasses that are *also* Werkzeug HTTP exceptions:

- :class:`DatabaseUnavailable` (``OperationalError`` + ``ServiceUnavailable``): the connection
  could not be made, or was lost (server down, restarted, ``pg_terminate_backend``, MariaDB's
  "server has gone away"). Flask answers 503 with ``Retry-After`` and a message that names the
  database and the config key; the connection is invalidated as usual, so the next request
  reconnects (:mod:`batteries.poolcheck` weeds out the other stale connections).
  A lock not granted in time (SQLite "database is locked", a PostgreSQL/MariaDB deadlock or
  lock timeout) is also a 503, saying the database is busy.
- :class:`DuplicateRecord` (``IntegrityError`` + ``Conflict``): a unique constraint was violated
  and the view did not catch it: 409 instead of a 500.
- :class:`InvalidData` (``DataError`` + ``BadRequest``): the database refused a value (too long
  for its column in strict MySQL/MariaDB or PostgreSQL, a NUL character in PostgreSQL text, a
  number out of range, ``"abc"`` for an integer): 400 instead of a 500.

Because they subclass SQLAlchemy's own classes, ``except OperationalError`` and
``except IntegrityError`` in user code keep working. No error handler is registered on the app
(Flask's own test suite stays untouched) and nothing is imported before an engine exists.
"""

from __future__ import annotations

import functools
import logging
import typing as t

if t.TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy import Engine
    from sqlalchemy.engine import ExceptionContext

logger = logging.getLogger("batteries.sqla")

_BACKENDS = {
    "postgresql": "PostgreSQL",
    "mysql": "MySQL/MariaDB",
    "mariadb": "MariaDB",
    "sqlite": "SQLite",
    "mssql": "SQL Server",
    "oracle": "Oracle",
}

_classes: dict[str, type] = {}


def error_classes() -> tuple[type, type]:
    """``(DatabaseUnavailable, DuplicateRecord)``, built on first use."""
    if not _classes:
        _build_classes()
    return _classes["DatabaseUnavailable"], _classes["DuplicateRecord"]


def _build_classes() -> None:
    from sqlalchemy import exc as sa_exc
    from werkzeug.exceptions import BadRequest, Conflict, ServiceUnavailable

    class _AnsweredError:
        """What the three classes share: built from SQLAlchemy's error, answered as HTTP."""

        code: int

        def __init__(self, error: t.Any, description: str) -> None:
            sa_exc.DBAPIError.__init__(
                self,  # type: ignore[arg-type]
                error.statement,
                error.params,
                error.orig,
                hide_parameters=error.hide_parameters,
                connection_invalidated=error.connection_invalidated,
                ismulti=error.ismulti,
            )
            self.description = description
            self.response = None
            self.code = type(self).code

        def _code_str(self) -> str:
            return ""

        def __str__(self) -> str:
            return f"{self.description} ({self.orig!s})".replace("\n", " ")  # type: ignore[attr-defined]

        def __reduce__(self) -> t.Any:
            return (Exception, (str(self),))

    class DatabaseUnavailable(_AnsweredError, sa_exc.OperationalError, ServiceUnavailable):  # type: ignore[misc]
        """The database could not be reached (an ``OperationalError`` answered with 503)."""

        code = 503  # type: ignore[assignment]

        def __init__(self, error: t.Any, description: str) -> None:
            super().__init__(error, description)
            self.retry_after = 5

    class DuplicateRecord(_AnsweredError, sa_exc.IntegrityError, Conflict):  # type: ignore[misc]
        """A unique constraint was violated (an ``IntegrityError`` answered with 409)."""

        code = 409  # type: ignore[assignment]

    class InvalidData(_AnsweredError, sa_exc.DataError, BadRequest):  # type: ignore[misc]
        """A value the database refused (a ``DataError`` answered with 400)."""

        code = 400  # type: ignore[assignment]

    for cls in (DatabaseUnavailable, DuplicateRecord, InvalidData):
        cls.__module__ = "batteries.sqla"
        _classes[cls.__name__] = cls


def describe(engine_url: t.Any, key: str, debug: bool) -> str:
    """The 503 message: which database, set by which key (the host only in debug mode)."""
    backend = engine_url.get_backend_name()
    label = _BACKENDS.get(backend, backend)
    name = engine_url.database or ""
    if backend == "sqlite":
        import os

        name = name if debug else os.path.basename(name)
    what = f"{label} database {name!r}" if name else f"{label} database"
    if debug and engine_url.host:
        where = engine_url.host + (f":{engine_url.port}" if engine_url.port else "")
        what += f" at {where}"
    return (
        f"The database is unavailable: the {what} set by {key} did not answer. "
        "Please try again in a moment."
    )


BUSY_MESSAGE = (
    "The database is busy (a lock was not granted in time). Please try again in a moment."
)

DUPLICATE_MESSAGE = (
    "This conflicts with an existing record: a value that must be unique is already taken."
)


INVALID_MESSAGE = (
    "A value does not fit the database: too long, out of range, not of the right type, or "
    "containing a NUL character."
)


def install_error_events(engine: Engine, key: str, debug: bool = False) -> None:
    """Listen to ``engine``'s errors and turn outages into 503s and duplicates into 409s."""
    from sqlalchemy import event

    event.listen(
        engine,
        "handle_error",
        functools.partial(_on_error, describe(engine.url, key, debug), key),
    )


def _on_error(description: str, key: str, ctx: ExceptionContext) -> t.Any:
    from sqlalchemy import exc as sa_exc

    error = ctx.sqlalchemy_exception
    if error is None or ctx.is_pre_ping or not isinstance(error, sa_exc.DBAPIError):
        return None
    unavailable, duplicate = error_classes()
    invalid = _classes["InvalidData"]
    if isinstance(error, (unavailable, duplicate, invalid)):
        return None
    if ctx.is_disconnect or (ctx.connection is None and isinstance(error, sa_exc.OperationalError)):
        logger.error("%s: %s", description, str(error.orig).strip() or type(error.orig).__name__)
        return unavailable(error, description)
    if isinstance(error, sa_exc.OperationalError) and error.orig is not None and _is_busy(error.orig):
        logger.warning("%s: %s", BUSY_MESSAGE, str(error.orig).strip())
        return unavailable(error, BUSY_MESSAGE)
    if isinstance(error, sa_exc.IntegrityError) and error.orig is not None and (
        _is_unique_violation(error.orig)
    ):
        return duplicate(error, DUPLICATE_MESSAGE)
    if isinstance(error, sa_exc.DataError):
        return invalid(error, INVALID_MESSAGE)
    return None


def _is_busy(orig: BaseException) -> bool:
    """A lock that was not granted in time, or a deadlock: worth retrying, not a bug."""
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate in ("40P01", "55P03", "40001"):  # PostgreSQL: deadlock, lock timeout, serialization
        return True
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):  # MySQL/MariaDB: lock wait timeout, deadlock
        return args[0] in (1205, 1213)
    name = getattr(orig, "sqlite_errorname", None)
    if name is not None:
        return str(name).startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))
    return "database is locked" in str(orig)


def _is_unique_violation(orig: BaseException) -> bool:
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):  # MySQL/MariaDB error numbers: ER_DUP_ENTRY...
        return args[0] in (1062, 1586)
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate is not None:  # PostgreSQL: unique_violation
        return bool(sqlstate == "23505")
    name = getattr(orig, "sqlite_errorname", None)
    if name is not None:
        return name in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY")
    return "UNIQUE constraint failed" in str(orig)

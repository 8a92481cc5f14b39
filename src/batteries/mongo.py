"""MongoEngine for Batteries apps (extra ``batteries[mongo]``).

Replaces Flask's "MongoDB with MongoEngine" pattern (and Flask-MongoEngine's connection setup)::

    import mongoengine as me
    from batteries import Batteries
    from batteries import mongo

    app = Batteries(__name__)
    app.config["MONGODB_SETTINGS"] = {"db": "blog", "host": "mongodb://127.0.0.1:27017"}

    class Post(me.Document):
        title = me.StringField(required=True)

    @app.get("/posts/<id>")
    def post(id):
        return {"title": mongo.get_or_404(Post, id=id).title}    # bad ObjectId -> 404

- The connection is registered with MongoEngine from ``MONGODB_SETTINGS`` on first use: the
  first app context of the app when the key is set at construction (``instance/config.py``,
  ``BATTERIES_MONGODB_SETTINGS``), else the first call of :func:`connect` or of a helper here.
  MongoEngine connections are process-wide and named by alias (``"default"`` unless the
  settings say ``"alias"``); ``MONGODB_SETTINGS`` may be a list to set up several aliases.
  When another app registers the same alias with other settings, the alias is reconnected
  (the last app pushed wins): give apps that run side by side their own alias.
- ``uuidRepresentation="standard"`` and ``serverSelectionTimeoutMS=3000`` are the defaults
  (pymongo would wait 30 s for a server that is down).
- :func:`get_or_404` and :func:`first_or_404` answer 404 for a missing document *and* for a
  malformed ``ObjectId`` (MongoEngine raises ``ValidationError``: a 500 otherwise), and 503
  naming MongoDB and ``MONGODB_SETTINGS`` when the server does not answer.
- The app's aliases are disconnected when the app is freed (tests that make many apps).

Tests without a server: ``"mongo_client_class": mongomock.MongoClient`` in the settings.

Config:
    ``MONGODB_SETTINGS`` (a dict of ``mongoengine.connect`` arguments, or a list of them).
"""

from __future__ import annotations

import threading
import typing as t
import weakref

from flask import current_app, has_app_context
from werkzeug.exceptions import NotFound, ServiceUnavailable

from .checks import Check
from .config import Setting

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

(MONGODB_SETTINGS,) = CONFIG = (
    Setting(
        "MONGODB_SETTINGS",
        None,
        (dict, list, type(None)),
        "mongoengine.connect() arguments (a dict, or a list of dicts with an 'alias' each)",
        write=False,
    ),
)

DEFAULTS = {"uuidRepresentation": "standard", "serverSelectionTimeoutMS": 3000}

_lock = threading.Lock()
#: alias -> (weak reference to the app that registered it, the settings used)
_owners: dict[str, tuple[weakref.ref[t.Any], dict[str, t.Any]]] = {}


def init_app(app: Flask) -> None:
    """Connect on the app's first context when ``MONGODB_SETTINGS`` is already set.

    Nothing is imported and nothing is hooked for an app without the key (it can still call
    :func:`connect`, or use the helpers, which connect on first use).
    """
    if MONGODB_SETTINGS.get(app):
        from flask import appcontext_pushed

        appcontext_pushed.connect(_on_push, sender=app)


def _on_push(app: Flask, **_: t.Any) -> None:
    connect(app)


def settings_of(app: Flask) -> list[dict[str, t.Any]]:
    """The app's connection settings, one dict per alias, with Batteries' defaults."""
    raw = MONGODB_SETTINGS.get(app)
    if not raw:
        raise RuntimeError(
            "batteries.mongo needs MONGODB_SETTINGS, e.g. "
            "app.config['MONGODB_SETTINGS'] = {'db': 'mydb', 'host': 'mongodb://127.0.0.1:27017'}"
        )
    entries = raw if isinstance(raw, list) else [raw]
    result = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise RuntimeError(f"MONGODB_SETTINGS entries must be dicts, not {entry!r}")
        settings = {**DEFAULTS, **entry}
        settings.setdefault("alias", "default")
        result.append(settings)
    return result


def connect(app: Flask | None = None) -> t.Any:
    """Register ``app``'s MongoEngine connections (current app by default); return the default
    alias's database. Cheap when already done."""
    target: Flask = app if app is not None else current_app._get_current_object()  # type: ignore[attr-defined]
    entries = settings_of(target)
    for settings in entries:
        alias = settings["alias"]
        owner = _owners.get(alias)
        if owner is not None and owner[0]() is target and owner[1] == settings:
            continue
        with _lock:
            _register(target, alias, settings)
        _run_pending()
    import mongoengine

    return mongoengine.get_db(entries[0]["alias"])


def _register(app: Flask, alias: str, settings: dict[str, t.Any]) -> None:
    import mongoengine

    owner = _owners.get(alias)
    if owner is not None and owner[0]() is app and owner[1] == settings:
        return
    if owner is None or owner[1] != settings or not _registered(alias):
        mongoengine.disconnect(alias)
        mongoengine.connect(**settings)
    _owners[alias] = (weakref.ref(app), settings)
    weakref.finalize(app, _app_freed, alias, settings)


def _registered(alias: str) -> bool:
    """Whether MongoEngine still knows ``alias`` (code outside Batteries may disconnect it)."""
    from mongoengine.connection import ConnectionFailure, get_connection

    try:
        get_connection(alias)  # pymongo's client connects lazily: this opens no socket
    except ConnectionFailure:
        return False
    return True


#: aliases whose app was freed while the lock was held (handled by the next connect)
_pending: list[tuple[str, dict[str, t.Any]]] = []


def _app_freed(alias: str, settings: dict[str, t.Any]) -> None:
    # May run from the garbage collector at any point, even inside connect(): never wait.
    if not _lock.acquire(blocking=False):
        _pending.append((alias, settings))
        return
    try:
        _disconnect_if_dead(alias, settings)
    finally:
        _lock.release()


def _run_pending() -> None:
    while _pending:
        alias, settings = _pending.pop()
        with _lock:
            _disconnect_if_dead(alias, settings)


def _disconnect_if_dead(alias: str, settings: dict[str, t.Any]) -> None:
    owner = _owners.get(alias)
    if owner is not None and owner[1] == settings and owner[0]() is None:
        del _owners[alias]
        import mongoengine

        mongoengine.disconnect(alias)


def disconnect(app: Flask | None = None) -> None:
    """Disconnect ``app``'s aliases now (they reconnect on next use)."""
    if app is None:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
    import mongoengine

    with _lock:
        for settings in settings_of(app):
            alias = settings["alias"]
            owner = _owners.get(alias)
            if owner is not None and owner[0]() is app:
                del _owners[alias]
                mongoengine.disconnect(alias)


def _queryset(target: t.Any) -> t.Any:
    objects = getattr(target, "objects", None)
    return objects if objects is not None else target


def get_or_404(target: t.Any, *args: t.Any, description: str | None = None, **kwargs: t.Any) -> t.Any:
    """``target.get(...)`` (a Document class or a queryset), or a 404.

    A missing document, a malformed ``ObjectId`` and several matches alike are a 404; a server
    that does not answer is a 503.
    """
    from mongoengine.errors import DoesNotExist, MultipleObjectsReturned, ValidationError

    if has_app_context():
        connect()
    try:
        with _unavailable_as_503():  # Document.objects already reaches the server
            queryset = _queryset(target)
            return queryset.get(*args, **kwargs)
    except (DoesNotExist, MultipleObjectsReturned, ValidationError):
        raise NotFound(description or f"No such {_name(_queryset(target))}.") from None


def first_or_404(target: t.Any, *args: t.Any, description: str | None = None, **kwargs: t.Any) -> t.Any:
    """The first document of ``target(...)`` (a Document class or a queryset), or a 404."""
    from mongoengine.errors import ValidationError

    if has_app_context():
        connect()
    try:
        with _unavailable_as_503():  # Document.objects already reaches the server
            queryset = _queryset(target)
            found = (queryset(*args, **kwargs) if args or kwargs else queryset).first()
    except ValidationError:
        found = None
    if found is None:
        raise NotFound(description or f"No such {_name(_queryset(target))}.")
    return found


def _name(queryset: t.Any) -> str:
    document = getattr(queryset, "_document", None)
    return getattr(document, "__name__", "document")


class _unavailable_as_503:
    """Turn pymongo's "no server" errors into a 503 naming MongoDB and MONGODB_SETTINGS."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: t.Any, error: t.Any, tb: t.Any) -> t.Literal[False]:
        if error is None:
            return False
        from pymongo.errors import ConnectionFailure

        if isinstance(error, ConnectionFailure):
            raise ServiceUnavailable(
                "The database is unavailable: the MongoDB server set by MONGODB_SETTINGS did "
                "not answer. Please try again in a moment.",
                retry_after=5,
            ) from error
        return False

#: this battery adds no deploy checks (see batteries.checks)
DEPLOY_CHECKS: tuple[Check, ...] = ()

"""Background tasks: ``app.celery``, ``FlaskTask`` and an embedded broker.

Replaces Flask's "Background Tasks with Celery" pattern (the ``celery_init_app`` function, the
``FlaskTask`` class and the result view you copy into every project)::

    app = Batteries(__name__)

    @app.celery.task
    def add(a, b):
        return a + b            # runs inside an app context: db, current_app, config work

    add.delay(1, 2).get(timeout=5)

``app.celery`` is built on first use from ``app.config["CELERY"]`` (Celery's own lowercase
settings) on top of these defaults:

- broker and results on SQLite in the instance folder (:mod:`batteries.broker`), so tasks work
  with no other service; set ``broker_url``/``result_backend`` to move to Redis or RabbitMQ;
- JSON only (``task_serializer``, ``result_serializer``, ``accept_content``);
- ``task_acks_late`` and ``task_reject_on_worker_lost`` on, ``worker_prefetch_multiplier`` 1:
  a worker killed mid-task does not lose the task (it runs again, so make tasks idempotent);
- ``result_expires`` one day; publishing retries bounded, so ``delay()`` with the broker down
  fails in about a second with :class:`BrokerUnavailable` (a 503 inside a request).

Each task runs in an app context of its own Flask app (found through a weak reference). Inside
an app context, ``@shared_task``, ``celery.current_app`` and ``AsyncResult(id)`` use that app's
Celery; outside any context, the last one built. An app that sets its own
``app.extensions["celery"]`` (as in Flask's docs) keeps it: ``app.celery`` returns it.

``batteries worker`` and ``batteries beat`` run Celery for the app (Celery's options pass
through); ``batteries run --with-worker`` starts a worker next to the development server.
``app.task_results(rule)`` adds the result view (:mod:`batteries.task_results`).

Config: ``CELERY`` (dict of Celery settings).
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import os
import re
import sys
import threading
import typing as t
import weakref
from dataclasses import dataclass
from functools import cached_property

import click
from flask import (
    appcontext_pushed,
    appcontext_tearing_down,
    current_app,
    has_app_context,
)
from werkzeug.exceptions import ServiceUnavailable

from . import _compat as compat
from .checks import Check, Found
from .config import Setting
from .drivers import check_database_url, check_service_url
from .signals import task_enqueued
from .state import app_identity, state_of

if t.TYPE_CHECKING:  # pragma: no cover
    from celery import Celery
    from flask import Flask

logger = logging.getLogger(__name__)

CELERY = Setting(
    "CELERY",
    None,
    (dict, type(None)),
    "Celery settings (lowercase names: broker_url, result_backend, ...) for app.celery",
    write=False,
    shown="{} (embedded SQLite broker and results in the instance folder)",
)

CONFIG = (CELERY,)

#: serializers that run code when a message is loaded, by name and by MIME type
UNSAFE_SERIALIZERS = frozenset(
    {
        "pickle",
        "yaml",
        "application/x-python-serialize",
        "application/x-yaml",
        "application/yaml",
        "text/yaml",
    }
)


def _unsafe(name: t.Any) -> bool:
    return str(name).strip().lower() in UNSAFE_SERIALIZERS


def _unsafe_content(app: Flask) -> Found:
    celery = CELERY.get(app)
    if not isinstance(celery, dict):
        return None
    found = []
    for key in ("accept_content", "result_accept_content"):
        accepted = celery.get(key) or ()
        if isinstance(accepted, str):
            accepted = (accepted,)
        if any(_unsafe(a) for a in accepted):
            found.append(
                (
                    f"CELERY[{key!r}]",
                    "accepts pickle/yaml: a message on the broker can run code in the worker.",
                )
            )
    for key in ("task_serializer", "result_serializer"):
        if key in celery and _unsafe(celery[key]):
            found.append(
                (f"CELERY[{key!r}]", f"is {celery[key]!r}: workers then have to accept it.")
            )
    return found


DEPLOY_CHECKS = (
    Check(
        "batteries.E014",
        "error",
        "CELERY",
        'accept and send JSON only (["json"]); pass ids, not objects',
        _unsafe_content,
    ),
)

BROKER_FILE = "celery-broker"
RESULTS_FILE = "celery-results"

_BUILD_LOCK = threading.RLock()

#: Celery apps bound by the app contexts of this context, innermost last: (Flask app, the
#: Celery app the thread had before).
_BOUND: contextvars.ContextVar[tuple[tuple[Flask, object], ...]] = contextvars.ContextVar(
    "batteries_celery_bound", default=()
)


@dataclass
class TasksState:
    """The tasks battery's part of an app's state: the Celery app Batteries built for it."""

    celery: Celery | None = None


class BrokerUnavailable(ServiceUnavailable):
    """A task could not be sent: the broker did not answer (a 503 inside a request)."""


def init_app(app: Flask) -> None:
    """Nothing until Celery is imported: see :func:`bind_contexts`."""


def bind_contexts(app: Flask) -> bool:
    """Bind the app's Celery as Celery's current app in each of its app contexts, once some
    module has imported Celery (``from celery import shared_task``); True once bound.

    ``Batteries`` calls this as it makes a context, until it returns True: an app whose
    process never imports Celery pays no signal per context. After that, the first context
    pushed builds ``app.celery``, so a ``@shared_task`` called in a request or a CLI command
    reaches this app's broker, never Celery's own default (``amqp://localhost``).
    """
    if "celery" not in sys.modules:
        return False
    appcontext_pushed.connect(_bind_current, sender=app)  # connecting twice is one connection
    appcontext_tearing_down.connect(_restore_current, sender=app)
    return True


# -- building the Celery app ----------------------------------------------------------------


def store_path(app: Flask, name: str) -> str:
    """The path of the embedded store ``name`` (``celery-broker``, ``celery-results``) of ``app``.

    In the instance folder; a dispatched tenant's name includes its identity
    (``celery-broker-<tenant>.sqlite``), so tenants sharing an instance folder never read each
    other's tasks or results.
    """
    identity = app_identity(app)
    if identity:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", identity)[:60]
        if safe != identity:  # two identities must never give one file
            safe += "-" + hashlib.sha256(identity.encode()).hexdigest()[:10]
        name = f"{name}-{safe}"
    return os.path.join(app.instance_path, name + ".sqlite")


def defaults(app: Flask, user: dict[str, t.Any]) -> dict[str, t.Any]:
    """Batteries' Celery settings for ``app``, with ``user``'s settings on top."""
    conf: dict[str, t.Any] = {
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "result_expires": 86400,
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 2.0,
        "task_publish_retry_policy": {
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
    }
    broker = str(user.get("broker_url", ""))
    if not broker or (broker.startswith("sqlite:") and "broker_transport" not in user):
        # kombu takes the transport from a "sqla+" URL prefix before broker_transport, and
        # refuses a class path there: the embedded broker's URL is a bare SQLAlchemy URL and its
        # class is named by Celery's broker_transport setting.
        conf["broker_url"] = broker or "sqlite:///" + store_path(app, BROKER_FILE)
        conf["broker_transport"] = EMBEDDED_TRANSPORT
        options = {"polling_interval": 0.05, "visibility_timeout": 30}
        options.update(user.get("broker_transport_options") or {})
        conf["broker_transport_options"] = options
    if "result_backend" not in user:
        path = store_path(app, RESULTS_FILE)
        conf["result_backend"] = "batteries.broker:DatabaseBackend+sqlite:///" + path
        conf["database_engine_options"] = {"connect_args": {"timeout": 30}}
    else:
        backend = str(user["result_backend"])
        if backend.startswith("redis"):
            conf["redis_socket_connect_timeout"] = 2.0
    check_celery_urls(conf)
    if broker.startswith(("redis", "rediss")):
        # Both timeouts: a broker that accepts but never answers must not hang delay().
        options = {"socket_connect_timeout": 2.0, "socket_timeout": 5.0}
        options.update(user.get("broker_transport_options") or {})
        conf["broker_transport_options"] = options
    for key, setting in user.items():
        if key == "broker_transport_options" and key in conf:
            continue
        conf[key] = setting
    return conf


EMBEDDED_TRANSPORT = "batteries.broker:Transport"


def _real_app(app: Flask) -> Flask:
    """``app`` itself when given ``flask.current_app``: a bound method knows its object."""
    return t.cast("Flask", t.cast(t.Any, app.app_context).__self__)


def get_celery(app: Flask, *, prepare: bool = True) -> Celery:
    """The app's Celery app: the user's own ``app.extensions["celery"]``, or Batteries' one.

    Built on first use; made Celery's current app at once when the app's context is pushed.
    ``prepare=False`` leaves the embedded broker's files alone: they are made on first use
    instead of when the Celery app is built.
    """
    app = _real_app(app)  # current_app works too
    ours = _build(app, prepare=prepare)
    if ours is None:
        return t.cast("Celery", app.extensions["celery"])
    if has_app_context() and current_app == app and not _bound_here(app):
        _push(app, ours)  # built inside a context of the app: bound for the rest of it
    return ours


def _build(app: Flask, *, prepare: bool) -> Celery | None:
    """Batteries' Celery app for ``app``, built once; None when the user put their own."""
    state = state_of(app, TasksState)
    ours = state.celery
    theirs = app.extensions.get("celery")
    if theirs is not None and theirs is not ours:
        return None
    if ours is None:
        with _BUILD_LOCK:  # two threads' first use must not build two Celery apps
            ours = state.celery
            if ours is None:
                ours = state.celery = make_celery(app, prepare=prepare)
                app.extensions.setdefault("celery", ours)
                bind_contexts(app)  # Celery is imported by now
    return ours


def check_celery_urls(conf: dict[str, t.Any]) -> None:
    """A broker or result backend URL whose driver is missing names its key and the extra."""
    broker = str(conf.get("broker_url") or "")
    if conf.get("broker_transport") != EMBEDDED_TRANSPORT and "://" in broker:
        check_service_url(broker, "CELERY['broker_url']")
    backend = str(conf.get("result_backend") or "")
    if backend.startswith("db+"):
        check_database_url(backend[3:], "CELERY['result_backend']")
    elif "://" in backend and not backend.startswith("batteries."):
        check_service_url(backend, "CELERY['result_backend']")


def make_celery(app: Flask, *, prepare: bool = True) -> Celery:
    """Build a Celery app for ``app`` from ``app.config["CELERY"]`` and Batteries' defaults.

    The new app is Celery's default app (outside any app context, the last one built wins);
    :func:`get_celery` keeps it in the app's state and binds it in the app's contexts.
    """
    user = CELERY.get(app) or {}
    if not isinstance(user, dict):
        raise TypeError(f"CELERY must be a dict of Celery settings, got {type(user).__name__}")
    conf = defaults(app, user)
    celery_app = celery_class()(app.import_name, task_cls=flask_task_class(), set_as_current=False)
    celery_app.conf.update(conf)
    celery_app.flask_app_ref = weakref.ref(app)
    embedded = celery_app.conf.broker_transport == EMBEDDED_TRANSPORT
    if prepare and (embedded or "result_backend" not in user):
        _prepare_embedded(app, celery_app, broker=embedded)
    from .mail import register_task  # workers know send_mail(later=True)'s task by itself

    register_task(celery_app)
    celery_app.set_default()
    return celery_app


def _prepare_embedded(app: Flask, celery_app: Celery, broker: bool) -> None:
    """Create the SQLite files (private to the user) and their tables up front: two
    processes starting together would race."""
    from . import broker as embedded

    embedded.make_private_folder(app.instance_path)
    if broker:
        engine = embedded.sqlite_engine(celery_app.conf.broker_url)
        try:
            embedded.create_tables(engine)
        finally:
            engine.dispose()
    backend = celery_app.backend
    if isinstance(backend, embedded.DatabaseBackend):
        backend.ResultSession().close()  # a private file in WAL mode, and its tables


# -- binding Celery's current app per app context ------------------------------------------


def _bound_here(app: Flask) -> bool:
    stack = _BOUND.get()
    return bool(stack) and stack[-1][0] is app


def _push(app: Flask, celery_app: Celery) -> None:
    _BOUND.set((*_BOUND.get(), (app, compat.celery_thread_app())))
    celery_app.set_current()


def _bind_current(sender: Flask, **extra: t.Any) -> None:
    """Make the app's Celery Celery's current app for this app context."""
    celery_app = state_of(sender, TasksState).celery
    if celery_app is None:
        if "celery" not in sys.modules:
            return  # nothing can have made a task yet: the app pays one lookup
        # Built without touching the disk: apps that never send a task get no broker files.
        celery_app = _build(sender, prepare=False)
        if celery_app is None:
            return  # the user's own app.extensions["celery"]: theirs to manage
    _push(sender, celery_app)


def _restore_current(sender: Flask, **extra: t.Any) -> None:
    stack = _BOUND.get()
    if not stack or stack[-1][0] is not sender:
        return  # this context bound nothing (Celery was not imported when it was pushed)
    _BOUND.set(stack[:-1])
    previous = stack[-1][1]
    if previous is None:
        compat.clear_celery_thread_app()
    else:
        t.cast("Celery", previous).set_current()


def flask_app_of(celery_app: t.Any) -> Flask | None:
    """The Flask app a Celery app made by Batteries belongs to (None once it was freed)."""
    ref = getattr(celery_app, "flask_app_ref", None)
    return ref() if ref is not None else None


# -- FlaskTask --------------------------------------------------------------------------------

_task_class: type | None = None


def flask_task_class() -> type:
    """``FlaskTask``: a Celery ``Task`` that runs in an app context of its own Flask app."""
    global _task_class
    if _task_class is not None:
        return _task_class
    from celery import Task
    from kombu.exceptions import OperationalError

    class FlaskTask(Task):  # type: ignore[misc]
        """Runs each task inside ``app.app_context()`` of the Flask app that made its Celery.

        Sending it (``delay``/``apply_async``) sends the ``task_enqueued`` signal, and a broker
        that does not answer raises :class:`BrokerUnavailable` (503) naming the setting.
        """

        def __call__(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
            app = flask_app_of(self.app)
            if app is None:
                if getattr(self.app, "flask_app_ref", None) is not None:
                    raise RuntimeError(
                        "The Flask app of this Celery app was garbage-collected. Keep a "
                        "reference to it, e.g. 'flask_app = create_app(); "
                        "celery_app = flask_app.celery'."
                    )
                return super().__call__(*args, **kwargs)
            with app.app_context():
                return super().__call__(*args, **kwargs)

        def apply_async(self, args: t.Any = None, kwargs: t.Any = None, **options: t.Any) -> t.Any:
            try:
                result = super().apply_async(args, kwargs, **options)
            except OperationalError as exc:
                url = self.app.conf.broker_url or ""
                detail = (
                    f"The task broker ({_mask(url)}) did not answer, so task {self.name!r} "
                    f"was not sent: {exc}. Start the broker or fix CELERY['broker_url']."
                )
                logger.error("%s", detail)
                flask_app = flask_app_of(self.app)
                if flask_app is None or not flask_app.debug:
                    # what a visitor may see: no address, no driver's words (they are logged)
                    detail = (
                        f"The task queue (CELERY['broker_url']) did not answer, so task "
                        f"{self.name!r} was not sent. Try again in a moment."
                    )
                raise BrokerUnavailable(detail) from exc
            if not (self.app.conf.task_always_eager or options.get("task_always_eager")):
                app = flask_app_of(self.app)
                if app is not None and task_enqueued.receivers:
                    task_enqueued.send(app, task_id=result.id, task_name=self.name)
            return result

    FlaskTask.__module__ = __name__
    _task_class = FlaskTask
    return FlaskTask


_celery_class: type | None = None


def celery_class() -> type:
    """``BatteriesCelery``: Celery's app class that knows its Flask app, and whose results
    (``delay()``'s and ``AsyncResult(id)``'s) are :class:`batteries.broker.QuickResult` when the
    result backend is the embedded one."""
    global _celery_class
    if _celery_class is not None:
        return _celery_class
    from celery import Celery

    class BatteriesCelery(Celery):  # type: ignore[misc]
        #: a weak reference to the Flask app this Celery app was built for
        flask_app_ref: t.Callable[[], Flask | None] | None = None

        @cached_property
        def AsyncResult(self) -> type:  # Celery's name
            if not getattr(self.backend, "quick_poll", False):
                return t.cast(type, super().AsyncResult)
            from .broker import QuickResult

            return t.cast(type, self.subclass_with_self(QuickResult, reverse="AsyncResult"))

    BatteriesCelery.__module__ = __name__
    _celery_class = BatteriesCelery
    return BatteriesCelery


def _mask(url: str) -> str:
    """``url`` with its password hidden."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        auth, _, host = rest.rpartition("@")
        user = auth.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


def __getattr__(name: str) -> t.Any:
    if name == "FlaskTask":
        return flask_task_class()
    if name == "BatteriesCelery":
        return celery_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- CLI --------------------------------------------------------------------------------------

_PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": True}


@click.command(
    "worker",
    context_settings=_PASS_THROUGH,
    add_help_option=False,  # --help reaches Celery: its worker options are listed
    short_help="Run a Celery worker for the app.",
)
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def worker_command(celery_args: tuple[str, ...]) -> None:
    """Run a Celery worker for the app; Celery's worker options pass through
    (e.g. ``batteries worker --loglevel info -c 2 -Q emails``)."""
    from flask.cli import ScriptInfo

    app = click.get_current_context().ensure_object(ScriptInfo).load_app()
    get_celery(app).worker_main(["worker", *celery_args])


@click.command(
    "beat",
    context_settings=_PASS_THROUGH,
    add_help_option=False,
    short_help="Run Celery beat (periodic tasks) for the app.",
)
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def beat_command(celery_args: tuple[str, ...]) -> None:
    """Run Celery beat for the app; Celery's beat options pass through."""
    from flask.cli import ScriptInfo

    app = click.get_current_context().ensure_object(ScriptInfo).load_app()
    get_celery(app).start(["beat", *celery_args])


def _die_with_parent() -> None:
    """In the worker child (Linux): get SIGTERM when the server process ends, however it ends."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # pragma: no cover - not glibc
        pass


def start_worker_process(app_import_path: str | None) -> t.Any:
    """Start ``batteries worker`` in a subprocess (for ``batteries run --with-worker``)."""
    import atexit
    import signal
    import subprocess

    command = [sys.executable, "-m", "batteries"]
    if app_import_path:
        command += ["--app", app_import_path]
    command += ["worker", "--loglevel", "INFO"]
    process = subprocess.Popen(
        command, preexec_fn=_die_with_parent if sys.platform == "linux" else None
    )

    def stop() -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # the main process only (a warm shutdown)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()

    atexit.register(stop)
    return process

"""The embedded Celery broker and result store: SQLite files, no other service.

Part of Flask's "Background Tasks with Celery" pattern: with no configuration, ``app.celery``
keeps its queue in ``<instance>/celery-broker.sqlite`` and its results in
``<instance>/celery-results.sqlite`` (both private to the user: 0600, the folder 0700 when
Batteries makes it), so tasks work with no other service.

:class:`Transport` is a kombu *virtual* transport of Batteries' own, on one table of its own
(``batteries_message``) written with SQLAlchemy Core:

- a message is a row with a ``visible_at`` time (epoch seconds) and a ``deliveries`` count;
  a consumer takes the oldest row whose ``visible_at`` has passed, and taking it moves
  ``visible_at`` to now + ``visibility_timeout`` (default 30 s): a lease. A live consumer renews
  the leases of the messages it holds; a consumer killed with SIGKILL stops renewing them, and
  they are delivered again when their lease ends;
- an acknowledged (or rejected) message's row is deleted; a message put back (``requeue``, or
  the unacknowledged messages of a channel that closes) becomes visible again at once;
- a message taken ``max_deliveries`` times (default 5) is left in the table, not delivered
  again (a poison message cannot loop for ever);
- consumers poll every ``polling_interval`` (default 50 ms); an idle poll is one read, without
  SQLite's write lock.

:class:`DatabaseBackend` is Celery's database result backend with an hourly clean-up of results
older than ``result_expires``; the results ``app.celery`` makes with it (``delay()``'s,
``app.celery.AsyncResult(id)``) are :class:`QuickResult`, whose ``get()`` polls it from 5 ms up
to 50 ms instead of every 500 ms.

Select them with Celery settings (``app.celery`` does this for you when ``broker_url`` is unset)::

    CELERY = {
        "broker_url": "sqlite:////path/celery-broker.sqlite",
        "broker_transport": "batteries.broker:Transport",
        "broker_transport_options": {"polling_interval": 0.05, "visibility_timeout": 30},
        "result_backend": "batteries.broker:DatabaseBackend+sqlite:////path/celery-results.sqlite",
    }

(``broker_transport`` is Celery's public setting for a transport class; kombu refuses a class
path in the URL itself.)
"""

from __future__ import annotations

import logging
import os
import threading
import time
import typing as t
from queue import Empty

import sqlalchemy
from celery.backends.database import DatabaseBackend as _CeleryDatabaseBackend
from celery.exceptions import TimeoutError as CeleryTimeoutError
from celery.result import AsyncResult, assert_will_not_block
from kombu.transport import virtual
from kombu.utils.json import dumps, loads
from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import OperationalError

from .sqlite import enable_wal

logger = logging.getLogger(__name__)

#: Defaults of the transport options this module reads.
POLLING_INTERVAL = 0.05
VISIBILITY_TIMEOUT = 30.0
MAX_DELIVERIES = 5

_MUTEX = threading.RLock()

METADATA = MetaData()

#: The broker's one table: a row per message not yet acknowledged.
MESSAGES = Table(
    "batteries_message",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("queue", String(255), nullable=False),
    Column("payload", Text, nullable=False),
    # epoch seconds: when the message may be taken; for a taken message, when its lease ends
    Column("visible_at", Float, nullable=False),
    Column("deliveries", Integer, nullable=False, default=0),
    Index("batteries_message_next", "queue", "visible_at", "id"),
)


# -- files and engines -----------------------------------------------------------------------


def make_private_folder(folder: str) -> None:
    """Create ``folder`` and its missing parents, each private to the user (0700)."""
    folder = os.path.abspath(folder)
    missing = []
    while folder and not os.path.isdir(folder):
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass


def sqlite_file(url: str) -> str | None:
    """The path of the SQLite database file ``url`` names, or None (another database, memory)."""
    if not url.startswith("sqlite"):
        return None
    database = sqlalchemy.engine.make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return os.path.abspath(database)


def ensure_private_sqlite(url: str) -> None:
    """Create the SQLite file of ``url`` (and its folder) private to the user, if missing.

    SQLite gives its ``-wal`` and ``-shm`` files the mode of the database file, so they are
    private too. A file that already exists is left as it is.
    """
    path = sqlite_file(url)
    if path is None:
        return
    make_private_folder(os.path.dirname(path))
    if not os.path.exists(path):
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _sqlite_on_connect(dbapi_connection: t.Any, record: t.Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def sqlite_engine(url: str, **options: t.Any) -> t.Any:
    """An engine for ``url``; on SQLite: a private file, a 30 s busy timeout, WAL journaling."""
    ensure_private_sqlite(url)
    if url.startswith("sqlite"):
        connect_args = dict(options.pop("connect_args", None) or {})
        connect_args.setdefault("timeout", 30)
        options["connect_args"] = connect_args
    engine = create_engine(url, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
        with engine.connect() as conn:
            enable_wal(conn.connection.driver_connection)
    return engine


def _retry_race(action: t.Callable[[], t.Any], attempts: int = 10) -> t.Any:
    """Run ``action``, again on OperationalError (two processes creating tables at once)."""
    for attempt in range(attempts):
        try:
            return action()
        except OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.02 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def create_tables(engine: t.Any) -> None:
    """Create the broker's table; two processes doing it at once may race, so retry."""
    _retry_race(lambda: METADATA.create_all(engine))


_engines: dict[tuple[str, int], t.Any] = {}


def _forget_engines_after_fork() -> None:
    # A forked child never uses (nor closes) its parent's SQLite connections.
    for engine in list(_engines.values()):
        engine.dispose(close=False)
    _engines.clear()


os.register_at_fork(after_in_child=_forget_engines_after_fork)


def broker_engine(url: str, engine_options: dict[str, t.Any] | None = None) -> t.Any:
    """The process's engine for the broker at ``url``, its table created."""
    key = (url, os.getpid())
    found = _engines.get(key)
    if found is None:
        with _MUTEX:
            found = _engines.get(key)
            if found is None:
                found = sqlite_engine(url, **dict(engine_options or {}))
                create_tables(found)
                _engines[key] = found
    return found


# -- the transport ---------------------------------------------------------------------------


class Channel(virtual.Channel):
    """A channel of the embedded broker.

    kombu's virtual transports are extended through ``_get``, ``_put``, ``_purge``, ``_size``,
    ``_new_queue``, ``_has_queue`` and ``_delete``: the documented hooks of
    ``kombu.transport.virtual.AbstractChannel`` (kombu's "writing a virtual transport"), the public
    seam for a transport. Everything else overridden here (``basic_ack``, ``basic_reject``,
    ``drain_events``, ``close``) is the public AMQP channel API, extended through ``super()``.
    """

    def __init__(self, connection: t.Any, **kwargs: t.Any) -> None:
        super().__init__(connection, **kwargs)
        options = connection.client.transport_options
        self.url: str = connection.client.hostname
        self.engine_options: dict[str, t.Any] = dict(options.get("engine_options") or {})
        self.visibility_timeout = float(options.get("visibility_timeout", VISIBILITY_TIMEOUT))
        self.max_deliveries = int(options.get("max_deliveries", MAX_DELIVERIES))
        self.leases: dict[str, int] = {}  # delivery tag -> row id of the messages held
        self.ackless_consumers: dict[str, str] = {}  # consumer tag -> queue, consumed without acks
        self.renewed = time.monotonic()
        self.engine  # noqa: B018 - the table exists before the first message

    @property
    def engine(self) -> t.Any:
        return broker_engine(self.url, self.engine_options)

    # -- the virtual transport's hooks ----------------------------------------------------

    def _new_queue(self, queue: str, **kwargs: t.Any) -> None:
        """Queues exist by name: a message row carries its queue."""

    def _has_queue(self, queue: str, **kwargs: t.Any) -> bool:
        return True

    def _put(self, queue: str, message: dict[str, t.Any], **kwargs: t.Any) -> None:
        now = time.time()
        tag = (message.get("properties") or {}).get("delivery_tag")
        row_id = self.leases.pop(tag, None) if tag is not None else None
        c = MESSAGES.c
        with self.engine.connect() as conn:
            if row_id is not None:
                # A message this channel took, put back (a requeue, or a restore at close):
                # visible again at once, its delivery count kept.
                done = conn.execute(
                    update(MESSAGES).where(c.id == row_id).values(queue=queue, visible_at=now)
                )
                if done.rowcount:
                    conn.commit()
                    return
            conn.execute(
                insert(MESSAGES).values(
                    queue=queue, payload=dumps(message), visible_at=now, deliveries=0
                )
            )
            conn.commit()

    def _takeable(self, queue: str, now: float) -> t.Any:
        c = MESSAGES.c
        return (c.queue == queue) & (c.visible_at <= now) & (c.deliveries < self.max_deliveries)

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, t.Any]:
        self.renew_leases()
        now = time.time()
        wanted = self._takeable(queue, now)
        c = MESSAGES.c
        with self.engine.connect() as conn:
            # A read first: an idle consumer polls without taking SQLite's write lock.
            row_id = conn.execute(select(c.id).where(wanted).order_by(c.id).limit(1)).scalar()
            if row_id is None:
                raise Empty()
            claimed = conn.execute(
                update(MESSAGES)
                .where((c.id == row_id) & wanted)
                .values(visible_at=now + self.visibility_timeout, deliveries=c.deliveries + 1)
                .returning(c.payload, c.deliveries)
            ).first()
            conn.commit()
        if claimed is None:  # another consumer took it between the read and the update
            raise Empty()
        payload: dict[str, t.Any] = loads(claimed.payload)
        if claimed.deliveries > 1:
            payload["redelivered"] = True
            logger.warning(
                "message %s on queue %s delivered again (delivery %d of at most %d)",
                row_id,
                queue,
                claimed.deliveries,
                self.max_deliveries,
            )
        tag = (payload.get("properties") or {}).get("delivery_tag")
        if tag is not None:
            self.leases[tag] = row_id
            if queue in self.ackless_consumers.values():  # no ack will come: the row goes now
                self.forget(tag)
        return payload

    def _size(self, queue: str) -> int:
        with self.engine.connect() as conn:
            found = conn.execute(
                select(func.count()).select_from(MESSAGES).where(self._takeable(queue, time.time()))
            ).scalar()
        return int(found or 0)

    def _purge(self, queue: str) -> int:
        """Delete the messages of ``queue`` waiting to be taken (not those held by consumers)."""
        c = MESSAGES.c
        with self.engine.connect() as conn:
            done = conn.execute(
                delete(MESSAGES).where((c.queue == queue) & (c.visible_at <= time.time()))
            )
            conn.commit()
        return int(done.rowcount or 0)

    def _delete(self, queue: str, *args: t.Any, **kwargs: t.Any) -> None:
        self._purge(queue)

    # -- leases ---------------------------------------------------------------------------

    def renew_leases(self, force: bool = False) -> None:
        """Move on the lease end of the messages this channel holds (a live consumer's)."""
        if not self.leases:
            return
        now = time.monotonic()
        if not force and now - self.renewed < self.visibility_timeout / 4:
            return
        self.renewed = now
        try:
            with self.engine.connect() as conn:
                conn.execute(
                    update(MESSAGES)
                    .where(MESSAGES.c.id.in_(list(self.leases.values())))
                    .values(visible_at=time.time() + self.visibility_timeout)
                )
                conn.commit()
        except OperationalError as exc:  # pragma: no cover - database busy for 30 s
            logger.warning("could not renew message leases: %s", exc)

    def forget(self, tag: str) -> None:
        """Delete the row of a message acknowledged (or rejected) through this channel."""
        row_id = self.leases.pop(tag, None)
        if row_id is None:
            return
        with self.engine.connect() as conn:
            conn.execute(delete(MESSAGES).where(MESSAGES.c.id == row_id))
            conn.commit()

    # -- the AMQP channel API, extended -----------------------------------------------------

    def drain_events(self, timeout: float | None = None, callback: t.Any = None) -> t.Any:
        self.renew_leases()  # on every poll, even while the prefetch limit is reached
        return super().drain_events(timeout=timeout, callback=callback)

    def basic_consume(
        self, queue: str, no_ack: bool, callback: t.Any, consumer_tag: str, **kwargs: t.Any
    ) -> t.Any:
        if no_ack:
            self.ackless_consumers[consumer_tag] = queue
        return super().basic_consume(queue, no_ack, callback, consumer_tag, **kwargs)

    def basic_cancel(self, consumer_tag: str) -> t.Any:
        self.ackless_consumers.pop(consumer_tag, None)
        return super().basic_cancel(consumer_tag)

    def basic_get(self, queue: str, no_ack: bool = False, **kwargs: t.Any) -> t.Any:
        message = super().basic_get(queue, no_ack=no_ack, **kwargs)
        if message is not None and no_ack:
            self.forget(message.delivery_tag)
        return message

    def basic_ack(self, delivery_tag: str, multiple: bool = False) -> None:
        super().basic_ack(delivery_tag, multiple)
        self.forget(delivery_tag)

    def basic_reject(self, delivery_tag: str, requeue: bool = False) -> None:
        super().basic_reject(delivery_tag, requeue=requeue)  # a requeue comes back via _put
        self.forget(delivery_tag)


class Transport(virtual.Transport):
    """The embedded broker's kombu transport: the broker URL is an SQLAlchemy URL."""

    Channel = Channel
    polling_interval = POLLING_INTERVAL
    can_parse_url = True  # kombu passes the whole URL through as the hostname
    driver_type = "sql"
    driver_name = "sqlalchemy"
    connection_errors = (OperationalError,)
    channel_errors = (OperationalError,)

    def driver_version(self) -> str:
        return str(sqlalchemy.__version__)

    def drain_events(self, connection: t.Any, timeout: float | None = None) -> t.Any:  # type: ignore[override]
        channels: list[Channel] = list(self.channels or ())
        for channel in channels:
            channel.renew_leases()
        return super().drain_events(connection, timeout=timeout)


# -- the result backend ----------------------------------------------------------------------


class DatabaseBackend(_CeleryDatabaseBackend):
    """Celery's database result backend: private files, tables made up front, a clean-up.

    Only its public methods are extended: ``ResultSession`` (the file made private and put in
    WAL mode once per process, a race to create tables retried) and ``store_result`` (results older than ``result_expires`` deleted
    about once an hour, per process).
    """

    #: seconds between two clean-ups of expired results, per process
    cleanup_every = 3600.0
    #: read by :class:`QuickResult`: ``get()`` polls this backend quickly
    quick_poll = True

    cleaned_at = float("-inf")
    prepared: t.ClassVar[set[tuple[str, int]]] = set()  # (url, pid) whose file is made and in WAL

    def ResultSession(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        key = (str(self.url), os.getpid())
        if key not in self.prepared:
            sqlite_engine(key[0]).dispose()  # a private file, WAL journaling (once per process)
            self.prepared.add(key)
        return _retry_race(lambda: super(DatabaseBackend, self).ResultSession(*args, **kwargs))

    def store_result(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        stored = super().store_result(*args, **kwargs)
        now = time.monotonic()
        if now - type(self).cleaned_at > self.cleanup_every:
            type(self).cleaned_at = now
            try:
                self.cleanup()
            except Exception as exc:  # never fail a task over house-keeping
                logger.warning("could not delete expired task results: %s", exc)
        return stored


class QuickResult(AsyncResult):
    """The results of an ``app.celery`` whose backend is :class:`DatabaseBackend`.

    Celery polls a database result backend at a flat ``interval`` (0.5 s) in ``get()``. This
    one asks the public ``ready()`` with a pause growing from 5 ms to 50 ms (never longer than
    ``interval``), then lets Celery's own ``get()`` return the stored value. Results with
    parents (a chain's errors) are left to Celery's ``get()``.
    """

    max_poll = 0.05

    def get(
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = 0.5,
        **options: t.Any,
    ) -> t.Any:
        quick = getattr(self.backend, "quick_poll", False)
        if quick and self.parent is None and not self.ignored:
            if options.get("disable_sync_subtasks", True):
                assert_will_not_block()
            self.wait_ready(timeout, interval, options.get("on_interval"))
        return super().get(timeout=timeout, propagate=propagate, interval=interval, **options)

    def wait_ready(
        self,
        timeout: float | None,
        interval: float = 0.5,
        on_interval: t.Callable[[], t.Any] | None = None,
    ) -> None:
        """Return once the result is ready; Celery's ``TimeoutError`` after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        nap = 0.005
        cap = min(interval, self.max_poll) if interval else self.max_poll
        while not self.ready():
            if on_interval:
                on_interval()
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CeleryTimeoutError("The operation timed out.")
                nap = min(nap, left)
            time.sleep(nap)
            nap = min(nap * 1.5, cap)

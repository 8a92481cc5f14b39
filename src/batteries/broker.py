"""The embedded Celery broker: kombu's SQLAlchemy transport on SQLite, made reliable and quick.

Part of Flask's "Background Tasks with Celery" pattern: with no configuration, ``app.celery``
keeps its queue in ``<instance>/celery-broker.sqlite`` and its results in
``<instance>/celery-results.sqlite``, so tasks work with no other service. Stock kombu 5.7's
SQLAlchemy transport has three faults this module fixes, in a small subclass:

- it polls once a second, and its poll interval cannot be set (every transport option is handed
  to ``create_engine``, which refuses unknown ones). Here transport options are filtered
  (``engine_options`` is what reaches ``create_engine``) and the default poll is 50 ms;
- it never deletes delivered messages. Here an acked (or rejected) message's row is deleted;
- a worker killed with SIGKILL loses the messages it had taken. Here a taken message is leased:
  the row keeps the time it was taken, a live worker renews the lease of the messages it holds,
  and a message whose lease is older than ``visibility_timeout`` (default 30 s) is delivered
  again. A message delivered ``max_deliveries`` times (default 5) is left in the table, not
  delivered again (a poison message cannot loop for ever).

The result backend (:class:`DatabaseBackend`) is Celery's database backend with quicker polling
in ``AsyncResult.get()`` (5 ms growing to 50 ms, instead of a flat 500 ms) and an hourly clean-up
of results older than ``result_expires``.

Select it with Celery settings (``app.celery`` does this for you when ``broker_url`` is unset)::

    CELERY = {
        # no "sqla+" prefix: kombu would pick its stock transport from it
        "broker_url": "sqlite:////path/celery-broker.sqlite",
        "broker_transport": "batteries.broker:Transport",
        "broker_transport_options": {"polling_interval": 0.05, "visibility_timeout": 30},
        "result_backend": "batteries.broker:DatabaseBackend+sqlite:////path/celery-results.sqlite",
    }
"""

from __future__ import annotations

import datetime
import logging
import os
import threading
import time
import typing as t
import warnings
from queue import Empty

from celery.backends.database import DatabaseBackend as _CeleryDatabaseBackend
from kombu.transport.sqlalchemy import Channel as _Channel
from kombu.transport.sqlalchemy import Transport as _Transport
from kombu.transport.sqlalchemy import models
from sqlalchemy import create_engine, delete, event, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import configure_mappers, sessionmaker

logger = logging.getLogger(__name__)

#: Defaults of the transport options this module reads.
POLLING_INTERVAL = 0.05
VISIBILITY_TIMEOUT = 30.0
MAX_DELIVERIES = 5

_MUTEX = threading.RLock()


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def _sqlite_on_connect(dbapi_connection: t.Any, record: t.Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def ensure_sqlite_folder(url: str) -> None:
    """Create the folder of an SQLite database file (the instance folder, on first use)."""
    if not url.startswith("sqlite"):
        return
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        folder = os.path.dirname(os.path.abspath(database))
        os.makedirs(folder, exist_ok=True)


def sqlite_engine(url: str, **options: t.Any) -> t.Any:
    """An engine for ``url``; on SQLite, with a 30 s busy timeout and WAL journaling."""
    ensure_sqlite_folder(url)
    if url.startswith("sqlite"):
        connect_args = dict(options.pop("connect_args", None) or {})
        connect_args.setdefault("timeout", 30)
        options["connect_args"] = connect_args
    engine = create_engine(url, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    return engine


def declare_models(queue_tablename: str = "kombu_queue", message_tablename: str = "kombu_message"):
    """Declare kombu's Queue and Message models (kombu does it lazily, per channel)."""
    registry = models.class_registry
    with _MUTEX:
        if "Queue" not in registry:
            type("Queue", (models.Queue, models.ModelBase), {"__tablename__": queue_tablename})
        if "Message" not in registry:
            type(
                "Message", (models.Message, models.ModelBase), {"__tablename__": message_tablename}
            )
        # kombu's models use lazy="noload", deprecated in SQLAlchemy 2.1: configure the mappers
        # now, with that one warning silenced, so it never reaches the app (or its tests).
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*noload.*", category=DeprecationWarning)
            configure_mappers()
    return registry["Queue"], registry["Message"]


def create_tables(engine: t.Any, attempts: int = 10) -> None:
    """Create the broker's tables; two processes doing it at once may race, so retry."""
    declare_models()
    for attempt in range(attempts):
        try:
            models.metadata.create_all(engine)
            return
        except OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.02 * (attempt + 1))


class Channel(_Channel):
    """kombu's SQLAlchemy channel with leases, deletion on ack and filtered options."""

    _engines: dict[str, t.Any] = {}  # our own cache, apart from stock kombu's

    def __init__(self, connection: t.Any, **kwargs: t.Any) -> None:
        options = connection.client.transport_options
        declare_models(
            options.get("queue_tablename", "kombu_queue"),
            options.get("message_tablename", "kombu_message"),
        )
        super().__init__(connection, **kwargs)
        self.visibility_timeout = float(options.get("visibility_timeout", VISIBILITY_TIMEOUT))
        self.max_deliveries = int(options.get("max_deliveries", MAX_DELIVERIES))
        self._queue_ids: dict[str, int] = {}
        self._leases: dict[str, int] = {}  # delivery tag -> message row id
        self._renewed = time.monotonic()

    # -- engine -----------------------------------------------------------------------------

    def _engine_from_config(self) -> t.Any:
        conninfo = self.connection.client
        options = dict(conninfo.transport_options.get("engine_options") or {})
        return sqlite_engine(conninfo.hostname, **options)

    def _open(self) -> t.Any:
        url = self.connection.client.hostname
        found = self._engines.get(url)
        if found is None:
            with _MUTEX:
                found = self._engines.get(url)
                if found is None:
                    engine = self._engine_from_config()
                    create_tables(engine)
                    found = self._engines[url] = (engine, sessionmaker(bind=engine))
        return found

    @property
    def engine(self) -> t.Any:
        return self._open()[0]

    def _queue_id(self, queue: str) -> int:
        queue_id = self._queue_ids.get(queue)
        if queue_id is None:
            obj = self._get_or_create(queue)
            queue_id = self._queue_ids[queue] = obj.id
            self.session.commit()
        return queue_id

    # -- getting, acking, restoring ---------------------------------------------------------

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, t.Any]:
        from json import loads

        self.renew_leases()
        table = self.message_cls.__table__
        c = table.c
        queue_id = self._queue_id(queue)
        now = _utcnow()
        cutoff = now - datetime.timedelta(seconds=self.visibility_timeout)
        takeable = or_(c.visible.is_(True), c.timestamp < cutoff)
        wanted = (c.queue_id == queue_id) & takeable & (c.version <= self.max_deliveries)
        with self.engine.connect() as conn:
            # A read first: an idle worker polls without taking SQLite's write lock.
            row_id = conn.execute(
                select(c.id).where(wanted).order_by(c.id).limit(1)
            ).scalar()
            if row_id is None:
                raise Empty()
            claimed = conn.execute(
                update(table)
                .where((c.id == row_id) & wanted)
                .values(visible=False, timestamp=now, version=c.version + 1)
                .returning(c.payload, c.version)
            ).first()
            conn.commit()
        if claimed is None:  # another worker took it between the read and the update
            raise Empty()
        payload = loads(claimed.payload)
        if claimed.version > 2:
            payload["redelivered"] = True
            logger.warning(
                "message %s on queue %s delivered again (delivery %d of at most %d)",
                row_id,
                queue,
                claimed.version - 1,
                self.max_deliveries,
            )
        tag = payload.get("properties", {}).get("delivery_tag")
        if tag is not None:
            self._leases[tag] = row_id
        return payload

    def renew_leases(self, force: bool = False) -> None:
        """Refresh the lease time of the messages this channel holds (a live worker's)."""
        if not self._leases:
            return
        now = time.monotonic()
        if not force and now - self._renewed < self.visibility_timeout / 4:
            return
        self._renewed = now
        table = self.message_cls.__table__
        try:
            with self.engine.connect() as conn:
                conn.execute(
                    update(table)
                    .where(table.c.id.in_(list(self._leases.values())))
                    .values(timestamp=_utcnow())
                )
                conn.commit()
        except OperationalError as exc:  # pragma: no cover - database busy for 30 s
            logger.warning("could not renew message leases: %s", exc)

    def drain_events(self, timeout: float | None = None, callback: t.Any = None) -> t.Any:
        self.renew_leases()  # on every poll, even while the prefetch limit is reached
        return super().drain_events(timeout=timeout, callback=callback)

    def _forget(self, tag: str) -> None:
        row_id = self._leases.pop(tag, None)
        if row_id is None:
            return
        table = self.message_cls.__table__
        with self.engine.connect() as conn:
            conn.execute(delete(table).where(table.c.id == row_id))
            conn.commit()

    def basic_ack(self, delivery_tag: str, multiple: bool = False) -> None:
        super().basic_ack(delivery_tag, multiple)
        self._forget(delivery_tag)

    def basic_reject(self, delivery_tag: str, requeue: bool = False) -> None:
        super().basic_reject(delivery_tag, requeue=requeue)  # requeue goes through _restore
        self._forget(delivery_tag)

    def _restore(self, message: t.Any) -> None:
        row_id = self._leases.pop(message.delivery_tag, None)
        if row_id is None:
            super()._restore(message)
            return
        table = self.message_cls.__table__
        with self.engine.connect() as conn:
            conn.execute(
                update(table).where(table.c.id == row_id).values(visible=True, timestamp=None)
            )
            conn.commit()

    def close(self) -> None:
        super().close()  # restores unacked messages through _restore
        if self._session is not None:
            self._session.close()
            self._session = None


class Transport(_Transport):
    """kombu's SQLAlchemy transport with :class:`Channel` and a 50 ms poll."""

    Channel = Channel
    polling_interval = POLLING_INTERVAL

    def drain_events(self, connection: t.Any, timeout: float | None = None) -> t.Any:  # type: ignore[override]
        channels: list[Channel] = list(self.channels or ())
        for channel in channels:
            channel.renew_leases()
        return super().drain_events(connection, timeout=timeout)


class DatabaseBackend(_CeleryDatabaseBackend):
    """Celery's database result backend with quick polling and a periodic clean-up."""

    #: seconds between two clean-ups of expired results, per process
    cleanup_every = 3600.0
    #: longest pause between two reads of a result in ``AsyncResult.get()``
    max_poll = 0.05

    _cleaned = float("-inf")

    def wait_for(
        self,
        task_id: str,
        timeout: float | None = None,
        interval: float = 0.5,
        no_ack: bool = True,
        on_interval: t.Callable[[], t.Any] | None = None,
    ) -> t.Any:
        from celery import states
        from celery.exceptions import TimeoutError

        self._ensure_not_eager()
        deadline = None if timeout is None else time.monotonic() + timeout
        nap = 0.005
        cap = min(interval, self.max_poll) if interval else self.max_poll
        while True:
            meta = self.get_task_meta(task_id)
            if meta["status"] in states.READY_STATES:
                return meta
            if on_interval:
                on_interval()
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("The operation timed out.")
                nap = min(nap, left)
            time.sleep(nap)
            nap = min(nap * 1.5, cap)

    def ResultSession(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        """Celery's session, with the instance folder made and a race to create tables retried."""
        ensure_sqlite_folder(str(self.url))
        for attempt in range(10):
            try:
                return super().ResultSession(*args, **kwargs)
            except OperationalError:
                if attempt == 9:
                    raise
                time.sleep(0.02 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _store_result(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        stored = super()._store_result(*args, **kwargs)
        now = time.monotonic()
        if now - type(self)._cleaned > self.cleanup_every:
            type(self)._cleaned = now
            try:
                self.cleanup()
            except Exception as exc:  # never fail a task over house-keeping
                logger.warning("could not delete expired task results: %s", exc)
        return stored

"""Streamed responses: Server-Sent Events and JSON lines.

Flask's "Streaming Contents" pattern returns a generator and leaves the rest to the reader:
keeping the request context (``stream_with_context``), the headers that stop proxies from
buffering, the SSE wire format, and keep-alives so idle connections are not cut. These helpers do
all of that; ``stream_template``/``stream_with_context`` keep working as in Flask. ::

    from batteries.streaming import Event, event_stream, json_lines

    @app.get("/events")
    def events():
        def updates():
            for n in range(3):
                yield {"n": n, "user": request.args.get("user")}   # request is usable here
                time.sleep(1)
            yield Event("done", event="end")
        return event_stream(updates())

    @app.get("/rows.jsonl")
    def rows():
        return json_lines({"id": i} for i in range(1000))

``event_stream`` items: a ``str`` (sent as ``data:`` lines), an :class:`Event` (``event``, ``id``,
``retry``), or anything else (sent as JSON). While the iterable is slow to produce its next item,
a comment line (``: keep-alive``) is sent every ``keep_alive`` seconds; the iterable then runs in
a helper thread with the request context copied. When the client goes away, the iterable is
closed after the item it is working on.
"""

from __future__ import annotations

import contextvars
import queue
import threading
import typing as t
from dataclasses import dataclass

from flask import current_app, has_request_context, json, stream_with_context

if t.TYPE_CHECKING:  # pragma: no cover
    from flask.wrappers import Response

NO_BUFFERING = {"X-Accel-Buffering": "no", "Cache-Control": "no-cache"}


@dataclass(frozen=True)
class Event:
    """One Server-Sent Event: ``data`` (str, or anything JSON can encode) and optional fields."""

    data: t.Any = ""
    event: str | None = None
    id: str | None = None
    retry: int | None = None


def _field(name: str, text: str) -> str:
    if "\n" in text or "\r" in text or "\0" in text:
        raise ValueError(f"An SSE {name} cannot contain a line break or NUL: {text[:40]!r}.")
    return f"{name}: {text}\n"


def format_event(item: t.Any) -> str:
    """The wire form of ``item`` (ends with the blank line that closes an event)."""
    event = item if isinstance(item, Event) else Event(item)
    lines = []
    if event.event is not None:
        lines.append(_field("event", event.event))
    if event.id is not None:
        lines.append(_field("id", str(event.id)))
    if event.retry is not None:
        lines.append(f"retry: {int(event.retry)}\n")
    data = event.data
    if not isinstance(data, str):
        data = json.dumps(data, separators=(",", ":"))
    lines.extend(f"data: {line}\n" for line in data.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return "".join(lines) + "\n"


_DONE = object()


def _pump(
    iterator: t.Iterator[t.Any],
    context: contextvars.Context,
    out: queue.Queue[tuple[t.Any, t.Any]],
    stop: threading.Event,
) -> None:
    """Run in a helper thread: pull items into ``out`` until the end, an error, or ``stop``."""
    while True:
        try:
            item = context.run(next, iterator)
        except StopIteration:
            out.put((_DONE, None))
            return
        except BaseException as e:  # handed to the response thread, which raises it
            out.put((_DONE, e))
            return
        if stop.is_set():
            close = getattr(iterator, "close", None)
            if close is not None:
                context.run(close)
            return
        out.put((item, None))


def _with_keep_alive(iterable: t.Iterable[t.Any], keep_alive: float) -> t.Iterator[t.Any]:
    """Yield the iterable's items, and ``None`` whenever ``keep_alive`` seconds pass without one."""
    out: queue.Queue[tuple[t.Any, t.Any]] = queue.Queue(maxsize=16)
    stop = threading.Event()
    context = contextvars.copy_context()
    thread = threading.Thread(
        target=_pump, args=(iter(iterable), context, out, stop), daemon=True, name="event_stream"
    )
    thread.start()
    try:
        while True:
            try:
                item, error = out.get(timeout=keep_alive)
            except queue.Empty:
                yield None
                continue
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        # unblock a producer waiting on a full queue
        while not out.empty():
            try:
                out.get_nowait()
            except queue.Empty:  # pragma: no cover - raced with the producer
                break


def event_stream(
    iterable: t.Iterable[t.Any],
    *,
    keep_alive: float | None = 15.0,
    retry: int | None = None,
    status: int = 200,
    headers: t.Mapping[str, str] | None = None,
) -> Response:
    """A ``text/event-stream`` response sending each item of ``iterable`` as an event.

    ``keep_alive``: seconds of silence before a ``: keep-alive`` comment (None: never, and the
    iterable runs in the response's own thread). ``retry``: the reconnection delay (ms) sent
    first. Headers: ``Cache-Control: no-cache`` and ``X-Accel-Buffering: no`` (nginx).
    """

    def generate() -> t.Iterator[str]:
        yield f"retry: {int(retry)}\n\n" if retry is not None else ": stream open\n\n"
        items = iterable if keep_alive is None else _with_keep_alive(iterable, keep_alive)
        for item in items:
            yield ": keep-alive\n\n" if item is None and keep_alive is not None else format_event(item)

    return _response(generate(), "text/event-stream", status, headers)


def json_lines(
    iterable: t.Iterable[t.Any],
    *,
    status: int = 200,
    headers: t.Mapping[str, str] | None = None,
) -> Response:
    """An ``application/x-ndjson`` response: one compact JSON document per line."""

    def generate() -> t.Iterator[str]:
        for item in iterable:
            yield json.dumps(item, separators=(",", ":")) + "\n"

    return _response(generate(), "application/x-ndjson", status, headers)


def _response(
    body: t.Iterator[str], mimetype: str, status: int, headers: t.Mapping[str, str] | None
) -> Response:
    if has_request_context():
        body = stream_with_context(body)
    response = current_app.response_class(body, status=status, mimetype=mimetype)
    response.headers.update(NO_BUFFERING)
    if headers:
        response.headers.update(headers)
    return response

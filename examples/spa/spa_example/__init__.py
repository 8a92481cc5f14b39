"""A small single-page app: plain JavaScript (no build step) served by ``app.spa``.

The page (``frontend/index.html`` + ``app.js``) talks to a JSON API under ``/api`` with
``Batteries.fetchJSON`` (which sends the CSRF token) and follows changes through Server-Sent
Events (``/api/events``, made with ``batteries.streaming.event_stream``). Client routes such as
``/items/3`` fall back to ``index.html``; unknown ``/api/...`` paths are real JSON 404s.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from flask import abort, request

from batteries import Batteries
from batteries.streaming import Event, event_stream


class Board:
    """The items, in memory, with a version number that changes on every write."""

    def __init__(self) -> None:
        self.items: dict[int, str] = {}
        self.next_id = 1
        self.version = 0
        self.changed = threading.Condition()

    def add(self, text: str) -> dict[str, Any]:
        with self.changed:
            item_id = self.next_id
            self.next_id += 1
            self.items[item_id] = text
            self.version += 1
            self.changed.notify_all()
        return {"id": item_id, "text": text}

    def remove(self, item_id: int) -> bool:
        with self.changed:
            found = self.items.pop(item_id, None) is not None
            if found:
                self.version += 1
                self.changed.notify_all()
        return found

    def snapshot(self) -> dict[str, Any]:
        with self.changed:
            return {
                "version": self.version,
                "items": [{"id": k, "text": v} for k, v in sorted(self.items.items())],
            }

    def updates(self, since: int, seconds: float):
        """Yield a snapshot now and after every change, for at most ``seconds``."""
        deadline = time.monotonic() + seconds
        last = None
        while True:
            snap = self.snapshot()
            if snap["version"] != last:
                last = snap["version"]
                yield Event(snap, event="items")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            with self.changed:
                if self.version == last:
                    self.changed.wait(min(remaining, 1.0))


def create_app(config: dict[str, Any] | None = None) -> Batteries:
    app = Batteries(__name__)
    app.config.update(CSRF_PROTECT_ALL=True, SECURITY_HEADERS=True, EVENTS_SECONDS=30.0)
    if config:
        app.config.update(config)
    board = Board()
    app.extensions["spa_example_board"] = board

    @app.get("/api/items")
    def list_items():
        return board.snapshot()

    @app.post("/api/items")
    def add_item():
        data = request.get_json()
        text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(text, str) or not text.strip() or len(text) > 500:
            abort(400, description="Send {\"text\": \"...\"} with 1 to 500 characters.")
        return board.add(text.strip()), 201

    @app.delete("/api/items/<int:item_id>")
    def delete_item(item_id: int):
        if not board.remove(item_id):
            abort(404, description=f"There is no item {item_id}.")
        return "", 204

    @app.get("/api/events")
    def events():
        seconds = float(app.config["EVENTS_SECONDS"])
        return event_stream(board.updates(0, seconds))

    app.spa("frontend", api_prefix="/api")
    return app

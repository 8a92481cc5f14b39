"""The result view of Flask's Celery pattern, built in: ``app.task_results("/tasks/<task_id>")``
adds a JSON endpoint reporting one task's state, value and progress::

    {"id": "...", "state": "SUCCESS", "ready": true, "successful": true,
     "value": 42, "progress": null}

A failed task gives its error's type and message, never a traceback; a task that stores a
dict as its ``PROGRESS`` meta gives it as ``progress``; a result backend that does not answer
gives ``"state": "UNKNOWN"`` (not a 500). Responses are ``Cache-Control: no-store``.
"""

from __future__ import annotations

import logging
import typing as t

from flask import current_app, jsonify

from .tasks import get_celery

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask
    from flask.wrappers import Response

logger = logging.getLogger("batteries.tasks")


def result_payload(result: t.Any) -> dict[str, t.Any]:
    """The JSON description of a task result: no traceback ever leaves the server."""
    state = result.state
    ready = state in ("SUCCESS", "FAILURE", "REVOKED")
    payload: dict[str, t.Any] = {
        "id": result.id,
        "state": state,
        "ready": ready,
        "successful": state == "SUCCESS",
        "value": None,
        "progress": None,
    }
    info = result.info
    if state == "SUCCESS":
        payload["value"] = info
    elif state in ("FAILURE", "REVOKED"):
        if isinstance(info, BaseException):
            payload["error"] = {"type": type(info).__name__, "message": str(info)}
        else:
            payload["error"] = {"type": state.title(), "message": str(info or "")}
    elif isinstance(info, dict):
        payload["progress"] = info
    return payload


def result_view(**values: t.Any) -> Response:
    """The view ``app.task_results(rule)`` registers: one task's state as JSON."""
    task_id = str(next(iter(values.values()), ""))
    if not task_id or len(task_id) > 155:
        response = jsonify(error="not a task id", id=task_id[:40])
        response.status_code = 404
        return response
    celery_app = get_celery(current_app)
    try:
        payload = result_payload(celery_app.AsyncResult(task_id))
    except Exception as exc:  # the result backend is down: say "unknown", not 500
        logger.warning("task result backend unavailable: %s", exc)
        payload = {
            "id": task_id,
            "state": "UNKNOWN",
            "ready": False,
            "successful": False,
            "value": None,
            "progress": None,
        }
    response = jsonify(payload)
    response.headers["Cache-Control"] = "no-store"
    return response


def add_results_route(app: Flask, rule: str, endpoint: str, **options: t.Any) -> None:
    options.setdefault("methods", ["GET"])
    app.add_url_rule(rule, endpoint=endpoint, view_func=result_view, **options)

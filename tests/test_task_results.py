"""``batteries.task_results``: ``app.task_results(rule)``, one task's state as JSON."""

from __future__ import annotations

import pytest
from _workers import spare_port

from batteries.task_results import result_payload


def test_task_results_endpoint(tasks_app):
    tasks_app.config["CELERY"]["task_store_eager_result"] = True
    tasks_app.config["CELERY"]["task_always_eager"] = True
    tasks_app.task_results("/tasks/<id>")

    @tasks_app.celery.task
    def double(x):
        return x * 2

    @tasks_app.celery.task
    def broken():
        raise ValueError("the disk is full")

    client = tasks_app.test_client()
    with tasks_app.app_context():
        ok = double.delay(21)
        bad = broken.apply()
        tasks_app.celery.backend.store_result("in-progress", {"done": 3, "total": 10}, "PROGRESS")
    body = client.get(f"/tasks/{ok.id}").json
    assert body == {
        "id": ok.id, "state": "SUCCESS", "ready": True, "successful": True,
        "value": 42, "progress": None,
    }  # fmt: skip
    failed = client.get(f"/tasks/{bad.id}")
    assert failed.status_code == 200
    assert failed.json["ready"] and not failed.json["successful"]
    assert failed.json["error"] == {"type": "ValueError", "message": "the disk is full"}
    assert "Traceback" not in failed.text and "raise" not in failed.text
    progress = client.get("/tasks/in-progress").json
    assert progress["state"] == "PROGRESS" and progress["progress"] == {"done": 3, "total": 10}
    assert not progress["ready"]
    unknown = client.get("/tasks/no-such-task").json
    assert unknown["state"] == "PENDING" and unknown["ready"] is False
    assert client.get("/tasks/" + "x" * 300).status_code == 404
    assert client.get(f"/tasks/{ok.id}").headers["Cache-Control"] == "no-store"


def test_result_payload_of_a_revoked_task():
    class Revoked:
        id = "r"
        state = "REVOKED"
        info = None

    assert result_payload(Revoked())["error"] == {"type": "Revoked", "message": ""}


@pytest.mark.timeout(30)
def test_results_endpoint_with_the_result_backend_down(app):
    # Celery is built inside the request here (through current_app), and the backend is dead.
    dead = f"redis://127.0.0.1:{spare_port()}/0"
    app.config["CELERY"] = {"broker_url": dead, "result_backend": dead}
    app.task_results("/tasks/<task_id>")
    response = app.test_client().get("/tasks/abc")
    assert response.status_code == 200
    assert response.json["state"] == "UNKNOWN" and response.json["ready"] is False

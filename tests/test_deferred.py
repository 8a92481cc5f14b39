"""batteries.call_after_response: runs after the response is closed, errors only logged."""

from __future__ import annotations

import logging

import pytest
from flask import current_app, has_request_context, request

from batteries import call_after_response
from batteries.deferred import call_after_response as direct


def test_exported():
    assert call_after_response is direct


def test_runs_after_the_response_is_closed(app):
    log = []

    @app.get("/")
    def view():
        user = request.args["user"]
        call_after_response(
            lambda: log.append(("after", user, current_app.name, has_request_context()))
        )
        log.append("view")
        return "ok"

    response = app.test_client().get("/?user=ann")
    assert response.text == "ok" and log == ["view"]  # not yet: the response is still open
    response.close()
    assert log == ["view", ("after", "ann", app.name, False)]


def test_decorator_form_and_order(app):
    log = []

    @app.get("/")
    def view():
        @call_after_response
        def first():
            log.append(1)

        call_after_response(lambda: log.append(2))
        return "ok"

    with app.test_client().get("/"):
        pass
    assert log == [1, 2]


def test_errors_are_logged_not_raised(app, caplog):
    log = []

    @app.get("/")
    def view():
        call_after_response(lambda: 1 / 0)
        call_after_response(lambda: log.append("still runs"))
        return "ok"

    with caplog.at_level(logging.ERROR):
        with app.test_client().get("/") as response:
            assert response.status_code == 200
    assert log == ["still runs"]
    assert any("call_after_response" in r.getMessage() and r.exc_info for r in caplog.records)


def test_after_a_streamed_body(app):
    log = []

    @app.get("/")
    def view():
        call_after_response(lambda: log.append("after"))

        def body():
            log.append("streaming")
            yield "x"

        return body()

    with app.test_client().get("/") as response:
        assert response.text == "x"
    assert log == ["streaming", "after"]


def test_on_error_responses_too(app):
    log = []

    @app.get("/")
    def view():
        call_after_response(lambda: log.append("after"))
        raise ValueError("view failed")

    app.config["TESTING"] = False
    with app.test_client().get("/") as response:
        assert response.status_code == 500
    assert log == ["after"]


def test_outside_a_request(app):
    with app.app_context(), pytest.raises(RuntimeError):
        call_after_response(lambda: None)

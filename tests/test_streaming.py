"""batteries.streaming: event_stream (SSE) and json_lines, with the request context kept."""

from __future__ import annotations

import json
import threading

import pytest
from flask import request, stream_template_string

from batteries.streaming import Event, event_stream, format_event, json_lines


def test_event_stream_format_and_headers(app):
    @app.get("/events")
    def events():
        def items():
            yield "hello"
            yield "two\nlines"
            yield {"user": request.args["user"], "n": [1, 2]}
            yield Event("done", event="end", id="7", retry=1500)

        return event_stream(items(), keep_alive=None)

    response = app.test_client().get("/events?user=ann")
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.is_streamed and "Content-Length" not in response.headers
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    assert response.text == (
        ": stream open\n\n"
        "data: hello\n\n"
        "data: two\ndata: lines\n\n"
        'data: {"n":[1,2],"user":"ann"}\n\n'
        "event: end\nid: 7\nretry: 1500\ndata: done\n\n"
    )


def test_retry_header_and_extra_headers(app):
    @app.get("/")
    def view():
        return event_stream(iter(["x"]), retry=3000, headers={"X-Extra": "1"}, keep_alive=5)

    response = app.test_client().get("/")
    assert response.text == "retry: 3000\n\ndata: x\n\n"
    assert response.headers["X-Extra"] == "1"


def test_keep_alive_comments_while_waiting(app):
    release = threading.Event()

    @app.get("/slow")
    def slow():
        def items():
            yield "first"
            release.wait(10)
            yield request.path  # the context is still there in the helper thread

        return event_stream(items(), keep_alive=0.01)

    response = app.test_client().get("/slow", buffered=False)
    chunks = iter(response.response)
    assert next(chunks) == b": stream open\n\n"
    assert next(chunks) == b"data: first\n\n"
    assert next(chunks) == b": keep-alive\n\n"  # the producer is blocked
    release.set()
    rest = b"".join(chunks)
    assert rest.endswith(b"data: /slow\n\n")
    assert set(rest.replace(b"data: /slow\n\n", b"").split(b"\n\n")) <= {b": keep-alive", b""}
    response.close()


def test_client_going_away_closes_the_iterable(app):
    closed = threading.Event()
    produced = []

    @app.get("/")
    def view():
        def items():
            try:
                for n in range(1000):
                    produced.append(n)
                    yield n
            finally:
                closed.set()

        return event_stream(items(), keep_alive=1)

    response = app.test_client().get("/", buffered=False)
    chunks = iter(response.response)
    next(chunks), next(chunks)
    response.close()
    assert closed.wait(5)
    assert len(produced) < 1000


@pytest.mark.parametrize("keep_alive", [None, 5])
def test_errors_in_the_iterable_propagate(app, keep_alive):
    @app.get("/")
    def view():
        def items():
            yield "ok"
            raise RuntimeError("boom")

        return event_stream(items(), keep_alive=keep_alive)

    response = app.test_client().get("/")
    with pytest.raises(RuntimeError, match="boom"):
        response.get_data()
    response.close()


def test_event_fields_refuse_line_breaks():
    with pytest.raises(ValueError, match="line break"):
        format_event(Event("x", event="a\nb"))
    assert format_event(Event("", id="1")) == "id: 1\ndata: \n\n"
    assert format_event("a\r\nb") == "data: a\ndata: b\n\n"


def test_json_lines(app):
    @app.get("/rows")
    def rows():
        return json_lines({"id": i, "q": request.args["q"]} for i in range(3))

    response = app.test_client().get("/rows?q=x")
    assert response.mimetype == "application/x-ndjson"
    assert response.is_streamed
    assert response.headers["X-Accel-Buffering"] == "no"
    lines = response.text.splitlines()
    assert [json.loads(line) for line in lines] == [{"id": i, "q": "x"} for i in range(3)]
    assert response.text.endswith("\n")


def test_stream_template_still_works(app):
    @app.get("/t")
    def view():
        return stream_template_string("{{ request.args.n }}!")

    assert app.test_client().get("/t?n=5").text == "5!"


def test_outside_a_request(app):
    with app.app_context():
        response = json_lines([1, 2])
        assert response.get_data() == b"1\n2\n"

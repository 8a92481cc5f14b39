"""batteries.Request: JSON depth, 413 messages, wants_json and its Vary, original_method.

The body hashing and digest verification are tested in test_bodydigest.py."""

from __future__ import annotations

import io
import json

import pytest
from flask import request

from batteries.wrappers import _json_depth

# -- JSON depth and sizes -----------------------------------------------------------------


@pytest.fixture
def json_app(app):
    @app.post("/j")
    def view():
        silent = "silent" in request.args
        return {"value": request.get_json(silent=silent) is not None}

    return app


def test_json_depth_limit(json_app):
    client = json_app.test_client()
    deep = "[" * 600 + "]" * 600
    response = client.post("/j", data=deep, content_type="application/json")
    assert response.status_code == 400
    assert response.json["status"] == 400 and "JSON_MAX_DEPTH" in response.json["message"]
    assert client.post("/j?silent", data=deep, content_type="application/json").json == {
        "value": False
    }
    thousand = "[" * 1000 + "]" * 1000  # a 500 on stock Flask with Python 3.11
    assert client.post("/j", data=thousand, content_type="application/json").status_code == 400
    shallow = json.dumps([[1, [2]]] * 1000)  # many brackets, little depth
    assert client.post("/j", data=shallow, content_type="application/json").json == {
        "value": True
    }
    in_strings = json.dumps({"s": "[" * 5000, "t": ['\\"[' * 600]})
    assert client.post("/j", data=in_strings, content_type="application/json").status_code == 200
    json_app.config["JSON_MAX_DEPTH"] = 1000
    assert client.post("/j", data=deep, content_type="application/json").status_code == 200


def test_json_depth_counter():
    assert _json_depth(b"{}") == 1
    assert _json_depth(b'{"a": [[{"b": "]]]]"}]]}') == 4
    assert _json_depth(b'["\\\\", ["\\"["]]') == 2
    assert _json_depth(b"12") == 0


def test_json_still_uses_the_app_provider(app):
    seen = []

    class Provider(type(app.json)):  # type: ignore[misc]
        def loads(self, s, **kwargs):
            seen.append(s)
            return super().loads(s, **kwargs)

    app.json = Provider(app)

    @app.post("/")
    def view():
        return request.json

    assert app.test_client().post("/", json={"a": 1}).json == {"a": 1}
    assert seen[0] == b'{"a": 1}'


def test_17_mib_body_is_413_with_a_clear_message(app):
    @app.post("/")
    def view():
        request.get_data()
        return "read"

    big = b"x" * (17 * 1024 * 1024)
    client = app.test_client()
    response = client.post("/", data=big)
    assert response.status_code == 413
    assert "16 MiB" in response.text and "MAX_CONTENT_LENGTH" in response.text
    response = client.post("/", data=big, headers={"Accept": "application/json"})
    assert response.status_code == 413
    assert "MAX_CONTENT_LENGTH" in response.json["message"]
    app.config["MAX_CONTENT_LENGTH"] = None
    assert client.post("/", data=big).status_code == 200


def test_form_limits_get_their_own_message(app):
    app.config["MAX_FORM_MEMORY_SIZE"] = 10

    @app.post("/")
    def view():
        return request.form.to_dict()

    response = app.test_client().post(
        "/", data={"a": "x" * 100, "f": (io.BytesIO(b"x"), "f.txt")}
    )
    assert response.status_code == 413
    assert "MAX_FORM_MEMORY_SIZE" in response.text



"""batteries.Request: JSON depth, 413 messages, wants_json and its Vary, original_method.

The body hashing and digest verification are tested in test_bodydigest.py."""

from __future__ import annotations

import io
import json

import pytest
from flask import request
from hypothesis import given, settings
from hypothesis import strategies as st

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




# -- JSON depth: encodings, linear scan --------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le",
                                      "utf-32-be", "utf-8-sig"])
def test_json_depth_follows_the_encoding_json_loads_detects(json_app, encoding):
    """A UTF-16/32 body of 10,000 ``[`` is a 400 (it was a RecursionError, a 500)."""
    client = json_app.test_client()
    deep = ("[" * 10_000).encode(encoding)
    response = client.post(
        "/j", data=deep, content_type="application/json", headers={"Accept": "application/json"}
    )
    assert response.status_code == 400
    assert "JSON_MAX_DEPTH" in response.json["message"]
    # U+2200 has a 0x22 byte (a quote, read byte by byte) in UTF-16 and UTF-32: the brackets
    # after it must not be taken for the inside of a string
    hidden = ('["\u2200", ' + "[" * 10_000 + '"x"').encode(encoding)
    response = client.post("/j", data=hidden, content_type="application/json")
    assert response.status_code == 400
    fine = json.dumps({"a": [[1, 2], {"b": ["[" * 700]}]}).encode(encoding)
    assert client.post("/j", data=fine, content_type="application/json").json == {"value": True}
    at_limit = ("[" * 512 + "]" * 512).encode(encoding)
    assert client.post("/j", data=at_limit, content_type="application/json").status_code == 200
    over = ("[" * 513 + "]" * 513).encode(encoding)
    assert client.post("/j", data=over, content_type="application/json").status_code == 400


def test_json_depth_of_undecodable_bytes_is_left_to_the_decoder(json_app):
    client = json_app.test_client()
    bad = b"\xff\xfe" + b"[\x00" * 600 + b"\x00\xd8"  # UTF-16 with a cut surrogate at the end
    assert client.post("/j", data=bad, content_type="application/json").status_code == 400


def test_wide_document_at_the_limit(json_app):
    """Many brackets at exactly JSON_MAX_DEPTH (the case where the quick passes cannot decide
    and the whole skeleton is scanned): accepted; one level more: refused."""
    client = json_app.test_client()
    for depth, status in ((512, 200), (513, 400)):
        body = "[" * (depth - 1) + ",".join(["[1]"] * 5000) + "]" * (depth - 1)
        response = client.post("/j", data=body, content_type="application/json")
        assert response.status_code == status, depth


def test_json_depth_with_escapes_and_strings():
    from batteries.wrappers import json_too_deep

    assert json_too_deep('["\\\\"' + ', "]"' * 10 + "]", 1) is None
    assert json_too_deep('["\\"[[[["]', 1) is None
    assert json_too_deep('[["\\\\", "x"]]', 1) == 2
    assert json_too_deep("[" * 3, 2) == 3  # unbalanced: the depth reached still counts
    assert json_too_deep('"' + "[" * 100, 2) is None  # inside an unterminated string
    assert json_too_deep(b'{"a": {"b": {"c": 1}}}', 2) == 3


def _reference_depth(text: str) -> tuple[int, bool]:
    """The deepest nesting a character-by-character reading reaches before anything a JSON
    parser would stop at (a backslash outside a string), and whether it read to the end."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == "\\":
            return deepest, False  # json.loads stops here: what follows is never parsed
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest, True


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(
        st.sampled_from(
            ["[", "]", "{", "}", '"', "\\", "\\\\", '\\"', ",", "1", "[]", "[[]]", "x"]
        ),
        max_size=3000,
    ),
    limit=st.integers(min_value=0, max_value=40),
    passes_from=st.sampled_from([0, 1024]),
)
def test_json_depth_matches_a_character_by_character_reading(pieces, limit, passes_from):
    """The C-speed passes give the answer of a plain reading, character by character."""
    from batteries.wrappers import _depth_above, _skeleton

    text = "".join(pieces)
    expected, whole = _reference_depth(text)
    depth = _json_depth(text.encode())
    found = _depth_above(_skeleton(text.encode()), limit, passes_from=passes_from)
    if whole:
        assert depth == expected
        assert (found is not None) == (expected > limit)
    else:  # invalid JSON: never less than what a parser would reach before it stops
        assert depth >= expected
        assert found is not None or expected <= limit


# -- wants_json and its Vary --------------------------------------------------------------


@pytest.fixture
def negotiating(app):
    @app.get("/reads")
    def reads():
        return {"wants_json": request.wants_json}

    @app.get("/ignores")
    def ignores():
        return "no negotiation here"

    @app.get("/fails")
    def fails():
        raise KeyError("boom")

    return app


VARY = {"accept", "x-requested-with", "sec-fetch-mode", "hx-request"}


def test_reading_wants_json_marks_vary(negotiating):
    client = negotiating.test_client()
    response = client.get("/reads", headers={"X-Requested-With": "XMLHttpRequest"})
    assert response.json == {"wants_json": True}
    assert {v.lower() for v in response.vary} >= VARY
    assert client.get("/ignores").vary == set()  # not read: no Vary (Flask's response)


def test_error_responses_that_negotiated_vary_too(negotiating):
    negotiating.testing = False
    client = negotiating.test_client()
    for path, status in (("/nowhere", 404), ("/fails", 500)):
        response = client.get(path, headers={"Accept": "application/json"})
        assert response.status_code == status and response.is_json
        assert {v.lower() for v in response.vary} >= VARY, path
        response = client.get(path)
        assert not response.is_json
        assert {v.lower() for v in response.vary} >= VARY, path


def test_vary_keeps_what_the_view_said(negotiating):
    @negotiating.get("/own")
    def own():
        request.wants_json  # noqa: B018
        return "x", 200, {"Vary": "Cookie"}

    response = negotiating.test_client().get("/own")
    assert {v.lower() for v in response.vary} == VARY | {"cookie"}


def test_wants_json_outside_a_request_marks_nothing(app):
    from werkzeug.test import EnvironBuilder

    req = app.request_class(EnvironBuilder(headers={"Accept": "application/json"}).get_environ())
    assert req.wants_json is True  # no context: nothing to mark, no error


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"HX-Request": "true"}, False),
        ({"HX-Request": "true", "X-Requested-With": "XMLHttpRequest"}, False),
        ({"HX-Request": "true", "Sec-Fetch-Mode": "cors"}, False),
        ({"HX-Request": "true", "Content-Type": "application/json"}, False),
        ({"HX-Request": "true", "Accept": "application/json"}, True),
        ({"HX-Request": "true", "Accept": "application/json, text/html;q=0.5"}, True),
        ({"HX-Request": "true", "Accept": "text/html, application/json;q=0.9"}, False),
        ({"HX-Request": "false", "X-Requested-With": "XMLHttpRequest"}, True),
    ],
)
def test_htmx_requests_are_html_clients_unless_accept_ranks_json_first(app, headers, expected):
    @app.route("/w", methods=["GET", "POST"])
    def w():
        return {"wants_json": request.wants_json}

    data = b"{}" if "Content-Type" in headers else None
    response = app.test_client().post("/w", data=data, headers=headers)
    assert response.json == {"wants_json": expected}

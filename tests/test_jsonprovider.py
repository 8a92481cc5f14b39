"""``app.json`` keeps its encoder between responses and answers exactly what Flask's does."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import json
import uuid

import pytest
from flask import Flask, jsonify
from flask.json.provider import DefaultJSONProvider
from markupsafe import Markup

from batteries import Batteries
from batteries.jsonprovider import JSONProvider


@dataclasses.dataclass
class Point:
    x: int
    y: int


VALUES = [
    {"b": 1, "a": [1, 2.5, None, True], "é": "ünïcode"},
    [datetime.datetime(2026, 12, 5, 10, 0, 0), datetime.date(2026, 12, 5)],
    {"id": uuid.UUID(int=7), "price": decimal.Decimal("9.90"), "html": Markup("<b>x</b>")},
    Point(1, 2),
    "a string",
    None,
]


def _pair():
    flask_app, ours = Flask("plain"), Batteries("ours")
    return flask_app, ours


def test_a_batteries_app_uses_it():
    assert isinstance(Batteries("x").json, JSONProvider)


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_same_bytes_as_flask(value, debug):
    flask_app, ours = _pair()
    flask_app.debug = ours.debug = debug  # debug: indented output
    with flask_app.app_context():
        expected = jsonify(value).get_data()
    with ours.app_context():
        assert jsonify(value).get_data() == expected
        assert ours.json.dumps(value) == flask_app.json.dumps(value)


def test_settings_are_read_on_every_call():
    app = Batteries("x")
    value = {"b": "é", "a": 1}
    assert app.json.dumps(value) == '{"a": 1, "b": "\\u00e9"}'
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    assert app.json.dumps(value) == '{"b": "é", "a": 1}'
    app.json.default = lambda o: "custom"  # an instance's own default
    assert app.json.dumps({"when": object()}) == '{"when": "custom"}'


def test_other_arguments_go_to_flasks_code():
    app = Batteries("x")
    assert app.json.dumps({"a": 1}, separators=[",", ":"]) == '{"a":1}'  # unhashable
    assert app.json.dumps({"a": object()}, default=lambda o: 3) == '{"a": 3}'

    class Loud(json.JSONEncoder):
        def encode(self, o):
            return super().encode(o).upper()

    assert app.json.dumps({"a": "b"}, cls=Loud) == '{"A": "B"}'


def test_unserializable_still_raises_flasks_error():
    app = Batteries("x")
    with pytest.raises(TypeError, match="not JSON serializable"):
        app.json.dumps({"a": object()})


def test_a_subclass_default_is_used():
    class Provider(JSONProvider):
        @staticmethod
        def default(o):
            return sorted(o) if isinstance(o, set) else DefaultJSONProvider.default(o)

    app = Batteries("x")
    app.json = Provider(app)
    assert app.json.dumps({"s": {3, 1, 2}}) == '{"s": [1, 2, 3]}'


def test_one_encoder_per_settings():
    app = Batteries("x")
    for _ in range(3):
        app.json.dumps({"a": 1}, separators=(",", ":"))
        app.json.dumps({"a": 1}, indent=2)
    assert len(app.json._encoders) == 2

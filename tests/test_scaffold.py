"""``BatteriesScaffold``: what apps and ``batteries.Blueprint`` share (``lazy_url``)."""

from __future__ import annotations

import flask
import pytest
from flask import url_for

from batteries import Batteries, Blueprint, LazyView
from batteries.scaffold import BatteriesScaffold


def test_blueprint_and_app_share_the_mixin():
    assert issubclass(Blueprint, BatteriesScaffold)
    assert issubclass(Blueprint, flask.Blueprint)
    assert issubclass(Batteries, BatteriesScaffold)
    assert hasattr(Blueprint("b", __name__), "lazy_url")


def test_lazy_url_endpoint_is_the_function_name(app):
    view = app.lazy_url("os.path.join", "/j")
    assert isinstance(view, LazyView)
    assert app.view_functions["join"] is view
    assert app.lazy_url("os.path:basename", ["/b", "/base"], endpoint="base").__name__ == "basename"
    with app.test_request_context():
        assert url_for("join") == "/j"
        assert url_for("base") in ("/b", "/base")


def test_lazy_url_options_pass_through(app):
    app.lazy_url("os.path.join", "/j/<a>", methods=["POST"], defaults={"b": "x"}, strict_slashes=False)
    rule = next(app.url_map.iter_rules("join"))
    assert "POST" in rule.methods and "GET" not in rule.methods
    assert rule.defaults == {"b": "x"}


def test_lazy_url_needs_rules(app):
    with pytest.raises(ValueError, match="at least one rule"):
        app.lazy_url("os.path.join", [])


def test_lazy_url_after_first_request_is_refused(app):
    app.test_client().get("/")
    with pytest.raises(AssertionError):
        app.lazy_url("os.path.join", "/late")


def test_blueprint_lazy_url_endpoint_is_prefixed(app):
    bp = Blueprint("tools", __name__)
    bp.lazy_url("os.path.join", "/j")
    app.register_blueprint(bp, url_prefix="/tools")
    assert "tools.join" in app.view_functions
    with app.test_request_context():
        assert url_for("tools.join") == "/tools/j"

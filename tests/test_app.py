"""The Batteries class itself: a drop-in Flask subclass."""

from __future__ import annotations

import gc
import inspect
import subprocess
import sys
import warnings
import weakref

import flask
import pytest

import batteries
from batteries import Batteries, Request


def test_is_a_flask_app(app):
    assert isinstance(app, flask.Flask)
    assert app.request_class is Request
    assert issubclass(Request, flask.Request)
    assert "batteries" in app.extensions


def test_same_constructor_signature_as_flask():
    ours = inspect.signature(Batteries.__init__).parameters
    theirs = inspect.signature(flask.Flask.__init__).parameters
    flask_params = list(theirs.values())
    our_params = list(ours.values())[: len(flask_params)]
    for mine, flasks in zip(our_params, flask_params, strict=True):
        assert (mine.name, mine.kind, mine.default) == (flasks.name, flasks.kind, flasks.default)
    for extra in list(ours.values())[len(flask_params) :]:
        assert extra.kind is inspect.Parameter.KEYWORD_ONLY, extra.name


def test_positional_arguments_mean_what_they_mean_in_flask(tmp_path):
    app = Batteries("pos_app", "/assets", "public", root_path=str(tmp_path))
    assert app.static_url_path == "/assets"
    assert app.static_folder.endswith("public")


def test_subclassing_raises_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")

        class MyApp(Batteries):
            pass

        class MyRequest(Request):
            pass

        MyApp.request_class = MyRequest
        app = MyApp("sub_app")
        assert isinstance(app, Batteries)


def test_app_freed_without_gc(tmp_path):
    app = Batteries("freed_app", root_path=str(tmp_path))

    @app.route("/")
    def index():
        return "x"

    app.test_client().get("/")
    ref = weakref.ref(app)
    gc.disable()
    try:
        del app
        assert ref() is None
    finally:
        gc.enable()


def test_no_route_registered_at_construction(tmp_path):
    app = Batteries("routes_app", root_path=str(tmp_path))
    assert sorted(app.view_functions) == ["static"]
    assert [r.rule for r in app.url_map.iter_rules()] == ["/static/<path:filename>"]


def test_import_and_construction_stay_light():
    code = (
        "import sys, batteries\n"
        "app = batteries.Batteries('light')\n"
        "heavy = [m for m in ('sqlalchemy', 'celery', 'kombu', 'wtforms', 'redis', "
        "'mongoengine', 'cachelib.redis') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_public_names():
    for name in batteries.__all__:
        assert getattr(batteries, name) is not None
    with pytest.raises(AttributeError):
        batteries.does_not_exist  # noqa: B018


# -- the extensions people already bring ---------------------------------------------------


def test_flask_sqlalchemy_works(app):
    from flask_sqlalchemy import SQLAlchemy

    fsa = SQLAlchemy()

    class Item(fsa.Model):
        id = fsa.Column(fsa.Integer, primary_key=True)
        name = fsa.Column(fsa.String(20))

    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite://"
    fsa.init_app(app)
    with app.app_context():
        fsa.create_all()
        fsa.session.add(Item(name="a"))
        fsa.session.commit()
        assert [i.name for i in fsa.session.scalars(fsa.select(Item))] == ["a"]
        engine = fsa.engine
    engine.dispose()
    assert "sqlalchemy" in app.extensions


def test_flask_login_works(app):
    from flask_login import LoginManager, UserMixin, current_user, login_user

    class User(UserMixin):
        def __init__(self, id):
            self.id = id

    manager = LoginManager(app)

    @manager.user_loader
    def load(user_id):
        return User(user_id)

    @app.route("/login")
    def login():
        login_user(User("7"))
        return "in"

    @app.route("/me")
    def me():
        return str(current_user.get_id())

    client = app.test_client()
    client.get("/login")
    assert client.get("/me").data == b"7"
    assert "REMEMBER_COOKIE_NAME" not in app.config or app.config["REMEMBER_COOKIE_NAME"]


def test_flask_wtf_works(app):
    from flask_wtf import FlaskForm
    from flask_wtf.csrf import CSRFProtect
    from wtforms import StringField

    CSRFProtect(app)

    class NameForm(FlaskForm):
        name = StringField()

    @app.route("/form", methods=["GET", "POST"])
    def form():
        f = NameForm()
        if f.validate_on_submit():
            return "valid " + f.name.data
        return f.csrf_token.current_token

    client = app.test_client()
    token = client.get("/form").get_data(as_text=True)
    assert client.post("/form", data={"name": "x"}).status_code == 400
    assert client.post("/form", data={"name": "x", "csrf_token": token}).data == b"valid x"
    assert "csrf" in app.extensions


def test_flask_caching_works_and_sees_only_its_config(app):
    from flask_caching import Cache

    assert not [k for k in app.config if k.startswith("CACHE_")]
    app.config["CACHE_TYPE"] = "SimpleCache"
    fc = Cache(app)
    calls = []

    @app.route("/c")
    @fc.cached(timeout=60)
    def cached_view():
        calls.append(1)
        return "c"

    client = app.test_client()
    client.get("/c")
    client.get("/c")
    assert len(calls) == 1

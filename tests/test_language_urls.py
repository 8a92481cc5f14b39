"""``batteries.language_urls``: language codes in URLs (``localize``), on blueprints and on apps."""

from __future__ import annotations

import flask
import pytest
from flask import g, url_for
from werkzeug.routing import BuildError

from batteries import Blueprint
from batteries.language_urls import localize


def make_blueprint(cls=Blueprint, **kwargs):
    bp = cls("pages", __name__, **kwargs)

    @bp.route("/about")
    def about():
        return f"about {g.lang_code} {url_for('pages.about')} {url_for('pages.about', lang_code='en')}"

    return bp


@pytest.mark.parametrize("cls", [Blueprint, flask.Blueprint])
def test_blueprint_rules_before_and_after_the_call(app, cls):
    bp = make_blueprint(cls)
    localize(bp, ["en", "de"], default="en")

    @bp.route("/late")
    def late():
        return f"late {g.lang_code}"

    app.register_blueprint(bp)
    client = app.test_client()
    assert client.get("/de/about").text == "about de /de/about /en/about"
    assert client.get("/en/late").text == "late en"
    assert client.get("/fr/about").status_code == 404
    assert client.get("/about").status_code == 404
    assert client.get("/").status_code == 404  # only the app target redirects /


def test_blueprint_url_prefix_at_registration_and_nested(app):
    bp = make_blueprint()
    child = Blueprint("child", __name__)

    @child.route("/c")
    def c():
        return f"child {g.lang_code} {url_for('pages.child.c')}"

    bp.register_blueprint(child, url_prefix="/kids")
    localize(bp, ["en", "de"], "en")
    app.register_blueprint(bp, url_prefix="/site")
    client = app.test_client()
    assert client.get("/de/site/about").text.startswith("about de /de/site/about")
    assert client.get("/de/site/kids/c").text == "child de /de/site/kids/c"


def test_url_for_outside_a_localized_request_uses_the_default(app):
    bp = make_blueprint()
    localize(bp, ["en", "de"], "de")
    app.register_blueprint(bp)

    @app.route("/plain")
    def plain():
        return url_for("pages.about")

    assert app.test_client().get("/plain").text == "/de/about"
    with app.test_request_context():
        assert url_for("pages.about", lang_code="en") == "/en/about"


def test_unknown_endpoint_is_a_build_error_and_404_not_500(app):
    bp = make_blueprint()
    localize(bp, ["en"], "en")
    app.register_blueprint(bp)
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.route("/typo")
    def typo():
        try:
            url_for("pages.nothere")
        except BuildError:
            return "build error"
        return "no error"

    client = app.test_client()
    assert client.get("/typo").text == "build error"
    assert client.get("/nope/nothing").status_code == 404
    response = client.get("/xx/about", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.json["status"] == 404


def test_app_target_rules_after_the_call_static_excepted(app, tmp_path):
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "x.txt").write_text("static file")

    @app.route("/before")
    def before():
        return "before"

    localize(app, ["en", "fr"], "en")

    @app.route("/hello")
    def hello():
        return f"hello {g.lang_code} {url_for('hello')} {url_for('before')}"

    client = app.test_client()
    assert client.get("/before").text == "before"
    assert client.get("/fr/hello").text == "hello fr /fr/hello /before"
    assert client.get("/de/hello").status_code == 404
    with client.get("/static/x.txt") as response:
        assert response.text == "static file"
    with app.test_request_context():
        assert url_for("static", filename="x.txt") == "/static/x.txt"


def test_app_root_redirects_to_the_best_language(app):
    localize(app, ["en", "fr", "de"], "en")

    @app.route("/")
    def index():
        return f"index {g.lang_code}"

    client = app.test_client()
    response = client.get("/", headers={"Accept-Language": "de-CH, fr;q=0.8"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/de/"
    assert "Accept-Language" in response.headers["Vary"]
    assert client.get("/", headers={"Accept-Language": "fr;q=0.5, es"}).headers["Location"] == "/fr/"
    assert client.get("/", headers={"Accept-Language": "ja"}).headers["Location"] == "/en/"
    assert client.get("/").headers["Location"] == "/en/"
    response = client.get("/", environ_overrides={"SCRIPT_NAME": "/mount"})
    assert response.headers["Location"] == "/mount/en/"
    assert client.get("/fr/").text == "index fr"


def test_app_with_an_existing_root_route_keeps_it(app):
    @app.route("/")
    def home():
        return "home"

    localize(app, ["en"], "en")
    assert app.test_client().get("/").text == "home"


def test_localized_blueprint_on_a_localized_app_is_not_prefixed_twice(app):
    localize(app, ["en", "fr"], "en")
    bp = make_blueprint()
    localize(bp, ["en", "de"], "en")
    app.register_blueprint(bp, url_prefix="/p")

    @app.route("/home")
    def home():
        return url_for("pages.about")

    client = app.test_client()
    assert client.get("/de/p/about").text.startswith("about de /de/p/about")
    # from an app page in French, the blueprint (no French) falls back to its default
    assert client.get("/fr/home").text == "/en/p/about"


def test_bad_arguments(app):
    with pytest.raises(ValueError, match="default"):
        localize(app, ["en"], "de")
    with pytest.raises(ValueError, match="at least one"):
        localize(app, [], "en")
    with pytest.raises(ValueError, match="language code"):
        localize(app, ["en", "a,b"], "en")
    with pytest.raises(ValueError, match="language code"):
        localize(app, ["en", "x)y"], "en")
    with pytest.raises(TypeError):
        localize(object(), ["en"], "en")  # type: ignore[arg-type]


def test_twice_and_after_registration(app):
    bp = make_blueprint()
    localize(bp, ["en"], "en")
    with pytest.raises(ValueError, match="already"):
        localize(bp, ["en"], "en")
    other = Blueprint("other", __name__)
    app.register_blueprint(other)
    with pytest.raises(ValueError, match="before registering"):
        localize(other, ["en"], "en")
    localize(app, ["en"], "en")
    with pytest.raises(ValueError, match="already"):
        localize(app, ["en"], "en")


def test_language_with_region(app):
    bp = make_blueprint()
    localize(bp, ["en", "pt-BR"], "en")
    app.register_blueprint(bp)
    assert app.test_client().get("/pt-BR/about").text.startswith("about pt-BR /pt-BR/about")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("de-CH", "de"),
        ("DE", "de"),
        ("pt", "pt-BR"),
        ("pt-br", "pt-BR"),
        ("es, fr;q=0.2", "fr"),
        ("fr;q=0, de;q=0.1", "de"),
        ("*", "en"),
        ("", "en"),
    ],
)
def test_best_language(header, expected):
    from werkzeug.wrappers import Request

    from batteries.language_urls import best_language

    accept = Request.from_values(headers={"Accept-Language": header}).accept_languages
    assert best_language(accept, ("en", "de", "fr", "pt-BR"), "en") == expected

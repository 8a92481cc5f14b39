"""``batteries.i18n.localize``: language codes in URLs, on blueprints and on apps."""

from __future__ import annotations

import flask
import pytest
from flask import g, url_for
from werkzeug.routing import BuildError

from batteries import Blueprint
from batteries.i18n import localize


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

    from batteries.i18n import best_language

    accept = Request.from_values(headers={"Accept-Language": header}).accept_languages
    assert best_language(accept, ("en", "de", "fr", "pt-BR"), "en") == expected


# -- translating ---------------------------------------------------------------------------------


@pytest.fixture
def german(app, tmp_path):
    """``app`` with a German catalog and LANGUAGES en, de, fr."""
    from test_translations import write_catalog

    write_catalog(
        tmp_path / "translations",
        "de",
        {
            "Hello": "Hallo",
            "Hello, %(name)s!": "Hallo, %(name)s!",
            ("%(num)d apple", "%(num)d apples"): ("%(num)d Apfel", "%(num)d Äpfel"),
            "<b>Bold</b> %(name)s": "<b>Fett</b> %(name)s",
        },
    )
    app.config["LANGUAGES"] = ["en", "de", "fr"]
    return app


def test_gettext_outside_an_app_returns_the_message():
    from batteries.i18n import _, get_locale, gettext, ngettext, pgettext

    assert _("Hello") == "Hello"
    assert gettext("Hi %(name)s", name="Ada") == "Hi Ada"
    assert ngettext("%(num)d apple", "%(num)d apples", 1) == "1 apple"
    assert ngettext("%(num)d apple", "%(num)d apples", 2) == "2 apples"
    assert pgettext("month", "May") == "May"
    assert get_locale() is None


def test_gettext_in_the_request_locale(german):
    from batteries.i18n import _, get_locale, ngettext, npgettext, pgettext

    with german.test_request_context(headers={"Accept-Language": "de-CH, en;q=0.5"}):
        assert get_locale() == "de"
        assert _("Hello") == "Hallo"
        assert _("Hello, %(name)s!", name="Ada") == "Hallo, Ada!"
        assert ngettext("%(num)d apple", "%(num)d apples", 1) == "1 Apfel"
        assert ngettext("%(num)d apple", "%(num)d apples", 5) == "5 Äpfel"
        assert pgettext("month", "May") == "May"
        assert npgettext("fruit", "%(num)d pear", "%(num)d pears", 2) == "2 pears"
        assert _("Forbidden") == "Verboten"  # Batteries' own catalog, under the app's
    with german.test_request_context(headers={"Accept-Language": "fr"}):
        assert _("Hello") == "Hello"
        assert _("Forbidden") == "Interdit"


def test_selection_order(german):
    from batteries.i18n import get_locale, locale_selector

    chosen = {}
    locale_selector(german)(lambda: chosen.get("lang"))
    bp = Blueprint("pages", __name__)
    localize(bp, ["en", "de", "fr"], "en")

    @bp.route("/page")
    def page():
        return get_locale() or ""

    german.register_blueprint(bp)

    @german.route("/plain")
    def plain():
        return get_locale() or ""

    client = german.test_client()
    german_browser = {"Accept-Language": "de"}
    # 1. the URL wins over everything, and needs no Vary
    chosen["lang"] = "fr"
    response = client.get("/en/page", headers=german_browser)
    assert response.text == "en"
    assert "Accept-Language" not in response.headers.get("Vary", "")
    # 2. then the selector
    assert client.get("/plain", headers=german_browser).text == "fr"
    # 3. then Accept-Language among LANGUAGES, with Vary
    chosen["lang"] = None
    response = client.get("/plain", headers=german_browser)
    assert response.text == "de"
    assert "Accept-Language" in response.headers["Vary"]
    assert client.get("/plain", headers={"Accept-Language": "ja"}).text == "en"
    # 4. then DEFAULT_LANGUAGE; without LANGUAGES the header is not looked at
    german.config.update(LANGUAGES=None, DEFAULT_LANGUAGE="fr")
    response = client.get("/plain", headers=german_browser)
    assert response.text == "fr"
    assert "Vary" not in response.headers


def test_the_locale_follows_the_url_when_translated_before_routing(german):
    from batteries.i18n import _

    bp = Blueprint("pages", __name__)
    localize(bp, ["en", "de"], "en")
    seen = []

    @bp.before_request
    def early():
        seen.append(_("Hello"))

    @bp.route("/hi")
    def hi():
        return _("Hello")

    german.register_blueprint(bp)
    assert german.test_client().get("/de/hi").text == "Hallo"
    assert seen == ["Hallo"]


def test_force_locale(german):
    from batteries.i18n import _, force_locale, get_locale

    with german.app_context():
        assert _("Hello") == "Hello"
        with force_locale("de"):
            assert _("Hello") == "Hallo"
            assert get_locale() == "de"
        assert get_locale() == "en"
    with pytest.raises(RuntimeError, match="context"), force_locale("de"):
        pass


def test_lazy_strings(german):
    import json

    from markupsafe import escape
    from wtforms import StringField

    from batteries.forms import Form
    from batteries.i18n import lazy_gettext as _l
    from batteries.i18n import lazy_ngettext

    label = _l("Hello")
    tagged = _l("<b>Bold</b> %(name)s", name="<i>")
    apples = lazy_ngettext("%(num)d apple", "%(num)d apples", 3)

    class NameForm(Form):
        name = StringField(label)

    with german.test_request_context(headers={"Accept-Language": "de"}):
        assert str(label) == "Hallo" and label == "Hallo" and "Hallo" == label
        assert label + "!" == "Hallo!" and "¡" + label == "¡Hallo"
        assert label.upper() == "HALLO" and len(label) == 5 and "all" in label
        assert str(tagged) == "<b>Fett</b> <i>"
        assert escape(tagged) == "&lt;b&gt;Fett&lt;/b&gt; &lt;i&gt;"
        assert str(apples) == "3 Äpfel"
        assert "Hallo</label>" in str(NameForm(formdata=None).name.label)
        assert json.loads(german.json.dumps({"m": label})) == {"m": "Hallo"}
        assert {label: 1}[_l("Hello")] == 1
    with german.test_request_context():
        assert str(label) == "Hello"
        assert repr(label) == "l'Hello'"


def test_templates_trans_tags_plurals_and_escaping(german):
    from flask import render_template_string

    source = (
        '{{ _("Hello") }}|{{ _("Hello, %(name)s!", name=user) }}|'
        "{% trans count=n %}{{ count }} apple{% pluralize %}{{ count }} apples{% endtrans %}|"
        '{{ ngettext("%(num)d apple", "%(num)d apples", n) }}|'
        '{{ _("<b>Bold</b> %(name)s", name=user) }}|{{ pgettext("month", "May") }}|{{ get_locale() }}'
    )
    with german.test_request_context(headers={"Accept-Language": "de"}):
        out = render_template_string(source, user="<Ada>", n=1)
    assert out == (
        "Hallo|Hallo, &lt;Ada&gt;!|1 apple|1 Apfel|<b>Fett</b> &lt;Ada&gt;|May|de"
    )
    with german.test_request_context(headers={"Accept-Language": "en"}):
        assert render_template_string(source, user="Ada", n=2).startswith("Hello|Hello, Ada!|2 apples")


def test_flask_babel_keeps_working(tmp_path):
    """An app that brings Flask-Babel: its templates and its gettext follow its own selector."""
    from flask import render_template_string
    from flask_babel import Babel
    from flask_babel import gettext as babel_gettext
    from test_translations import write_catalog

    from batteries import Batteries
    from batteries.i18n import _

    write_catalog(tmp_path / "translations", "de", {"Hello": "Hallo"})
    write_catalog(tmp_path / "translations", "fr", {"Hello": "Bonjour"})
    app = Batteries("babel_app", root_path=str(tmp_path))
    app.config.update(TESTING=True, LANGUAGES=["en", "de", "fr"])
    Babel(app, locale_selector=lambda: "fr")

    @app.route("/")
    def index():
        return render_template_string("{{ _('Hello') }} {{ gettext('Hello') }}") + " " + babel_gettext("Hello")

    response = app.test_client().get("/", headers={"Accept-Language": "de"})
    assert response.text == "Bonjour Bonjour Bonjour"
    with app.test_request_context(headers={"Accept-Language": "de"}):
        assert _("Hello") == "Hallo"  # Batteries' own functions keep Batteries' rules


def test_translating_imports_no_babel(tmp_path):
    """Babel is for the commands and the format filters: gettext and pages need none of it."""
    import subprocess
    import sys

    from test_translations import write_catalog

    write_catalog(tmp_path / "translations", "de", {"Hello": "Hallo"})
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "t.html").write_text("{% trans %}Hello{% endtrans %} {{ _('Hello') }}")
    code = (
        "import sys\n"
        "from flask import render_template\n"
        "from batteries import Batteries\n"
        "from batteries.i18n import _\n"
        f"app = Batteries('t', root_path={str(tmp_path)!r})\n"
        "app.config['LANGUAGES'] = ['en', 'de']\n"
        "app.add_url_rule('/', 'i', lambda: render_template('t.html') + ' ' + _('Hello'))\n"
        "text = app.test_client().get('/', headers={'Accept-Language': 'de'}).text\n"
        "print(text, 'babel' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "Hallo Hallo Hallo False"


def test_app_locale_selector_method_and_batteries_messages_in_german(tmp_path):
    """@app.locale_selector picks the locale; Batteries' own 401 and error pages follow it."""
    from batteries import Batteries, login_required

    app = Batteries("sel", root_path=str(tmp_path), instance_path=str(tmp_path / "i"))
    app.config.update(SECRET_KEY="s" * 40, LANGUAGES=["en", "de"], ERROR_PAGES=True)

    @app.locale_selector
    def choose():
        return "de"

    @app.user_loader
    def load(user_id):
        return None

    @app.route("/private")
    @login_required
    def private():
        return "secret"

    app.config["LOGIN_VIEW"] = None  # 401 for everyone
    client = app.test_client()
    body = client.get("/private", headers={"Accept": "application/json"}).get_json()
    assert body["status"] == 401
    assert body["message"] != "Log in to see this page."
    page = client.get("/nowhere").get_data(as_text=True)
    assert 'lang="de"' in page
    assert "There is no page at this address." not in page
    assert "<h1>Nicht gefunden</h1>" in page and "Zur Startseite" in page

"""``batteries.i18n``: the request's locale and translating in Python and templates."""

from __future__ import annotations

import pytest

from batteries import Blueprint
from batteries.i18n import localize


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

"""``batteries.translations``: catalogs, Batteries' own, WTForms', filters, ``batteries i18n``."""

from __future__ import annotations

import os
import re
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from click.testing import CliRunner
from flask import render_template_string
from werkzeug.exceptions import BadRequest, NotFound, TooManyRequests

from batteries import Batteries
from batteries.cli import cli
from batteries.i18n import _, force_locale, gettext
from batteries.translations import (
    HTTP_TEXTS,
    OWN_DIR,
    http_error_text,
    load_catalogs,
    locale_dirs,
    wtforms_translations,
)

ROOT = Path(__file__).resolve().parent.parent


def write_catalog(directory, lang, messages, domain="messages"):
    """Compile ``messages`` ({msgid: msgstr}) into ``directory/lang/LC_MESSAGES/domain.mo``."""
    catalog = Catalog(locale=lang.replace("-", "_"), fuzzy=False)
    for msgid, msgstr in messages.items():
        catalog.add(msgid, msgstr)
    path = Path(directory) / lang / "LC_MESSAGES" / f"{domain}.mo"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        write_mo(f, catalog)
    return path


# -- the documented workflow ---------------------------------------------------------------------


def docs_blocks() -> dict[str, str]:
    text = (ROOT / "docs" / "i18n.md").read_text()
    return dict(re.findall(r"<!-- workflow:(\S+) -->\n```\w*\n(.*?)```\n<!-- /workflow -->", text, re.S))


def test_the_docs_workflow_runs_as_written(tmp_path, monkeypatch):
    blocks = docs_blocks()
    assert set(blocks) == {"app.py", "templates/index.html", "shell", "translation", "compile"}
    for name in ("app.py", "templates/index.html"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(blocks[name])
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("app", None)

    def run(block):
        outputs = []
        for line in blocks[block].splitlines():
            command = line.split("#", 1)[0].split()
            assert command[0] == "batteries"
            result = CliRunner().invoke(cli, command[1:], catch_exceptions=False)
            assert result.exit_code == 0, result.output
            outputs.append(result.output)
        return outputs

    try:
        run("shell")
        po = tmp_path / "translations" / "de" / "LC_MESSAGES" / "messages.po"
        msgid, msgstr = re.match(r'msgid (".*")\nmsgstr (".*")', blocks["translation"]).groups()
        text = po.read_text()
        assert f"msgid {msgid}\nmsgstr \"\"" in text
        po.write_text(text.replace(f"msgid {msgid}\nmsgstr \"\"", f"msgid {msgid}\nmsgstr {msgstr}"))
        (output,) = run("compile")
        assert output.strip() == blocks["compile"].split("# → messages.mo; ")[1].strip().strip('"')
        import app as documented

        client = documented.app.test_client()
        german = client.get("/", headers={"Accept-Language": "de"}).text
        assert "<h1>Hallo, Welt!</h1>" in german
        assert "3 new messages" in german  # not translated yet: the English stays
        assert "<h1>Hello, world!</h1>" in client.get("/").text
    finally:
        sys.modules.pop("app", None)


# -- the commands ----------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "templates").mkdir()
    (tmp_path / "app.py").write_text(
        "from batteries import Batteries\n"
        "from batteries.i18n import _, lazy_gettext as _l, ngettext, pgettext\n"
        "app = Batteries(__name__)\n"
        "LABEL = _l('Name')\n"
        "def view(n):\n"
        "    # TRANSLATORS: shown after saving\n"
        "    return _('Saved.'), ngettext('%(num)d file', '%(num)d files', n), pgettext('month', 'May')\n"
    )
    (tmp_path / "templates" / "page.html").write_text(
        '{{ _("Title") }} {% trans %}Hello {{ user }}{% endtrans %}\n'
    )
    venv = tmp_path / "venv" / "lib"
    venv.mkdir(parents=True)
    (venv / "skipped.py").write_text("_('Not mine')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("app", None)
    yield tmp_path
    sys.modules.pop("app", None)


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_extract_python_and_templates_with_keywords_and_comments(project):
    result = invoke("i18n", "extract")
    assert result.exit_code == 0, result.output
    with open(project / "translations" / "messages.pot", "rb") as f:
        catalog = read_po(f)
    ids = {m.id if m.context is None else (m.context, m.id) for m in catalog if m.id}
    assert ids == {
        "Name",
        "Saved.",
        ("%(num)d file", "%(num)d files"),
        ("month", "May"),
        "Title",
        "Hello %(user)s",
    }
    saved = catalog.get("Saved.")
    assert saved.auto_comments == ["shown after saving"]
    assert saved.locations == [("app.py", 7)]


def test_init_update_compile_report(project):
    assert invoke("i18n", "init", "de").exit_code != 0  # no messages.pot yet
    assert invoke("i18n", "extract").exit_code == 0
    assert invoke("i18n", "init", "de").exit_code == 0
    again = invoke("i18n", "init", "de")
    assert again.exit_code != 0 and "update" in again.output
    assert invoke("i18n", "init", "xx-nowhere").exit_code != 0
    po = project / "translations" / "de" / "LC_MESSAGES" / "messages.po"
    po.write_text(po.read_text().replace('msgid "Title"\nmsgstr ""', 'msgid "Title"\nmsgstr "Titel"'))
    # A string changes: update keeps the old translation as fuzzy, unused.
    page = project / "templates" / "page.html"
    page.write_text(page.read_text().replace('"Title"', '"Titles"'))
    assert invoke("i18n", "extract").exit_code == 0
    updated = invoke("i18n", "update")
    assert updated.exit_code == 0, updated.output
    text = po.read_text()
    assert re.search(r'#, fuzzy\n#\| msgid "Title"\nmsgid "Titles"\nmsgstr "Titel"', text), text
    compiled = invoke("i18n", "compile")
    assert compiled.exit_code == 0, compiled.output
    assert compiled.output == "de: 6 messages, 5 untranslated, 1 fuzzy (not used)\n"
    with open(po.with_suffix(".mo"), "rb") as f:
        assert read_mo(f).get("Titles") is None  # fuzzy: left out


def test_commands_without_catalogs(project):
    assert "init" in invoke("i18n", "compile").output
    invoke("i18n", "extract")
    assert "init" in invoke("i18n", "update").output


# -- loading ---------------------------------------------------------------------------------------


def test_locale_dirs():
    assert locale_dirs("de") == ["de"]
    assert locale_dirs("pt-br") == ["pt_BR", "pt"]
    assert locale_dirs("zh-hant-tw") == ["zh_Hant_TW", "zh_Hant", "zh"]


def test_region_falls_back_to_language_then_batteries(tmp_path):
    write_catalog(tmp_path, "de", {"Posts": "Beiträge", "Save": "Speichern"})
    write_catalog(tmp_path, "de_CH", {"Save": "Sichern"})
    loaded = load_catalogs(str(tmp_path), "de-CH")
    assert loaded.translations.gettext("Save") == "Sichern"
    assert loaded.translations.gettext("Posts") == "Beiträge"
    assert loaded.translations.gettext("Not Found") == "Nicht gefunden"  # Batteries' own
    assert load_catalogs(str(tmp_path), "ja").translations.gettext("Save") == "Save"


def test_catalogs_per_app_loaded_once_and_reloaded_in_debug(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    write_catalog(one / "translations", "de", {"Hello": "Hallo"})
    path = write_catalog(two / "translations", "de", {"Hello": "Grüezi"})
    apps = [Batteries("a", root_path=str(one)), Batteries("b", root_path=str(two))]
    for app in apps:
        app.config["DEFAULT_LANGUAGE"] = "de"
    seen = []
    for app in apps:
        with app.app_context():
            seen.append(_("Hello"))
    assert seen == ["Hallo", "Grüezi"]
    from batteries.i18n import translations_for

    first = translations_for(apps[1], "de")
    assert translations_for(apps[1], "de") is first
    write_catalog(two / "translations", "de", {"Hello": "Servus"})
    os.utime(path, ns=(0, os.stat(path).st_mtime_ns + 10**9))
    assert translations_for(apps[1], "de") is first  # not in debug: read once per process
    apps[1].debug = True
    assert translations_for(apps[1], "de").gettext("Hello") == "Servus"


def test_a_broken_mo_file_is_named(tmp_path):
    path = tmp_path / "de" / "LC_MESSAGES" / "messages.mo"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a catalog at all")
    with pytest.raises(RuntimeError, match="messages.mo.*batteries i18n compile"):
        load_catalogs(str(tmp_path), "de")


# -- Batteries' own messages -------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["de", "fr"])
def test_own_catalogs_complete_and_compiled(lang):
    from batteries.auth import UNAUTHORIZED_MESSAGE
    from batteries.csrf import MESSAGES

    base = Path(OWN_DIR) / lang / "LC_MESSAGES"
    with open(base / "batteries.po", "rb") as f:
        po = read_po(f)
    with open(base / "batteries.mo", "rb") as f:
        mo = read_mo(f)
    translated = {m.id: m.string for m in po if m.id and m.string and not m.fuzzy}
    assert {m.id: m.string for m in mo if m.id} == translated, (
        "the .mo is stale: run batteries.translations.compile_catalog on the .po"
    )
    wanted = {s for pair in HTTP_TEXTS.values() for s in pair}
    wanted |= set(MESSAGES.values()) | {UNAUTHORIZED_MESSAGE}
    wanted |= {"This value must not contain NUL characters.", "CSRF check failed: %(reason)s"}
    assert wanted <= set(translated)


def test_http_error_texts(app):
    with app.test_request_context(headers={"Accept-Language": "de"}):
        assert http_error_text(NotFound()) == (NotFound().name, NotFound.description)
    app.config["LANGUAGES"] = ["en", "de", "fr"]
    with app.test_request_context(headers={"Accept-Language": "de"}):
        assert http_error_text(NotFound()) == (
            "Nicht gefunden",
            "Unter dieser Adresse gibt es keine Seite.",
        )
        assert http_error_text(BadRequest("Log in to see this page.")) == (
            "Ungültige Anfrage",
            "Melden Sie sich an, um diese Seite zu sehen.",
        )
        assert http_error_text(BadRequest("my own words")) == ("Ungültige Anfrage", "my own words")
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        assert http_error_text(TooManyRequests())[0] == "Trop de requêtes"


def test_wtforms_messages_in_the_request_locale(app):
    from wtforms import StringField
    from wtforms.validators import DataRequired, Length

    from batteries.forms import Form

    class SignupForm(Form):
        class Meta:
            csrf = False

            def get_translations(self, form):
                return wtforms_translations()

        name = StringField("Name", validators=[DataRequired()])
        email = StringField("E-mail", validators=[Length(min=3)])

    app.config["LANGUAGES"] = ["en", "de", "fr", "eo"]
    for lang, required in [
        ("de", "Dieses Feld wird benötigt."),
        ("fr", "Ce champ est requis."),
        ("en", "This field is required."),
        ("eo", "This field is required."),  # WTForms has no Esperanto
    ]:
        with app.test_request_context(
            method="POST", data={"email": "x"}, headers={"Accept-Language": lang}
        ):
            form = SignupForm()
            assert not form.validate()
            assert form.name.errors == [required]
    with app.test_request_context(method="POST", data={}, headers={"Accept-Language": "de"}):
        assert wtforms_translations().ngettext("a", "b", 2) == "b"
        assert wtforms_translations().ngettext(
            "Field must be at least %(min)d character long.",
            "Field must be at least %(min)d characters long.",
            2,
        ).startswith("Feld muss mindestens")


# -- filters ---------------------------------------------------------------------------------------

MOMENT = datetime(2026, 12, 5, 23, 30, tzinfo=timezone.utc)


def render(app, source, lang, **context):
    app.config["LANGUAGES"] = ["en", "de", "fr"]
    with app.test_request_context(headers={"Accept-Language": lang}):
        return render_template_string(source, **context)


def test_format_filters_follow_the_locale(app):
    source = "{{ 1234.5|format_number }}|{{ 12.5|format_currency('EUR') }}|{{ d|format_date }}"
    assert render(app, source, "de", d=date(2026, 12, 5)) == "1.234,5|12,50\xa0€|05.12.2026"
    assert render(app, source, "en", d=date(2026, 12, 5)) == "1,234.5|€12.50|Dec 5, 2026"
    # the same compiled template, another locale: filters are not folded at compile time
    assert render(app, "{{ 1234.5|format_number }}", "fr") == "1\u202f234,5"
    assert render(app, "{{ d|format_date('full') }}", "de", d=date(2026, 12, 5)) == (
        "Samstag, 5. Dezember 2026"
    )


def test_format_datetime_in_the_configured_timezone(app):
    app.config["TIMEZONE"] = "Europe/Berlin"
    out = render(app, "{{ m|format_datetime('short') }}|{{ m|format_date }}", "de", m=MOMENT)
    assert out == "06.12.26, 00:30|06.12.2026"
    naive = MOMENT.replace(tzinfo=None)
    assert render(app, "{{ m|format_time('short') }}", "de", m=naive) == "00:30"
    app.config["TIMEZONE"] = "UTC"
    assert render(app, "{{ m|format_datetime('short') }}", "en", m=MOMENT) == "12/5/26, 11:30\u202fPM"
    assert render(app, "{{ none|format_date }}", "en", none=None) == ""


def test_unknown_locale_formats_in_the_default(app):
    with app.test_request_context(), force_locale("xx"):
        assert render_template_string("{{ 1234.5|format_number }}") == "1,234.5"
        assert gettext("Not Found") == "Not Found"


def test_deploy_checks(app, tmp_path):
    from batteries import checks
    from batteries.i18n import DEPLOY_CHECKS

    assert checks.run(app, DEPLOY_CHECKS) == []
    app.config["LANGUAGES"] = ["en", "de", "pt-BR"]
    found = checks.run(app, DEPLOY_CHECKS)
    assert [(p.id, p.message.split(" has")[0]) for p in found] == [
        ("batteries.W034", "'de'"),
        ("batteries.W034", "'pt-BR'"),
    ]
    mo = write_catalog(tmp_path / "translations", "pt", {"Hello": "Olá"})
    po = mo.with_suffix(".po")
    po.write_text("")
    os.utime(po, ns=(0, os.stat(mo).st_mtime_ns + 10**9))
    found = checks.run(app, DEPLOY_CHECKS)
    assert [(p.id, p.key) for p in found] == [
        ("batteries.W034", "LANGUAGES"),  # de still missing; pt-BR reads pt
        ("batteries.W035", "TRANSLATIONS_DIR"),
    ]
    assert "messages.po differs from its .mo" in found[1].message


def test_stale_catalog_is_judged_by_content_not_time(tmp_path):
    """A fresh git checkout gives files arbitrary times: only what they say counts."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    from batteries.i18n import catalog_is_stale

    mo = write_catalog(tmp_path / "translations", "pt", {"Hello": "Olá"})
    po = mo.with_suffix(".po")
    catalog = Catalog(locale="pt")
    catalog.add("Hello", "Olá")
    catalog.add("Bye", "", flags=["fuzzy"])  # untranslated and fuzzy entries are not compiled
    with open(po, "wb") as f:
        write_po(f, catalog)
    os.utime(po, ns=(0, os.stat(mo).st_mtime_ns + 10**9))  # the .po looks newer
    assert not catalog_is_stale(str(po))
    catalog.add("Thanks", "Obrigado")
    with open(po, "wb") as f:
        write_po(f, catalog)
    os.utime(po, ns=(0, 0))  # older, yet it says more than the .mo
    assert catalog_is_stale(str(po))
    mo.unlink()
    assert catalog_is_stale(str(po))

"""The pages are ready for translation: marked strings go through the app's catalogs.

A tiny German catalog is compiled into a temporary TRANSLATIONS_DIR, as
`batteries i18n compile` would write it (see README.md, "Translations").
"""

from __future__ import annotations

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from batteries.i18n import _, force_locale

from .conftest import make_app

GERMAN = {
    "No notes yet.": "Noch keine Notizen.",
    "Log in": "Anmelden",
    "Username": "Benutzername",
    "Wrong username or password.": "Falscher Benutzername oder falsches Passwort.",
}


def german_app(tmp_path):
    folder = tmp_path / "translations" / "de" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    catalog = Catalog(locale="de")
    for english, german in GERMAN.items():
        catalog.add(english, german)
    with open(folder / "messages.mo", "wb") as mo:
        write_mo(mo, catalog)
    return make_app(
        tmp_path, LANGUAGES=["en", "de"], TRANSLATIONS_DIR=str(tmp_path / "translations")
    )


def test_templates_and_form_labels_follow_the_browser_language(tmp_path):
    client = german_app(tmp_path).test_client()
    german = client.get("/", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Noch keine Notizen." in german and ">Anmelden<" in german
    assert 'lang="de"' in german
    login = client.get("/auth/login", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Benutzername" in login  # a lazy_gettext label (forms.py)
    english = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "No notes yet." in english and "Noch keine" not in english


def test_python_messages_go_through_gettext(tmp_path):
    app = german_app(tmp_path)
    with app.test_request_context(), force_locale("de"):
        assert _("Wrong username or password.") == GERMAN["Wrong username or password."]
        assert _("Not in the catalog") == "Not in the catalog"

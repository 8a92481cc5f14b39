"""Catalogs: loading them, Batteries' own, WTForms', the ``format_*`` filters, ``batteries i18n``.

The translation workflow, with no ``babel.cfg`` to write::

    batteries i18n extract        # Python files and templates → translations/messages.pot
    batteries i18n init de        # → translations/de/LC_MESSAGES/messages.po (translate it)
    batteries i18n update         # after new strings: merge messages.pot into every .po
    batteries i18n compile        # → messages.mo; reports untranslated and fuzzy counts

Extraction reads the app's ``root_path``: ``*.py`` files and templates under a ``templates``
folder (``.html``, ``.txt``, ``.xml``, ``.jinja``, ``.j2``), with the keywords ``_``,
``gettext``, ``ngettext``, ``pgettext``, ``npgettext``, ``lazy_gettext``, ``_l`` (and the lazy
plural and context forms), and ``TRANSLATORS:`` comments for translators.

Batteries' own messages live in ``batteries/translations/<lang>/LC_MESSAGES/batteries.po``
(German and French; the ``.mo`` files are committed next to them and checked by a test).

Config: ``TRANSLATIONS_DIR``, ``TIMEZONE`` (see :mod:`batteries.i18n`).
"""

from __future__ import annotations

import os
import typing as t
from datetime import date, datetime, time, timezone

import click

from .catalogs import (  # noqa: F401  (re-exported: the loading layer)
    DOMAIN,
    N_,
    OWN_DIR,
    OWN_DOMAIN,
    LoadedCatalogs,
    load_catalogs,
    locale_dirs,
    own_catalog,
)
from .i18n import DEFAULT_LANGUAGE, TIMEZONE, TRANSLATIONS_DIR, get_locale, translations
from .i18n import configure_jinja as configure_gettext
from .i18n import gettext as _

if t.TYPE_CHECKING:  # pragma: no cover
    from babel import Locale
    from flask import Flask
    from werkzeug.exceptions import HTTPException

_WTFORMS: dict[str, t.Any] = {}


def _wtforms_catalog(locale: str) -> t.Any:
    found = _WTFORMS.get(locale)
    if found is None:
        from wtforms.i18n import DummyTranslations, get_translations

        try:
            found = get_translations(locale_dirs(locale))
        except OSError:  # WTForms has no catalog for this language
            found = DummyTranslations()
        _WTFORMS[locale] = found
    return found


class WTFormsTranslations:
    """WTForms' built-in messages in the request's locale (its own catalogs, through
    :mod:`wtforms.i18n`); the app's catalog may override any of them."""

    def gettext(self, string: str) -> str:
        text = _(string)
        if text != string:
            return text
        locale = get_locale()
        return _wtforms_catalog(locale).gettext(string) if locale else string

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        text = translations().ngettext(singular, plural, n)
        if text not in (singular, plural):
            return text
        locale = get_locale()
        if not locale:
            return singular if n == 1 else plural
        return t.cast(str, _wtforms_catalog(locale).ngettext(singular, plural, n))


_WTFORMS_TRANSLATIONS = WTFormsTranslations()


def wtforms_translations() -> WTFormsTranslations:
    """The translations object for a WTForms form's ``Meta.get_translations``."""
    return _WTFORMS_TRANSLATIONS


#: Status names and Batteries' own descriptions of the common client and server errors.
HTTP_TEXTS: dict[int, tuple[str, str]] = {
    400: (N_("Bad Request"), N_("The request could not be understood.")),
    401: (N_("Unauthorized"), N_("You need to log in to see this page.")),
    403: (N_("Forbidden"), N_("You are not allowed to see this page.")),
    404: (N_("Not Found"), N_("There is no page at this address.")),
    405: (N_("Method Not Allowed"), N_("This page does not accept this method.")),
    406: (N_("Not Acceptable"), N_("This page has no answer in a format the client accepts.")),
    409: (N_("Conflict"), N_("The request conflicts with the current state of the data.")),
    410: (N_("Gone"), N_("This page was removed.")),
    413: (N_("Request Entity Too Large"), N_("The data sent is too large.")),
    415: (N_("Unsupported Media Type"), N_("The data sent is in a format this page does not read.")),
    422: (N_("Unprocessable Entity"), N_("The data sent could not be processed.")),
    429: (N_("Too Many Requests"), N_("Too many requests. Wait a moment and try again.")),
    500: (N_("Internal Server Error"), N_("Something went wrong on the server.")),
    503: (N_("Service Unavailable"), N_("The service is unavailable right now. Try again later.")),
}


def http_error_text(error: HTTPException) -> tuple[str, str]:
    """``(name, description)`` of ``error`` in the request's locale.

    Werkzeug's default description is replaced by Batteries' translated one when the locale has
    it; a description of the app's own is passed through gettext (so a catalog can translate
    it). In English (or any locale without a translation) the error's own text is returned.
    """
    name = error.name
    description = str(error.description or name)
    texts = HTTP_TEXTS.get(error.code or 0)
    if texts is not None and description == type(error).description:
        translated = _(texts[1])
        if translated != texts[1]:
            description = translated
    else:
        description = _(description)
    return _(name), description


# -- Jinja filters ----------------------------------------------------------------------------

_LOCALES: dict[str, Locale] = {}


def babel_locale(app: Flask | None = None) -> Locale:
    """The Babel ``Locale`` of the current locale (the default language's when Babel does not
    know it)."""
    from babel import Locale, UnknownLocaleError
    from flask import current_app

    code = get_locale() or "en"
    found = _LOCALES.get(code)
    if found is None:
        for candidate in (code, DEFAULT_LANGUAGE.get(app or current_app), "en"):
            try:
                found = Locale.parse(locale_dirs(candidate)[0])
                break
            except (ValueError, UnknownLocaleError):
                continue
        _LOCALES[code] = t.cast("Locale", found)
    return t.cast("Locale", found)


def _timezone() -> t.Any:
    from babel.dates import get_timezone
    from flask import current_app

    return get_timezone(TIMEZONE.get(current_app))


def format_date(value: date | datetime | None, format: str = "medium") -> str:
    """``value`` as a date of the current locale; ``format``: short, medium, long, full or a
    Babel pattern. A datetime is shown in ``TIMEZONE`` (naive ones are taken as UTC)."""
    from babel import dates

    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(_timezone()).date()
    return dates.format_date(value, format, locale=babel_locale())


def format_datetime(value: datetime | None, format: str = "medium") -> str:
    """``value`` as date and time of the current locale, in ``TIMEZONE`` (naive: UTC)."""
    from babel import dates

    if value is None:
        return ""
    return dates.format_datetime(value, format, tzinfo=_timezone(), locale=babel_locale())


def format_time(value: time | datetime | None, format: str = "medium") -> str:
    """``value`` as a time of the current locale (a datetime in ``TIMEZONE``)."""
    from babel import dates

    if value is None:
        return ""
    tz = _timezone() if isinstance(value, datetime) else None
    return dates.format_time(value, format, tzinfo=tz, locale=babel_locale())


def format_number(value: float | int | None) -> str:
    """``value`` with the current locale's separators (``1.234,5`` in German)."""
    from babel import numbers

    if value is None:
        return ""
    return numbers.format_decimal(value, locale=babel_locale())


def format_currency(value: float | int | None, currency: str) -> str:
    """``value`` as an amount of ``currency`` (``"EUR"``) the way the current locale writes it."""
    from babel import numbers

    if value is None:
        return ""
    return numbers.format_currency(value, currency, locale=babel_locale())


def _per_render(fn: t.Callable[..., str]) -> t.Callable[..., str]:
    """``fn`` as a filter Jinja calls at each render (it folds other filters of constants once,
    at compile time, in whatever locale that happened)."""
    from jinja2 import pass_context

    @pass_context
    def filter(context: t.Any, *args: t.Any, **kwargs: t.Any) -> str:
        return fn(*args, **kwargs)

    filter.__name__ = fn.__name__
    filter.__doc__ = fn.__doc__
    return filter


def configure_jinja(app: Flask, env: t.Any) -> None:
    """The translations on ``app``'s Jinja environment: gettext, ``{% trans %}`` and
    ``get_locale()`` (:func:`batteries.i18n.configure_jinja`), and the ``format_*`` filters."""
    configure_gettext(app, env)
    env.filters.update(FILTERS)


FILTERS: dict[str, t.Callable[..., str]] = {
    fn.__name__: _per_render(fn)
    for fn in (format_date, format_datetime, format_time, format_number, format_currency)
}


# -- the command ------------------------------------------------------------------------------

KEYWORDS: dict[str, t.Any] = {
    "_": None,
    "gettext": None,
    "lazy_gettext": None,
    "_l": None,
    "ngettext": (1, 2),
    "lazy_ngettext": (1, 2),
    "pgettext": ((1, "c"), 2),
    "lazy_pgettext": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
}
_JINJA = "jinja2.ext:babel_extract"
METHOD_MAP = [("**.py", "python")] + [
    (f"**/templates/**.{ext}", _JINJA) for ext in ("html", "txt", "xml", "jinja", "j2")
]
#: Folders never searched for messages (besides those starting with "." or "_").
SKIPPED_DIRS = frozenset(
    {"venv", "env", "node_modules", "site-packages", "build", "dist", "instance", "translations"}
)


def _load(ctx: click.Context) -> tuple[Flask, str]:
    from flask.cli import ScriptInfo

    app = ctx.ensure_object(ScriptInfo).load_app()
    directory = TRANSLATIONS_DIR.get(app)
    if not directory:
        raise click.UsageError("TRANSLATIONS_DIR is None: set it to the folder of the catalogs.")
    return app, str(directory)


def _keep_dir(path: str) -> bool:
    name = os.path.basename(path)
    return not name.startswith((".", "_")) and name not in SKIPPED_DIRS


def extract_messages(root: str, project: str) -> t.Any:
    """A Babel ``Catalog`` of every message marked under ``root``."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir

    catalog = Catalog(project=project, charset="utf-8", fuzzy=False)
    options = {pattern: {"newstyle_gettext": "true", "trimmed": "false"} for pattern, m in METHOD_MAP if m == _JINJA}
    for filename, lineno, message, comments, context in extract_from_dir(
        root,
        METHOD_MAP,
        options,
        keywords=KEYWORDS,
        comment_tags=("TRANSLATORS:",),
        strip_comment_tags=True,
        directory_filter=_keep_dir,
    ):
        catalog.add(
            message,
            None,
            [(filename.replace(os.sep, "/"), lineno)],
            auto_comments=comments,
            context=context,
        )
    return catalog


def _write_po(path: str, catalog: t.Any) -> None:
    from babel.messages.pofile import write_po

    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        write_po(f, catalog, width=100, include_previous=True)
    os.replace(tmp, path)


def _read_po(path: str, locale: str | None = None) -> t.Any:
    from babel.messages.pofile import read_po

    with open(path, "rb") as f:
        return read_po(f, locale=locale)


def _catalogs(directory: str, domain: str = DOMAIN) -> list[tuple[str, str]]:
    """``(language folder, .po path)`` of every catalog in ``directory``."""
    found = []
    if os.path.isdir(directory):
        for name in sorted(os.listdir(directory)):
            po = os.path.join(directory, name, "LC_MESSAGES", domain + ".po")
            if os.path.isfile(po):
                found.append((name, po))
    return found


def compile_catalog(po: str, locale: str) -> tuple[int, int, int]:
    """Write the ``.mo`` next to ``po``; return (messages, untranslated, fuzzy).

    Fuzzy translations are left out of the ``.mo`` (the English text shows) until a translator
    confirms them by removing the ``fuzzy`` flag.
    """
    from babel.messages.mofile import write_mo

    catalog = _read_po(po, locale)
    total = untranslated = fuzzy = 0
    for message in list(catalog)[1:]:
        total += 1
        strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
        if not all(strings):
            untranslated += 1
        elif message.fuzzy:
            fuzzy += 1
    mo = po[: -len(".po")] + ".mo"
    tmp = mo + ".tmp"
    with open(tmp, "wb") as f:
        write_mo(f, catalog, use_fuzzy=False)
    os.replace(tmp, mo)
    return total, untranslated, fuzzy


@click.group("i18n", help="Translate the app: extract, init LANG, update, compile.")
def i18n_command() -> None:
    pass


@i18n_command.command("extract")
@click.pass_context
def extract_command(ctx: click.Context) -> None:
    """Collect the marked messages of the app's Python files and templates into
    TRANSLATIONS_DIR/messages.pot (no babel.cfg needed)."""
    app, directory = _load(ctx)
    catalog = extract_messages(app.root_path, app.import_name)
    pot = os.path.join(directory, DOMAIN + ".pot")
    _write_po(pot, catalog)
    click.echo(f"{len(catalog)} messages extracted into {pot}")


@i18n_command.command("init")
@click.argument("language")
@click.pass_context
def init_command(ctx: click.Context, language: str) -> None:
    """Start the catalog of LANGUAGE (e.g. de, pt-BR) from messages.pot."""
    from babel import Locale, UnknownLocaleError

    app, directory = _load(ctx)
    pot = os.path.join(directory, DOMAIN + ".pot")
    if not os.path.isfile(pot):
        raise click.UsageError(f"{pot} does not exist: run 'batteries i18n extract' first.")
    name = locale_dirs(language)[0]
    try:
        Locale.parse(name)
    except (ValueError, UnknownLocaleError):
        raise click.BadParameter(f"{language!r} is not a language Babel knows") from None
    po = os.path.join(directory, name, "LC_MESSAGES", DOMAIN + ".po")
    if os.path.exists(po):
        raise click.UsageError(f"{po} exists already: use 'batteries i18n update'.")
    catalog = _read_po(pot, name)
    catalog.fuzzy = False
    _write_po(po, catalog)
    click.echo(f"created {po}")


@i18n_command.command("update")
@click.pass_context
def update_command(ctx: click.Context) -> None:
    """Merge messages.pot into every language's catalog (new messages, changed ones fuzzy)."""
    app, directory = _load(ctx)
    pot = os.path.join(directory, DOMAIN + ".pot")
    if not os.path.isfile(pot):
        raise click.UsageError(f"{pot} does not exist: run 'batteries i18n extract' first.")
    template = _read_po(pot)
    catalogs = _catalogs(directory)
    if not catalogs:
        raise click.UsageError("no catalog to update: start one with 'batteries i18n init LANG'.")
    for name, po in catalogs:
        catalog = _read_po(po, name)
        catalog.update(template)
        _write_po(po, catalog)
        click.echo(f"updated {po}")


@i18n_command.command("compile")
@click.pass_context
def compile_command(ctx: click.Context) -> None:
    """Compile every catalog to .mo; report untranslated and fuzzy messages per language."""
    app, directory = _load(ctx)
    catalogs = _catalogs(directory)
    if not catalogs:
        raise click.UsageError(f"no catalog in {directory}: run 'batteries i18n init LANG'.")
    for name, po in catalogs:
        total, untranslated, fuzzy = compile_catalog(po, name)
        click.echo(
            f"{name}: {total} messages, {untranslated} untranslated, {fuzzy} fuzzy (not used)"
        )

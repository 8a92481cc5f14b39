"""Translations and language codes in URLs: gettext catalogs, the request's locale, ``/de/about``.

Replaces Flask's "URL Processors" pattern (internationalized URLs) and what apps bring
Flask-Babel for::

    from batteries.i18n import _, lazy_gettext as _l, localize, ngettext

    bp = Blueprint("pages", __name__)
    localize(bp, ["en", "de", "fr"], default="en")     # before app.register_blueprint(bp)

    @bp.route("/about")                                  # served at /en/about, /de/about, ...
    def about():
        flash(_("Welcome back, %(name)s.", name=user.name))
        return render_template("about.html")            # {% trans %}, _() and ngettext work

The locale of a request is, in this order: ``g.lang_code`` (set by ``localize`` from the URL);
else what the app's locale selector returns (``@app.locale_selector``, e.g. a user's saved
preference; None to go on); else the best ``Accept-Language`` match among ``LANGUAGES``
(the response then ``Vary``s on it); else ``DEFAULT_LANGUAGE``. Outside a request: the default,
or what :func:`force_locale` says.

Catalogs are ``TRANSLATIONS_DIR/<lang>/LC_MESSAGES/messages.mo`` (``batteries i18n extract``,
``init``, ``update``, ``compile`` make them, see :mod:`batteries.translations`). Each is read
once per locale per app (in debug, again when the ``.mo`` file changes); Batteries' own
messages (CSRF failures, "log in", error pages, form validation) are merged under the app's.

``localize`` (language codes in URLs) is :func:`batteries.language_urls.localize`, offered
here with the rest.

Config: ``LANGUAGES``, ``DEFAULT_LANGUAGE``, ``TRANSLATIONS_DIR``, ``TIMEZONE``.
"""

from __future__ import annotations

import gettext as _gettext
import os
import threading
import typing as t
from dataclasses import dataclass, field

from flask import Flask, after_this_request, current_app, g, request
from markupsafe import Markup, escape
from werkzeug.wrappers import Request

from .catalogs import DOMAIN, load_catalogs, locale_dirs
from .checks import Check
from .config import Setting
from .language_urls import LOCALE_KEY, best_language, localize
from .state import state_of

if t.TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator

    from jinja2 import Environment
    from werkzeug.wrappers import Response as WerkzeugResponse

__all__ = [
    "_",
    "force_locale",
    "get_locale",
    "gettext",
    "lazy_gettext",
    "lazy_ngettext",
    "lazy_pgettext",
    "locale_selector",
    "localize",
    "ngettext",
    "npgettext",
    "pgettext",
    "translations",
]

LANGUAGES = Setting(
    "LANGUAGES",
    None,
    (list, tuple, type(None)),
    "languages the app is translated into, matched against Accept-Language (None: only "
    "DEFAULT_LANGUAGE)",
)
DEFAULT_LANGUAGE = Setting(
    "DEFAULT_LANGUAGE", "en", (str,), "locale of requests no other rule decides (and of msgids)"
)
TRANSLATIONS_DIR = Setting(
    "TRANSLATIONS_DIR",
    lambda app: os.path.join(app.root_path, "translations"),
    (str, type(None)),
    "folder of the app's catalogs: <lang>/LC_MESSAGES/messages.po and .mo",
    shown="<root_path>/translations",
)
TIMEZONE = Setting(
    "TIMEZONE", "UTC", (str,), "time zone format_datetime shows times in (an IANA name)"
)
CONFIG = (LANGUAGES, DEFAULT_LANGUAGE, TRANSLATIONS_DIR, TIMEZONE)


def _languages_without_catalog(app: Flask) -> list[str]:

    directory = TRANSLATIONS_DIR.get(app)
    default = DEFAULT_LANGUAGE.get(app)
    missing = []
    for lang in LANGUAGES.get(app) or ():
        if lang == default:
            continue
        paths = [os.path.join(directory or "", n, "LC_MESSAGES", DOMAIN + ".mo") for n in locale_dirs(lang)]
        if not directory or not any(os.path.isfile(p) for p in paths):
            missing.append(f"{lang!r} has no compiled catalog ({paths[0]})")
    return missing


def _messages(catalog: t.Any) -> dict[t.Any, t.Any]:
    """The translated, non-fuzzy messages of a Babel catalog, by (context, id)."""
    found = {}
    for message in catalog:
        translated = any(message.string) if isinstance(message.string, tuple) else message.string
        if message.id and translated and not message.fuzzy:
            found[(message.context, message.id)] = message.string
    return found


def catalog_is_stale(po: str) -> bool:
    """Whether the ``.mo`` beside ``po`` is missing or says something else than ``po``.

    Compared by content, not modification time: a fresh git checkout gives files arbitrary
    times.
    """
    from babel.messages.mofile import read_mo
    from babel.messages.pofile import read_po

    mo = po[: -len(".po")] + ".mo"
    try:
        with open(mo, "rb") as f:
            compiled = read_mo(f)
    except OSError:
        return True
    with open(po, "rb") as f:
        source = read_po(f)
    return _messages(source) != _messages(compiled)


def _stale_catalogs(app: Flask) -> list[str]:

    directory = TRANSLATIONS_DIR.get(app)
    stale = []
    if directory and os.path.isdir(directory):
        for name in sorted(os.listdir(directory)):
            po = os.path.join(directory, name, "LC_MESSAGES", DOMAIN + ".po")
            if os.path.isfile(po) and catalog_is_stale(po):
                stale.append(f"{po} differs from its .mo (or has none): its changes do not show")
    return stale


DEPLOY_CHECKS = (
    Check(
        "batteries.W034",
        "warning",
        "LANGUAGES",
        "run 'batteries i18n init LANG', translate, 'batteries i18n compile' (or drop the language)",
        _languages_without_catalog,
    ),
    Check(
        "batteries.W035",
        "warning",
        "TRANSLATIONS_DIR",
        "run 'batteries i18n compile' when building or deploying",
        _stale_catalogs,
    ),
)

#: Where the request's (or, outside one, the app context's) translations are remembered.
_ACTIVE = LOCALE_KEY
_FORCED = "_batteries_i18n_forced"


@dataclass
class I18nState:
    """Per-app: the locale selector and the loaded catalogs."""

    selector: t.Callable[[], str | None] | None = None
    catalogs: dict[str, t.Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def init_app(app: Flask) -> None:
    """Nothing to register: catalogs load on the first translated string of each locale."""


# -- the locale -------------------------------------------------------------------------------


def locale_selector(app: Flask) -> t.Callable[[t.Callable[[], str | None]], t.Callable[[], str | None]]:
    """``locale_selector(app)(fn)``: ``fn()`` picks the locale after the URL's ``lang_code``.

    It runs once per request (inside it), returns a language code such as ``"de"`` (a user's
    saved preference, say) or None to let ``Accept-Language`` and ``DEFAULT_LANGUAGE`` decide.
    ``Batteries`` offers it as ``@app.locale_selector``.
    """

    def register(fn: t.Callable[[], str | None]) -> t.Callable[[], str | None]:
        state_of(app, I18nState).selector = fn
        return fn

    return register


def select_locale(app: Flask) -> str:
    """The locale for the current context, by the rules of the module docstring."""
    return _select_locale(app, _holder())


def _select_locale(app: Flask, holder: t.Any) -> str:
    """:func:`select_locale` with the current request (or ``g``, or None) already looked up."""
    if holder is not None:
        forced = holder.__dict__.get(_FORCED)
        if forced:
            return t.cast(str, forced[-1])
        lang = g.get("lang_code")
        if lang:
            return t.cast(str, lang)
    default = t.cast(str, DEFAULT_LANGUAGE.get(app))
    if holder is None or not isinstance(holder, Request):
        return default  # outside a request (a CLI command, a task): no browser to ask
    selector = state_of(app, I18nState).selector
    if selector is not None:
        chosen = selector()
        if chosen:
            return chosen
    languages = LANGUAGES.get(app)
    if languages:
        accept = request.accept_languages
        after_this_request(_vary_on_accept_language)
        return best_language(accept, tuple(languages), default)
    return default


def _vary_on_accept_language(response: WerkzeugResponse) -> WerkzeugResponse:
    response.vary.add("Accept-Language")
    return response


def _holder() -> t.Any:
    """The current request, else the app context's ``g``, else None."""
    try:
        return request._get_current_object()  # type: ignore[attr-defined]
    except RuntimeError:
        pass
    try:
        return g._get_current_object()
    except RuntimeError:
        return None


class _Active:
    __slots__ = ("locale", "translations")

    def __init__(self, locale: str | None, translations: _gettext.NullTranslations) -> None:
        self.locale = locale
        self.translations = translations


_OUTSIDE = _Active(None, _gettext.NullTranslations())


def _active() -> _Active:
    holder = _holder()
    if holder is None:
        return _OUTSIDE
    active = holder.__dict__.get(_ACTIVE)
    if active is None:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        locale = _select_locale(app, holder)
        active = _Active(locale, translations_for(app, locale))
        holder.__dict__[_ACTIVE] = active
    return t.cast(_Active, active)


def translations() -> _gettext.NullTranslations:
    """The current context's translations: the app's catalog, Batteries' under it (a stdlib
    ``gettext`` translations object; an empty one outside an app)."""
    return _active().translations


def get_locale() -> str | None:
    """The current locale as a language code (``"de"``, ``"pt-BR"``); None outside an app."""
    return _active().locale


def translations_for(app: Flask, locale: str) -> _gettext.NullTranslations:
    """The app's catalog for ``locale`` with Batteries' own under it, loaded once per process
    (in debug: again when a ``.mo`` file changed)."""
    state = state_of(app, I18nState)
    loaded = state.catalogs.get(locale)
    if loaded is None or (app.debug and loaded.changed()):
        with state.lock:
            loaded = state.catalogs[locale] = load_catalogs(TRANSLATIONS_DIR.get(app), locale)
    return t.cast(_gettext.NullTranslations, loaded.translations)


class force_locale:
    """Translate in ``locale`` inside the block (an e-mail to a user, a task), then go back."""

    def __init__(self, locale: str) -> None:
        self.locale = locale

    def __enter__(self) -> None:
        holder = _holder()
        if holder is None:
            raise RuntimeError("force_locale() needs an app or request context")
        holder.__dict__.setdefault(_FORCED, []).append(self.locale)
        holder.__dict__.pop(_ACTIVE, None)

    def __exit__(self, *exc: object) -> None:
        holder = _holder()
        if holder is not None:
            holder.__dict__[_FORCED].pop()
            holder.__dict__.pop(_ACTIVE, None)


# -- translating ------------------------------------------------------------------------------


def gettext(message: str, **variables: t.Any) -> str:
    """``message`` in the current locale; ``%(name)s`` placeholders filled from ``variables``."""
    text = _active().translations.gettext(message)
    return text % variables if variables else text


_ = gettext


def ngettext(singular: str, plural: str, num: int, **variables: t.Any) -> str:
    """The singular or plural form for ``num`` in the current locale; ``%(num)d`` is filled."""
    variables.setdefault("num", num)
    return _active().translations.ngettext(singular, plural, num) % variables


def pgettext(context: str, message: str, **variables: t.Any) -> str:
    """``message`` as meant in ``context`` (``pgettext("month", "May")``)."""
    text = _active().translations.pgettext(context, message)
    return text % variables if variables else text


def npgettext(context: str, singular: str, plural: str, num: int, **variables: t.Any) -> str:
    """:func:`ngettext` with a context."""
    variables.setdefault("num", num)
    return _active().translations.npgettext(context, singular, plural, num) % variables


class LazyString:
    """A translation made when it is used, in the locale of that moment.

    For strings defined at import time: form labels and validator messages, constants. It
    behaves as a ``str`` where one is needed (``str()``, templates, ``%``, ``+``, comparison,
    JSON through its HTML form, which escapes it).
    """

    __slots__ = ("_func", "_args", "_kwargs")

    def __init__(self, func: t.Callable[..., str], *args: t.Any, **kwargs: t.Any) -> None:
        self._func = func
        self._args = args
        self._kwargs = kwargs

    def __str__(self) -> str:
        return self._func(*self._args, **self._kwargs)

    def __html__(self) -> Markup:
        return escape(str(self))

    def __repr__(self) -> str:
        return f"l{str(self)!r}"

    def __len__(self) -> int:
        return len(str(self))

    def __iter__(self) -> Iterator[str]:
        return iter(str(self))

    def __contains__(self, item: str) -> bool:
        return item in str(self)

    def __getattr__(self, name: str) -> t.Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(str(self), name)

    def __mod__(self, other: t.Any) -> str:
        return str(str(self) % other)

    def __add__(self, other: str) -> str:
        return str(self) + other

    def __radd__(self, other: str) -> str:
        return other + str(self)

    def __mul__(self, n: int) -> str:
        return str(self) * n

    def __eq__(self, other: object) -> bool:
        return str(self) == (str(other) if isinstance(other, LazyString) else other)

    def __lt__(self, other: object) -> bool:
        return str(self) < str(other)

    def __hash__(self) -> int:
        return hash(str(self))


def lazy_gettext(message: str, **variables: t.Any) -> LazyString:
    """:func:`gettext`, translated when used (``_l("Name")`` for a WTForms label)."""
    return LazyString(gettext, message, **variables)


def lazy_ngettext(singular: str, plural: str, num: int, **variables: t.Any) -> LazyString:
    """:func:`ngettext`, translated when used."""
    return LazyString(ngettext, singular, plural, num, **variables)


def lazy_pgettext(context: str, message: str, **variables: t.Any) -> LazyString:
    """:func:`pgettext`, translated when used."""
    return LazyString(pgettext, context, message, **variables)


# -- templates --------------------------------------------------------------------------------


def _jinja_gettext(message: str) -> str:
    return _active().translations.gettext(message)


def _jinja_ngettext(singular: str, plural: str, num: int) -> str:
    return _active().translations.ngettext(singular, plural, num)


def _jinja_pgettext(context: str, message: str) -> str:
    return _active().translations.pgettext(context, message)


def _jinja_npgettext(context: str, singular: str, plural: str, num: int) -> str:
    return _active().translations.npgettext(context, singular, plural, num)


def configure_jinja(app: Flask, env: Environment) -> None:
    """Jinja's i18n extension (``{% trans %}``, ``_()``, ``ngettext``, newstyle placeholders),
    and ``get_locale()``, on ``app``'s environment (``batteries.translations.configure_jinja``
    adds the ``format_*`` filters). An app that installs its own gettext afterwards
    (Flask-Babel) replaces the callables."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        _jinja_gettext,
        _jinja_ngettext,
        newstyle=True,
        pgettext=_jinja_pgettext,
        npgettext=_jinja_npgettext,
    )
    env.globals["get_locale"] = get_locale

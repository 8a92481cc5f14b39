"""Language codes in URLs: ``/de/about``, Flask's "URL Processors" pattern (internationalized
URLs), done so that 404s stay 404s::

    from batteries.i18n import localize       # (defined here, offered there)

    bp = Blueprint("pages", __name__)
    localize(bp, ["en", "de", "fr"], default="en")     # before app.register_blueprint(bp)

    @bp.route("/about")                                  # served at /en/about, /de/about, ...
    def about(): ...

On a blueprint every rule is localized, declared before or after the call, nested blueprints
included (call it before registering the blueprint); on an app, rules added *after* the call
are (``static`` is not), and ``/`` redirects to the best language of the request's
``Accept-Language``. The URL's language goes to ``g.lang_code``, which
:mod:`batteries.i18n` takes as the request's locale; an unknown language is an ordinary 404;
views do not receive ``lang_code``. Flask's docs version turns every 404 into a 500 and
``url_for("typo")`` into a ``KeyError``; this one does neither.
"""

from __future__ import annotations

import functools
import re
import typing as t
import weakref
from dataclasses import dataclass

from flask import Blueprint, Flask, current_app, g, redirect, request
from flask.sansio.blueprints import BlueprintSetupState

from .state import state_of

if t.TYPE_CHECKING:  # pragma: no cover
    from werkzeug.routing import Rule
    from werkzeug.wrappers import Response as WerkzeugResponse

__all__ = ["ARG", "best_language", "localize"]

#: The URL variable (and ``g`` attribute) holding the language.
ARG = "lang_code"
ROOT_ENDPOINT = "batteries_i18n_root"
#: Where :mod:`batteries.i18n` remembers the request's (or, outside one, the app context's)
#: locale and translations; a language pulled from the URL makes what is there stale.
LOCALE_KEY = "_batteries_i18n"
_HAS_ARG = re.compile(r"<(?:[^>]*:)?" + ARG + ">")
_LANGUAGE = re.compile(r"^[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*$")


@dataclass
class LanguageUrlsState:
    """Per app: the languages and default ``localize`` was called with on the app itself."""

    localized: tuple[tuple[str, ...], str] | None = None


#: Blueprints ``localize`` was called on (so a second call is refused).
_LOCALIZED_BLUEPRINTS: weakref.WeakSet[Blueprint] = weakref.WeakSet()


def _check(languages: t.Iterable[str], default: str) -> tuple[str, ...]:
    if isinstance(languages, str):
        languages = [languages]
    langs = tuple(dict.fromkeys(languages))
    if not langs:
        raise ValueError("localize() needs at least one language")
    for lang in langs:
        if not isinstance(lang, str) or not _LANGUAGE.match(lang):
            raise ValueError(f"not a language code usable in a URL: {lang!r}")
    if default not in langs:
        raise ValueError(f"the default language {default!r} is not one of {list(langs)}")
    return langs


def _prefix(languages: tuple[str, ...]) -> str:
    quoted = ", ".join(f'"{lang}"' for lang in languages)  # quoted: "pt-BR" is not a name
    return f"/<any({quoted}):{ARG}>"


def localize(target: Flask | Blueprint, languages: t.Iterable[str], default: str) -> None:
    """Serve ``target``'s rules under ``/<lang_code>/``, one of ``languages``.

    ``target`` is an app (rules added after this call; ``/`` then redirects to the visitor's
    best language) or a blueprint (every rule; call before registering it). ``default`` fills
    ``lang_code`` in ``url_for`` when the request has no language of its own.
    """
    langs = _check(languages, default)
    prefix = _prefix(langs)
    pull = functools.partial(_pull_lang_code, langs)
    if isinstance(target, Flask):
        state = state_of(target, LanguageUrlsState)
        if state.localized is not None:
            raise ValueError("localize() was already called on this app")
        target.url_value_preprocessor(pull)
        target.url_defaults(functools.partial(_fill_lang_code, langs, default, prefix))
        if not any(rule.rule == "/" for rule in target.url_map.iter_rules()):
            target.add_url_rule("/", ROOT_ENDPOINT, _redirect_to_language)
        state.localized = (langs, default)
        target.url_rule_class = _localized_rule_class(target.url_rule_class, prefix)
    elif isinstance(target, Blueprint):
        if target in _LOCALIZED_BLUEPRINTS:
            raise ValueError(f"localize() was already called on blueprint {target.name!r}")
        try:
            # Flask refuses setup methods on a blueprint that was registered already.
            target.url_value_preprocessor(pull)
        except AssertionError:
            raise ValueError(
                f"call localize() before registering blueprint {target.name!r}"
            ) from None
        target.url_defaults(functools.partial(_fill_lang_code, langs, default, None))
        _LOCALIZED_BLUEPRINTS.add(target)
        target.make_setup_state = functools.partial(  # type: ignore[method-assign]
            _make_localized_setup_state, target.make_setup_state, prefix
        )
    else:
        raise TypeError(f"localize() takes a Flask app or a Blueprint, not {type(target).__name__}")


def _make_localized_setup_state(
    make: t.Callable[..., BlueprintSetupState],
    prefix: str,
    app: Flask,
    options: dict[str, t.Any],
    first_registration: bool = False,
) -> BlueprintSetupState:
    state = make(app, options, first_registration)
    state.url_prefix = prefix + (state.url_prefix or "").rstrip("/")
    return state


def _localized_rule_class(base: type[Rule], prefix: str) -> type[Rule]:
    """A rule class that puts ``prefix`` in front of every rule but ``static`` and ``/``."""

    def __init__(self: Rule, string: str, *args: t.Any, **kwargs: t.Any) -> None:
        # A rule that has a language already (a localized blueprint's) is left alone.
        if kwargs.get("endpoint") not in ("static", ROOT_ENDPOINT) and not _HAS_ARG.search(
            string
        ):
            string = prefix + string
            self.batteries_i18n_prefix = prefix  # type: ignore[attr-defined]
        base.__init__(self, string, *args, **kwargs)

    return type("Localized" + base.__name__, (base,), {"__init__": __init__})


def _pull_lang_code(
    languages: tuple[str, ...], endpoint: str | None, values: dict[str, t.Any] | None
) -> None:
    # values is None when routing failed (a 404): nothing to pull then.
    if values and ARG in values:
        g.lang_code = values.pop(ARG)
        request.__dict__.pop(LOCALE_KEY, None)  # a locale chosen before this is stale


def _fill_lang_code(
    languages: tuple[str, ...],
    default: str,
    app_prefix: str | None,
    endpoint: str,
    values: dict[str, t.Any],
) -> None:
    if ARG in values:
        return
    url_map = current_app.url_map
    try:
        if app_prefix is not None:
            # The app's own filler only fills rules it localized (not a localized blueprint's,
            # whose filler runs next with its own languages).
            expecting = any(
                getattr(rule, "batteries_i18n_prefix", None) == app_prefix
                for rule in url_map.iter_rules(endpoint)
            )
        else:
            expecting = url_map.is_endpoint_expecting(endpoint, ARG)
    except KeyError:  # an unknown endpoint: let url_for raise its BuildError
        return
    if expecting:
        current = g.get("lang_code")
        values[ARG] = current if current in languages else default


def best_language(accept: t.Iterable[tuple[str, float]], languages: tuple[str, ...], default: str) -> str:
    """The first of ``languages`` the client accepts, in its order of preference.

    ``de-CH`` matches ``de-CH`` or else ``de``; ``de`` matches ``de`` or else ``de-AT``.
    """
    by_lower = {lang.lower().replace("_", "-"): lang for lang in languages}
    for value, quality in accept:
        if quality <= 0:
            continue
        wanted = value.lower().replace("_", "-")
        if wanted == "*":
            return default
        if wanted in by_lower:
            return by_lower[wanted]
        primary = wanted.split("-", 1)[0]
        if primary in by_lower:
            return by_lower[primary]
        for lower, lang in by_lower.items():
            if lower.split("-", 1)[0] == primary:
                return lang
    return default


def _redirect_to_language() -> WerkzeugResponse:
    """``/`` → ``/<best language>/`` from ``Accept-Language`` (302: the answer depends on it)."""
    localized = state_of(current_app, LanguageUrlsState).localized
    assert localized is not None
    languages, default = localized
    best = best_language(request.accept_languages, languages, default)
    response = redirect(request.script_root + "/" + best + "/", code=302)
    response.vary.add("Accept-Language")
    return response

"""Gettext catalogs on disk: where they are, and loading them once (per path and file time).

The lowest layer of the translations battery: :mod:`batteries.i18n` (locale selection, gettext)
and :mod:`batteries.translations` (filters, WTForms, the ``batteries i18n`` commands) both read
catalogs through it, and it imports neither.
"""

from __future__ import annotations

import gettext as _gettext
import os

#: Batteries' own catalogs (domain ``batteries``).
OWN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "translations")
OWN_DOMAIN = "batteries"
DOMAIN = "messages"


def N_(message: str) -> str:
    return message


# -- loading ----------------------------------------------------------------------------------


def locale_dirs(locale: str) -> list[str]:
    """Catalog folder names to try for ``locale``, most specific first.

    ``"pt-br"`` → ``["pt_BR", "pt"]``; ``"zh-hant-tw"`` → ``["zh_Hant_TW", "zh_Hant", "zh"]``.
    """
    parts = locale.replace("-", "_").split("_")
    fixed = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha():
            fixed.append(part.title())
        elif len(part) in (2, 3):
            fixed.append(part.upper())
        else:
            fixed.append(part)
    return ["_".join(fixed[:n]) for n in range(len(fixed), 0, -1)]


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _read_mo(path: str) -> _gettext.GNUTranslations:
    try:
        with open(path, "rb") as f:
            return _gettext.GNUTranslations(f)
    except (OSError, ValueError, UnicodeDecodeError) as exc:  # a truncated or foreign file
        raise RuntimeError(
            f"{path} is not a readable compiled catalog ({exc}); run 'batteries i18n compile'"
        ) from exc


class LoadedCatalogs:
    """One locale's translations for one app, and the files it was made from."""

    def __init__(
        self, translations: _gettext.NullTranslations, watched: tuple[tuple[str, int | None], ...]
    ) -> None:
        self.translations = translations
        self.watched = watched

    def changed(self) -> bool:
        """Whether a catalog file changed, appeared or disappeared since it was read."""
        return any(_mtime(path) != seen for path, seen in self.watched)


_OWN: dict[str, _gettext.NullTranslations | None] = {}


def own_catalog(locale: str) -> _gettext.NullTranslations | None:
    """Batteries' own catalog for ``locale`` (shared by every app; never given a fallback)."""
    if locale not in _OWN:
        found = None
        for name in locale_dirs(locale):
            path = os.path.join(OWN_DIR, name, "LC_MESSAGES", OWN_DOMAIN + ".mo")
            if os.path.isfile(path):
                found = _read_mo(path)
                break
        _OWN[locale] = found
    return _OWN[locale]


def load_catalogs(directory: str | None, locale: str) -> LoadedCatalogs:
    """The app's catalogs for ``locale`` from ``directory`` (``de_CH`` then ``de``), with
    Batteries' own under them; messages missing everywhere come back untranslated."""
    chain: list[_gettext.NullTranslations] = []
    watched: list[tuple[str, int | None]] = []
    if directory:
        for name in locale_dirs(locale):
            path = os.path.join(directory, name, "LC_MESSAGES", DOMAIN + ".mo")
            seen = _mtime(path)
            watched.append((path, seen))
            if seen is not None:
                chain.append(_read_mo(path))
    own = own_catalog(locale)
    if own is not None:
        chain.append(own)
    if not chain:
        return LoadedCatalogs(_gettext.NullTranslations(), tuple(watched))
    for upper, lower in zip(chain, chain[1:], strict=False):
        upper.add_fallback(lower)  # only fresh objects of this app get a fallback
    return LoadedCatalogs(chain[0], tuple(watched))


# -- WTForms and HTTP errors ------------------------------------------------------------------

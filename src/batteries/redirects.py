"""Redirects that stay on the site: ``safe_next()`` and the ``next`` a login page gets.

Replaces the "is it safe to redirect there?" snippet of Flask's login pattern (and
Flask-Login's ``next`` handling): ``next`` is accepted only when it is a path on this site.
:mod:`batteries.auth` re-exports :func:`safe_next` and :func:`is_safe_path`; ``htmx`` uses them
for the page an htmx request came from.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

from flask import request

#: Longest ``next`` that :func:`safe_next` accepts.
MAX_NEXT_LENGTH = 2048

#: Characters left as they are when the path is percent-encoded for ``next`` (RFC 3986 pchar).
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def next_url() -> str:
    """This request's URL relative to the site (script root, path, query string) for ``next``.

    That is ``script_root + full_path`` without a trailing ``?``, with the path percent-encoded
    again (Werkzeug decodes it), so a path with spaces or non-ASCII characters comes back
    through :func:`safe_next` unchanged.
    """
    path = quote(request.script_root + request.path, safe=_PATH_SAFE)
    # The query string is kept as sent; only bytes a client should have escaped are escaped.
    query = quote(request.query_string, safe=_PATH_SAFE + "?%[]")
    return f"{path}?{query}" if query else path


def _bad_char(ch: str) -> bool:
    # Backslashes (browsers read them as "/"), whitespace (tabs and newlines are dropped by
    # browsers, turning "/\t/evil" into "//evil"), control, format and unassigned characters.
    return ch == "\\" or ch.isspace() or unicodedata.category(ch)[0] in "CZ"


def is_safe_path(target: object) -> bool:
    """True when ``target`` is a path on this site: ``/`` then anything but ``/`` or ``\\``,
    with no backslash, whitespace or control character, at most 2,048 characters."""
    return (
        isinstance(target, str)
        and 0 < len(target) <= MAX_NEXT_LENGTH
        and target[0] == "/"
        and target[1:2] not in ("/", "\\")
        and not any(_bad_char(ch) for ch in target)
    )


def safe_next(default: str = "/") -> str:
    """``next`` from ``request.values`` when it is a path on this site, else ``default``.

    Accepted: it starts with exactly one ``/`` and has no ``\\``, whitespace or control
    character (at most 2,048 characters). So ``//evil.example``, ``https://evil.example``,
    ``javascript:...``, ``/\\evil``, CR/LF and tab tricks all give ``default``. Example::

        login_user(user)
        return redirect(safe_next(url_for("index")))
    """
    target = request.values.get("next")
    return target if target is not None and is_safe_path(target) else default

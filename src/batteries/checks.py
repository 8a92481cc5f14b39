"""``batteries check``: problems of an app's configuration, as data each battery contributes.

Replaces Django's ``manage.py check --deploy`` for Flask. A check is a :class:`Check`: an id, a
level, the config key it is about, a hint, and a ``find(app)`` function that yields one message
per problem it sees. Each battery module lists its own in ``DEPLOY_CHECKS`` (or ``CHECKS`` for
those that also run without ``--deploy``); this module holds the checks of Flask's own keys and
runs them all::

    UNSAFE = Check("batteries.E014", "error", "CELERY", "accept JSON only", find=_pickle)

``find`` returns None, a message, or an iterable of messages or ``(key, message)`` pairs (for
a check about several keys, such as ``SECRET_KEY_FALLBACKS[1]``).
"""

from __future__ import annotations

import os
import re
import typing as t
from dataclasses import dataclass

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

    from .config import Setting

Found: t.TypeAlias = "str | t.Iterable[str | tuple[str, str]] | None"


@dataclass(frozen=True)
class Problem:
    """One finding of ``batteries check``: ``level`` is ``"error"`` or ``"warning"``."""

    id: str
    level: str
    key: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.level.upper():7} {self.id} {self.key}: {self.message}"
        return f"{text}\n        Fix: {self.hint}" if self.hint else text


@dataclass(frozen=True)
class Check:
    """A check of one config key; ``find(app)`` says what is wrong, or nothing."""

    id: str
    level: t.Literal["error", "warning"]
    key: str
    hint: str
    find: t.Callable[[Flask], Found]
    #: run by plain ``batteries check`` too, not only with ``--deploy`` (a mistake in any mode)
    always: bool = False

    def run(self, app: Flask) -> list[Problem]:
        found = self.find(app)
        if not found:
            return []
        if isinstance(found, str):
            found = (found,)
        problems = []
        for item in found:
            key, message = item if isinstance(item, tuple) else (self.key, item)
            problems.append(Problem(self.id, self.level, key, message, self.hint))
        return problems


def run(app: Flask, checks: t.Iterable[Check]) -> list[Problem]:
    """Every problem the ``checks`` find in ``app``, in their order."""
    found: list[Problem] = []
    for check in checks:
        found += check.run(app)
    return found


# -- the secret key -----------------------------------------------------------------------------

#: Secret keys people paste from tutorials. Compared lower-cased, stripped.
PLACEHOLDER_KEYS = frozenset(
    {
        "dev",
        "development",
        "secret",
        "secretkey",
        "secret key",
        "secret-key",
        "secret_key",
        "changeme",
        "change me",
        "change-me",
        "change_me",
        "changethis",
        "please change me",
        "your-secret-key",
        "your secret key",
        "your_secret_key",
        "mysecret",
        "password",
        "test",
        "testing",
        "test secret key",
        "default",
        "insecure",
        "x",
    }
)
_PLACEHOLDER_WORDS = re.compile(
    r"change[ _-]?(me|this)|insecure|placeholder|not[ _-]?secret|dev[ _-]?key"
)

#: Shortest acceptable key, in characters (32 random bytes as hex is 64; Flask's docs make 32).
MIN_KEY_LENGTH = 32
MIN_UNIQUE_CHARACTERS = 8

KEY_HINT = (
    "use a long random value kept out of the code: "
    'python -c "import secrets; print(secrets.token_hex())"; put it in instance/config.py '
    "or the environment variable BATTERIES_SECRET_KEY"
)


def key_weakness(key: t.Any, app: Flask | None = None) -> str | None:
    """Why ``key`` is unfit to sign sessions in production, or None when it is fine."""
    if not key:
        return "not set"
    text = key.decode("latin-1") if isinstance(key, bytes) else str(key)
    lowered = text.strip().lower()
    if lowered in PLACEHOLDER_KEYS or _PLACEHOLDER_WORDS.search(lowered):
        return "a well-known placeholder"
    if app is not None and text == _dev_key(app):
        return "the development key generated in the instance folder for debug mode"
    if len(text) < MIN_KEY_LENGTH:
        return f"too short ({len(text)} characters; use at least {MIN_KEY_LENGTH})"
    if len(set(text)) < MIN_UNIQUE_CHARACTERS:
        return f"too repetitive ({len(set(text))} distinct characters)"
    return None


def _dev_key(app: Flask) -> str | None:
    from .sessions import read_dev_key

    return read_dev_key(app)


def _secret_key(app: Flask) -> Found:
    weakness = key_weakness(app.config.get("SECRET_KEY"), app)
    return f"is {weakness}." if weakness else None


def _fallbacks(app: Flask) -> Found:
    found = []
    for i, fallback in enumerate(app.config.get("SECRET_KEY_FALLBACKS") or ()):
        weakness = key_weakness(fallback, app)
        if weakness:
            found.append(
                (
                    f"SECRET_KEY_FALLBACKS[{i}]",
                    f"is {weakness}; a weak old key still signs valid sessions.",
                )
            )
    return found


def _flag(key: str, bad: t.Callable[[t.Any], bool], message: str) -> t.Callable[[Flask], Found]:
    """A ``find`` that reports ``message`` when ``bad(app.config.get(key))``."""

    def find(app: Flask) -> Found:
        value = app.config.get(key)
        return message.format(value=value) if bad(value) else None

    find.__name__ = f"find_{key.lower()}"
    return find


#: Oldest versions without known vulnerabilities that matter here.
VERSION_FLOORS = {
    "flask": (3, 1, 3),
    "werkzeug": (3, 1, 8),
    "jinja2": (3, 1, 6),
    "itsdangerous": (2, 2, 0),
    "celery": (5, 2, 2),
    "gunicorn": (23, 0, 0),
}


def old_versions() -> list[tuple[str, str]]:
    """``(package, message)`` for each installed package older than its floor."""
    from importlib import metadata

    found = []
    for name, floor in VERSION_FLOORS.items():
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:3])
        if numbers < floor:
            wanted = ".".join(map(str, floor))
            found.append(
                (name, f"{version} is older than {wanted}, which fixes known vulnerabilities.")
            )
    return found


#: Deploy checks of Flask's own keys and of the installed packages.
DEPLOY_CHECKS: tuple[Check, ...] = (
    Check("batteries.E001", "error", "SECRET_KEY", KEY_HINT, _secret_key),
    Check(
        "batteries.E002",
        "error",
        "SECRET_KEY_FALLBACKS",
        "remove it, or rotate to a strong key",
        _fallbacks,
    ),
    Check(
        "batteries.E003",
        "error",
        "DEBUG",
        "set DEBUG = False (do not pass --debug or FLASK_DEBUG=1)",
        lambda app: "is on: the debugger runs code from the browser and errors show tracebacks."
        if app.debug
        else None,
    ),
    Check(
        "batteries.W004",
        "warning",
        "TESTING",
        "set TESTING = False",
        _flag("TESTING", bool, "is on: exceptions propagate instead of giving error pages."),
    ),
    Check(
        "batteries.E005",
        "error",
        "SESSION_COOKIE_SECURE",
        "set SESSION_COOKIE_SECURE = True (the site must be served over HTTPS)",
        _flag(
            "SESSION_COOKIE_SECURE",
            lambda v: not v,
            "is off: the session cookie (and the remember cookie) is sent over plain HTTP.",
        ),
    ),
    Check(
        "batteries.E006",
        "error",
        "SESSION_COOKIE_HTTPONLY",
        "set SESSION_COOKIE_HTTPONLY = True",
        _flag(
            "SESSION_COOKIE_HTTPONLY",
            lambda v: v is not None and not v,
            "is off: scripts on the page (an XSS) can read the session cookie.",
        ),
    ),
    Check(
        "batteries.W007",
        "warning",
        "SESSION_COOKIE_SAMESITE",
        'set SESSION_COOKIE_SAMESITE = "Lax"',
        _flag(
            "SESSION_COOKIE_SAMESITE",
            lambda v: str(v).capitalize() not in ("Lax", "Strict"),
            "is {value!r}: other sites' requests carry the session cookie.",
        ),
    ),
    Check(
        "batteries.E008",
        "error",
        "TRUSTED_HOSTS",
        'list the site\'s host names, e.g. TRUSTED_HOSTS = ["example.com"]',
        _flag(
            "TRUSTED_HOSTS",
            lambda v: not v,
            "is empty: any Host header is accepted (host-header poisoning of external URLs).",
        ),
    ),
    Check(
        "batteries.W012",
        "warning",
        "MAX_CONTENT_LENGTH",
        "set a limit in bytes (Batteries' default is 16 MiB)",
        _flag("MAX_CONTENT_LENGTH", lambda v: v is None, "is None: request bodies of any size are read."),
    ),
    Check(
        "batteries.W013",
        "warning",
        "PREFERRED_URL_SCHEME",
        'set PREFERRED_URL_SCHEME = "https"',
        _flag(
            "PREFERRED_URL_SCHEME",
            lambda v: (v or "http") != "https",
            "is not https: external URLs (emails, redirects outside a request) use http.",
        ),
    ),
    Check(
        "batteries.E016",
        "error",
        "packages",
        "upgrade it: pip install -U PACKAGE",
        lambda app: old_versions(),
    ),
)


def static_exposure(app: Flask, folder: str | None) -> str | None:
    """A message when ``folder`` (absolute) lies inside ``app``'s static folder, else None."""
    static = app.static_folder
    if not static or not folder:
        return None
    static = os.path.realpath(static)
    real = os.path.realpath(folder)
    if real == static or real.startswith(static + os.sep):
        return (
            f"is inside the static folder ({static}): anyone can download what is stored there, "
            "and files are served with a guessed content type."
        )
    return None


STATIC_HINT = "keep it outside the static folder (the default is in the instance folder)"


def unknown_key_problems(app: Flask, registry: t.Any) -> list[Problem]:
    """Config keys that look like misspellings of known ones, wherever they were set."""
    from .config import typos

    return [
        Problem(
            "batteries.W018",
            "warning",
            key,
            f"is not a key any component reads: did you mean {close}?",
            f"rename it to {close}",
        )
        for key, close in typos(app.config, registry)
    ]


def config_type_problems(app: Flask, registry: t.Iterable[Setting]) -> list[Problem]:
    """Config values of the wrong type (``batteries check`` without ``--deploy``)."""
    from .config import ConfigError

    found = []
    for setting in registry:
        if setting.key not in app.config:
            continue
        try:
            setting.check(app.config[setting.key], setting.key)
        except ConfigError as e:
            found.append(Problem("batteries.W000", "warning", setting.key, str(e)))
    return found

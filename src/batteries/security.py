"""Security headers, a production config, and the checks behind ``batteries check --deploy``.

Replaces the "Security Considerations" chapter of Flask's docs done by hand (and the
Flask-Talisman extension): set one key and every response carries the headers that page
recommends::

    app = Batteries(__name__)
    app.config["SECURITY_HEADERS"] = True        # the default set below
    # or: app.config.update(batteries.security.PRODUCTION)

With ``SECURITY_HEADERS = True`` a response gets (unless the view already set the header):

========================================  ====================================================
``X-Content-Type-Options``                ``nosniff``
``Referrer-Policy``                       ``strict-origin-when-cross-origin``
``X-Frame-Options``                       ``DENY``
``Content-Security-Policy``               :data:`DEFAULT_CSP` (fits ``batteries/base.html``)
``Cross-Origin-Opener-Policy``            ``same-origin``
``Strict-Transport-Security``             ``max-age=31536000; includeSubDomains`` (HTTPS only)
========================================  ====================================================

A dict instead of ``True`` changes the set: ``{"X-Frame-Options": "SAMEORIGIN"}`` replaces one
value, ``{"Strict-Transport-Security": None}`` drops a header. An inline ``<script>`` runs
under the policy when it carries the request's nonce: ``<script nonce="{{ csp_nonce() }}">``
(the nonce is added to ``script-src`` and ``style-src`` of that response only).

Why the headers are added in ``Batteries.make_response`` and not by an ``after_request``
function: ``SECURITY_HEADERS`` is read when a response is made, so setting it after
``Batteries(__name__)`` (from a config object, in a factory, in a test) takes effect, as every
other Batteries key does; an app that leaves it off pays one ``dict.get`` per response
(≈ 40 ns) and has no hook in ``app.after_request_funcs``.

``SECURITY_HEADERS`` is off by default: a drop-in app keeps Flask's responses byte for byte.
Apps made by ``batteries new`` and the examples turn it on.

Config:
    ``SECURITY_HEADERS`` (False): True, False, or a dict of header → value (None drops it).
"""

from __future__ import annotations

import os
import re
import secrets
import typing as t
from dataclasses import dataclass

from flask import g, has_app_context, has_request_context, request

from .config import Setting

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask
    from flask.wrappers import Response

#: The Content-Security-Policy sent with ``SECURITY_HEADERS = True``. Scripts and styles come
#: from the app's own origin only (``batteries/base.html`` loads ``/_batteries/batteries.js``
#: and has no inline script); inline ones need :func:`csp_nonce`.
DEFAULT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)

#: The headers ``SECURITY_HEADERS = True`` adds.
DEFAULT_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": DEFAULT_CSP,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}

#: Headers that browsers honour only over HTTPS (RFC 6797 §7.2): sent on secure requests only.
HTTPS_ONLY = frozenset({"Strict-Transport-Security"})

#: A production configuration: ``app.config.update(batteries.security.PRODUCTION)``. It does not
#: set ``SECRET_KEY`` or ``TRUSTED_HOSTS``: those belong to the deployment (instance/config.py or
#: ``BATTERIES_SECRET_KEY`` / ``BATTERIES_TRUSTED_HOSTS``); ``batteries check --deploy`` says
#: when they are missing.
PRODUCTION: dict[str, t.Any] = {
    "DEBUG": False,
    "TESTING": False,
    "SESSION_COOKIE_SECURE": True,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "PREFERRED_URL_SCHEME": "https",
    "SECURITY_HEADERS": True,
    "CSRF_PROTECT_ALL": True,
}

CONFIG = (
    Setting(
        "SECURITY_HEADERS",
        False,
        (bool, dict),
        "add security headers (CSP, nosniff, frame, referrer, COOP, HSTS) to every response; "
        "a dict changes values, None drops one",
    ),
)

_NONCE_KEY = "_batteries_csp_nonce"


def init_app(app: Flask) -> None:
    """Nothing to register: :func:`apply_headers` runs from ``Batteries.make_response``."""


def headers_for(setting: t.Any) -> dict[str, str]:
    """The header set for a ``SECURITY_HEADERS`` value (True, or a dict of changes)."""
    if not setting:
        return {}
    headers = dict(DEFAULT_HEADERS)
    if isinstance(setting, dict):
        for name, value in setting.items():
            if value is None:
                headers.pop(name, None)
            else:
                headers[name] = str(value)
    return headers


def apply_headers(app: Flask, response: Response) -> Response:
    """Add the configured security headers to ``response``; headers it already has win.

    Called by ``Batteries.make_response`` when ``SECURITY_HEADERS`` is set; call it yourself on
    a plain Flask app from an ``after_request`` function.
    """
    setting = app.config.get("SECURITY_HEADERS")
    state = app.extensions.get("batteries")
    cached = getattr(state, "security_headers", None)
    if cached is None or cached[0] != setting:
        cached = (_freeze(setting), *_header_plans(headers_for(setting)))
        if state is not None:
            state.security_headers = cached
    secure = has_request_context() and request.is_secure
    plan = cached[2] if secure else cached[1]
    present = response.headers
    have = {name.lower() for name in present.keys()}
    nonce = g.__dict__.get(_NONCE_KEY) if has_app_context() else None
    for name, lowered, value in plan:
        if lowered in have:
            continue
        if nonce is not None and lowered == "content-security-policy":
            value = add_nonce(value, nonce)
        present.add(name, value)
    return response


def _header_plans(
    headers: dict[str, str],
) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """(for HTTP, for HTTPS): ``(name, lower-cased name, value)`` of each header to add."""
    every = [(name, name.lower(), value) for name, value in headers.items()]
    return [h for h in every if h[0] not in HTTPS_ONLY], every


def _freeze(setting: t.Any) -> t.Any:
    return dict(setting) if isinstance(setting, dict) else setting


def csp_nonce() -> str:
    """The nonce of this request for inline scripts and styles (a Jinja global too).

    ``<script nonce="{{ csp_nonce() }}">...</script>`` runs under the default policy: the
    response's ``Content-Security-Policy`` lists ``'nonce-<value>'`` in ``script-src`` and
    ``style-src``. Call it before the response is made (rendering a template does).
    """
    nonce = g.__dict__.get(_NONCE_KEY)
    if nonce is None:
        nonce = g.__dict__[_NONCE_KEY] = secrets.token_urlsafe(18)
    return t.cast(str, nonce)


def add_nonce(policy: str, nonce: str) -> str:
    """``policy`` with ``'nonce-<nonce>'`` added to ``script-src`` and ``style-src``.

    A directive the policy lacks is created from ``default-src`` (or ``'self'``), so adding
    the nonce never loosens nor tightens what else the page may load.
    """
    directives = [d.strip() for d in policy.split(";") if d.strip()]
    names = [d.split(None, 1)[0].lower() for d in directives]
    default = "'self'"
    if "default-src" in names:
        parts = directives[names.index("default-src")].split(None, 1)
        default = parts[1] if len(parts) > 1 else "'none'"
    token = f"'nonce-{nonce}'"
    for wanted in ("script-src", "style-src"):
        if wanted in names:
            i = names.index(wanted)
            sources = directives[i].split(None, 1)[1:] or [""]
            kept = " ".join(s for s in sources[0].split() if s != "'none'")
            directives[i] = f"{wanted} {kept} {token}".replace("  ", " ")
        else:
            directives.append(f"{wanted} {default} {token}".replace("'none' ", ""))
    return "; ".join(directives)


# -- checks (batteries check --deploy) --------------------------------------------------------


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
    from .sessions import DEV_KEY_FILE

    try:
        with open(os.path.join(app.instance_path, DEV_KEY_FILE), encoding="ascii") as f:
            return f.read().strip() or None
    except (OSError, ValueError):
        return None


def deploy_checks(app: Flask) -> list[Problem]:
    """Every insecure setting of ``app`` for a production deployment."""
    found: list[Problem] = []
    add = found.append
    config = app.config

    weakness = key_weakness(config.get("SECRET_KEY"), app)
    if weakness:
        add(Problem("batteries.E001", "error", "SECRET_KEY", f"is {weakness}.", KEY_HINT))
    for i, fallback in enumerate(config.get("SECRET_KEY_FALLBACKS") or ()):
        weakness = key_weakness(fallback, app)
        if weakness:
            add(
                Problem(
                    "batteries.E002",
                    "error",
                    f"SECRET_KEY_FALLBACKS[{i}]",
                    f"is {weakness}; a weak old key still signs valid sessions.",
                    "remove it, or rotate to a strong key",
                )
            )
    if app.debug:
        add(
            Problem(
                "batteries.E003",
                "error",
                "DEBUG",
                "is on: the debugger runs code from the browser and errors show tracebacks.",
                "set DEBUG = False (do not pass --debug or FLASK_DEBUG=1)",
            )
        )
    if config.get("TESTING"):
        add(
            Problem(
                "batteries.W004",
                "warning",
                "TESTING",
                "is on: exceptions propagate instead of giving error pages.",
                "set TESTING = False",
            )
        )
    if not config.get("SESSION_COOKIE_SECURE"):
        add(
            Problem(
                "batteries.E005",
                "error",
                "SESSION_COOKIE_SECURE",
                "is off: the session cookie (and the remember cookie) is sent over plain HTTP.",
                "set SESSION_COOKIE_SECURE = True (the site must be served over HTTPS)",
            )
        )
    if not config.get("SESSION_COOKIE_HTTPONLY", True):
        add(
            Problem(
                "batteries.E006",
                "error",
                "SESSION_COOKIE_HTTPONLY",
                "is off: scripts on the page (an XSS) can read the session cookie.",
                "set SESSION_COOKIE_HTTPONLY = True",
            )
        )
    samesite = config.get("SESSION_COOKIE_SAMESITE")
    if str(samesite).capitalize() not in ("Lax", "Strict"):
        add(
            Problem(
                "batteries.W007",
                "warning",
                "SESSION_COOKIE_SAMESITE",
                f"is {samesite!r}: other sites' requests carry the session cookie.",
                'set SESSION_COOKIE_SAMESITE = "Lax"',
            )
        )
    if not config.get("TRUSTED_HOSTS"):
        add(
            Problem(
                "batteries.E008",
                "error",
                "TRUSTED_HOSTS",
                "is empty: any Host header is accepted (host-header poisoning of external URLs).",
                'list the site\'s host names, e.g. TRUSTED_HOSTS = ["example.com"]',
            )
        )
    found.extend(_header_checks(config.get("SECURITY_HEADERS")))
    if config.get("CSRF_ENABLED", True) is False:
        add(
            Problem(
                "batteries.E010",
                "error",
                "CSRF_ENABLED",
                "is False: forms accept posts from other sites.",
                "remove CSRF_ENABLED = False",
            )
        )
    elif not config.get("CSRF_PROTECT_ALL"):
        add(
            Problem(
                "batteries.W011",
                "warning",
                "CSRF_PROTECT_ALL",
                "is off: only views using batteries.forms.Form check the CSRF token.",
                "set CSRF_PROTECT_ALL = True",
            )
        )
    if config.get("MAX_CONTENT_LENGTH") is None:
        add(
            Problem(
                "batteries.W012",
                "warning",
                "MAX_CONTENT_LENGTH",
                "is None: request bodies of any size are read.",
                "set a limit in bytes (Batteries' default is 16 MiB)",
            )
        )
    if config.get("PREFERRED_URL_SCHEME", "http") != "https":
        add(
            Problem(
                "batteries.W013",
                "warning",
                "PREFERRED_URL_SCHEME",
                "is not https: external URLs (emails, redirects outside a request) use http.",
                'set PREFERRED_URL_SCHEME = "https"',
            )
        )
    found.extend(_celery_checks(config.get("CELERY")))
    found.extend(_folder_checks(app))
    found.extend(_version_checks())
    return found


def _header_checks(setting: t.Any) -> list[Problem]:
    if not setting:
        return [
            Problem(
                "batteries.W009",
                "warning",
                "SECURITY_HEADERS",
                "is off: no Content-Security-Policy, nosniff, frame protection, Referrer-Policy "
                "or HSTS.",
                "set SECURITY_HEADERS = True",
            )
        ]
    headers = headers_for(setting)
    return [
        Problem(
            "batteries.W009",
            "warning",
            "SECURITY_HEADERS",
            f"drops {name}.",
            f"keep {name} (remove the None for it)",
        )
        for name in DEFAULT_HEADERS
        if name not in headers
    ]


def _celery_checks(celery: t.Any) -> list[Problem]:
    if not isinstance(celery, dict):
        return []
    found = []
    for key in ("accept_content", "result_accept_content"):
        accepted = celery.get(key) or ()
        if isinstance(accepted, str):
            accepted = (accepted,)
        if any("pickle" in str(a) or "yaml" in str(a) for a in accepted):
            found.append(
                Problem(
                    "batteries.E014",
                    "error",
                    f"CELERY[{key!r}]",
                    "accepts pickle/yaml: a message on the broker can run code in the worker.",
                    'accept JSON only: ["json"]',
                )
            )
    for key in ("task_serializer", "result_serializer"):
        if str(celery.get(key, "json")) in ("pickle", "yaml"):
            found.append(
                Problem(
                    "batteries.E014",
                    "error",
                    f"CELERY[{key!r}]",
                    f"is {celery[key]!r}: workers then have to accept it.",
                    'use "json" and pass ids, not objects',
                )
            )
    return found


def _folder_checks(app: Flask) -> list[Problem]:
    static = app.static_folder
    if not static:
        return []
    static = os.path.realpath(static)
    found = []
    for key in ("UPLOAD_FOLDER", "CACHE_DIR"):
        folder = app.config.get(key)
        if not folder:
            continue
        real = os.path.realpath(os.path.join(app.root_path, str(folder)))
        if real == static or real.startswith(static + os.sep):
            found.append(
                Problem(
                    "batteries.E015",
                    "error",
                    key,
                    f"is inside the static folder ({static}): anyone can download what is "
                    "stored there, and uploads are served with a guessed content type.",
                    "keep it outside the static folder (the default is in the instance folder)",
                )
            )
    return found


#: Oldest versions without known vulnerabilities that matter here.
VERSION_FLOORS = {
    "flask": (3, 1, 3),
    "werkzeug": (3, 1, 8),
    "jinja2": (3, 1, 6),
    "itsdangerous": (2, 2, 0),
    "celery": (5, 2, 2),
    "gunicorn": (23, 0, 0),
}


def _version_checks() -> list[Problem]:
    from importlib import metadata

    found = []
    for name, floor in VERSION_FLOORS.items():
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:3])
        if numbers < floor:
            found.append(
                Problem(
                    "batteries.E016",
                    "error",
                    name,
                    f"{version} is older than {'.'.join(map(str, floor))}, which fixes "
                    "known vulnerabilities.",
                    f"pip install -U '{name}>={'.'.join(map(str, floor))}'",
                )
            )
    return found


def config_checks(app: Flask, registry: t.Iterable[Setting]) -> list[Problem]:
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

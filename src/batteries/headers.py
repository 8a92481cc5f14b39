"""Security headers: ``SECURITY_HEADERS`` and the CSP nonce.

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

import secrets
import typing as t

from flask import g, has_app_context, has_request_context, request

from .checks import Check, Found
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

SECURITY_HEADERS = Setting(
    "SECURITY_HEADERS",
    False,
    (bool, dict),
    "add security headers (CSP, nosniff, frame, referrer, COOP, HSTS) to every response; "
    "a dict changes values, None drops one",
)
CONFIG = (SECURITY_HEADERS,)

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


def request_nonce() -> str | None:
    """This request's nonce if :func:`csp_nonce` made one, else None (no new nonce is made).

    ``@cached`` reads it to store a page with the nonce it used and give each replay a fresh one.
    """
    if not has_app_context():
        return None
    return t.cast("str | None", g.__dict__.get(_NONCE_KEY))


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


# -- deploy checks -----------------------------------------------------------------------------


def _missing_headers(app: Flask) -> Found:
    setting = SECURITY_HEADERS.get(app)
    if not setting:
        return (
            "is off: no Content-Security-Policy, nosniff, frame protection, Referrer-Policy "
            "or HSTS."
        )
    headers = headers_for(setting)
    return [f"drops {name} (keep it: remove the None for it)." for name in DEFAULT_HEADERS if name not in headers]


DEPLOY_CHECKS = (
    Check(
        "batteries.W009",
        "warning",
        "SECURITY_HEADERS",
        "set SECURITY_HEADERS = True, and drop none of its headers",
        _missing_headers,
    ),
)

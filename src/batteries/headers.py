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

How they are added: ``Batteries.make_response`` reads ``SECURITY_HEADERS`` for each response
(so setting it after ``Batteries(__name__)``, from a config object, in a factory or a test,
takes effect as every other Batteries key does) and notes the app's header plan, worked out
once per value, in the request's environ; Batteries' response class adds the planned headers
to the header list it hands the WSGI server, after the ``after_request`` functions ran. A
header the response has by then (set by the view or an ``after_request`` function) wins; the
headers are not in ``response.headers`` inside the app. An app that leaves the key off pays
one ``dict.get`` per response and has no hook in ``app.after_request_funcs``; with it on, a
response costs about one microsecond more (the header values are checked once, not per
response). A response of another class (``app.response_class`` set to one that does not
derive from :class:`batteries.wrappers.Response`) gets them in ``make_response`` instead, by
:func:`apply_headers`.

``SECURITY_HEADERS`` is off by default: a drop-in app keeps Flask's responses byte for byte.
Apps made by ``batteries new`` and the examples turn it on.

Config:
    ``SECURITY_HEADERS`` (False): True, False, or a dict of header → value (None drops it).
"""

from __future__ import annotations

import secrets
import typing as t
from dataclasses import dataclass

from flask import g, has_app_context, has_request_context, request

from .checks import Check, Found
from .config import Setting
from .state import state_of

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

_NONCE_KEY = "batteries.csp_nonce"


def init_app(app: Flask) -> None:
    """Nothing to register: ``Batteries.make_response`` puts the app's :func:`plan_for` in the
    request's environ under :data:`PLAN_KEY` (or calls :func:`apply_headers` for a response of
    a class other than Batteries' own)."""


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


@dataclass
class HeaderPlan:
    """The headers one ``SECURITY_HEADERS`` value adds, worked out once per value (per app).

    ``http`` and ``https`` are ``(name, lower-cased name, value)`` triples. The policy with a
    nonce is precomputed too: ``nonce_http``/``nonce_https`` are ``(index of the policy, the
    policy cut where the nonce goes)``, so a page with a nonce costs one ``str.join``.
    """

    setting: t.Any = None
    frozen: t.Any = None
    http: tuple[tuple[str, str, str], ...] = ()
    https: tuple[tuple[str, str, str], ...] = ()
    nonce_http: tuple[int, list[str]] = (-1, [])
    nonce_https: tuple[int, list[str]] = (-1, [])
    #: the same as ``(name, value)`` pairs and as a set of lower-cased names, for
    #: :func:`add_to_wsgi_headers` (a response with none of these names takes them all at once)
    pairs_http: tuple[tuple[str, str], ...] = ()
    pairs_https: tuple[tuple[str, str], ...] = ()
    names_http: frozenset[str] = frozenset()
    names_https: frozenset[str] = frozenset()

    def holds(self, setting: t.Any) -> bool:
        """Whether this plan was made for ``setting`` as it is now (the same object, and for a
        dict the same contents)."""
        return self.setting is setting and (not isinstance(setting, dict) or self.frozen == setting)


def plan_for(app: Flask, setting: t.Any) -> HeaderPlan:
    """The app's :class:`HeaderPlan` for ``setting``, recomputed only when the value changes
    (another object, or a dict changed in place)."""
    plan = state_of(app, HeaderPlan)
    if not plan.holds(setting):
        every = tuple((name, name.lower(), value) for name, value in headers_for(setting).items())
        http = tuple(h for h in every if h[0] not in HTTPS_ONLY)
        plan.http, plan.https = http, every
        plan.pairs_http = tuple((name, value) for name, _, value in http)
        plan.pairs_https = tuple((name, value) for name, _, value in every)
        plan.names_http = frozenset(lowered for _, lowered, _ in http)
        plan.names_https = frozenset(lowered for _, lowered, _ in every)
        plan.nonce_http, plan.nonce_https = _nonce_slot(http), _nonce_slot(every)
        plan.frozen = _freeze(setting)
        plan.setting = setting
    return plan


_SLOT = "\x00"


def _nonce_slot(plan: tuple[tuple[str, str, str], ...]) -> tuple[int, list[str]]:
    for i, (_, lowered, value) in enumerate(plan):
        if lowered == "content-security-policy":
            return i, add_nonce(value, _SLOT).split(_SLOT)
    return -1, []


def apply_headers(app: Flask, response: Response) -> Response:
    """Add the configured security headers to ``response``; headers it already has win.

    Called by ``Batteries.make_response`` when ``SECURITY_HEADERS`` is set; call it yourself on
    a plain Flask app from an ``after_request`` function. The header set is worked out once
    per ``SECURITY_HEADERS`` value; per response this only checks which names the response
    already has and adds the rest (with this request's nonce in the policy when
    :func:`csp_nonce` made one: no nonce is made for a page that did not ask for one).
    """
    plan = plan_for(app, app.config.get("SECURITY_HEADERS"))
    secure = False
    nonce = None
    if has_request_context():
        # _get_current_object() is the proxy's documented accessor: one context lookup
        environ = request._get_current_object().environ  # type: ignore[attr-defined]
        secure = environ.get("wsgi.url_scheme") in ("https", "wss")
        nonce = environ.get(_NONCE_KEY)
    chosen, (slot, cut) = (plan.https, plan.nonce_https) if secure else (plan.http, plan.nonce_http)
    present = response.headers
    have = {name.lower() for name, _ in present}
    add = present.add
    if nonce is None:
        for name, lowered, value in chosen:
            if lowered not in have:
                add(name, value)
    else:
        for i, (name, lowered, value) in enumerate(chosen):
            if lowered not in have:
                add(name, nonce.join(cut) if i == slot else value)
    return response


#: The environ key of the :class:`HeaderPlan` this request's response is sent with (after
#: every ``after_request`` function ran, so a header the response has by then wins).
PLAN_KEY = "batteries.security_headers"


def add_to_wsgi_headers(
    environ: dict[str, t.Any], headers: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """``headers`` (a response's WSGI header list) with the security headers planned for this
    request (the :class:`HeaderPlan` under :data:`PLAN_KEY` in ``environ``, put there by
    ``Batteries.make_response``), those the response has not set itself; the policy carries
    the request's nonce when :func:`csp_nonce` made one.

    The values were checked once, as the plan was made: a response that sets none of these
    names (the usual case) takes them in one ``list.extend``.
    """
    plan = environ.get(PLAN_KEY)
    if plan is None:
        return headers
    secure = environ.get("wsgi.url_scheme") in ("https", "wss")
    names = plan.names_https if secure else plan.names_http
    nonce = environ.get(_NONCE_KEY)
    if nonce is None:
        for name, _ in headers:
            if name.lower() in names:
                break
        else:
            headers.extend(plan.pairs_https if secure else plan.pairs_http)
            return headers
    chosen, (slot, cut) = (plan.https, plan.nonce_https) if secure else (plan.http, plan.nonce_http)
    have = {name.lower() for name, _ in headers}
    for i, (name, lowered, value) in enumerate(chosen):
        if lowered not in have:
            headers.append((name, nonce.join(cut) if nonce is not None and i == slot else value))
    return headers


def _freeze(setting: t.Any) -> t.Any:
    return dict(setting) if isinstance(setting, dict) else setting


def csp_nonce() -> str:
    """The nonce of this request for inline scripts and styles (a Jinja global too).

    ``<script nonce="{{ csp_nonce() }}">...</script>`` runs under the default policy: the
    response's ``Content-Security-Policy`` lists ``'nonce-<value>'`` in ``script-src`` and
    ``style-src``. Call it before the response is made (rendering a template does).
    """
    store = _nonce_store()
    nonce = store.get(_NONCE_KEY)
    if nonce is None:
        nonce = store[_NONCE_KEY] = secrets.token_urlsafe(18)
    return t.cast(str, nonce)


def _nonce_store() -> dict[str, t.Any]:
    """Where this request's nonce lives: the WSGI environ (one per request, even when a test
    reuses an app context for several requests), or ``g`` outside a request."""
    if has_request_context():
        environ: dict[str, t.Any] = request.environ
        return environ
    return g.__dict__


def request_nonce() -> str | None:
    """This request's nonce if :func:`csp_nonce` made one, else None (no new nonce is made).

    ``@cached`` reads it to store a page with the nonce it used and give each replay a fresh one.
    """
    if not has_app_context():
        return None
    return t.cast("str | None", _nonce_store().get(_NONCE_KEY))


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

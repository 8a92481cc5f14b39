"""CSRF tokens for forms and ``fetch``, and optional CSRF protection for every unsafe request.

The light half of Flask's "Form Validation with WTForms" pattern (and of Flask-WTF's
``CSRFProtect``); :mod:`batteries.forms` is the WTForms half and uses these tokens::

    from batteries.forms import Form
    from wtforms import StringField
    from wtforms.validators import DataRequired

    class NameForm(Form):
        name = StringField("Name", validators=[DataRequired()])

    @app.route("/", methods=["GET", "POST"])
    def index():
        form = NameForm()              # bound to request.form + request.files (or JSON) on POST
        if form.validate_on_submit():  # CSRF token checked too
            ...

- :class:`batteries.forms.Form` binds itself to the request and checks a CSRF token bound to
  the session, signed with ``SECRET_KEY`` (``SECRET_KEY_FALLBACKS`` still accepted).
- :func:`csrf_token` returns a token for templates (``<meta name="csrf-token">``) and for
  ``fetch`` calls, which send it back in the ``X-CSRFToken`` header.
- ``CSRF_PROTECT_ALL``: every POST/PUT/PATCH/DELETE is checked, by Fetch Metadata and ``Origin``
  first (modern browsers need no token) and by the token for clients that send neither.
  :func:`csrf_exempt` exempts a view or a blueprint.

This module is light (no WTForms import): ``app.py`` wires it into every app, while
``batteries.forms`` (WTForms) is imported only by code that uses a form.

Config: ``CSRF_ENABLED``, ``CSRF_TIME_LIMIT``, ``CSRF_PROTECT_ALL``, ``CSRF_TRUSTED_ORIGINS``,
``SECRET_KEY``, ``SECRET_KEY_FALLBACKS``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import re
import secrets
import threading
import typing as t
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask import current_app, g, has_request_context, request, session
from werkzeug.datastructures import CombinedMultiDict, MultiDict
from werkzeug.exceptions import BadRequest

from .checks import Check, Found
from .config import Setting
from .i18n import gettext
from .negotiation import mark_uncacheable
from .origins import cross_site_reason
from .sessions import require_secret_key
from .state import state_of

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask
    from flask.wrappers import Request

__all__ = [
    "CONFIG",
    "CSRFError",
    "csrf_exempt",
    "csrf_protect",
    "csrf_token",
    "init_app",
    "rotate",
]

logger = logging.getLogger("batteries.csrf")

CSRF_ENABLED, CSRF_TIME_LIMIT, CSRF_PROTECT_ALL, CSRF_TRUSTED_ORIGINS = CONFIG = (
    Setting(
        "CSRF_ENABLED",
        True,
        (bool,),
        "check CSRF tokens in forms (and CSRF_PROTECT_ALL); stays on under TESTING",
    ),
    Setting(
        "CSRF_TIME_LIMIT",
        24 * 3600,
        (int, float, timedelta, type(None)),
        "seconds a CSRF token stays valid (None: as long as the session)",
    ),
    Setting(
        "CSRF_PROTECT_ALL",
        False,
        (bool,),
        "check every POST/PUT/PATCH/DELETE (Fetch Metadata, Origin, then token)",
    ),
    Setting(
        "CSRF_TRUSTED_ORIGINS",
        (),
        (list, tuple, set, frozenset),
        "origins (scheme://host[:port]) allowed to send cross-site unsafe requests",
    ),
)



def _csrf_disabled(app: Flask) -> Found:
    if CSRF_ENABLED.get(app) is False:
        return "is False: forms accept posts from other sites."
    return None


def _csrf_partial(app: Flask) -> Found:
    if CSRF_ENABLED.get(app) is False or CSRF_PROTECT_ALL.get(app):
        return None
    return "is off: only views using batteries.forms.Form check the CSRF token."


DEPLOY_CHECKS = (
    Check("batteries.E010", "error", "CSRF_ENABLED", "remove CSRF_ENABLED = False", _csrf_disabled),
    Check("batteries.W011", "warning", "CSRF_PROTECT_ALL", "set CSRF_PROTECT_ALL = True", _csrf_partial),
)

#: the session key holding the per-session CSRF secret (:func:`rotate` drops it)
SESSION_KEY = "_batteries_csrf"
#: the form field carrying the token
FIELD_NAME = "csrf_token"
#: request headers carrying the token when the field is absent (fetch, XHR)
HEADERS = ("X-CSRFToken", "X-CSRF-Token")

SUBMIT_METHODS = frozenset(("POST", "PUT", "PATCH", "DELETE"))
SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS", "TRACE"))

_TOKEN_RE = re.compile(r"(\d{14})?##([0-9a-f]{64})\Z")
#: A session's CSRF secret: 32 random bytes in URL-safe base64 (43 characters). The 64 hex digits
#: of earlier versions are still accepted; as hex they made the session cookie compressible, so
#: every request with the cookie paid a zlib round trip and the cookie was longer.
_SECRET_RE = re.compile(r"(?:[A-Za-z0-9_-]{43}|[0-9a-f]{64})\Z")
_MAX_TOKEN = 200
_EXEMPT_ATTR = "_batteries_csrf_exempt"
_G_TOKEN = "_batteries_csrf_token"
_G_PASSED = "_batteries_csrf_passed"
_G_NEW_SECRET = "_batteries_csrf_new"

#: why a CSRF check failed: reason code -> message shown to the user
MESSAGES = {
    "missing": "The CSRF token is missing.",
    "invalid": "The CSRF token is invalid (it is malformed).",
    "no-session": (
        "The CSRF token cannot be checked: the session holds no CSRF secret "
        "(the session cookie was not sent, or the session has expired). Reload the page."
    ),
    "mismatch": (
        "The CSRF token does not match this session "
        "(it comes from another session or was made with another key). Reload the page."
    ),
    "expired": "The CSRF token has expired. Reload the page.",
}


def now() -> datetime:
    """The current time, timezone-aware (UTC). Tests may replace it to move the clock."""
    return datetime.now(timezone.utc)


class CSRFError(BadRequest):
    """A request refused by the CSRF check (400). ``reason`` is a short code, e.g. ``"missing"``."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        self.reason = reason
        text = message or gettext(MESSAGES.get(reason, reason))
        super().__init__(gettext("CSRF check failed: %(reason)s", reason=text))


class BadFormData(BadRequest):
    """A submitted body that cannot be bound to a form (JSON that is not an object, ...)."""


# -- tokens ----------------------------------------------------------------------------


def _as_bytes(key: str | bytes) -> bytes:
    return key if isinstance(key, bytes) else key.encode("utf-8")


@dataclass
class CsrfState:
    #: (secret, fallbacks, limit, (keys, lifetime)) of the last config seen
    settings: tuple[t.Any, ...] | None = None
    #: whether ``csrf_token`` was added to the app's templates (see :func:`use`)
    in_templates: bool = False


def _settings(app: Flask) -> tuple[tuple[bytes, ...], timedelta | None]:
    """The CSRF signing keys and the token lifetime, recomputed only when the config changes.

    The keys are derived from ``SECRET_KEY`` then each of ``SECRET_KEY_FALLBACKS`` (deriving keeps
    CSRF tokens apart from anything else signed with the secret key).
    """
    secret = require_secret_key(app)
    config = app.config
    fallbacks = config.get("SECRET_KEY_FALLBACKS") or ()
    limit = CSRF_TIME_LIMIT.get(app)
    state = state_of(app, CsrfState)
    cached = state.settings
    if (
        cached is not None
        and cached[0] is secret
        and cached[1] == tuple(fallbacks)
        and cached[2] == limit
        and type(cached[2]) is type(limit)
    ):
        return cached[3]  # type: ignore[no-any-return]
    keys = tuple(
        hmac.new(_as_bytes(k), b"batteries.csrf", hashlib.sha256).digest()
        for k in (secret, *fallbacks)
        if k
    )
    CSRF_TIME_LIMIT.check(limit, CSRF_TIME_LIMIT.key)  # a clear ConfigError for, say, a string
    lifetime: timedelta | None = None
    if limit is not None:
        lifetime = limit if isinstance(limit, timedelta) else timedelta(seconds=limit)
        if lifetime <= timedelta(0):
            lifetime = None
    found = (keys, lifetime)
    state.settings = (secret, tuple(fallbacks), limit, found)
    return found


def time_limit(app: Flask) -> timedelta | None:
    """How long ``app``'s CSRF tokens stay valid (None: as long as the session)."""
    return _settings(app)[1]


def _stamp(moment: datetime) -> int:
    """``moment`` in UTC as the number YYYYMMDDhhmmss (what a token carries; no strftime, which
    costs ten times more)."""
    if moment.tzinfo is not timezone.utc:
        moment = moment.astimezone(timezone.utc)
    return (
        (((moment.year * 100 + moment.month) * 100 + moment.day) * 100 + moment.hour) * 100
        + moment.minute
    ) * 100 + moment.second


def _sign(key: bytes, secret: str, expires: str) -> str:
    return hmac.new(key, (secret + expires).encode("ascii"), hashlib.sha256).hexdigest()


def csrf_token() -> str:
    """A CSRF token for the current session (made once per request).

    Put it in forms (``<input type=hidden name=csrf_token value="{{ csrf_token() }}">``; a
    :class:`Form` does it for you) or send it from JavaScript in the ``X-CSRFToken`` header.
    ``batteries/base.html`` puts it in ``<meta name="csrf-token">``. The first call in a session
    stores a random secret in ``session["_batteries_csrf"]``.

    Config: ``SECRET_KEY`` (required: :class:`~batteries.sessions.MissingSecretKey` otherwise),
    ``CSRF_TIME_LIMIT``.
    """
    mark_uncacheable("csrf token")  # a page holding this session's token is for this request
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    keys, limit = _settings(app)
    secret = session.get(SESSION_KEY)
    cached = g.__dict__.get(_G_TOKEN)
    if cached is not None and secret is not None and cached[0] == secret:
        return cached[1]  # type: ignore[no-any-return]
    if not isinstance(secret, str) or not _SECRET_RE.match(secret):
        secret = session[SESSION_KEY] = secrets.token_urlsafe(32)
        setattr(g, _G_NEW_SECRET, secret)  # made now: a token sent with this request predates it
    expires = f"{_stamp(now() + limit):014d}" if limit is not None else ""
    token = f"{expires}##{_sign(keys[0], secret, expires)}"
    setattr(g, _G_TOKEN, (secret, token))
    return token


def check_token(token: object) -> str | None:
    """Check ``token`` against the current session: None when valid, else a reason code.

    Codes (see :data:`MESSAGES`): ``missing``, ``invalid``, ``no-session``, ``mismatch``,
    ``expired``. The signature is compared in constant time against the keys made from
    ``SECRET_KEY`` and each of ``SECRET_KEY_FALLBACKS``.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    keys, limit = _settings(app)  # raises a clear error when SECRET_KEY is missing
    if not token:
        return "missing"
    if not isinstance(token, str) or len(token) > _MAX_TOKEN:
        return "invalid"
    match = _TOKEN_RE.match(token)
    if match is None:
        return "invalid"
    expires, signature = match.group(1) or "", match.group(2).encode("ascii")
    secret = session.get(SESSION_KEY)
    if not isinstance(secret, str) or not secret.isascii():
        return "no-session"
    valid = False
    for key in keys:  # no early exit: the time taken does not tell which key matched
        valid |= hmac.compare_digest(_sign(key, secret, expires).encode("ascii"), signature)
    if not valid:
        # A secret made during this request means the client's session had none.
        return "no-session" if g.__dict__.get(_G_NEW_SECRET) == secret else "mismatch"
    if expires and limit is not None and _stamp(now()) > int(expires):
        return "expired"
    return None


def rotate() -> None:
    """Forget the session's CSRF secret: tokens made before stop working and the next
    :func:`csrf_token` makes a new secret. ``login_user``/``logout_user`` call it (as does a
    login through the remember cookie), so a token planted before a login is useless after."""
    session.pop(SESSION_KEY, None)
    g.__dict__.pop(_G_TOKEN, None)
    g.__dict__.pop(_G_NEW_SECRET, None)


def has_secret() -> bool:
    """Whether the current session holds a CSRF secret."""
    return SESSION_KEY in session


def header_token() -> str | None:
    """The token sent in the ``X-CSRFToken`` (or ``X-CSRF-Token``) header, if any."""
    for name in HEADERS:
        found = request.headers.get(name)
        if found is not None:
            return found
    return None


# -- exemptions ------------------------------------------------------------------------

_Exemptable = t.TypeVar("_Exemptable")


def csrf_exempt(target: _Exemptable) -> _Exemptable:
    """Exempt a view function or a whole blueprint from CSRF checks.

    ``@csrf_exempt`` on a view (put it closest to the function, or outermost: both work), or
    ``csrf_exempt(bp)`` on a blueprint (and its nested blueprints), or on a class-based view. The app-wide check
    (``CSRF_PROTECT_ALL``) lets its requests through and :class:`Form` skips its token check
    there. Use it for endpoints authenticated otherwise (API tokens, webhooks with signatures)::

        @app.post("/hooks/payment")
        @csrf_exempt
        def payment_hook(): ...
    """
    setattr(target, _EXEMPT_ATTR, True)
    return target


def is_exempt(app: Flask, req: Request | None = None) -> bool:
    """True when the current request's (or ``req``'s) view or one of its blueprints is exempt."""
    if req is None:
        req = request._get_current_object()  # type: ignore[attr-defined]
    endpoint = req.endpoint
    view = app.view_functions.get(endpoint) if endpoint else None
    if view is not None:
        if getattr(view, _EXEMPT_ATTR, False):
            return True
        if getattr(getattr(view, "view_class", None), _EXEMPT_ATTR, False):
            return True  # csrf_exempt on a flask.views.View class
        if hasattr(view, "import_name") and callable(getattr(view, "load", None)):
            # A lazily imported view (batteries.LazyView): look at the real function.
            if getattr(view.load(), _EXEMPT_ATTR, False):  # type: ignore[union-attr]
                return True
    for name in req.blueprints:
        blueprint = app.blueprints.get(name)
        if blueprint is not None and getattr(blueprint, _EXEMPT_ATTR, False):
            return True
    return False


def request_passed() -> bool:
    """True when this request was already found same-origin (or exempt) by the app-wide check."""
    return bool(g.__dict__.get(_G_PASSED))


# -- app-wide protection ---------------------------------------------------------------


def origin_failure(app: Flask, req: Request | None = None) -> str | None:
    """Why this unsafe request (the current one, or ``req``) looks cross-site, None when the
    browser says it is not or its origin is in ``CSRF_TRUSTED_ORIGINS``; :class:`LookupError`
    when it sends neither ``Sec-Fetch-Site`` nor ``Origin`` (see
    :func:`batteries.origins.cross_site_reason`)."""
    if req is None:
        req = request._get_current_object()  # type: ignore[attr-defined]
    return cross_site_reason(req, CSRF_TRUSTED_ORIGINS.get(app) or ())


def protect() -> None:
    """The app-wide check, run before every request once installed; it does nothing while
    ``CSRF_PROTECT_ALL`` (or ``CSRF_ENABLED``) is off, and applies from the first request that
    finds it on, whenever the app turned it on.

    Installed by :func:`csrf_protect`.
    """
    req = request._get_current_object()  # type: ignore[attr-defined]
    if req.method in SAFE_METHODS:
        return  # what most requests cost: one lookup (use() ran when the check was armed)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not (CSRF_PROTECT_ALL.get(app) and CSRF_ENABLED.get(app)):
        return
    use(app)
    if req.url_rule is None:
        return  # a 404/405 answers unmatched requests: no view to protect
    namespace = g._get_current_object().__dict__  # type: ignore[attr-defined]
    if is_exempt(app, req):
        namespace[_G_PASSED] = "exempt"
        return
    environ = req.environ
    if "HTTP_SEC_FETCH_SITE" not in environ and "HTTP_ORIGIN" not in environ:
        # Neither header (an old browser or a non-browser client): only the token can tell.
        reason = check_token(_submitted_token(req))
        if reason is not None:
            logger.warning("CSRF check failed for %s %s: %s", req.method, req.path, reason)
            raise CSRFError(reason)
        namespace[_G_PASSED] = "token"
        return
    failure = origin_failure(app, req)
    if failure is not None:
        logger.warning("CSRF check failed for %s %s: %s", req.method, req.path, failure)
        raise CSRFError("cross-origin", failure[0].upper() + failure[1:])
    namespace[_G_PASSED] = "origin"


def _submitted_token(req: Request) -> str | None:
    """The token from the ``csrf_token`` form field, or the header when the field is absent."""
    if req.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        found = req.form.getlist(FIELD_NAME)
        if found:
            return found[0]
    return header_token()


def csrf_protect(app: Flask) -> None:
    """Make sure the app-wide check is in place, first among the app's ``before_request``
    functions (a Batteries app gets it at the first request that finds ``CSRF_PROTECT_ALL`` on;
    a plain Flask app here). The check applies while ``CSRF_PROTECT_ALL`` is on, whenever that
    is set. Safe to call more than once, also after the first request.
    """
    if CSRF_PROTECT_ALL.get(app) and CSRF_ENABLED.get(app):
        use(app)  # the templates see csrf_token() from the first page on
    hooks = app.before_request_funcs.get(None) or []
    if protect not in hooks:
        # Replace the list instead of mutating it: Flask may be iterating the old one now.
        app.before_request_funcs[None] = [protect, *hooks]


def init_app(app: Flask) -> None:
    """Nothing per request while ``CSRF_PROTECT_ALL`` is off: ``Batteries.request_context``
    calls :func:`csrf_protect` at the first request that finds it on (set before or after the
    first request)."""


# -- templates -------------------------------------------------------------------------

_use_lock = threading.Lock()


def template_context() -> dict[str, t.Any]:
    """The context processor :func:`use` adds: ``csrf_token`` for the app's templates."""
    return {"csrf_token": csrf_token}


def use(app: Flask) -> None:
    """Mark ``app`` as using Batteries' CSRF (a :class:`~batteries.forms.Form` was made, or
    ``CSRF_PROTECT_ALL`` is on): from then on its templates see ``csrf_token()``. Before that
    the name is left to other extensions (Flask-WTF's, Flask-SeaSurf's); Batteries' own
    ``batteries_csrf_token()`` is always there."""
    state = state_of(app, CsrfState)
    if state.in_templates:
        return
    with _use_lock:
        if state.in_templates:
            return
        processors = app.template_context_processors.setdefault(None, [])
        # Not app.context_processor(): this may run after the first request. Jinja reads the
        # list afresh for each render; appending to it is one atomic step.
        processors.append(template_context)
        state.in_templates = True


def uses_csrf(app: Flask) -> bool:
    """Whether ``app``'s templates see ``csrf_token`` (see :func:`use`)."""
    return state_of(app, CsrfState).in_templates


# -- binding request data to a form ----------------------------------------------------


def submitted_formdata() -> MultiDict[str, t.Any] | CombinedMultiDict[str, t.Any] | None:
    """What a :class:`Form` binds to: None unless a request context with a submit method.

    ``request.form`` plus ``request.files`` for form bodies; for a JSON body, the object's
    values coerced as a browser would send them (see :func:`json_to_formdata`).
    """
    if not has_request_context():
        return None
    req = request._get_current_object()  # type: ignore[attr-defined]
    if req.method not in SUBMIT_METHODS:
        return None
    if req.is_json:
        return json_to_formdata(req.get_json())
    if req.files:
        return CombinedMultiDict([req.form, req.files])
    return req.form  # type: ignore[no-any-return]


def json_to_formdata(data: t.Any) -> MultiDict[str, str]:
    """Turn a decoded JSON object into form data, as a browser would have sent it.

    ``None`` and ``false`` are left out (an unchecked box sends nothing), ``true`` becomes
    ``"y"``, numbers become their text, a list gives the key once per item, and a nested object
    gives ``parent-child`` keys (what WTForms' ``FormField`` reads; list items that are objects
    give ``parent-0-child``, for ``FieldList(FormField(...))``). A body that is not an object,
    ``NaN``/``Infinity``, or a string with a lone surrogate → :class:`BadFormData` (400).
    """
    if not isinstance(data, dict):
        raise BadFormData(
            "The JSON body must be an object mapping field names to values, "
            f"not {_json_type(data)}."
        )
    out: MultiDict[str, str] = MultiDict()
    _flatten(out, "", data)
    return out


def _json_type(data: t.Any) -> str:
    if data is None:
        return "null"
    if isinstance(data, list):
        return "an array"
    if isinstance(data, str):
        return "a string"
    if isinstance(data, bool):
        return "a boolean"
    return "a number"


def _flatten(out: MultiDict[str, str], prefix: str, obj: dict[str, t.Any]) -> None:
    for key, item in obj.items():
        name = _text(prefix + key)
        if isinstance(item, dict):
            _flatten(out, name + "-", item)
        elif isinstance(item, list):
            for index, element in enumerate(item):
                if isinstance(element, dict):
                    _flatten(out, f"{name}-{index}-", element)
                elif not isinstance(element, list):
                    scalar = _scalar(element)
                    if scalar is not None:
                        out.add(name, scalar)
        else:
            scalar = _scalar(item)
            if scalar is not None:
                out.add(name, scalar)


def _scalar(item: t.Any) -> str | None:
    if item is None or item is False:
        return None
    if item is True:
        return "y"
    if isinstance(item, float):
        if not math.isfinite(item):
            raise BadFormData("The JSON body contains NaN or Infinity, which are not numbers.")
        return repr(item)
    if isinstance(item, int):
        return str(item)
    return _text(item)


def _text(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadFormData(
            "The JSON body contains a string with a lone surrogate (an invalid \\u escape)."
        ) from None
    return text

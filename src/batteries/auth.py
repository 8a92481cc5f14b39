"""Logging users in and out: ``current_user``, ``login_required``, remember-me, password hashes.

Replaces the login part of Flask's "View Decorators" pattern (``login_required`` checking
``g.user``) and the tutorial's ``load_logged_in_user`` hook, without their traps: ``next`` is a
relative path and is checked before anyone is redirected to it, JSON clients get a 401 instead of
an HTML login page, and the user is loaded only when something looks at it::

    from batteries import Batteries, current_user, login_required, login_user, logout_user
    from batteries.auth import check_password, safe_next

    app = Batteries(__name__)

    @app.user_loader
    def load_user(user_id):
        return db.session.get(User, int(user_id))     # or None

    @app.post("/auth/login")
    def login():
        user = find_user(request.form["name"])
        if not check_password(user.pwhash if user else None, request.form["password"]):
            abort(401)
        login_user(user, remember="remember" in request.form)
        return redirect(safe_next())

    @app.get("/account")
    @login_required
    def account():
        return f"Hello {current_user.name}"

A user object needs only ``get_id()`` (a string or an integer that the loader takes back);
"logged in" means the loader returned a user for the id kept in the session.

Laziness: ``current_user`` reads the session on its first use in a request, not before. Flask
marks every response whose session was read with ``Vary: Cookie`` (so caches keep one copy per
cookie); a page that never looks at the user keeps no ``Vary: Cookie`` and stays cacheable.
Nothing runs on requests that do not use the user: no ``before_request`` hook is registered.

Batteries never writes ``g.user`` (apps such as Flask's tutorial set it themselves) and keeps
its session key (``_batteries_user_id``), remember cookie and config keys apart from
Flask-Login's, so both can live in one app.

Config:
    ``LOGIN_VIEW`` (``"auth.login"``): endpoint anonymous visitors are sent to; None → 401.
    ``LOGIN_REMEMBER_COOKIE`` (``"batteries_remember"``), ``LOGIN_REMEMBER_DURATION`` (30 days),
    ``LOGIN_KEEP_SESSION_KEYS``: what survives the session rotation at login and logout.
    The remember cookie follows ``SESSION_COOKIE_SECURE``, ``SESSION_COOKIE_DOMAIN`` and
    ``SESSION_COOKIE_PATH``; it is always HttpOnly and SameSite=Lax. Signed with
    ``SECRET_KEY`` (``SECRET_KEY_FALLBACKS`` still accepted).
"""

from __future__ import annotations

import functools
import logging
import typing as t
from dataclasses import dataclass
from datetime import timedelta

from flask import (
    abort,
    after_this_request,
    current_app,
    g,
    has_request_context,
    request,
    session,
    url_for,
)
from flask.sansio.scaffold import setupmethod
from werkzeug.local import LocalProxy
from werkzeug.routing import BuildError

from . import csrf, signals
from .checks import Check
from .config import Setting
from .i18n import gettext
from .passwords import (  # noqa: F401  (re-exported: part of batteries.auth's API)
    MAX_PASSWORD_LENGTH,
    PASSWORD_HASH_METHOD,
    PasswordTooLong,
    check_password,
    hash_password,
)
from .redirects import MAX_NEXT_LENGTH, is_safe_path, next_url, safe_next  # noqa: F401
from .state import state_of
from .tokens import find_user_loaders_with, make_token, read_token

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask
    from flask.sansio.scaffold import Scaffold
    from flask.wrappers import Response

F = t.TypeVar("F", bound=t.Callable[..., t.Any])
UserLoader = t.Callable[[t.Any], t.Any]

#: Session key holding the logged-in user's id (Flask-Login's is ``_user_id``).
SESSION_KEY = "_batteries_user_id"
#: ``g`` attribute holding the per-request cache of the loaded user.
_G_USER = "_batteries_user"
#: ``g`` attribute holding the pending remember-cookie change of this request.
_G_REMEMBER = "_batteries_remember"
#: Salt of the remember cookie's signature (keeps it apart from the session's).
REMEMBER_SALT = "batteries.auth.remember"

log = logging.getLogger("batteries.auth")

LOGIN_VIEW = Setting(
    "LOGIN_VIEW",
    "auth.login",
    (str, type(None)),
    "endpoint @login_required sends anonymous visitors to (None: answer 401)",
)
REMEMBER_COOKIE = Setting(
    "LOGIN_REMEMBER_COOKIE",
    "batteries_remember",
    (str,),
    "name of the remember-me cookie set by login_user(user, remember=True)",
)
REMEMBER_DURATION = Setting(
    "LOGIN_REMEMBER_DURATION",
    30 * 24 * 3600,
    (int, float, timedelta),
    "seconds (or a timedelta) a remember-me cookie stays valid",
)
KEEP_SESSION_KEYS = Setting(
    "LOGIN_KEEP_SESSION_KEYS",
    ("_flashes", "_permanent", "_user_id", "_fresh", "_id", "_remember", "_remember_seconds"),
    (tuple, list, set, frozenset),
    "session keys kept when login_user/logout_user clear the session "
    "(flashes, Flask's permanent flag, Flask-Login's keys)",
)
CONFIG = (LOGIN_VIEW, REMEMBER_COOKIE, REMEMBER_DURATION, KEEP_SESSION_KEYS)


def init_app(app: Flask) -> None:
    """Nothing to register: the user is loaded on demand, cookies are set per request."""


# -- the user -------------------------------------------------------------------------------


class AnonymousUser:
    """``current_user`` when nobody is logged in."""

    is_authenticated = False
    is_active = False
    is_anonymous = True

    def get_id(self) -> None:
        return None

    def __repr__(self) -> str:
        return "<AnonymousUser>"


ANONYMOUS = AnonymousUser()


class UserMixin:
    """What Flask-Login's users have: ``is_authenticated``, ``is_active``, ``is_anonymous`` and
    ``get_id()`` (``str(self.id)``). Batteries needs only ``get_id()``; a model ported from
    Flask-Login keeps ``class User(UserMixin, db.Model)`` with the import changed::

        from batteries.auth import UserMixin

    Override ``is_active`` (a column or a property) to refuse logins of disabled users, and
    ``get_id()`` when the id is not in ``id``. Equality stays the object's identity (the
    session's identity map gives one object per row).
    """

    __slots__ = ()

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        ident = getattr(self, "id", None)
        if ident is None:
            raise NotImplementedError(
                f"{type(self).__name__} has no id: give it an 'id' or override get_id()"
            )
        return str(ident)


def user_loader(target: Scaffold, loader: UserLoader | None = None) -> t.Any:
    """Register ``loader`` (user id → user or None) for an app or a blueprint.

    ``app.user_loader`` and ``bp.user_loader`` call this; it also takes a plain ``flask.Flask``
    or ``flask.Blueprint``: ``user_loader(bp, load_user)`` or ``@user_loader(bp)``. On a
    blueprint the loader is set on the app the blueprint is registered on. One loader per app;
    the last one registered wins. Example::

        @app.user_loader
        def load_user(user_id):
            return User.query.get(int(user_id))
    """
    if loader is None:
        return functools.partial(user_loader, target)
    if not callable(loader):
        raise TypeError(f"user_loader needs a function (user id -> user or None), got {loader!r}")
    from flask.sansio.blueprints import Blueprint

    if isinstance(target, Blueprint):
        target.record_once(lambda setup: _set_loader(t.cast("Flask", setup.app), loader))
    else:
        # Checked like Flask's setup methods: a loader added after the first request would
        # leave earlier requests with a different idea of who is logged in.
        _set_loader_on_app(t.cast("Flask", target), loader)
    return loader


@dataclass
class AuthState:
    user_loader: UserLoader | None = None


def _set_loader(app: Flask, loader: UserLoader) -> None:
    state = state_of(app, AuthState)
    if state.user_loader is None:
        # The app uses Batteries' login from now on: its templates see ``current_user``
        # (an app that does not leaves the name to other extensions, as Flask does).
        app.context_processor(template_context)
    state.user_loader = loader


def template_context() -> dict[str, t.Any]:
    """The context processor an app gets with its user loader: ``current_user``."""
    return {"current_user": current_user}


def _set_app_loader(self: Scaffold, loader: UserLoader) -> None:
    _set_loader(t.cast("Flask", self), loader)


# Flask's own setup check (its public ``setupmethod`` decorator) names the method in its error.
_set_app_loader.__name__ = "user_loader"
_set_loader_on_app = setupmethod(_set_app_loader)


def uses_login(app: Flask) -> bool:
    """Whether ``app`` uses Batteries' login (a user loader is registered on it)."""
    return state_of(app, AuthState).user_loader is not None


def get_user_loader(app: Flask) -> UserLoader | None:
    """The function registered with ``@app.user_loader``, or None."""
    return state_of(app, AuthState).user_loader


find_user_loaders_with(get_user_loader)  # read_token's default loader: the app's @user_loader


def _get_loader(app: Flask) -> UserLoader:
    loader = get_user_loader(app)
    if loader is None:
        raise RuntimeError(
            "No user loader: decorate a function that takes a user id and returns the user "
            "(or None) with @app.user_loader (or @bp.user_loader on a blueprint)."
        )
    return loader


def _get_user() -> t.Any:
    """The current request's user, loaded on first use and kept for the rest of the request."""
    if not has_request_context():
        return ANONYMOUS
    req = request._get_current_object()  # type: ignore[attr-defined]
    cached = g.__dict__.get(_G_USER)
    # Keyed on the request: an app context kept open around several test requests reuses ``g``.
    if cached is not None and cached[0] is req:
        return cached[1]
    user = _load_user(current_app._get_current_object())  # type: ignore[attr-defined]
    setattr(g, _G_USER, (req, user))
    return user


def _set_user(user: t.Any) -> None:
    setattr(g, _G_USER, (request._get_current_object(), user))  # type: ignore[attr-defined]


def _load_user(app: Flask) -> t.Any:
    user_id = session.get(SESSION_KEY)
    if user_id is not None:
        user = _get_loader(app)(user_id)
        if user is not None:
            return user
        # The user is gone (deleted, disabled): forget the id, so that a new user who is
        # given the same id later is not logged in by an old cookie.
        session.pop(SESSION_KEY, None)
        return ANONYMOUS
    return _user_from_remember_cookie(app)


def _user_from_remember_cookie(app: Flask) -> t.Any:
    name = REMEMBER_COOKIE.get(app)
    token = request.cookies.get(name)
    if not token or not app.secret_key:
        return ANONYMOUS
    from itsdangerous import BadData

    try:
        user_id = _serializer(app).loads(token, max_age=_remember_seconds(app))
    except BadData:  # tampered, signed with an old key, expired, or not ours
        user_id = None
    user = _get_loader(app)(user_id) if user_id is not None else None
    if user is None:
        _remember_later(None)
        return ANONYMOUS
    # A login like login_user(): the session the browser sent (its CSRF secret, values planted
    # before) does not survive it.
    _rotate_session(app)
    session[SESSION_KEY] = user_id
    return user


class CurrentUser(LocalProxy):  # type: ignore[type-arg]
    """The proxy behind ``current_user``.

    ``is_authenticated`` and ``is_anonymous`` are answered by the proxy (logged in means the
    loader returned a user), so a user object needs nothing but ``get_id()``; everything else
    is the user's own attribute.
    """

    @property
    def is_authenticated(self) -> bool:
        return _get_user() is not ANONYMOUS

    @property
    def is_anonymous(self) -> bool:
        return _get_user() is ANONYMOUS


#: The logged-in user, or :data:`ANONYMOUS`. Loaded on first use in each request.
current_user: t.Any = CurrentUser(_get_user)


# -- logging in and out ---------------------------------------------------------------------


def login_user(user: t.Any, remember: bool = False) -> bool:
    """Log ``user`` in for the rest of this session; returns False if it is not active.

    The session is rotated: everything in it is dropped except ``LOGIN_KEEP_SESSION_KEYS``
    (flashes, the permanent flag, Flask-Login's keys), so values planted before the login
    (session fixation) and the CSRF secret do not survive it. With ``remember=True`` a signed
    remember-me cookie (HttpOnly, SameSite=Lax, Secure like the session cookie) brings the
    user back when the session is gone, for ``LOGIN_REMEMBER_DURATION``. Sends
    ``signals.user_logged_in``. Example::

        if check_password(user.pwhash, form.password.data):
            login_user(user, remember=form.remember.data)
            return redirect(safe_next())

    Config: ``SECRET_KEY`` (required), ``LOGIN_REMEMBER_*``, ``LOGIN_KEEP_SESSION_KEYS``.
    """
    from .sessions import require_secret_key

    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    require_secret_key(app)
    _get_loader(app)  # fail now, not on the next request, when there is no loader
    if not getattr(user, "is_active", True):
        return False
    user_id = user.get_id()
    if user_id is None:
        raise ValueError(f"login_user: {user!r}.get_id() returned None")
    _rotate_session(app)
    session[SESSION_KEY] = user_id
    _set_user(user)
    if remember:
        _remember_later(_serializer(app).dumps(user_id))
    elif REMEMBER_COOKIE.get(app) in request.cookies:
        _remember_later(None)  # someone else's remember cookie must not outlive this login
    signals.user_logged_in.send(app, _async_wrapper=app.ensure_sync, user=user)
    return True


def logout_user() -> None:
    """Log the current user out: the session is rotated and the remember cookie deleted.

    Sends ``signals.user_logged_out`` with the user who was logged in (or the anonymous user).
    Works without a ``SECRET_KEY`` (there is nothing to forget then).
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    user = _get_user()
    if SESSION_KEY in session or csrf.has_secret():
        _rotate_session(app)
    if REMEMBER_COOKIE.get(app) in request.cookies or _pending_remember() is not None:
        _remember_later(None)
    _set_user(ANONYMOUS)
    signals.user_logged_out.send(app, _async_wrapper=app.ensure_sync, user=user)


def _rotate_session(app: Flask) -> None:
    keep = set(KEEP_SESSION_KEYS.get(app) or ()) - {SESSION_KEY}
    for key in [key for key in session if key not in keep]:
        del session[key]
    csrf.rotate()


# -- the remember cookie --------------------------------------------------------------------


def _serializer(app: Flask) -> t.Any:
    from itsdangerous import URLSafeTimedSerializer

    fallbacks = app.config.get("SECRET_KEY_FALLBACKS") or []
    # itsdangerous signs with the last key and accepts all of them.
    return URLSafeTimedSerializer([*fallbacks, app.secret_key], salt=REMEMBER_SALT)


def _remember_seconds(app: Flask) -> int:
    duration = REMEMBER_DURATION.get(app)
    if isinstance(duration, timedelta):
        return int(duration.total_seconds())
    return int(duration)


def _pending_remember() -> tuple[t.Any, str | None] | None:
    pending = g.__dict__.get(_G_REMEMBER)
    if pending is not None and pending[0] is request._get_current_object():  # type: ignore[attr-defined]
        return pending  # type: ignore[no-any-return]
    return None


def _remember_later(token: str | None) -> None:
    """Set (``token``) or delete (None) the remember cookie on this request's response."""
    registered = _pending_remember() is not None
    setattr(g, _G_REMEMBER, (request._get_current_object(), token))  # type: ignore[attr-defined]
    if not registered:  # else the callback is registered already and reads the latest decision
        after_this_request(_apply_remember)


def _apply_remember(response: Response) -> Response:
    pending = _pending_remember()
    g.__dict__.pop(_G_REMEMBER, None)
    if pending is None:
        return response
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    interface = app.session_interface
    name = REMEMBER_COOKIE.get(app)
    domain = interface.get_cookie_domain(app)
    path = interface.get_cookie_path(app)
    secure = interface.get_cookie_secure(app)
    token = pending[1]
    if token is None:
        response.delete_cookie(
            name, path=path, domain=domain, secure=secure, httponly=True, samesite="Lax"
        )
    else:
        response.set_cookie(
            name,
            token,
            max_age=_remember_seconds(app),
            path=path,
            domain=domain,
            secure=secure,
            httponly=True,
            samesite="Lax",
        )
    return response


# -- views ----------------------------------------------------------------------------------


class LoginViewError(RuntimeError):
    """``LOGIN_VIEW`` names an endpoint the app does not have."""


def login_required(view: F) -> F:
    """Let only logged-in users reach ``view``; works on app and blueprint views, sync or async.

    Anonymous visitors are redirected to ``url_for(LOGIN_VIEW, next=<this path>)`` (a path
    relative to the site, with the query string; read it back with :func:`safe_next`); clients
    that want JSON (``request.wants_json``) get a 401 JSON error instead. Example::

        @app.get("/account")
        @login_required
        def account():
            return render_template("account.html", user=current_user)

    Config: ``LOGIN_VIEW`` (default ``"auth.login"``; None → 401 for everyone).
    """

    @functools.wraps(view)
    def wrapper(*args: t.Any, **kwargs: t.Any) -> t.Any:
        if _get_user() is ANONYMOUS:
            return _unauthorized()
        return current_app.ensure_sync(view)(*args, **kwargs)

    return t.cast(F, wrapper)


UNAUTHORIZED_MESSAGE = "Log in to see this page."


def _unauthorized() -> t.Any:
    from flask import redirect

    from .negotiation import wants_json

    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    login_view = LOGIN_VIEW.get(app)
    # ``wants_json`` is the request's (batteries.Request); a plain Flask request asks the same rule.
    json_client = getattr(request, "wants_json", None)
    if json_client is None:
        json_client = wants_json(request)
    from . import htmx  # an htmx request: HX-Redirect to the login page, back to the page after

    htmx_page = htmx.wants_html(request)
    if (json_client and not htmx_page) or not login_view:
        abort(401, description=gettext(UNAUTHORIZED_MESSAGE))
    try:
        target = url_for(login_view, next=htmx.current_page(request) if htmx_page else next_url())
    except BuildError as exc:
        raise LoginViewError(
            f"@login_required cannot send visitors to the login page: LOGIN_VIEW is "
            f"{login_view!r} and the app has no such endpoint ({exc}). Set "
            f"app.config['LOGIN_VIEW'] to the endpoint of your login view (e.g. 'auth.login' "
            f"for a view 'login' on a blueprint 'auth'), or to None to answer 401."
        ) from exc
    # the code said explicitly: Flask 3.2's default is 303
    return htmx.login_redirect(target) if htmx_page else redirect(target, 302)


__all__ = [
    "ANONYMOUS",
    "AnonymousUser",
    "CurrentUser",
    "LoginViewError",
    "PasswordTooLong",
    "UserMixin",
    "check_password",
    "current_user",
    "hash_password",
    "is_safe_path",
    "login_required",
    "login_user",
    "logout_user",
    "make_token",
    "read_token",
    "safe_next",
    "user_loader",
]

def _login_view_missing(app: Flask) -> str | None:
    """``LOGIN_VIEW`` naming no endpoint, when the app logs users in or set the key itself
    (``@login_required`` would answer every anonymous visitor with a 500)."""
    view = LOGIN_VIEW.get(app)
    explicit = "LOGIN_VIEW" in getattr(app.config, "explicit", ())
    if not view or not (uses_login(app) or explicit) or view in app.view_functions:
        return None
    close = [e for e in app.view_functions if e.rsplit(".", 1)[-1] in ("login", "sign_in")]
    meant = f" (did you mean {close[0]!r}?)" if close else ""
    return (
        f"is {view!r}, which is no endpoint of this app{meant}: @login_required cannot send "
        "anonymous visitors to a login page."
    )


DEPLOY_CHECKS: tuple[Check, ...] = (
    Check(
        "batteries.E019",
        "error",
        "LOGIN_VIEW",
        "set LOGIN_VIEW to your login view's endpoint, or to None to answer 401",
        _login_view_missing,
        always=True,
    ),
)

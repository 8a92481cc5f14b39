"""The secret-key policy and a cheaper cookie session.

- There is never a built-in ``SECRET_KEY``. Whatever needs one (the session, flashes, CSRF,
  login) fails with an error that keeps Flask's words and adds how to set the key.
- In debug mode (not testing) a development key is generated once and kept in the instance
  folder (``instance/.secret_key``, mode 0600), so sessions survive reloader restarts.
- Flask builds a new itsdangerous serializer for every request that opens a session (about 9% of
  a "hello" request). :class:`SessionInterface` keeps one per key set and rebuilds it only when
  ``SECRET_KEY`` or ``SECRET_KEY_FALLBACKS`` change. Its signer is kept too, with each key
  derived once: itsdangerous makes a signer per cookie and derives the key with an HMAC per
  signature (2.8 µs of the 13 µs a session cookie takes to load). Same cookies, same keys.
- A request without a ``Cookie`` header gets an empty session without parsing cookies or
  touching the serializer, and a session nobody read, changed or filled is not "saved" (Flask
  reads seven cookie settings before finding there is nothing to do). The outcome is Flask's in
  every case: same cookies, same ``Vary: Cookie``.
- The session it opens is kept in the request's WSGI environ (:func:`opened_session`), and its
  class (:class:`Session`) remembers the flashes ``get_flashed_messages`` took out of it, so
  :mod:`batteries.flashing` knows whether the request used the session and finds every waiting
  message without reading Flask's request-context internals (which Flask 3.2 changes).
"""

from __future__ import annotations

import logging
import os
import secrets
import typing as t
from dataclasses import dataclass

from flask.sessions import NullSession, SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from .state import state_of

# Batteries' own notices go to its logger, not the app's: a handler on ``app.logger`` sees the
# app's records only, as on Flask.
log = logging.getLogger(__name__)

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask
    from flask.sessions import SessionMixin
    from flask.wrappers import Request, Response

SECRET_KEY_HELP = (
    "Set SECRET_KEY to a long random string: in code (app.config['SECRET_KEY'] = ...), in "
    "instance/config.py (SECRET_KEY = '...'), or with the environment variable "
    "BATTERIES_SECRET_KEY. Make one with: "
    'python -c "import secrets; print(secrets.token_hex())"'
)

NO_SECRET_KEY = (
    "The session is unavailable because no secret key was set.  "
    "Set the secret_key on the application to something unique and secret. " + SECRET_KEY_HELP
)

DEV_KEY_FILE = ".secret_key"
#: where Flask keeps flashed messages in the session
FLASHES_KEY = "_flashes"
#: the WSGI environ key holding the session :class:`SessionInterface` opened for the request
ENVIRON_KEY = "batteries.session"


class MissingSecretKey(RuntimeError):
    """Raised when something needs ``SECRET_KEY`` and none is set."""


class BatteriesNullSession(NullSession):
    """The session of an app without a secret key: reading works, writing explains the fix."""

    def _fail(self, *args: t.Any, **kwargs: t.Any) -> t.NoReturn:
        raise MissingSecretKey(NO_SECRET_KEY)

    __setitem__ = __delitem__ = clear = pop = popitem = update = setdefault = _fail
    del _fail


def dev_key_applies(app: Flask) -> bool:
    return bool(app.debug) and not app.testing


def ensure_dev_secret_key(app: Flask) -> bool:
    """In debug (not testing) mode with no key, load or create the instance's development key."""
    if app.secret_key or not dev_key_applies(app):
        return bool(app.secret_key)
    path = os.path.join(app.instance_path, DEV_KEY_FILE)
    try:
        with open(path, encoding="ascii") as f:
            key = f.read().strip()
    except FileNotFoundError:
        key = ""
    if not key:
        os.makedirs(app.instance_path, mode=0o700, exist_ok=True)  # a new folder: ours only
        key = secrets.token_hex(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process won the race: use its key
            with open(path, encoding="ascii") as f:
                key = f.read().strip()
        else:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(key)
        log.info("Generated a development SECRET_KEY in %s", path)
    app.config["SECRET_KEY"] = key
    return True


def read_dev_key(app: Flask) -> str | None:
    """The development key kept in the instance folder, or None when there is none."""
    try:
        with open(os.path.join(app.instance_path, DEV_KEY_FILE), encoding="ascii") as f:
            return f.read().strip() or None
    except (OSError, ValueError):
        return None


def require_secret_key(app: Flask) -> str | bytes:
    """Return the app's secret key, or raise :class:`MissingSecretKey` explaining how to set it."""
    if not app.secret_key:
        ensure_dev_secret_key(app)
    if not app.secret_key:
        raise MissingSecretKey(NO_SECRET_KEY)
    return app.secret_key


def sends_session_cookie(app: Flask, request: Request) -> bool:
    """Whether ``request`` carries ``app``'s session cookie (without parsing cookies when there
    is no ``Cookie`` header at all). Pages use it to leave the session of cookieless visitors
    untouched, so they get no ``Vary: Cookie`` and stay cacheable."""
    return bool(request.environ.get("HTTP_COOKIE")) and (
        app.config["SESSION_COOKIE_NAME"] in request.cookies
    )


class Session(SecureCookieSession):
    """Flask's cookie session; remembers the flashes taken out of it with ``pop("_flashes")``
    (what ``get_flashed_messages`` does) in :attr:`taken_flashes`, the very list Flask then
    keeps for the rest of the request."""

    taken_flashes: list[t.Any] | None = None

    def pop(self, key: str, *default: t.Any) -> t.Any:
        found = super().pop(key, *default)
        if key == FLASHES_KEY and isinstance(found, list):
            self.taken_flashes = found
        return found


@dataclass
class SessionState:
    #: (the key material it was built from, the serializer)
    serializer: tuple[tuple[t.Any, ...], URLSafeTimedSerializer | None] | None = None


def opened_session(request: Request) -> SessionMixin | None:
    """The session Batteries' :class:`SessionInterface` opened for ``request``, without marking
    it accessed; None when it opened none (no secret key, or another session interface)."""
    return t.cast("SessionMixin | None", request.environ.get(ENVIRON_KEY))


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with the serializer kept between requests."""

    null_session_class = BatteriesNullSession
    session_class = Session

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        session: SecureCookieSession | None
        if app.secret_key and not request.environ.get("HTTP_COOKIE"):
            # No Cookie header at all (most first visits, API clients, health checks): the
            # session is empty whatever the cookie settings; skip cookies and the serializer.
            session = self.session_class()
        elif not app.secret_key and not dev_key_applies(app):
            return None  # no key and none to generate: Flask's null session
        else:
            session = super().open_session(app, request)
        if session is not None:
            request.environ[ENVIRON_KEY] = session
        return session

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        # Empty, never read and never changed: Flask would add no cookie and no Vary header.
        if not session and not session.modified and not session.accessed:
            return
        super().save_session(app, session, response)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if not app.secret_key:
            ensure_dev_secret_key(app)
            if not app.secret_key:
                return None
        fallbacks = app.config["SECRET_KEY_FALLBACKS"]
        key = (
            app.secret_key,
            tuple(fallbacks) if fallbacks else (),
            self.salt,
            self.serializer,
            self.key_derivation,
            self.digest_method,
        )
        state = state_of(app, SessionState)
        cached = state.serializer
        if cached is not None and cached[0] == key:
            return cached[1]
        serializer = keeping_signers(super().get_signing_serializer(app))
        state.serializer = (key, serializer)
        return serializer


class _KeyKeepingSigner(TimestampSigner):
    """itsdangerous' timestamp signer, deriving each of its keys once, not per signature."""

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._derived: dict[t.Any, bytes] = {}

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        if secret_key is None:
            secret_key = self.secret_keys[-1]  # signing: the newest key
        derived = self._derived.get(secret_key)
        if derived is None:
            derived = self._derived[secret_key] = super().derive_key(secret_key)
        return derived


class _SignerKeepingSerializer(URLSafeTimedSerializer):
    """A serializer handing out one signer per salt (a signer holds only its settings and the
    keys it derived, so threads share it), instead of a new one per cookie."""

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._signers: dict[bytes | None, t.Any] = {}

    def make_signer(self, salt: str | bytes | None = None) -> t.Any:
        key = self.salt if salt is None else salt if isinstance(salt, bytes) else salt.encode()
        signer = self._signers.get(key)
        if signer is None:
            signer = super().make_signer(key)
            if len(self._signers) < 8:  # the session uses one salt; never grow without bound
                self._signers[key] = signer
        return signer


def keeping_signers(made: URLSafeTimedSerializer | None) -> URLSafeTimedSerializer | None:
    """The serializer Flask ``made``, rebuilt from its public settings to keep its signer (see
    the module's text); anything but Flask's usual serializer is handed back unchanged."""
    if type(made) is not URLSafeTimedSerializer or made.signer is not TimestampSigner:
        return made
    return _SignerKeepingSerializer(
        made.secret_keys,
        salt=made.salt,
        serializer=made.serializer,
        serializer_kwargs=made.serializer_kwargs,
        signer=_KeyKeepingSigner,
        signer_kwargs=made.signer_kwargs,
        fallback_signers=made.fallback_signers,
    )

"""Signed, single-purpose tokens for links in mail: password reset, e-mail confirmation.

Replaces the ``URLSafeTimedSerializer(app.secret_key).dumps(user.id)`` every tutorial writes,
and its traps: a reset link that works again and again, a confirmation token accepted as a
reset token, a link that survives the password change it was meant for::

    from batteries.auth import make_token, read_token

    token = make_token(user, "reset")                      # in the mail
    user = read_token(token, "reset", max_age=3600)        # in the view: user or None

- The token carries the user's id (``user.get_id()``) and is signed with ``SECRET_KEY``
  (tokens signed with a key of ``SECRET_KEY_FALLBACKS`` are still read).
- It is bound to ``purpose`` (a "confirm" token is not a "reset" token) and to a state string:
  by default the user's ``password_hash`` attribute, so a reset link dies once the password
  changed (it was used) and every link dies when the password changes. Pass ``state`` (a
  string when making, a function of the user when reading) to bind to something else, e.g. the
  e-mail address for a confirmation link.
- Tampered, expired, wrong purpose, unknown user, changed state: ``read_token`` returns None,
  never raises.

The state is not in the token in clear: only a keyed digest of it is, so a token shows
nothing of the password hash.

Config: ``SECRET_KEY``, ``SECRET_KEY_FALLBACKS``.
"""

from __future__ import annotations

import hashlib
import hmac
import typing as t

from flask import current_app

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

#: Salt of the tokens' signatures (keeps them apart from sessions and remember cookies).
SALT = "batteries.tokens"
#: Attribute of the user read as the default state.
STATE_ATTRIBUTE = "password_hash"


def _default_state(user: t.Any) -> str:
    return str(getattr(user, STATE_ATTRIBUTE, "") or "")


def _state_string(user: t.Any, state: str | t.Callable[[t.Any], t.Any] | None) -> str:
    if state is None:
        return _default_state(user)
    if callable(state):
        return str(state(user) or "")
    return str(state)


def _keys(app: Flask) -> list[t.Any]:
    from .sessions import require_secret_key

    require_secret_key(app)
    fallbacks = app.config.get("SECRET_KEY_FALLBACKS") or []
    return [*fallbacks, app.secret_key]  # itsdangerous signs with the last, accepts all


def _fingerprint(key: t.Any, purpose: str, state: str) -> str:
    """A keyed digest of the state: the token shows nothing of it, and it cannot be forged."""
    secret = key.encode() if isinstance(key, str) else bytes(key)
    text = f"{purpose}\x00{state}".encode()
    return hmac.new(secret, text, hashlib.sha256).hexdigest()[:32]


def _serializer(app: Flask, purpose: str) -> t.Any:
    from itsdangerous import URLSafeTimedSerializer

    return URLSafeTimedSerializer(_keys(app), salt=f"{SALT}:{purpose}")


def make_token(user: t.Any, purpose: str, state: str | None = None) -> str:
    """A URL-safe token naming ``user`` for ``purpose``, bound to ``state``.

    ``state`` defaults to the user's ``password_hash``. Needs an app context. Example::

        link = url_for("auth.reset", token=make_token(user, "reset"), _external=True)
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    user_id = user.get_id()
    if user_id is None:
        raise ValueError(f"make_token: {user!r}.get_id() returned None")
    state_text = _state_string(user, state)
    key = _keys(app)[-1]
    return t.cast(str, _serializer(app, purpose).dumps([user_id, _fingerprint(key, purpose, state_text)]))


def _no_loader(app: Flask) -> t.Callable[[t.Any], t.Any] | None:
    return None


#: How :func:`read_token` finds an app's user loader when none is passed: set by
#: :mod:`batteries.auth` (which keeps the loaders and re-exports this module's functions), so
#: this module needs nothing from it.
_find_loader: t.Callable[[Flask], t.Callable[[t.Any], t.Any] | None] = _no_loader


def find_user_loaders_with(find: t.Callable[[Flask], t.Callable[[t.Any], t.Any] | None]) -> None:
    """Say how to find an app's user loader (``batteries.auth.get_user_loader``)."""
    global _find_loader
    _find_loader = find


def _loader(app: Flask) -> t.Callable[[t.Any], t.Any] | None:
    return _find_loader(app)


def read_token(
    token: str | None,
    purpose: str,
    max_age: int | float,
    load_user: t.Callable[[t.Any], t.Any] | None = None,
    state: t.Callable[[t.Any], t.Any] | None = None,
) -> t.Any:
    """The user a :func:`make_token` token names, or None when it is not valid any more.

    ``max_age`` is in seconds. ``load_user`` (user id → user or None) defaults to the app's
    ``@app.user_loader``; ``state`` (user → string) to the user's ``password_hash``. Expired,
    tampered, wrong purpose, unknown user or changed state → None, never an exception.
    """
    from itsdangerous import BadData

    if not isinstance(token, str) or not token or len(token) > 4096:
        return None
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    serializer = _serializer(app, purpose)
    try:
        payload = serializer.loads(token, max_age=max_age)
    except BadData:
        return None
    if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[1], str)):
        return None
    user_id, fingerprint = payload
    load = load_user or _loader(app)
    if load is None:
        raise RuntimeError(
            "read_token: no user loader; pass load_user=... or register one with "
            "@app.user_loader"
        )
    try:
        user = load(user_id)
    except (ValueError, TypeError, LookupError):
        return None
    if user is None:
        return None
    state_text = _state_string(user, state)
    # The token was signed with one of the keys: its fingerprint too.
    for key in _keys(app):
        if hmac.compare_digest(fingerprint, _fingerprint(key, purpose, state_text)):
            return user
    return None


__all__ = ["make_token", "read_token"]

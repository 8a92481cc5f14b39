"""Password hashes: ``hash_password``, ``check_password`` and ``PASSWORD_HASH_METHOD``.

Werkzeug's ``generate_password_hash``/``check_password_hash`` with the edges made safe: a cap
on the password's length (hashing megabytes is a cheap denial of service), a malformed stored
hash is a failed check (never a 500), an unknown user costs a hash too (no timing oracle), and
the method is a setting, so a test suite can hash fast while ``check --deploy`` keeps production
on scrypt. :mod:`batteries.auth` re-exports the public names.

Config: ``PASSWORD_HASH_METHOD`` (``"scrypt"``).
"""

from __future__ import annotations

import logging
import typing as t

from flask import current_app, has_app_context
from werkzeug.exceptions import BadRequest

from .checks import Check
from .config import Setting

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

log = logging.getLogger("batteries.auth")

#: Longest password :func:`hash_password` accepts (scrypt of huge inputs is a cheap DoS).
MAX_PASSWORD_LENGTH = 4096

PASSWORD_HASH_METHOD = Setting(
    "PASSWORD_HASH_METHOD",
    "scrypt",
    (str,),
    "werkzeug method of hash_password; a fast one such as 'pbkdf2:sha256:1000' is for tests "
    "only (check --deploy reports it)",
)
CONFIG = (PASSWORD_HASH_METHOD,)


def init_app(app: Flask) -> None:
    """Nothing to set up: the method is read when a password is hashed."""


class PasswordTooLong(BadRequest, ValueError):
    """A password over 4,096 characters: a 400 in a view, a ValueError elsewhere."""

    description = f"Passwords are limited to {MAX_PASSWORD_LENGTH} characters."


def hash_password(password: str) -> str:
    """A salted hash of ``password`` to store, by the current app's ``PASSWORD_HASH_METHOD``
    (default scrypt, Werkzeug's default; outside an app context always scrypt).

    Passwords longer than 4,096 characters raise :class:`PasswordTooLong` (a 400)::

        user.pwhash = hash_password(form.password.data)

    A test suite that creates many users may set ``PASSWORD_HASH_METHOD`` to a fast method
    (``"pbkdf2:sha256:1000"``): hashes are checked by the method stored in them, so both
    kinds verify. Never in production: ``batteries check --deploy`` reports it.
    """
    from werkzeug.security import generate_password_hash

    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordTooLong()
    return generate_password_hash(password, method=_hash_method())


def _hash_method() -> str:
    if has_app_context():
        return str(PASSWORD_HASH_METHOD.get(current_app))
    return str(PASSWORD_HASH_METHOD.default)


#: Weakest work factors accepted in production (OWASP's 2023 figures; Werkzeug's defaults
#: are scrypt n=2**15 and pbkdf2 1,000,000 iterations).
MIN_SCRYPT_N = 2**14
MIN_PBKDF2_ITERATIONS = 600_000


def weak_hash_method(method: object) -> str | None:
    """Why ``method`` (a ``PASSWORD_HASH_METHOD`` value) is too weak or unknown, or None
    (the message follows the key's name: ``"is 'pbkdf2:sha256:1000': 1000 pbkdf2 ..."``)."""
    if not isinstance(method, str):
        return f"is {method!r}, not a method name"
    name, *args = method.split(":")
    try:
        if name == "scrypt":
            n = int(args[0]) if args else 2**15
            if n < MIN_SCRYPT_N:
                return f"is {method!r}: scrypt with n={n} (at least {MIN_SCRYPT_N})"
            return None
        if name == "pbkdf2":
            rounds = int(args[1]) if len(args) > 1 else MIN_PBKDF2_ITERATIONS
            if rounds < MIN_PBKDF2_ITERATIONS:
                return (
                    f"is {method!r}: {rounds} pbkdf2 iterations "
                    f"(at least {MIN_PBKDF2_ITERATIONS:,})"
                )
            return None
    except ValueError:
        pass
    return f"is {method!r}, not a method Werkzeug knows (scrypt or pbkdf2)"


def _find_weak_hash(app: Flask) -> str | None:
    return weak_hash_method(PASSWORD_HASH_METHOD.get(app))


#: check_password's hash for unknown users, one per method (so both take the same time).
_dummy_hash: dict[str, str] = {}


def check_password(pwhash: str | None, password: str) -> bool:
    """True when ``password`` matches the stored ``pwhash``; never raises.

    A malformed stored hash is a failed check (logged as an error), not a 500. Pass None for
    an unknown user: a hash is still computed, so a wrong name and a wrong password take the
    same time::

        user = find_user(name)
        if not check_password(user.pwhash if user else None, password):
            abort(401)
    """
    from werkzeug.security import check_password_hash

    if not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
        return False
    if pwhash is None:
        method = _hash_method()
        if method not in _dummy_hash:
            _dummy_hash[method] = hash_password("batteries: no such user")
        check_password_hash(_dummy_hash[method], password)
        return False
    try:
        return check_password_hash(pwhash, password)
    except Exception:  # a stored hash is data: any failure is a failed check
        # Name the method only: the rest of a hash is not for logs.
        method = str(pwhash).partition("$")[0][:40]
        log.error("check_password: malformed stored password hash (method %r)", method)
        return False


DEPLOY_CHECKS: tuple[Check, ...] = (
    Check(
        "batteries.E040",
        "error",
        PASSWORD_HASH_METHOD.key,
        "leave PASSWORD_HASH_METHOD unset in production (scrypt); fast methods are for tests",
        _find_weak_hash,
    ),
)

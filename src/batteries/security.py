"""Security in one place: the production configuration, and where the rest lives.

``app.config.update(batteries.security.PRODUCTION)`` turns on everything a production site
wants (secure cookies, security headers, CSRF on every unsafe request). The headers themselves
are :mod:`batteries.headers`; the checks behind ``batteries check --deploy`` are
:mod:`batteries.checks` plus the ``DEPLOY_CHECKS`` of each battery.
"""

from __future__ import annotations

import typing as t

from .checks import KEY_HINT, Check, Problem, key_weakness
from .headers import (
    DEFAULT_CSP,
    DEFAULT_HEADERS,
    HTTPS_ONLY,
    add_nonce,
    apply_headers,
    csp_nonce,
    headers_for,
)

__all__ = [
    "DEFAULT_CSP",
    "DEFAULT_HEADERS",
    "HTTPS_ONLY",
    "KEY_HINT",
    "PRODUCTION",
    "Check",
    "Problem",
    "add_nonce",
    "apply_headers",
    "csp_nonce",
    "headers_for",
    "key_weakness",
]

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


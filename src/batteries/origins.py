"""Where an unsafe request comes from, by the browser's word: ``Sec-Fetch-Site`` first, then
``Origin`` against the request's own host (and a list of trusted origins).

The first, header-only half of ``CSRF_PROTECT_ALL`` (:func:`batteries.csrf.protect`); a client
that sends neither header is left to the CSRF token.
"""

from __future__ import annotations

import typing as t
from urllib.parse import urlsplit

if t.TYPE_CHECKING:  # pragma: no cover
    from flask.wrappers import Request


def _host_of(origin: str) -> tuple[str, str] | None:
    """``(scheme, host[:port])`` of an ``Origin`` value, default port removed; None if malformed."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        return None
    host = parts.hostname
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is not None and port != (443 if parts.scheme == "https" else 80):
        host = f"{host}:{port}"
    return parts.scheme, host


def normal_origin(origin: str) -> str | None:
    """``origin`` as ``scheme://host[:port]`` (lower case, default port dropped); None if it is
    not a valid web origin."""
    found = _host_of(origin.strip().lower())
    return None if found is None else f"{found[0]}://{found[1]}"


def is_trusted(origin: str | None, trusted: t.Any) -> bool:
    """Whether ``origin`` is one of ``trusted`` (an origin, or a list of them), normalized."""
    if not origin or not trusted:
        return False
    if isinstance(trusted, str):  # one origin given as a string
        trusted = (trusted,)
    normal = normal_origin(origin)
    return normal is not None and any(normal_origin(o) == normal for o in trusted)


def _request_host(req: Request) -> str:
    host = req.host.lower()
    default = ":443" if req.scheme == "https" else ":80"
    return host[: -len(default)] if host.endswith(default) else host


def cross_site_reason(req: Request, trusted: t.Any = ()) -> str | None:
    """Why the unsafe request ``req`` looks cross-site, None when the browser says it is not
    (or its ``Origin`` is one of ``trusted``).

    Raises :class:`LookupError` when the request carries neither ``Sec-Fetch-Site`` nor
    ``Origin`` (an old browser or a non-browser client): then only a token can tell.
    """
    environ = req.environ  # the two headers read from the environ: no header parsing
    origin = environ.get("HTTP_ORIGIN")
    if is_trusted(origin, trusted):
        return None
    site = environ.get("HTTP_SEC_FETCH_SITE")
    if site is not None:
        site = site.strip().lower()
        if site in ("same-origin", "none"):
            return None
        shown = site if len(site) <= 40 else site[:37] + "..."
        return (
            f"the browser says this is a cross-site request (Sec-Fetch-Site: {shown}) and its "
            f"origin {_shown(origin)} is not in CSRF_TRUSTED_ORIGINS."
        )
    if origin is None:
        raise LookupError("no Sec-Fetch-Site, no Origin")
    found = _host_of(origin.strip().lower())
    if found is None:
        return f"the Origin header {_shown(origin)} is not a valid origin."
    if found[0] == "http" and req.scheme == "https":
        return f"the request comes from {_shown(origin)}, an insecure (http) origin."
    if found[1] == _request_host(req):
        return None
    return (
        f"the request comes from origin {_shown(origin)}, which does not match this host "
        f"({req.host}) and is not in CSRF_TRUSTED_ORIGINS."
    )


def _shown(text: str | None) -> str:
    if text is None:
        return "(none)"
    text = text if len(text) <= 80 else text[:77] + "..."
    return repr(text)

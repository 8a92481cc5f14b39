"""Drivers for the services a config URL names, checked before they are used.

"One config value moves it to PostgreSQL" is only true when the driver is installed. Without this
module a missing driver is a bare ``ModuleNotFoundError: No module named 'psycopg'`` (or
``'MySQLdb'`` for ``mysql://``, ``'packaging'`` deep inside kombu's Redis transport) and a typo
such as ``postgress://`` is SQLAlchemy's ``NoSuchModuleError``; neither names the config key.
Here each becomes a :class:`MissingDriver` or :class:`UnknownURL` that names the key, the URL
(password hidden) and the extra to install::

    DATABASE_URL = postgresql://app@db/app needs the PostgreSQL driver 'psycopg', which is
    not installed: pip install 'batteries[postgres]'
"""

from __future__ import annotations

import difflib
import importlib
import typing as t
from importlib.util import find_spec

#: backend name → the extra of Batteries that installs its driver
EXTRAS = {
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "redis": "redis",
    "rediss": "redis",
    "amqp": "rabbitmq",
    "amqps": "rabbitmq",
    "pyamqp": "rabbitmq",
    "mongodb": "mongo",
}

#: how a backend is called in messages
NAMES = {
    "postgresql": "PostgreSQL",
    "mysql": "MySQL",
    "mariadb": "MariaDB",
    "redis": "Redis",
    "rediss": "Redis",
    "amqp": "RabbitMQ",
    "amqps": "RabbitMQ",
    "pyamqp": "RabbitMQ",
    "mongodb": "MongoDB",
}

#: modules a service URL needs, by scheme (databases are asked of SQLAlchemy's dialects)
SERVICE_MODULES = {
    "redis": ("redis",),
    "rediss": ("redis",),
    "amqp": ("amqp",),
    "amqps": ("amqp",),
    "pyamqp": ("amqp",),
    "mongodb": ("mongoengine", "pymongo"),
}

DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mariadb", "mssql", "oracle")


class MissingDriver(RuntimeError):
    """The URL in a config key needs a Python package that is not installed."""


class UnknownURL(ValueError):
    """The URL in a config key names a scheme nothing here knows (a typo, mostly)."""


def mask(url: str) -> str:
    """``url`` with the password replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user, colon, _ = credentials.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{host}"


def _scheme(url: str) -> str:
    return url.split(":", 1)[0].lower()


def _missing(key: str, url: str, backend: str, module: str) -> MissingDriver:
    extra = EXTRAS.get(backend)
    install = f"pip install 'batteries[{extra}]'" if extra else f"pip install {module}"
    name = NAMES.get(backend, backend)
    return MissingDriver(
        f"{key} = {mask(url)} needs the {name} driver {module!r}, which is not installed: "
        f"{install}"
    )


def _unknown(key: str, url: str, scheme: str, known: t.Sequence[str]) -> UnknownURL:
    close = difflib.get_close_matches(scheme, known, n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]}://?" if close else ""
    return UnknownURL(
        f"{key} = {mask(url)}: {scheme!r} is not a known URL scheme "
        f"({', '.join(known)}).{hint}"
    )


def check_database_url(url: t.Any, key: str) -> None:
    """Raise :class:`UnknownURL` or :class:`MissingDriver` unless ``url`` can be connected to.

    ``url`` is a string or a SQLAlchemy ``URL`` (after Batteries picked the installed driver).
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    text = url if isinstance(url, str) else url.render_as_string(hide_password=True)
    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except (NoSuchModuleError, ArgumentError):
        raise _unknown(key, text, _scheme(text).split("+")[0], DATABASE_SCHEMES) from None
    backend = parsed.get_backend_name()
    try:
        dialect.import_dbapi()
    except ImportError as e:
        module = e.name or parsed.get_driver_name()
        raise _missing(key, text, backend, module.split(".")[0]) from None


def check_service_url(url: str, key: str, known: t.Sequence[str] = ()) -> None:
    """Like :func:`check_database_url` for Redis, RabbitMQ and MongoDB URLs.

    ``known`` lists the other schemes the key accepts (``memory``, ``sqlite``...): a scheme that
    is neither one of those nor a service scheme here is reported as :class:`UnknownURL`.
    """
    scheme = _scheme(url)
    modules = SERVICE_MODULES.get(scheme)
    if modules is None:
        if known and scheme not in known:
            raise _unknown(key, url, scheme, [*known, *SERVICE_MODULES])
        return
    for module in modules:
        if find_spec(module) is None:
            raise _missing(key, url, scheme, module)
        if scheme.startswith("redis"):
            try:
                importlib.import_module(module)
            except ImportError as e:  # redis installed without what it imports
                raise _missing(key, url, scheme, e.name or module) from None

"""Layered configuration and the registry of every key Batteries reads.

Replaces the "Application Factories" and "Configuration Handling" boilerplate: an app made with
``Batteries(__name__)`` has its config built in this order, later layers winning:

1. Flask's defaults, then Batteries' own (``Setting`` objects declared by each battery);
2. ``instance/config.py`` when the file exists;
3. environment variables prefixed ``BATTERIES_`` (values decoded as JSON, like
   ``Config.from_prefixed_env``; ``__`` reaches into nested dicts);
4. whatever the code sets afterwards (``app.config[...] = ...``).

Each battery declares its keys as a tuple of :class:`Setting` in its own module; ``app.py``
collects them into one :class:`Registry` (the README's configuration table is checked against
it). Keys that other extensions also read (``CACHE_*``, ``SQLALCHEMY_*``, ``WTF_*``) are declared
with ``write=False``: Batteries reads them with its default in code and never writes them into
``app.config``, so Flask-Caching and friends only ever see what the user set.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import typing as t
from dataclasses import dataclass, field

from flask import Config as FlaskConfig

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

ENV_PREFIX = "BATTERIES_"
_MISSING: t.Any = object()
logger = logging.getLogger("batteries.config")


class ConfigError(ValueError):
    """A configuration value has the wrong type or shape."""


@dataclass(frozen=True)
class Setting:
    """One configuration key: its default, the types it accepts and what it means.

    ``default`` may be a callable taking the app (for defaults that depend on it, such as a path
    in the instance folder); such defaults are never written into ``app.config``.
    """

    key: str
    default: t.Any
    types: tuple[type, ...]
    help: str
    write: bool = True
    #: how the default reads in the docs when it is computed (e.g. "<instance>/app.sqlite")
    shown: str | None = None

    def get(self, app: Flask) -> t.Any:
        """This key's value in ``app.config``, else its default (computed for ``app`` if needed).

        The one way a battery reads its config: ``UPLOAD_FOLDER.get(app)``; no literal default
        stands at a call site.
        """
        found = app.config.get(self.key, _MISSING)
        if found is _MISSING:
            return self.default_for(app)
        return found

    def default_for(self, app: Flask) -> t.Any:
        if callable(self.default):
            return self.default(app)
        return self.default

    @property
    def writes_default(self) -> bool:
        return self.write and not callable(self.default)

    def check(self, value: t.Any, source: str) -> t.Any:
        """Return ``value`` if its type is accepted, else raise :class:`ConfigError`."""
        if isinstance(value, bool) and bool not in self.types and int in self.types:
            raise ConfigError(_type_message(source, self, value))
        if isinstance(value, self.types):
            return value
        # JSON gives lists where sets or tuples are wanted: accept and convert.
        if isinstance(value, list):
            for wanted in (set, frozenset, tuple):
                if wanted in self.types:
                    return wanted(value)
        if isinstance(value, int) and not isinstance(value, bool) and float in self.types:
            return float(value)
        raise ConfigError(_type_message(source, self, value))


_TYPE_WORDS = {
    int: "an integer",
    float: "a number",
    str: "a string",
    bool: "true or false",
    dict: "a JSON object",
    list: "a JSON list",
    set: "a JSON list",
    frozenset: "a JSON list",
    tuple: "a JSON list",
    type(None): "null",
}


def _type_message(source: str, setting: Setting, value: t.Any) -> str:
    wanted = " or ".join(dict.fromkeys(_TYPE_WORDS.get(tp, tp.__name__) for tp in setting.types))
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{source} must be {wanted} ({setting.help}); got {shown}."


@dataclass
class Registry:
    """Every key Batteries knows, by name."""

    settings: dict[str, Setting] = field(default_factory=dict)

    @classmethod
    def collect(cls, *groups: t.Iterable[Setting]) -> Registry:
        registry = cls()
        for group in groups:
            for setting in group:
                if setting.key in registry.settings:
                    raise ValueError(f"config key {setting.key} is declared twice")
                registry.settings[setting.key] = setting
        return registry

    def __iter__(self) -> t.Iterator[Setting]:
        return iter(self.settings.values())

    def __contains__(self, key: object) -> bool:
        return key in self.settings

    def __getitem__(self, key: str) -> Setting:
        return self.settings[key]

    def defaults(self) -> dict[str, t.Any]:
        """The defaults that are written into ``default_config``."""
        return {s.key: s.default for s in self if s.writes_default}


# Flask's own keys whose type we can check when they come from the environment.
FLASK_SETTINGS: tuple[Setting, ...] = (
    Setting("DEBUG", None, (bool, type(None)), "debug mode", write=False),
    Setting("TESTING", False, (bool,), "testing mode", write=False),
    Setting("SECRET_KEY", None, (str, bytes, type(None)), "key that signs sessions", write=False),
    Setting(
        "SECRET_KEY_FALLBACKS", None, (list, type(None)), "old keys still accepted", write=False
    ),
    Setting("SERVER_NAME", None, (str, type(None)), "host and port of the app", write=False),
    Setting("APPLICATION_ROOT", "/", (str,), "path the app is mounted at", write=False),
    Setting(
        "PREFERRED_URL_SCHEME", "http", (str,), "scheme for external URLs", write=False
    ),
    Setting(
        "MAX_CONTENT_LENGTH",
        16 * 1024 * 1024,
        (int, type(None)),
        "largest request body in bytes, 413 above it",
    ),
    Setting("MAX_FORM_MEMORY_SIZE", 500_000, (int, type(None)), "largest form field", write=False),
    Setting("MAX_FORM_PARTS", 1_000, (int, type(None)), "most multipart parts", write=False),
    Setting("SESSION_COOKIE_NAME", "session", (str,), "session cookie name", write=False),
    Setting("SESSION_COOKIE_SECURE", False, (bool,), "send the session cookie over HTTPS only", write=False),
    Setting("SESSION_COOKIE_HTTPONLY", True, (bool,), "hide the session cookie from JS", write=False),
    Setting(
        "SESSION_COOKIE_SAMESITE",
        "Lax",
        (str, type(None)),
        "SameSite of the session cookie",
    ),
    Setting(
        "SEND_FILE_MAX_AGE_DEFAULT", None, (int, type(None)), "cache max-age of files", write=False
    ),
    Setting("TRUSTED_HOSTS", None, (list, type(None)), "hosts the app answers", write=False),
    Setting("PROPAGATE_EXCEPTIONS", None, (bool, type(None)), "re-raise errors", write=False),
    Setting("TEMPLATES_AUTO_RELOAD", None, (bool, type(None)), "reload templates", write=False),
)


def decode_env_value(raw: str) -> t.Any:
    """Decode an environment value the way ``Config.from_prefixed_env`` does."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def load_layers(app: Flask, registry: Registry, environ: t.Mapping[str, str] | None = None) -> None:
    """Apply ``instance/config.py`` and ``BATTERIES_*`` variables on top of the defaults.

    A value of the wrong type for a known key raises :class:`ConfigError` naming the file or
    the variable and the type it wants, at construction, not at the first request.
    """
    config = app.config
    instance_file = os.path.join(app.instance_path, "config.py")
    if os.path.isfile(instance_file):
        before = dict(config)
        config.from_pyfile(instance_file)
        changed = [k for k, v in config.items() if k not in before or before[k] is not v]
        for key in changed:
            if key in registry:
                config[key] = registry[key].check(config[key], f"{key} in {instance_file}")
        for key, close in typos(changed, registry):
            logger.warning(
                "Unknown config key %s in %s: did you mean %s?", key, instance_file, close
            )

    environ = os.environ if environ is None else environ
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX:
            continue
        key = name[len(ENV_PREFIX) :]
        value = decode_env_value(environ[name])
        if "__" in key:
            # FOO__bar=1 sets config["FOO"]["bar"], creating dicts on the way.
            head, *parts = key.split("__")
            current = config.setdefault(head, {})
            if not isinstance(current, dict):
                raise ConfigError(
                    f"{name} reaches into {head}, but {head} is {type(current).__name__}, "
                    "not a dict."
                )
            for part in parts[:-1]:
                current = current.setdefault(part, {})
            current[parts[-1]] = value
            continue
        if key in registry:
            value = registry[key].check(value, f"The environment variable {name}")
        else:
            for _, close in typos((key,), registry):
                logger.warning(
                    "Unknown config key in the environment variable %s: did you mean %s%s?",
                    name,
                    ENV_PREFIX,
                    close,
                )
        config[key] = value


def value(app: Flask, setting: Setting) -> t.Any:
    """``setting.get(app)`` (kept for callers written before :meth:`Setting.get`)."""
    return setting.get(app)


class Config(FlaskConfig):
    """Flask's ``Config``, where ``setdefault`` sees Batteries' defaults as not set.

    Batteries writes its defaults into ``default_config`` (so ``app.config["LOGIN_VIEW"]``
    reads as documented), which would make ``app.config.setdefault("CSRF_PROTECT_ALL", True)``
    a silent no-op. This class remembers which keys were set by anyone but the defaults
    (``config[k] = v``, ``update``, ``from_pyfile``/``from_object``/``from_mapping``, the
    environment): ``setdefault`` on a key still holding Batteries' default sets it, as a user
    expects; on every other key it is ``dict.setdefault``.
    """

    #: keys whose value is Batteries' default until something sets them (set by ``Batteries``)
    batteries_defaults: t.ClassVar[frozenset[str]] = frozenset()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.explicit: set[str] = set()

    def __setitem__(self, key: str, value: t.Any) -> None:
        self.explicit.add(key)
        super().__setitem__(key, value)

    def update(self, *args: t.Any, **kwargs: t.Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: str, default: t.Any = None) -> t.Any:
        if key in self.batteries_defaults and key not in self.explicit:
            self[key] = default
            return default
        return super().setdefault(key, default)


def closest_known(key: str, known: t.Collection[str]) -> str | None:
    """The known key ``key`` is most likely a typo of, or None when nothing is close.

    A key that matches no known key closely is someone else's (the app's own, another
    extension's) and is not reported: only near misses such as ``DATABSE_URL`` are.
    """
    if key in known or not key.isupper():
        return None
    found = difflib.get_close_matches(key, known, n=1, cutoff=0.85)
    return found[0] if found else None


def known_keys(registry: Registry) -> frozenset[str]:
    """Flask's keys and every key of the registry."""
    from flask import Flask

    return frozenset(Flask.default_config) | frozenset(registry.settings)


def typos(keys: t.Iterable[str], registry: Registry) -> list[tuple[str, str]]:
    """``(key, closest known key)`` for each of ``keys`` that looks like a misspelling."""
    known = known_keys(registry)
    found = []
    for key in keys:
        close = closest_known(key, known)
        if close is not None:
            found.append((key, close))
    return found

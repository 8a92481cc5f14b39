"""A missing driver or a mistyped URL scheme names the config key and the extra (#18)."""

from __future__ import annotations

import builtins
import sys

import pytest

from batteries.drivers import (
    MissingDriver,
    UnknownURL,
    check_database_url,
    check_service_url,
    mask,
)


@pytest.fixture
def without(monkeypatch):
    """Make the named top-level modules fail to import, as if they were not installed."""

    hidden: set[str] = set()
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.split(".")[0] in hidden:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    def hide(*names: str) -> None:
        hidden.update(names)
        for loaded in list(sys.modules):
            if loaded.split(".")[0] in names:
                monkeypatch.delitem(sys.modules, loaded)
        import importlib.util

        real_find = importlib.util.find_spec
        monkeypatch.setattr(
            "batteries.drivers.find_spec",
            lambda n, *a: None if n.split(".")[0] in hidden else real_find(n, *a),
        )

    monkeypatch.setattr(builtins, "__import__", fake_import)
    return hide


def test_mask_hides_the_password():
    assert mask("postgresql://app:s3cret@db/app") == "postgresql://app:***@db/app"
    assert mask("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_installed_drivers_pass():
    check_database_url("sqlite:///x.db", "DATABASE_URL")
    check_database_url("postgresql+psycopg://u@h/d", "DATABASE_URL")
    check_database_url("mysql+pymysql://u@h/d", "DATABASE_URL")
    check_service_url("redis://127.0.0.1:6379/0", "CACHE_URL")
    check_service_url("amqp://guest@127.0.0.1//", "CELERY['broker_url']")


def test_scheme_typo_names_key_and_closest():
    with pytest.raises(UnknownURL) as info:
        check_database_url("postgress://app:pw@db/app", "DATABASE_URL")
    message = str(info.value)
    assert "DATABASE_URL = postgress://app:***@db/app" in message
    assert "Did you mean postgresql://?" in message


def test_missing_postgres_driver_names_extra(without):
    without("psycopg")
    with pytest.raises(MissingDriver) as info:
        check_database_url("postgresql+psycopg://app@db/app", "DATABASE_URL")
    message = str(info.value)
    assert "DATABASE_URL" in message and "'psycopg'" in message
    assert "pip install 'batteries[postgres]'" in message


def test_missing_mysqldb_names_mysql_extra(without):
    without("MySQLdb")
    with pytest.raises(MissingDriver) as info:
        check_database_url("mysql+mysqldb://root@h/d", "DATABASE_URL")
    assert "pip install 'batteries[mysql]'" in str(info.value)


def test_missing_redis_names_cache_key(without):
    without("redis")
    with pytest.raises(MissingDriver) as info:
        check_service_url("redis://127.0.0.1:6379/0", "CACHE_URL")
    assert "CACHE_URL" in str(info.value)
    assert "pip install 'batteries[redis]'" in str(info.value)


def test_unknown_service_scheme(without):
    with pytest.raises(UnknownURL) as info:
        check_service_url("reddis://h", "RATELIMIT_URL", known=("memory", "sqlite"))
    assert "Did you mean redis://?" in str(info.value)
    check_service_url("memory:", "RATELIMIT_URL", known=("memory", "sqlite"))

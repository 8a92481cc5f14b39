"""The production config, secure defaults and ``batteries check --deploy`` (the headers are in
test_headers.py)."""

from __future__ import annotations

import os
import re

import pytest
from _secured import secured_routes
from flask import Flask
from flask.cli import ScriptInfo

from batteries import Batteries, checks, security
from batteries.cli import cli
from batteries.security import PRODUCTION

STRONG_KEY = "f3b1c1f6a9e04d7c8b2a5e6d9c0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f"


# -- secure defaults ---------------------------------------------------------------------------


def test_session_cookie_defaults(secured: Batteries) -> None:
    response = secured.test_client().post("/login")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # Flask's default, kept for drop-in; PRODUCTION turns it on


def test_production_config(secured: Batteries) -> None:
    secured.config.update(PRODUCTION)
    client = secured.test_client()
    response = client.get("/visit", base_url="https://localhost")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    # CSRF_PROTECT_ALL: a cross-site POST without a token is refused, with the headers on
    refused = client.post(
        "/login", base_url="https://localhost", headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert refused.status_code in (400, 403)
    assert refused.headers["X-Content-Type-Options"] == "nosniff"


def test_no_default_secret_key(tmp_path) -> None:
    app = Batteries("nokey", root_path=str(tmp_path))
    assert app.secret_key is None
    assert app.config["SECRET_KEY"] is None
    secured_routes(app)
    app.config["TESTING"] = True
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        app.test_client().post("/login")


def test_only_allowed_flask_defaults_change() -> None:
    changed = {
        key
        for key, value in Flask.default_config.items()
        if Batteries.default_config.get(key) != value
    }
    assert changed <= {"MAX_CONTENT_LENGTH", "SESSION_COOKIE_SAMESITE"}
    assert Batteries.default_config["SECURITY_HEADERS"] is False


# -- batteries check ---------------------------------------------------------------------------


def run_check(app: Flask, *args: str):
    from click.testing import CliRunner

    return CliRunner().invoke(cli, ["check", *args], obj=ScriptInfo(create_app=lambda: app))


def ids(output: str) -> set[str]:
    return set(re.findall(r"batteries\.[EW]\d{3} [A-Z_\[\]0-9a-z']+", output))


def production_app(tmp_path) -> Batteries:
    app = Batteries("prod", root_path=str(tmp_path), instance_path=str(tmp_path / "instance"))
    app.config.update(PRODUCTION, SECRET_KEY=STRONG_KEY, TRUSTED_HOSTS=["example.com"])
    return app


def test_check_deploy_on_a_drop_in_app(tmp_path) -> None:
    app = Batteries("drop", root_path=str(tmp_path))
    result = run_check(app, "--deploy")
    assert result.exit_code == 1, result.output
    found = ids(result.output)
    for expected in (
        "batteries.E001 SECRET_KEY",
        "batteries.E005 SESSION_COOKIE_SECURE",
        "batteries.E008 TRUSTED_HOSTS",
        "batteries.W009 SECURITY_HEADERS",
        "batteries.W011 CSRF_PROTECT_ALL",
        "batteries.W013 PREFERRED_URL_SCHEME",
    ):
        assert expected in found, result.output
    assert "is not set" in result.output
    assert "secrets.token_hex" in result.output  # says how to fix it
    assert "batteries deploy check:" in result.output


def test_check_deploy_lists_every_insecure_setting(tmp_path) -> None:
    app = production_app(tmp_path)
    app.static_folder = str(tmp_path / "static")
    app.config.update(
        SECRET_KEY="changeme",
        SECRET_KEY_FALLBACKS=["short", STRONG_KEY],
        DEBUG=True,
        TESTING=True,
        SESSION_COOKIE_SECURE=False,
        SESSION_COOKIE_HTTPONLY=False,
        SESSION_COOKIE_SAMESITE=None,
        TRUSTED_HOSTS=[],
        SECURITY_HEADERS={"X-Content-Type-Options": None},
        CSRF_PROTECT_ALL=False,
        MAX_CONTENT_LENGTH=None,
        PREFERRED_URL_SCHEME="http",
        CELERY={"accept_content": ["json", "pickle"], "task_serializer": "pickle"},
        UPLOAD_FOLDER=str(tmp_path / "static" / "uploads"),
    )
    result = run_check(app, "--deploy")
    assert result.exit_code == 1
    assert ids(result.output) >= {
        "batteries.E001 SECRET_KEY",
        "batteries.E002 SECRET_KEY_FALLBACKS[0]",
        "batteries.E003 DEBUG",
        "batteries.W004 TESTING",
        "batteries.E005 SESSION_COOKIE_SECURE",
        "batteries.E006 SESSION_COOKIE_HTTPONLY",
        "batteries.W007 SESSION_COOKIE_SAMESITE",
        "batteries.E008 TRUSTED_HOSTS",
        "batteries.W009 SECURITY_HEADERS",
        "batteries.W012 MAX_CONTENT_LENGTH",
        "batteries.W013 PREFERRED_URL_SCHEME",
        "batteries.E014 CELERY['accept_content']",
        "batteries.E014 CELERY['task_serializer']",
        "batteries.E015 UPLOAD_FOLDER",
    }
    assert "SECRET_KEY_FALLBACKS[1]" not in result.output  # the strong one passes
    assert "drops X-Content-Type-Options" in result.output
    assert "a well-known placeholder" in result.output


def test_check_deploy_clean_in_production_config(tmp_path) -> None:
    result = run_check(production_app(tmp_path), "--deploy", "--fail-level", "warning")
    assert result.exit_code == 0, result.output
    assert "0 errors, 0 warnings" in result.output


def test_check_csrf_disabled_is_an_error(tmp_path) -> None:
    app = production_app(tmp_path)
    app.config["CSRF_ENABLED"] = False
    result = run_check(app, "--deploy")
    assert result.exit_code == 1
    assert "batteries.E010 CSRF_ENABLED" in ids(result.output)


def test_check_warnings_fail_only_on_request(tmp_path) -> None:
    app = production_app(tmp_path)
    app.config["MAX_CONTENT_LENGTH"] = None
    assert run_check(app, "--deploy").exit_code == 0
    assert run_check(app, "--deploy", "--fail-level", "warning").exit_code == 1


def test_check_refuses_the_development_key(tmp_path) -> None:
    app = production_app(tmp_path)
    app.config.update(SECRET_KEY=None, DEBUG=True, TESTING=False)
    with app.test_request_context():  # debug without a key: a development key is made
        app.session_interface.get_signing_serializer(app)
    dev_key = app.config["SECRET_KEY"]
    assert dev_key and os.path.exists(os.path.join(app.instance_path, ".secret_key"))
    app.config["DEBUG"] = False
    result = run_check(app, "--deploy")
    assert result.exit_code == 1
    assert "development key" in result.output


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (None, "not set"),
        ("", "not set"),
        ("dev", "placeholder"),
        ("please-change-me-" + "x" * 40, "placeholder"),
        ("a" * 64, "repetitive"),
        ("0123456789abcdef", "too short"),
        (b"\x01" * 8, "too short"),
    ],
)
def test_key_weakness(key, reason: str) -> None:
    assert reason in security.key_weakness(key)


def test_key_weakness_accepts_random_keys() -> None:
    import secrets

    assert security.key_weakness(secrets.token_hex()) is None
    assert security.key_weakness(secrets.token_bytes(32) + b"abcdefgh") is None


def test_check_without_deploy_reports_config_types(tmp_path) -> None:
    app = production_app(tmp_path)
    app.config["MAX_CONTENT_LENGTH"] = "16M"
    result = run_check(app)
    assert "batteries.W000 MAX_CONTENT_LENGTH" in ids(result.output)
    assert "SESSION_COOKIE_SECURE" not in result.output  # deploy checks only with --deploy
    app.config["MAX_CONTENT_LENGTH"] = 1024
    result = run_check(app)
    assert result.exit_code == 0
    assert "0 errors, 0 warnings" in result.output


def test_check_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    real = metadata.version
    monkeypatch.setattr(
        metadata, "version", lambda name: "3.1.0" if name == "werkzeug" else real(name)
    )
    found = checks.old_versions()
    assert [key for key, _ in found] == ["werkzeug"]
    assert "3.1.8" in found[0][1]


# -- auth defaults (verified here as part of the secure-defaults list) -------------------------


class _User:
    def __init__(self, uid: str) -> None:
        self.uid = uid

    def get_id(self) -> str:
        return self.uid


def _auth_app(app: Batteries) -> Batteries:
    from batteries import login_user

    app.user_loader(lambda uid: _User(uid))

    @app.route("/remember")
    def remember():
        login_user(_User("7"), remember=True)
        return "in"

    return app


@pytest.mark.parametrize("production", [False, True])
def test_remember_cookie_flags(app: Batteries, production: bool) -> None:
    _auth_app(app)
    if production:
        app.config.update(PRODUCTION)
    response = app.test_client().get("/remember", base_url="https://localhost")
    cookies = response.headers.getlist("Set-Cookie")
    assert len(cookies) == 2  # the session and the remember cookie
    for cookie in cookies:
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        assert ("Secure" in cookie) is production  # Secure follows SESSION_COOKIE_SECURE


def test_password_hashing_is_scrypt() -> None:
    from batteries.auth import check_password, hash_password

    stored = hash_password("correct horse")
    assert stored.startswith("scrypt:32768:8:1$")
    assert check_password(stored, "correct horse")
    assert not check_password(stored, "wrong")
    assert hash_password("correct horse") != stored  # salted
    for malformed in ("scrypt:abc$x$y", "md5$x$y", "", "plain"):
        assert check_password(malformed, "correct horse") is False  # never raises


def test_check_imports_lazy_views(tmp_path) -> None:
    app = production_app(tmp_path)
    app.lazy_url("no_such_module_for_check.views.index", "/lazy")
    result = run_check(app)
    assert result.exit_code == 1
    assert "batteries.E017 lazy view 'index'" in result.output
    assert "no_such_module_for_check" in result.output


def test_check_deploy_passes_on_the_blog_example_in_production_config(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blog_dir = os.path.join(os.path.dirname(__file__), os.pardir, "examples", "blog")
    monkeypatch.syspath_prepend(os.path.abspath(blog_dir))
    import blog

    config = {
        **PRODUCTION,
        "SECRET_KEY": STRONG_KEY,
        "TRUSTED_HOSTS": ["blog.example.com"],
        "DATABASE_URL": f"sqlite:///{tmp_path / 'blog.sqlite'}",
    }
    app = blog.create_app(config)
    behind = run_check(app, "--deploy", "--fail-level", "warning")
    assert "batteries.W031" in behind.output  # a fresh database: the blog's migrations wait
    from batteries import migrations

    migrations.upgrade(app)
    result = run_check(app, "--deploy", "--fail-level", "warning")
    assert result.exit_code == 0, result.output
    assert "0 errors, 0 warnings" in result.output
    # as shipped (development config) it is reported
    dev = run_check(blog.create_app({"DATABASE_URL": config["DATABASE_URL"]}), "--deploy")
    assert dev.exit_code == 1
    assert "batteries.E001 SECRET_KEY" in ids(dev.output)

"""Config layering: Batteries defaults < instance/config.py < BATTERIES_* env < code."""

from __future__ import annotations

import pytest

from batteries import Batteries
from batteries.app import REGISTRY
from batteries.config import ConfigError, Setting, decode_env_value, load_layers


def make_app(tmp_path, **kwargs):
    return Batteries(
        "cfg_app", root_path=str(tmp_path), instance_path=str(tmp_path / "instance"), **kwargs
    )


def write_instance_config(tmp_path, text):
    (tmp_path / "instance").mkdir(exist_ok=True)
    (tmp_path / "instance" / "config.py").write_text(text)


def test_batteries_defaults(tmp_path):
    app = make_app(tmp_path)
    assert app.config["MAX_CONTENT_LENGTH"] == 16 * 1024 * 1024
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["SECRET_KEY"] is None
    # Flask's other defaults are untouched.
    assert app.config["SEND_FILE_MAX_AGE_DEFAULT"] is None
    assert app.config["TRUSTED_HOSTS"] is None
    assert app.config["SESSION_COOKIE_SECURE"] is False


def test_no_foreign_extension_keys_written(tmp_path):
    app = make_app(tmp_path)
    for key in app.config:
        assert not key.startswith(("CACHE_", "SQLALCHEMY_", "WTF_")), key


def test_instance_config_beats_defaults(tmp_path):
    write_instance_config(tmp_path, "MAX_CONTENT_LENGTH = 1024\nGREETING = 'hi'\n")
    app = make_app(tmp_path)
    assert app.config["MAX_CONTENT_LENGTH"] == 1024
    assert app.config["GREETING"] == "hi"


def test_env_beats_instance_config(tmp_path, monkeypatch):
    write_instance_config(tmp_path, "MAX_CONTENT_LENGTH = 1024\n")
    monkeypatch.setenv("BATTERIES_MAX_CONTENT_LENGTH", "2048")
    monkeypatch.setenv("BATTERIES_SECRET_KEY", "from-env")
    monkeypatch.setenv("BATTERIES_FEATURE_FLAGS", '["a", "b"]')
    monkeypatch.setenv("BATTERIES_PLAIN", "not json")
    app = make_app(tmp_path)
    assert app.config["MAX_CONTENT_LENGTH"] == 2048
    assert app.config["SECRET_KEY"] == "from-env"
    assert app.config["FEATURE_FLAGS"] == ["a", "b"]
    assert app.config["PLAIN"] == "not json"


def test_code_beats_env(tmp_path, monkeypatch):
    monkeypatch.setenv("BATTERIES_MAX_CONTENT_LENGTH", "2048")
    app = make_app(tmp_path)
    app.config["MAX_CONTENT_LENGTH"] = 10
    assert app.config["MAX_CONTENT_LENGTH"] == 10


def test_env_nested_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("BATTERIES_CELERY__broker_url", '"redis://127.0.0.1:6379/0"')
    monkeypatch.setenv("BATTERIES_CELERY__beat__interval", "5")
    app = make_app(tmp_path)
    assert app.config["CELERY"] == {
        "broker_url": "redis://127.0.0.1:6379/0",
        "beat": {"interval": 5},
    }


def test_env_wrong_type_names_variable_and_type(tmp_path, monkeypatch):
    monkeypatch.setenv("BATTERIES_MAX_CONTENT_LENGTH", "abc")
    with pytest.raises(ConfigError) as info:
        make_app(tmp_path)
    message = str(info.value)
    assert "BATTERIES_MAX_CONTENT_LENGTH" in message
    assert "an integer" in message
    assert "'abc'" in message


def test_env_bool_is_not_an_int(tmp_path, monkeypatch):
    monkeypatch.setenv("BATTERIES_MAX_CONTENT_LENGTH", "true")
    with pytest.raises(ConfigError, match="an integer"):
        make_app(tmp_path)


def test_env_null_allowed_where_none_is(tmp_path, monkeypatch):
    monkeypatch.setenv("BATTERIES_MAX_CONTENT_LENGTH", "null")
    app = make_app(tmp_path)
    assert app.config["MAX_CONTENT_LENGTH"] is None


def test_env_nested_into_non_dict_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("BATTERIES_MAX_CONTENT_LENGTH__x", "1")
    with pytest.raises(ConfigError, match="MAX_CONTENT_LENGTH"):
        make_app(tmp_path)


def test_instance_config_wrong_type(tmp_path):
    write_instance_config(tmp_path, "SESSION_COOKIE_SECURE = 'yes'\n")
    with pytest.raises(ConfigError) as info:
        make_app(tmp_path)
    assert "SESSION_COOKIE_SECURE" in str(info.value)
    assert "config.py" in str(info.value)


def test_config_after_construction_is_used(tmp_path):
    app = make_app(tmp_path)
    app.config["MAX_CONTENT_LENGTH"] = 10

    @app.post("/")
    def index():
        from flask import request

        return request.get_data()

    response = app.test_client().post("/", data=b"x" * 11)
    assert response.status_code == 413


def test_unrelated_env_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("FLASK_SECRET_KEY", "flask-prefixed")
    monkeypatch.setenv("BATTERIES_", "empty name")
    app = make_app(tmp_path)
    assert app.config["SECRET_KEY"] is None


def test_registry_is_consistent():
    keys = [s.key for s in REGISTRY]
    assert len(keys) == len(set(keys))
    for setting in REGISTRY:
        assert setting.key.isupper() or "_" in setting.key
        assert setting.help
        if setting.writes_default:
            setting.check(setting.default, setting.key)  # the default has an accepted type
        if setting.key.startswith(("CACHE_", "SQLALCHEMY_", "WTF_")):
            assert not setting.write, f"{setting.key} must not be written into app.config"


def test_setting_check_converts_lists():
    setting = Setting("X", frozenset(), (frozenset,), "things")
    assert setting.check(["a", "b"], "X") == frozenset({"a", "b"})
    assert Setting("Y", 1.0, (float,), "n").check(3, "Y") == 3.0


def test_load_layers_with_given_environ(tmp_path):
    app = make_app(tmp_path)
    load_layers(app, REGISTRY, {"BATTERIES_TESTING": "true", "OTHER": "1"})
    assert app.testing is True
    assert "OTHER" not in app.config


@pytest.mark.parametrize(
    ("raw", "value"),
    [("1", 1), ("1.5", 1.5), ("true", True), ('{"a": 1}', {"a": 1}), ("text", "text")],
)
def test_decode_env_value(raw, value):
    assert decode_env_value(raw) == value


# -- typos and setdefault (#18) ---------------------------------------------------------------


def test_setdefault_sets_a_key_still_at_batteries_default(tmp_path):
    app = make_app(tmp_path)
    assert app.config["CSRF_PROTECT_ALL"] is False
    assert app.config.setdefault("CSRF_PROTECT_ALL", True) is True
    assert app.config["CSRF_PROTECT_ALL"] is True
    # once set by anyone, setdefault leaves it alone, as dict.setdefault does
    assert app.config.setdefault("CSRF_PROTECT_ALL", False) is True
    app.config["LOGIN_VIEW"] = "users.sign_in"
    assert app.config.setdefault("LOGIN_VIEW", "auth.login") == "users.sign_in"
    # Flask's own keys behave as on Flask (pre-filled there too)
    assert app.config.setdefault("MAX_CONTENT_LENGTH", 5) == 16 * 1024 * 1024


def test_setdefault_respects_instance_config_and_update(tmp_path):
    write_instance_config(tmp_path, "CSRF_PROTECT_ALL = False\n")
    app = make_app(tmp_path)
    assert app.config.setdefault("CSRF_PROTECT_ALL", True) is False
    app.config.update(LOGIN_VIEW="a.b")
    assert app.config.setdefault("LOGIN_VIEW", "c.d") == "a.b"


def test_typo_in_instance_config_is_logged(tmp_path, caplog):
    write_instance_config(tmp_path, "CSRF_PROTECT_AL = True\nMY_SETTING = 1\n")
    with caplog.at_level("WARNING", logger="batteries.config"):
        make_app(tmp_path)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1
    assert "CSRF_PROTECT_AL" in messages[0] and "did you mean CSRF_PROTECT_ALL" in messages[0]


def test_typo_in_environment_is_logged(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("BATTERIES_CACHE_TYP", '"simple"')
    with caplog.at_level("WARNING", logger="batteries.config"):
        make_app(tmp_path)
    assert any(
        "BATTERIES_CACHE_TYP" in r.getMessage() and "BATTERIES_CACHE_TYPE" in r.getMessage()
        for r in caplog.records
    )


def test_check_reports_typos_set_in_code(tmp_path):
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from batteries.cli import cli

    app = make_app(tmp_path)
    app.config["DATABSE_URL"] = "sqlite://"
    app.config["SOMETHING_OF_MY_OWN"] = 1
    result = CliRunner().invoke(cli, ["check"], obj=ScriptInfo(create_app=lambda: app))
    assert "batteries.W018 DATABSE_URL" in result.output
    assert "did you mean DATABASE_URL" in result.output
    assert "SOMETHING_OF_MY_OWN" not in result.output


def test_closest_known_ignores_foreign_keys():
    from batteries.config import closest_known, known_keys

    known = known_keys(REGISTRY)
    assert closest_known("SQLALCHEMY_ECHO", known) is None
    assert closest_known("MAIL_SERVER", known) is None
    assert closest_known("SECRET_KEY", known) is None
    assert closest_known("SECRET_KYE", known) == "SECRET_KEY"

"""``batteries check``: checks as data, each battery contributing its own (#12, #13)."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo

from batteries import Batteries
from batteries.app import BATTERIES, DEPLOY_CHECKS
from batteries.checks import Check, Problem, run
from batteries.cli import cli
from batteries.security import PRODUCTION

STRONG_KEY = "k3y-" + "0123456789abcdefghijklmnopqrstuvwxyz"


def make_app(tmp_path, **config):
    app = Batteries("chk", root_path=str(tmp_path), instance_path=str(tmp_path / "instance"))
    app.config.update(PRODUCTION, SECRET_KEY=STRONG_KEY, TRUSTED_HOSTS=["example.com"])
    app.config.update(config)
    return app


def deploy_ids(app) -> dict[str, list[Problem]]:
    found: dict[str, list[Problem]] = {}
    for problem in run(app, DEPLOY_CHECKS):
        found.setdefault(problem.id, []).append(problem)
    return found


def test_every_battery_exports_the_shape():
    for battery in BATTERIES:
        assert isinstance(battery.CONFIG, tuple), battery.__name__
        assert callable(battery.init_app), battery.__name__
        assert all(isinstance(c, Check) for c in battery.DEPLOY_CHECKS), battery.__name__


def test_check_ids_are_unique_per_key():
    seen = {(c.id, c.key) for c in DEPLOY_CHECKS}
    assert len(seen) == len(DEPLOY_CHECKS)


def test_check_yields_messages_and_keyed_messages():
    check = Check(
        "t.W1", "warning", "K", "fix it", lambda app: ["one", ("K[1]", "two")]
    )
    problems = check.run(object())  # type: ignore[arg-type]
    assert [(p.key, p.message, p.hint) for p in problems] == [
        ("K", "one", "fix it"),
        ("K[1]", "two", "fix it"),
    ]
    assert Check("t.W2", "warning", "K", "", lambda app: None).run(object()) == []  # type: ignore[arg-type]


def test_production_app_passes(tmp_path):
    assert deploy_ids(make_app(tmp_path)) == {}


@pytest.mark.parametrize(
    "accepted",
    [
        ["json", "pickle"],
        ["application/x-python-serialize"],
        ["application/json", "application/x-yaml"],
        "Pickle",
    ],
)
def test_pickle_and_yaml_found_by_name_or_mime_type(tmp_path, accepted):
    app = make_app(tmp_path, CELERY={"accept_content": accepted})
    found = deploy_ids(app)
    assert [p.key for p in found["batteries.E014"]] == ["CELERY['accept_content']"]


def test_unsafe_serializer_found(tmp_path):
    app = make_app(tmp_path, CELERY={"task_serializer": "application/x-python-serialize"})
    assert [p.key for p in deploy_ids(app)["batteries.E014"]] == ["CELERY['task_serializer']"]


def test_relative_upload_folder_is_resolved_like_save_upload(tmp_path):
    """save_upload() puts a relative UPLOAD_FOLDER in the instance folder: so does the check."""
    (tmp_path / "static").mkdir()
    # relative to root_path this would be the static folder; save_upload reads it from the
    # instance folder, so nothing is exposed
    app = make_app(tmp_path, UPLOAD_FOLDER="static")
    assert "batteries.E015" not in deploy_ids(app)
    # an instance folder inside the static folder is exposed, whatever the spelling
    app = Batteries(
        "chk", root_path=str(tmp_path), instance_path=str(tmp_path / "static" / "instance")
    )
    app.config.update(PRODUCTION, SECRET_KEY=STRONG_KEY, TRUSTED_HOSTS=["example.com"])
    app.config["UPLOAD_FOLDER"] = "uploads"
    found = deploy_ids(app)
    # the default cache folder is in that instance folder too
    assert [p.key for p in found["batteries.E015"]] == ["CACHE_DIR", "UPLOAD_FOLDER"]


def test_cache_dir_in_static_folder(tmp_path):
    (tmp_path / "static").mkdir()
    app = make_app(tmp_path, CACHE_DIR=os.path.join(str(tmp_path), "static", "cache"))
    assert [p.key for p in deploy_ids(app)["batteries.E015"]] == ["CACHE_DIR"]
    app.config["CACHE_TYPE"] = "null"
    assert "batteries.E015" not in deploy_ids(app)


def test_weak_fallback_key_is_named_by_index(tmp_path):
    app = make_app(tmp_path, SECRET_KEY_FALLBACKS=[STRONG_KEY, "changeme"])
    assert [p.key for p in deploy_ids(app)["batteries.E002"]] == ["SECRET_KEY_FALLBACKS[1]"]


def test_cli_prints_battery_checks(tmp_path):
    app = make_app(tmp_path, CSRF_PROTECT_ALL=False, SECURITY_HEADERS={"X-Frame-Options": None})
    result = CliRunner().invoke(
        cli, ["check", "--deploy"], obj=ScriptInfo(create_app=lambda: app)
    )
    assert result.exit_code == 0, result.output  # warnings only
    assert "batteries.W011 CSRF_PROTECT_ALL" in result.output
    assert "batteries.W009 SECURITY_HEADERS: drops X-Frame-Options" in result.output


def test_login_view_that_is_no_endpoint(tmp_path):
    from batteries import auth

    def problems(app):
        return run(app, auth.DEPLOY_CHECKS)

    app = Batteries("lv", root_path=str(tmp_path), instance_path=str(tmp_path / "instance"))
    assert problems(app) == []  # no login in use, the default untouched: silent

    @app.user_loader
    def load(user_id):
        return None

    [problem] = problems(app)
    assert problem.id == "batteries.E019" and "'auth.login'" in problem.message

    @app.route("/sign-in")
    def login():
        return "form"

    assert "did you mean 'login'?" in problems(app)[0].message
    app.config["LOGIN_VIEW"] = "login"
    assert problems(app) == []
    result = CliRunner().invoke(cli, ["check"], obj=ScriptInfo(create_app=lambda: app))
    assert "E019" not in result.output


def test_explicit_login_view_is_checked_without_a_loader_and_without_deploy(tmp_path):
    from batteries import auth

    app = Batteries("lv2", root_path=str(tmp_path), instance_path=str(tmp_path / "instance"))
    app.config["LOGIN_VIEW"] = "users.login"
    assert [p.key for p in run(app, auth.DEPLOY_CHECKS)] == ["LOGIN_VIEW"]
    for args in (["check"], ["check", "--deploy"]):
        result = CliRunner().invoke(cli, args, obj=ScriptInfo(create_app=lambda: app))
        assert result.exit_code == 1 and result.output.count("batteries.E019 LOGIN_VIEW") == 1

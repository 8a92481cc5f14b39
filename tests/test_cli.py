"""The ``batteries`` command line: Flask's CLI plus Batteries' groups."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import flask.cli
import pytest
from click.testing import CliRunner

from batteries.cli import cli

APP_PY = textwrap.dedent(
    """
    from batteries import Batteries

    app = Batteries(__name__)

    @app.route("/")
    def index():
        return "hello"
    """
)


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "app.py").write_text(APP_PY)
    # Flask's discovery imports "wsgi" then "app": another test's modules must not answer.
    for name in ("app", "wsgi"):
        sys.modules.pop(name, None)
    monkeypatch.setattr(
        sys,
        "path",
        [p for p in sys.path if not os.path.exists(os.path.join(p or ".", "wsgi.py"))],
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("app", None)
    sys.modules.pop("wsgi", None)


@pytest.fixture
def served(monkeypatch):
    calls = []

    def fake_run_simple(host, port, app, **kwargs):
        calls.append((host, port, app, kwargs))

    monkeypatch.setattr(flask.cli, "run_simple", fake_run_simple)
    return calls


def invoke(*args, env=None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_help_lists_commands():
    result = invoke("--help")
    assert result.exit_code == 0
    for name in ("run", "shell", "routes", "db", "worker", "beat", "cache", "new", "check"):
        assert f"  {name} " in result.output, name


def test_routes_finds_app_py(project):
    result = invoke("routes")
    assert result.exit_code == 0, result.output
    assert "index" in result.output


def test_app_option_and_factory(project):
    (project / "factory_mod.py").write_text(
        "from batteries import Batteries\n"
        "def create_app(name='x'):\n"
        "    app = Batteries(__name__)\n"
        "    app.add_url_rule('/' + name, name, lambda: name)\n"
        "    return app\n"
    )
    result = invoke("--app", "factory_mod:create_app('made')", "routes")
    assert result.exit_code == 0, result.output
    assert "/made" in result.output
    sys.modules.pop("factory_mod", None)


def test_run_refuses_without_secret_key(project, served):
    result = CliRunner().invoke(cli, ["run"])
    assert result.exit_code != 0
    assert "SECRET_KEY" in result.output
    assert "BATTERIES_SECRET_KEY" in result.output
    assert served == []


def test_run_starts_with_secret_key_from_env(project, served, monkeypatch):
    monkeypatch.setenv("BATTERIES_SECRET_KEY", "a-long-secret")
    result = invoke("run", "--port", "5123")
    assert result.exit_code == 0, result.output
    assert served and served[0][1] == 5123


def test_run_in_debug_does_not_need_a_key(project, served):
    result = invoke("--debug", "run", "--no-reload")
    assert result.exit_code == 0, result.output
    assert served


def test_dotenv_is_loaded(project, served, monkeypatch):
    monkeypatch.setenv("BATTERIES_SECRET_KEY", "placeholder")
    monkeypatch.delenv("BATTERIES_SECRET_KEY")  # restored to "unset" after the test
    (project / ".env").write_text("BATTERIES_SECRET_KEY=from-dotenv\n")
    result = invoke("run")
    assert result.exit_code == 0, result.output
    app = served[0][2]
    assert app.config["SECRET_KEY"] == "from-dotenv"


def test_console_script_and_module(project):
    for command in (
        [os.path.join(os.path.dirname(sys.executable), "batteries"), "--help"],
        [sys.executable, "-m", "batteries", "--help"],
    ):
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        assert "routes" in out and "worker" in out


def test_nothing_registered_under_flask():
    from importlib import metadata

    names = {ep.value for ep in metadata.entry_points(group="flask.commands")}
    assert not [n for n in names if n.startswith("batteries")]


# -- wording (#18) ---------------------------------------------------------------------------


def test_version_names_batteries():
    import batteries

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.splitlines()[0] == f"Batteries {batteries.__version__}"
    assert "Flask " in result.output and "Werkzeug " in result.output


def test_no_app_message_says_batteries(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("app", "wsgi"):
        sys.modules.pop(name, None)
    monkeypatch.delenv("FLASK_APP", raising=False)
    result = CliRunner().invoke(cli, ["routes"])
    assert result.exit_code != 0
    assert "'batteries --app'" in result.output
    assert "flask --app" not in result.output


def test_config_type_error_is_a_message_not_a_traceback(project, monkeypatch):
    monkeypatch.setenv("BATTERIES_MAX_CONTENT_LENGTH", "abc")
    result = CliRunner().invoke(cli, ["routes"])
    assert result.exit_code == 1
    assert "Configuration error: The environment variable BATTERIES_MAX_CONTENT_LENGTH" in (
        result.output
    )
    assert "Traceback" not in result.output


DB_APP_PY = textwrap.dedent(
    """
    import sqlalchemy as sa
    from batteries import Batteries, db

    app = Batteries(__name__)
    app.config["DATABASE_URL"] = {url!r}

    class Thing(db.Model):
        __tablename__ = "cli_thing"
        id = sa.Column(sa.Integer, primary_key=True)
    """
)


def test_mistyped_database_scheme_is_one_line(project):
    (project / "app.py").write_text(DB_APP_PY.format(url="postgress://app@127.0.0.1:1/x"))
    result = subprocess.run(
        [sys.executable, "-m", "batteries", "db", "init"], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: DATABASE_URL = postgress://app@127.0.0.1:1/x: 'postgress' is not a known URL "
        "scheme (sqlite, postgresql, mysql, mariadb, mssql, oracle). Did you mean postgresql://?"
    ]


def test_database_down_is_said_once(project):
    (project / "app.py").write_text(DB_APP_PY.format(url="postgresql://app@127.0.0.1:1/x"))
    result = subprocess.run(
        [sys.executable, "-m", "batteries", "db", "init"], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr.count("The database is unavailable") == 1, result.stderr
    assert "DATABASE_URL" in result.stderr

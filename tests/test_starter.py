"""``batteries new``: the generated project, and its own tests and lint passing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from batteries.cli import cli
from batteries.starter import StarterError, check_name, create_project


def test_creates_the_package(tmp_path):
    target = create_project("demo", tmp_path)
    for name in (
        "pyproject.toml",
        ".env.example",
        "README.md",
        "demo/__init__.py",
        "demo/models.py",
        "demo/forms.py",
        "demo/auth.py",
        "demo/main.py",
        "demo/tasks.py",
        "demo/templates/main/index.html",
        "demo/templates/auth/login.html",
        "tests/conftest.py",
        "tests/test_app.py",
        "tests/test_accounts.py",
        "demo/templates/mail/reset.txt",
        "demo/templates/auth/reset.html",
    ):
        assert (target / name).is_file(), name
    text = "".join(p.read_text() for p in target.rglob("*") if p.is_file())
    assert "__project__" not in text
    assert "def create_app(config" in (target / "demo/__init__.py").read_text()
    assert "CSRF_PROTECT_ALL=True" in (target / "demo/__init__.py").read_text()


def test_refuses_existing_folder(tmp_path):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "keep.txt").write_text("mine")
    with pytest.raises(StarterError, match="already exists"):
        create_project("demo", tmp_path)
    assert (tmp_path / "demo" / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize(
    "name", ["my-app", "1app", "", "class", "app name", "json", "flask", "tests", "défi", "../x"]
)
def test_refuses_bad_names(name):
    with pytest.raises(StarterError):
        check_name(name)


def test_command(tmp_path):
    result = CliRunner().invoke(cli, ["new", "blogdemo", "-d", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "blogdemo" / "blogdemo" / "__init__.py").is_file()
    again = CliRunner().invoke(cli, ["new", "blogdemo", "-d", str(tmp_path)])
    assert again.exit_code != 0
    assert "already exists" in again.output
    bad = CliRunner().invoke(cli, ["new", "my-app", "-d", str(tmp_path)])
    assert bad.exit_code != 0
    assert "not a valid Python package name" in bad.output


@pytest.mark.slow
def test_generated_project_passes_its_tests_and_ruff(tmp_path):
    target = create_project("demo", tmp_path)
    env_python = Path(sys.executable)
    tests = subprocess.run(
        [str(env_python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=target,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    lint = subprocess.run(
        [str(env_python), "-m", "ruff", "check", "."], cwd=target, capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr

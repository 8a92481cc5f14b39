"""``batteries new``: the generated project, and its own tests and lint passing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from batteries.cli import cli
from batteries.starter import (
    StarterError,
    batteries_requirement,
    check_name,
    create_project,
    next_commands,
    requirement_from_direct_url,
)


def read_toml(path: Path) -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads(path.read_text())


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
    assert "ERROR_PAGES=True" in (target / "demo/__init__.py").read_text()
    assert (target / "demo/templates/base.html").is_file()
    assert (target / "demo/templates/batteries/error.html").is_file()
    pyproject = read_toml(target / "pyproject.toml")
    assert pyproject["project"]["dependencies"] == [batteries_requirement()]
    assert pyproject["tool"]["hatch"]["metadata"]["allow-direct-references"] is True
    # The project's README gives the commands `batteries new` prints (tests/test_install.py
    # runs those) and names the files that exist.
    readme = (target / "README.md").read_text()
    for command in next_commands(target, "demo")[1:]:
        assert command in readme, command
    assert "`.env.example`" in readme and "`env.example`" not in readme
    assert "i18n extract" in readme and "i18n compile" in readme


def test_requirement_of_each_install_kind(tmp_path):
    folder = {"url": "file:///home/me/batteries", "dir_info": {}}
    assert requirement_from_direct_url(folder, "0.1.0") == "batteries @ file:///home/me/batteries"
    # An editable install: the checkout the running code comes from (the record can be stale).
    editable = {"url": "file:///old/place", "dir_info": {"editable": True}}
    assert requirement_from_direct_url(editable, "0.1.0", tmp_path) == (
        f"batteries @ {tmp_path.resolve().as_uri()}"
    )
    assert requirement_from_direct_url(editable, "0.1.0") == "batteries @ file:///old/place"
    wheel = {
        "url": "file:///w/dist/batteries-0.1.0-py3-none-any.whl",
        "archive_info": {"hashes": {"sha256": "00"}},
    }
    assert requirement_from_direct_url(wheel, "0.1.0") == (
        "batteries @ file:///w/dist/batteries-0.1.0-py3-none-any.whl"
    )
    git = {
        "url": "https://example.org/x/batteries.git",
        "vcs_info": {"vcs": "git", "commit_id": "a1b2c3", "requested_revision": "main"},
    }
    assert requirement_from_direct_url(git, "0.1.0") == (
        "batteries @ git+https://example.org/x/batteries.git@a1b2c3"
    )
    sub = {**git, "subdirectory": "py"}
    assert requirement_from_direct_url(sub, "0.1.0").endswith("@a1b2c3#subdirectory=py")
    assert requirement_from_direct_url(None, "1.4.2") == "batteries>=1.4"
    assert requirement_from_direct_url(None, "2.0.0rc1+local") == "batteries>=2.0"


def test_requirement_of_this_checkout():
    # This suite runs on an editable install of this checkout.
    here = Path(__file__).resolve().parents[1]
    assert batteries_requirement() == f"batteries @ {here.as_uri()}"


def test_requirement_option_and_printed_commands(tmp_path):
    spec = 'batteries @ git+https://example.org/x/batteries.git@v0.1 ; python_version >= "3.10"'
    result = CliRunner().invoke(cli, ["new", "mysite", "-d", str(tmp_path), "--requirement", spec])
    assert result.exit_code == 0, result.output
    pyproject = read_toml(tmp_path / "mysite" / "pyproject.toml")
    assert pyproject["project"]["dependencies"] == [spec]
    assert f"It requires {spec}" in result.output
    lines = result.output.splitlines()
    commands = [line.strip() for line in lines[lines.index("Next:") + 1 :]]
    assert commands == [
        f"cd {tmp_path / 'mysite'}",
        "python3 -m venv .venv && .venv/bin/pip install -e '.[test]'",
        ".venv/bin/batteries --app mysite db upgrade",
        ".venv/bin/batteries --app mysite run --debug --with-worker",
        ".venv/bin/pytest",
    ]
    wheel = tmp_path / "dist" / "batteries-0.1.0-py3-none-any.whl"
    wheel.parent.mkdir()
    wheel.write_bytes(b"PK")
    by_path = CliRunner().invoke(cli, ["new", "third", "-d", str(tmp_path), "-r", str(wheel)])
    assert by_path.exit_code == 0, by_path.output
    pyproject = read_toml(tmp_path / "third" / "pyproject.toml")
    assert pyproject["project"]["dependencies"] == [f"batteries @ {wheel.as_uri()}"]
    empty = CliRunner().invoke(cli, ["new", "fourth", "-d", str(tmp_path), "-r", " "])
    assert empty.exit_code != 0 and "one requirement" in empty.output
    assert not (tmp_path / "fourth").exists()
    missing = CliRunner().invoke(
        cli, ["new", "other", "-d", str(tmp_path), "-r", "batteries @ file:///no/such/folder"]
    )
    assert missing.exit_code == 0
    assert "/no/such/folder does not exist here" in missing.output


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


SERVE = """
import sys
from batteries import db, migrations
from batteries.auth import hash_password
from werkzeug.serving import make_server
from {name} import create_app
from {name}.models import Note, User

folder = sys.argv[1]
app = create_app({{
    "SECRET_KEY": "screenshots", "DATABASE_URL": f"sqlite:///{{folder}}/shots.sqlite",
    "CACHE_TYPE": "null", "CELERY": {{"task_always_eager": True}},
}})
migrations.upgrade(app)
with app.app_context():
    ada = User(username="ada", email="ada@example.com", email_confirmed=True,
               password_hash=hash_password("correct horse"))
    db.session.add(ada)
    db.session.add(Note(author=ada, title="Shopping", body="Bread, butter, apples.", words=3))
    db.session.add(Note(author=ada, title="First note",
                        body="The project runs: accounts, notes, a worker.", words=7))
    db.session.commit()
server = make_server("127.0.0.1", 0, app, threaded=True)
print(server.server_port, flush=True)
server.serve_forever()
"""


@pytest.mark.browser
def test_screenshots_of_a_new_project(tmp_path):
    """Serve a new project and photograph its home page (logged in) and a 404 for the README."""
    from playwright.sync_api import sync_playwright

    target = create_project("notebook", tmp_path)
    (target / "serve_for_test.py").write_text(SERVE.format(name="notebook"))
    server = subprocess.Popen(
        [sys.executable, "serve_for_test.py", str(tmp_path)],
        cwd=target,
        stdout=subprocess.PIPE,
        text=True,
    )
    images = Path(__file__).resolve().parents[1] / "docs" / "images"
    images.mkdir(exist_ok=True)
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{server.stdout.readline().strip()}"
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium",
                headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = browser.new_page(viewport={"width": 1000, "height": 700})
            page.goto(url + "/auth/login")
            page.fill("input[name=username]", "ada")
            page.fill("input[name=password]", "correct horse")
            page.click("main button[type=submit]")
            page.wait_for_url(url + "/")
            assert "Welcome, ada." in page.content()
            assert page.locator("nav.bt-nav button", has_text="Log out").count() == 1
            page.screenshot(path=str(images / "starter-home.png"))
            answer = page.goto(url + "/notes/9999")
            assert answer is not None and answer.status == 404
            assert page.locator(".bt-error h1").inner_text() == "Not Found"
            assert page.locator("nav.bt-nav .bt-brand").inner_text() == "notebook"
            page.screenshot(path=str(images / "starter-404.png"))
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
        if server.stdout is not None:
            server.stdout.close()

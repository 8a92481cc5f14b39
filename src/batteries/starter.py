"""``batteries new NAME``: a ready package in the "Large Applications as Packages" layout.

The project made is an application factory (``create_app(config=None)``) with two blueprints
(``auth``, ``main``) in their own modules, SQLAlchemy models and their first migration
(generated from them, in ``<name>/migrations``), forms with CSRF, templates that extend
``batteries/base.html``, a Celery task, an ``env.example`` and a ``tests/`` folder whose tests
pass right after creation (one checks that the migrations match the models). Its accounts:
register with e-mail confirmation, a rate-limited login with remember-me, logout, and password
reset by mail (the same answer for known and unknown addresses; the new password ends every
other session and remember cookie). ``CSRF_PROTECT_ALL`` and ``SECURITY_HEADERS`` are on.

It refuses a name that is not a Python identifier (or is a keyword, or shadows a module Python or
Batteries already imports) and never writes into a folder that exists.
"""

from __future__ import annotations

import keyword
import os
import subprocess
import sys
from pathlib import Path

import click

TEMPLATE = Path(__file__).parent / "starter" / "project"
PLACEHOLDER = "__project__"
RENAMED = {"env.example": ".env.example"}


class StarterError(click.ClickException):
    """The project cannot be created (bad name, folder exists)."""


def check_name(name: str) -> None:
    if not name.isidentifier() or not name.isascii():
        raise StarterError(
            f"{name!r} is not a valid Python package name: use letters, digits and "
            "underscores, not starting with a digit (e.g. 'my_blog')."
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise StarterError(f"{name!r} is a Python keyword; choose another name.")
    taken = set(sys.stdlib_module_names) | {"batteries", "flask", "werkzeug", "celery",
                                             "sqlalchemy", "wtforms", "tests", "test"}
    if name in taken:
        raise StarterError(f"{name!r} would shadow the module of the same name; choose another.")


def create_project(name: str, parent: str | os.PathLike[str] = ".") -> Path:
    """Create the project ``name`` in ``parent``; return its folder."""
    check_name(name)
    target = Path(parent) / name
    if target.exists():
        raise StarterError(f"{target} already exists; refusing to overwrite it.")
    files = sorted(p for p in TEMPLATE.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    target.mkdir(parents=True)
    for source in files:
        relative = source.relative_to(TEMPLATE)
        parts = [RENAMED.get(part, part).replace(PLACEHOLDER, name) for part in relative.parts]
        destination = target.joinpath(*parts)
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(source.read_text(encoding="utf-8").replace(PLACEHOLDER, name),
                               encoding="utf-8")
    first_revision(target, name)
    return target


def first_revision(target: Path, name: str) -> None:
    """Generate the project's first migration from its models (``batteries db migrate``).

    Run in a subprocess, so the new project's models never join this process's ``db``; the
    first revision is compared with an empty database, so none is touched.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BATTERIES_", "FLASK_"))}
    env["BATTERIES_DATABASE_URL"] = "sqlite://"
    command = [sys.executable, "-m", "batteries", "--app", name, "db", "migrate",
               "-m", "first revision"]
    done = subprocess.run(command, cwd=target, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise StarterError(
            f"{target} was created, but its first migration could not be generated:\n"
            f"{done.stdout}{done.stderr}"
        )


@click.command("new", short_help="Create a new Batteries project.")
@click.argument("name")
@click.option(
    "--directory",
    "-d",
    default=".",
    type=click.Path(file_okay=False),
    help="Where to create the project folder (default: here).",
)
def new_command(name: str, directory: str) -> None:
    """Create the package NAME: an app factory, blueprints, models, forms, templates, a task
    and passing tests."""
    target = create_project(name, directory)
    click.echo(f"Created {target}")
    click.echo("Next:")
    click.echo(f"  cd {target}")
    click.echo("  python -m venv .venv && .venv/bin/pip install -e '.[test]'")
    click.echo(f"  .venv/bin/batteries --app {name} db upgrade")
    click.echo(f"  .venv/bin/batteries --app {name} run --debug")
    click.echo("  .venv/bin/pytest")

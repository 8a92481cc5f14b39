"""``batteries new NAME``: a ready package in the "Large Applications as Packages" layout.

The project made is an application factory (``create_app(config=None)``) with two blueprints
(``auth``, ``main``) in their own modules, SQLAlchemy models and their first migration
(generated from them, in ``<name>/migrations``), forms with CSRF, templates that extend
``batteries/base.html``, a Celery task, a ``.env.example`` and a ``tests/`` folder whose tests
pass right after creation (one checks that the migrations match the models). Its accounts:
register with e-mail confirmation, a rate-limited login with remember-me, logout, and password
reset by mail (the same answer for known and unknown addresses; the new password ends every
other session and remember cookie). ``CSRF_PROTECT_ALL``, ``SECURITY_HEADERS`` and
``ERROR_PAGES`` are on; its pages share a layout with a navigation bar and their strings are
marked for translation.

Batteries is not on PyPI: the project's ``pyproject.toml`` requires the Batteries that made it
(:func:`batteries_requirement`, from the installed distribution's PEP 610 ``direct_url.json``),
or what ``--requirement`` says.

It refuses a name that is not a Python identifier (or is a keyword, or shadows a module Python or
Batteries already imports) and never writes into a folder that exists.
"""

from __future__ import annotations

import json
import keyword
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from shlex import quote
from typing import Any
from urllib.parse import unquote, urlsplit

import click

TEMPLATE = Path(__file__).parent / "starter" / "project"
PLACEHOLDER = "__project__"
REQUIREMENT_PLACEHOLDER = "__batteries_requirement__"
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


def requirement_from_direct_url(
    info: dict[str, Any] | None, version: str, source_tree: Path | None = None
) -> str:
    """The PEP 508 requirement that installs this Batteries again, from its PEP 610 record.

    ``info`` is the parsed ``direct_url.json`` (None: installed from an index), ``version``
    the installed version, ``source_tree`` the folder the running code was imported from when it
    is a Batteries checkout (it wins over a folder recorded for an editable install, which can
    be stale after the checkout moved).
    """
    if info is None or not isinstance(info.get("url"), str):
        release = version.split("+")[0].split(".")
        parts = [p for p in release[:2] if p.isdigit()]
        return f"batteries>={'.'.join(parts)}" if len(parts) == 2 else "batteries"
    url: str = info["url"]
    if "dir_info" in info:
        if info["dir_info"].get("editable") and source_tree is not None:
            return f"batteries @ {source_tree.resolve().as_uri()}"
        return f"batteries @ {url}"
    if "vcs_info" in info:
        vcs = info["vcs_info"]
        pinned = vcs.get("commit_id") or vcs.get("requested_revision")
        scheme = str(vcs.get("vcs", "git"))
        spec = url if url.startswith(f"{scheme}+") else f"{scheme}+{url}"
        spec = f"{spec}@{pinned}" if pinned else spec
    else:  # archive_info: a wheel or an sdist, local (file://) or remote
        spec = url
    if info.get("subdirectory"):
        spec += f"#subdirectory={info['subdirectory']}"
    return f"batteries @ {spec}"


def running_source_tree() -> Path | None:
    """The checkout this module was imported from (``<tree>/src/batteries``), or None."""
    tree = Path(__file__).resolve().parents[2]
    pyproject = tree / "pyproject.toml"
    if pyproject.is_file() and 'name = "batteries"' in pyproject.read_text(encoding="utf-8"):
        return tree
    return None


def batteries_requirement() -> str:
    """The requirement a new project writes for the Batteries running now.

    From a folder (editable or not): ``batteries @ file:///that/folder``; from a local or remote
    archive (a wheel): ``batteries @ <its URL>``; from a VCS: ``batteries @ git+<URL>@<commit>``;
    from an index: ``batteries>=X.Y``; not installed at all (imported from a checkout on
    ``sys.path``): that checkout.
    """
    tree = running_source_tree()
    try:
        dist = metadata.distribution("batteries")
    except metadata.PackageNotFoundError:
        return f"batteries @ {tree.as_uri()}" if tree is not None else "batteries"
    text = dist.read_text("direct_url.json")
    try:
        info = json.loads(text) if text else None
    except ValueError:
        info = None
    return requirement_from_direct_url(info if isinstance(info, dict) else None,
                                       dist.version, tree)  # fmt: skip


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string (JSON's escapes are TOML's for these characters)."""
    return json.dumps(value, ensure_ascii=False)


def local_path_of(requirement: str) -> Path | None:
    """The file or folder of a ``name @ file://...`` requirement, or None."""
    _, at, url = requirement.partition("@")
    parts = urlsplit(url.strip())
    if not at or parts.scheme != "file":
        return None
    return Path(unquote(parts.path))


def resolve_requirement(spec: str | None) -> str:
    """What the project will require: ``spec`` (a requirement, or the path of a Batteries
    checkout or wheel, made a ``file://`` URL) or, when None, :func:`batteries_requirement`."""
    if spec is None:
        return batteries_requirement()
    spec = spec.strip()
    if not spec or "\n" in spec:
        raise StarterError("--requirement must be one requirement, e.g. 'batteries>=0.1'.")
    path = Path(spec).expanduser()
    if not spec.startswith("batteries") and path.exists():
        return f"batteries @ {path.resolve().as_uri()}"
    return spec


def create_project(
    name: str, parent: str | os.PathLike[str] = ".", requirement: str | None = None
) -> Path:
    """Create the project ``name`` in ``parent``; return its folder.

    ``requirement`` is what its ``pyproject.toml`` depends on for Batteries (default:
    :func:`batteries_requirement`).
    """
    check_name(name)
    requirement = resolve_requirement(requirement)
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
        text = source.read_text(encoding="utf-8").replace(PLACEHOLDER, name)
        text = text.replace(f'"{REQUIREMENT_PLACEHOLDER}"', toml_string(requirement))
        destination.write_text(text, encoding="utf-8")
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


def next_commands(target: Path, name: str) -> list[str]:
    """The shell commands that install the new project in a fresh venv and run it (POSIX)."""
    return [
        f"cd {quote(str(target))}",
        "python3 -m venv .venv && .venv/bin/pip install -e '.[test]'",
        f".venv/bin/batteries --app {name} db upgrade",
        f".venv/bin/batteries --app {name} run --debug --with-worker",
        ".venv/bin/pytest",
    ]


@click.command("new", short_help="Create a new Batteries project.")
@click.argument("name")
@click.option(
    "--directory",
    "-d",
    default=".",
    type=click.Path(file_okay=False),
    help="Where to create the project folder (default: here).",
)
@click.option(
    "--requirement",
    "-r",
    default=None,
    metavar="SPEC",
    help="How the project requires Batteries in its pyproject.toml: a requirement such as "
    "'batteries @ git+https://host/batteries.git@v0.1', or the path of a Batteries checkout or "
    "wheel (default: the Batteries running this command).",
)
def new_command(name: str, directory: str, requirement: str | None) -> None:
    """Create the package NAME: an app factory, blueprints, models, forms, templates, a task
    and passing tests."""
    written = resolve_requirement(requirement)
    target = create_project(name, directory, written)
    click.echo(f"Created {target}")
    click.echo(f"It requires {written} (pyproject.toml).")
    local = local_path_of(written)
    if local is not None and not local.exists():
        click.echo(f"Warning: {local} does not exist here; edit the requirement.", err=True)
    click.echo("Next:")
    for command in next_commands(target, name):
        click.echo(f"  {command}")

"""The ``batteries`` command: Flask's CLI plus Batteries' own commands.

``batteries`` finds the app exactly as ``flask`` does (``--app``, ``FLASK_APP``, ``.env`` and
``.flaskenv``, ``app.py``/``wsgi.py``, ``create_app``/``make_app``) and has Flask's ``run``,
``shell`` and ``routes``, plus ``db``, ``worker``, ``beat``, ``cache``, ``new`` and ``check``.
``python -m batteries`` is the same command. Nothing is registered under ``flask``: a plugin
command there would hide an app's own (Flask-Migrate's ``flask db``, say).

``batteries run`` refuses to start outside debug mode when the app has no ``SECRET_KEY``; in
debug mode it warns when the database is behind the app's migrations.
"""

from __future__ import annotations

import os
import typing as t

import click
from flask.cli import (
    FlaskGroup,
    NoAppException,
    ScriptInfo,
    shell_command,
)
from flask.cli import routes_command as flask_routes_command
from flask.cli import run_command as flask_run_command
from flask.helpers import get_debug_flag

from . import caching, migrations, sqla, tasks, translations
from ._dbcli import make_group as make_db_group
from .config import ConfigError
from .drivers import MissingDriver, UnknownURL
from .sessions import SECRET_KEY_HELP
from .starter import new_command


@click.command(
    "run",
    short_help="Run a development server.",
    params=[
        *flask_run_command.params,
        click.Option(
            ["--with-worker"],
            is_flag=True,
            default=False,
            help="Also start a Celery worker for the app (batteries worker) in a subprocess.",
        ),
    ],
    help=(flask_run_command.help or "")
    + "\n\nOutside debug mode the app must have a SECRET_KEY.",
)
@click.pass_context
def run_command(ctx: click.Context, /, with_worker: bool = False, **kwargs: t.Any) -> None:
    info = ctx.ensure_object(ScriptInfo)
    if not get_debug_flag():
        app = info.load_app()
        if not app.secret_key:
            raise click.UsageError(
                "Refusing to run without SECRET_KEY outside debug mode (sessions, flashes, "
                "CSRF and logins need it). " + SECRET_KEY_HELP + " For local development, "
                "'batteries run --debug' generates a key in the instance folder."
            )
    elif os.environ.get("WERKZEUG_RUN_MAIN") != "true":
        warning = migrations.unapplied_warning(info.load_app())
        if warning:
            click.secho(warning, fg="yellow", err=True)
    if with_worker and os.environ.get("WERKZEUG_RUN_MAIN") != "true":
        # Started once, by the process that is not the reloader's child.
        tasks.start_worker_process(info.app_import_path)
    ctx.invoke(flask_run_command, **kwargs)


@click.command(
    "routes",
    short_help="Show the routes for the app.",
    params=[
        *flask_routes_command.params,
        click.Option(
            ["--check"],
            is_flag=True,
            help="Also import every lazy view (app.lazy_url) and fail naming the import paths "
            "that do not import.",
        ),
    ],
    help=(flask_routes_command.help or "Show all registered routes.")
    + "\n\nWith --check, every lazy view is imported; a broken import path exits with status 1.",
)
@click.pass_context
def routes_command(ctx: click.Context, /, check: bool, **kwargs: t.Any) -> None:
    ctx.invoke(flask_routes_command, **kwargs)
    if not check:
        return
    from .lazy import check_lazy_views, lazy_views

    app = ctx.ensure_object(ScriptInfo).load_app()
    with app.app_context():
        total = len(lazy_views(app))
        failures = check_lazy_views(app)
    for endpoint, import_name, message in failures:
        click.echo(f"ERROR lazy view {import_name!r} (endpoint {endpoint!r}): {message}", err=True)
    if failures:
        ctx.exit(1)
    click.echo(f"{total} lazy view{'s' * (total != 1)} checked: all import.")


@click.command("check", short_help="List insecure or invalid settings of the app.")
@click.option(
    "--deploy",
    is_flag=True,
    help="Also check the settings a production deployment needs (secret key, cookies, "
    "hosts, headers, CSRF, debug).",
)
@click.option(
    "--fail-level",
    type=click.Choice(["error", "warning"]),
    default="error",
    show_default=True,
    help="Exit with status 1 when a problem of this level or worse is found.",
)
@click.pass_context
def check_command(ctx: click.Context, deploy: bool, fail_level: str) -> None:
    """Check the app's configuration, like Django's 'manage.py check --deploy'.

    Prints one line per problem (ERROR or WARNING, an id, the config key, what is wrong and
    how to fix it) and exits with status 1 when there is an error (or a warning, with
    --fail-level warning), else 0.
    """
    from . import checks
    from .app import DEPLOY_CHECKS, REGISTRY

    info = ctx.ensure_object(ScriptInfo)
    info.set_debug_flag = False  # judge DEBUG as the app's config sets it, not the CLI's flag
    app = info.load_app()
    problems = checks.config_type_problems(app, REGISTRY)
    problems += checks.unknown_key_problems(app, REGISTRY)
    if not deploy:
        problems += checks.run(app, [check for check in DEPLOY_CHECKS if check.always])
    from .lazy import check_lazy_views

    with app.app_context():
        for endpoint, import_name, message in check_lazy_views(app):
            problems.append(
                checks.Problem(
                    "batteries.E017",
                    "error",
                    f"lazy view {endpoint!r}",
                    f"{import_name!r} does not import: {message}",
                    "fix the import path given to lazy_url() (it would fail on the first "
                    "request that needs it)",
                )
            )
    if deploy:
        problems += checks.run(app, DEPLOY_CHECKS)
    for problem in problems:
        click.echo(str(problem))
    errors = sum(p.level == "error" for p in problems)
    warnings = len(problems) - errors
    scope = "deploy check" if deploy else "check"
    click.echo(
        f"batteries {scope}: {errors} error{'s' * (errors != 1)}, "
        f"{warnings} warning{'s' * (warnings != 1)}."
    )
    if errors or (fail_level == "warning" and warnings):
        ctx.exit(1)


class BatteriesScriptInfo(ScriptInfo):
    """Flask's ``ScriptInfo``, whose errors speak of ``batteries`` and never show a traceback
    for a config value of the wrong type."""

    def load_app(self) -> t.Any:
        try:
            return super().load_app()
        except NoAppException as e:
            raise NoAppException(
                e.message.replace("'flask --app'", "'batteries --app'").replace(
                    "a Flask application", "an application"
                ),
                e.ctx,
            ) from None
        except ConfigError as e:
            raise click.ClickException(f"Configuration error: {e}") from None


def _print_version(ctx: click.Context, param: click.Parameter, value: t.Any) -> None:
    if not value or ctx.resilient_parsing:
        return
    import platform
    from importlib.metadata import version

    from . import __version__

    click.echo(
        f"Batteries {__version__}\nFlask {version('flask')}\nWerkzeug {version('werkzeug')}\n"
        f"Python {platform.python_version()}"
    )
    ctx.exit()


version_option = click.Option(
    ["--version"],
    help="Show the Batteries, Flask, Werkzeug and Python versions.",
    expose_value=False,
    callback=_print_version,
    is_flag=True,
    is_eager=True,
)


class BatteriesGroup(FlaskGroup):
    """Flask's ``FlaskGroup`` with Batteries' commands, version and wording."""

    def __init__(self, **extra: t.Any) -> None:
        params = [*extra.pop("params", ()), version_option]
        super().__init__(
            add_default_commands=False, add_version_option=False, params=params, **extra
        )
        self.add_command(run_command)
        self.add_command(shell_command)
        self.add_command(routes_command)
        for command in battery_commands():
            self.add_command(command)


    def invoke(self, ctx: click.Context) -> t.Any:
        """Run the command; a configuration mistake (a wrong type, a mistyped URL scheme, a
        missing driver) is one line naming the key, never a traceback."""
        try:
            return super().invoke(ctx)
        except (ConfigError, MissingDriver, UnknownURL) as e:
            raise click.ClickException(str(e)) from None

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: t.Any,
    ) -> click.Context:
        if "obj" not in extra and "obj" not in self.context_settings:
            extra["obj"] = BatteriesScriptInfo(
                create_app=self.create_app,
                set_debug_flag=self.set_debug_flag,
                load_dotenv_defaults=self.load_dotenv,
            )
        return super().make_context(info_name, args, parent=parent, **extra)


def battery_commands() -> list[click.Command]:
    """The commands each battery contributes."""
    return [
        make_db_group(sqla.db),
        tasks.worker_command,
        tasks.beat_command,
        caching.cache_command,
        new_command,
        check_command,
        translations.i18n_command,
    ]


cli = BatteriesGroup(
    name="batteries",
    help="""\
Batteries: Flask's command line (run, shell, routes) plus db, worker, beat, cache, new and
check, for the app found by --app, FLASK_APP, or app.py/wsgi.py in the current folder.
""",
)


def main() -> None:
    cli.main()

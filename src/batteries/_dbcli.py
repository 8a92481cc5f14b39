"""``batteries db``: ``init`` and ``drop`` the tables of the app's models (or run
``schema.sql``), and the migration commands of :mod:`batteries.migrations` (``migrate``,
``upgrade``, ``downgrade``, ``current``, ``history``, ``stamp``, ``check``).

Click is light, but SQLAlchemy and Alembic are imported only when a command runs.
"""

from __future__ import annotations

import logging
import os
import typing as t
from contextlib import contextmanager

import click
from flask import current_app
from flask.cli import AppGroup

from . import migrations

if t.TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy import Engine

    from .sqla import SQLAlchemy


def _describe_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def run_sql_script(engine: Engine, path: str) -> None:
    """Run the SQL statements of the file at ``path`` on ``engine`` (``schema.sql``)."""
    with open(path, encoding="utf-8") as f:
        script = f.read()
    backend = engine.url.get_backend_name()
    if backend == "sqlite":
        raw = engine.raw_connection()
        try:
            raw.driver_connection.executescript(script)  # type: ignore[union-attr]
            raw.commit()
        finally:
            raw.close()
        return
    with engine.begin() as connection:
        if backend == "postgresql":
            connection.exec_driver_sql(script)
            return
        for statement in script.split(";\n"):
            if statement.strip().rstrip(";").strip():
                connection.exec_driver_sql(statement.strip().rstrip(";"))


def _say_errors_once() -> None:
    """A database error is the command's one error line: the log record of the same failure
    (``batteries.sqla``, for servers) is not printed as well by Python's last-resort handler.
    Logging the app configures still receives it."""
    logger = logging.getLogger("batteries.sqla")
    handler = logging.NullHandler()
    logger.addHandler(handler)
    click.get_current_context().call_on_close(lambda: logger.removeHandler(handler))


def make_group(db: SQLAlchemy) -> click.Group:
    """The ``batteries db`` group of ``db``: ``init`` and ``drop``."""

    group = AppGroup(
        "db",
        help="The app's database (DATABASE_URL): create or drop its tables, write and apply "
        "migrations (MIGRATIONS_DIR).",
        callback=_say_errors_once,
    )

    @group.command("init")
    @click.option(
        "--schema",
        type=click.Path(exists=True, dir_okay=False),
        default=None,
        help="SQL file to run instead of creating the models' tables "
        "(default: schema.sql in the app's folder, when it exists).",
    )
    def init_command(schema: str | None) -> None:
        """Create the tables of the app's models, or run schema.sql when the app has one.

        An app with migrations is upgraded to the head instead."""
        from sqlalchemy.exc import OperationalError

        app = current_app._get_current_object()  # type: ignore[attr-defined]
        path = schema or os.path.join(app.root_path, "schema.sql")
        if not schema and migrations.has_migrations(app):
            with _answers():
                migrations.upgrade(app, db=db)
                click.echo(f"Upgraded {_describe_url(db.engine)} to {_at(app, db)}.")
            return
        try:
            engine = db.engine
            if schema or os.path.isfile(path):
                run_sql_script(engine, path)
                click.echo(f"Ran {path} on {_describe_url(engine)}.")
                return
            tables = db.metadata.sorted_tables
            if not tables:
                raise click.ClickException(
                    "No models are defined (import the module that defines your db.Model "
                    "classes from the app) and there is no schema.sql in "
                    f"{app.root_path}."
                )
            db.create_all()
        except OperationalError as e:
            raise click.ClickException(str(e)) from None
        names = ", ".join(table.name for table in tables)
        click.echo(f"Created the tables ({names}) in {_describe_url(engine)}.")

    @group.command("drop")
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
    def drop_command(yes: bool) -> None:
        """Drop the tables of the app's models (every table when the app uses schema.sql)."""
        from sqlalchemy import MetaData
        from sqlalchemy.exc import OperationalError

        try:
            engine = db.engine
            where = _describe_url(engine)
            if not yes:
                click.confirm(f"Drop every table in {where}? The data will be lost", abort=True)
            metadata = db.metadata
            app = current_app._get_current_object()  # type: ignore[attr-defined]
            has_schema = os.path.isfile(os.path.join(app.root_path, "schema.sql"))
            if has_schema or not metadata.sorted_tables:
                metadata = MetaData()
                metadata.reflect(engine)
            metadata.drop_all(engine)
        except OperationalError as e:
            raise click.ClickException(str(e)) from None
        click.echo(f"Dropped the tables in {where}.")

    add_migration_commands(group, db)
    return group


@contextmanager
def _answers() -> t.Iterator[None]:
    """Turn a migration's refusal or a database outage into a one-paragraph CLI error."""
    from sqlalchemy.exc import OperationalError

    try:
        yield
    except migrations.MigrationError as e:
        raise click.ClickException(str(e)) from None
    except OperationalError as e:
        raise click.ClickException(str(e)) from None


def _app() -> t.Any:
    return current_app._get_current_object()  # type: ignore[attr-defined]


def _at(app: t.Any, db: SQLAlchemy) -> str:
    revisions = migrations.current(app, db=db)
    if not revisions:
        return "base (no revision applied)"
    head = set(migrations.heads(app))
    return ", ".join(f"{r} (head)" if r in head else r for r in revisions)


def add_migration_commands(group: click.Group, db: SQLAlchemy) -> None:
    """``migrate``, ``upgrade``, ``downgrade``, ``current``, ``history``, ``stamp``, ``check``."""

    @group.command("migrate", short_help="Write a revision of what changed in the models.")
    @click.option("-m", "--message", required=True, help="What the revision does.")
    @click.option(
        "--empty", is_flag=True, help="Write a revision without operations, to fill in by hand."
    )
    def migrate_command(message: str, empty: bool) -> None:
        """Write a revision of the models' changes (in MIGRATIONS_DIR); review it, then
        'batteries db upgrade'."""
        app = _app()
        with _answers():
            path = migrations.migrate(app, message, empty=empty, db=db)
        click.echo(f"Wrote {path}")
        click.echo("Review it, then apply it with 'batteries db upgrade'.")

    @group.command("upgrade")
    @click.argument("revision", default="head")
    def upgrade_command(revision: str) -> None:
        """Apply the migrations up to REVISION (default: head)."""
        app = _app()
        with _answers():
            migrations.upgrade(app, revision, db=db)
            click.echo(f"Upgraded {_describe_url(db.engine)} to {_at(app, db)}.")

    @group.command("downgrade")
    @click.argument("revision", default="-1")
    def downgrade_command(revision: str) -> None:
        """Revert the migrations down to REVISION (default: -1, one step; 'base': all)."""
        app = _app()
        with _answers():
            migrations.downgrade(app, revision, db=db)
            click.echo(f"Downgraded {_describe_url(db.engine)} to {_at(app, db)}.")

    @group.command("stamp", short_help="Record REVISION as applied, running nothing.")
    @click.argument("revision")
    def stamp_command(revision: str) -> None:
        """Record REVISION as applied without running anything (a database create_all made:
        'stamp head')."""
        app = _app()
        with _answers():
            migrations.stamp(app, revision, db=db)
            click.echo(f"Stamped {_describe_url(db.engine)} at {_at(app, db)}.")

    @group.command("current")
    def current_command() -> None:
        """Show the revision the database is at."""
        app = _app()
        with _answers():
            click.echo(_at(app, db))

    @group.command("history")
    def history_command() -> None:
        """List the revisions of MIGRATIONS_DIR, newest first."""
        app = _app()
        with _answers():
            found = migrations.history(app)
        if not found:
            click.echo(f"No migrations in {migrations.migrations_dir(app)}.")
        for revision in found:
            click.echo(str(revision))

    @group.command("check", short_help="Exit 1 when the models and the migrations differ.")
    def check_command() -> None:
        """Exit with status 1, listing the differences, when the models and the migrations
        disagree (for CI)."""
        app = _app()
        with _answers():
            differences = migrations.check(app, db=db)
        if not differences:
            click.echo("The models and the migrations agree.")
            return
        click.echo("The models and the migrations differ:")
        for line in differences:
            click.echo(f"  - {line}")
        click.echo("Write a revision with 'batteries db migrate -m MESSAGE'.")
        click.get_current_context().exit(1)

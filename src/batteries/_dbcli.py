"""``batteries db init|drop``: create the tables of the app's models (or run ``schema.sql``),
drop them after a confirmation.

Click is light, but SQLAlchemy is imported only when a command runs.
"""

from __future__ import annotations

import os
import typing as t

import click
from flask import current_app
from flask.cli import AppGroup

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


def make_group(db: SQLAlchemy) -> click.Group:
    """The ``batteries db`` group of ``db``: ``init`` and ``drop``."""

    group = AppGroup("db", help="Create or drop the app's database tables (DATABASE_URL).")

    @group.command("init")
    @click.option(
        "--schema",
        type=click.Path(exists=True, dir_okay=False),
        default=None,
        help="SQL file to run instead of creating the models' tables "
        "(default: schema.sql in the app's folder, when it exists).",
    )
    def init_command(schema: str | None) -> None:
        """Create the tables of the app's models, or run schema.sql when the app has one."""
        from sqlalchemy.exc import OperationalError

        app = current_app._get_current_object()  # type: ignore[attr-defined]
        path = schema or os.path.join(app.root_path, "schema.sql")
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

    return group

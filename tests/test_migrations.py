"""``batteries db migrate|upgrade|downgrade|current|history|stamp|check`` (batteries.migrations).

The scenario (create a model, change it four ways, downgrade and upgrade, catch a drift) runs on
SQLite, PostgreSQL (a private schema per test) and MariaDB (a private database per test). Each
step of the models is a fresh ``SQLAlchemy()`` whose metadata holds only this test's tables.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from _services import PG_URL, private_maria_database, private_pg_schema
from sqlalchemy import ForeignKey, String, inspect, text
from sqlalchemy.orm import Mapped, mapped_column

from batteries import Batteries, checks, migrations
from batteries._dbcli import make_group
from batteries.cli import cli
from batteries.sqla import SQLAlchemy

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def make_app(tmp_path: Path, name: str = "mig") -> Batteries:
    app = Batteries(name, root_path=str(tmp_path / name), instance_path=str(tmp_path / name / "i"))
    app.config["TESTING"] = True
    app.config["DATABASE_URL"] = f"sqlite:///{tmp_path / name / 'app.sqlite'}"
    return app


@pytest.fixture
def sqlite_app(tmp_path):
    return make_app(tmp_path)


@pytest.fixture
def pg_app(tmp_path):
    with private_pg_schema("btm_") as schema:
        app = make_app(tmp_path)
        app.config["DATABASE_URL"] = PG_URL
        app.config["DATABASE_ENGINE_OPTIONS"] = {
            "connect_args": {"options": f"-csearch_path={schema}"}
        }
        yield app


@pytest.fixture
def maria_app(tmp_path):
    with private_maria_database("btm_") as name:
        app = make_app(tmp_path)
        app.config["DATABASE_URL"] = f"mysql+pymysql://root@127.0.0.1:3306/{name}"
        yield app


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.services),
        pytest.param("mariadb", marks=pytest.mark.services),
    ]
)
def any_app(request):
    names = {"sqlite": "sqlite_app", "postgresql": "pg_app", "mariadb": "maria_app"}
    return request.getfixturevalue(names[request.param])


class Models:
    """One step of the models: a fresh ``SQLAlchemy()`` wired into the app, disposed after."""

    def __init__(self, app: Batteries, step: int) -> None:
        self.db = db = SQLAlchemy()
        db.init_app(app)
        self.app = app

        class Post(db.Model):  # type: ignore[name-defined,misc]
            __tablename__ = "post"
            id: Mapped[int] = mapped_column(primary_key=True)
            if step < 3:
                title: Mapped[str] = mapped_column(String(80))
            else:
                headline: Mapped[str] = mapped_column(String(80))
            if step < 2:
                author: Mapped[str] = mapped_column(String(50))
                legacy: Mapped[str | None] = mapped_column(String(20))
            else:
                author: Mapped[str | None] = mapped_column(String(50))  # type: ignore[no-redef]
                status: Mapped[str] = mapped_column(
                    String(20), server_default="draft" if step < 4 else "new"
                )
            if step >= 4:
                summary: Mapped[str | None] = mapped_column(String(200))

        self.Post = Post

    def cli(self, *args: str):
        return self.app.test_cli_runner().invoke(make_group(self.db), list(args))

    def rows(self, sql: str) -> list[tuple]:
        with self.db.get_engine(self.app).connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]

    def execute(self, sql: str, **params) -> None:
        with self.db.get_engine(self.app).begin() as conn:
            conn.execute(text(sql), params)

    def columns(self) -> dict[str, dict]:
        with self.db.get_engine(self.app).connect() as conn:
            return {c["name"]: c for c in inspect(conn).get_columns("post")}

    def tables(self) -> set[str]:
        with self.db.get_engine(self.app).connect() as conn:
            return set(inspect(conn).get_table_names())

    def close(self) -> None:
        self.db.get_engine(self.app).dispose()


def ok(result) -> str:
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def revision_files(app) -> list[Path]:
    return sorted(Path(migrations.migrations_dir(app)).glob("*.py"))


def written(result) -> Path:
    """The revision file a successful ``migrate`` wrote."""
    return Path(re.search(r"Wrote (.+\.py)", ok(result)).group(1))


RENAME_UP = """\
    with op.batch_alter_table("post") as batch:
        batch.alter_column(
            "title", new_column_name="headline", existing_type=sa.String(80), existing_nullable=False
        )"""
RENAME_DOWN = RENAME_UP.replace('"title"', '"@"').replace('"headline"', '"title"').replace('"@"', '"headline"')


def write_rename(path: Path) -> None:
    source = path.read_text()
    assert source.count("    pass\n") == 2
    up, down = source.split("def downgrade")
    up = up.replace("    pass\n", RENAME_UP + "\n")
    down = down.replace("    pass\n", RENAME_DOWN + "\n")
    path.write_text(up.replace("from alembic import op", "import sqlalchemy as sa\nfrom alembic import op") + "def downgrade" + down)


def test_scenario(any_app):
    app = any_app
    sqlite = app.config["DATABASE_URL"].startswith("sqlite")

    # 1. a model, its first revision, applied; rows inserted
    step = Models(app, 1)
    assert "Wrote" in ok(step.cli("migrate", "-m", "create post"))
    assert len(revision_files(app)) == 1
    assert "create_table('post'" in revision_files(app)[0].read_text()
    assert "head" in ok(step.cli("upgrade"))
    step.execute("INSERT INTO post (id, title, author, legacy) VALUES (1, 'one', 'ann', 'x')")
    step.execute("INSERT INTO post (id, title, author, legacy) VALUES (2, 'two', 'bob', NULL)")
    first = ok(step.cli("current")).strip()
    assert first.endswith("(head)")
    # nothing changed: no revision is written
    refused = step.cli("migrate", "-m", "nothing")
    assert refused.exit_code == 1
    assert "No changes" in refused.output and "--empty" in refused.output
    assert len(revision_files(app)) == 1
    assert "agree" in ok(step.cli("check"))
    step.close()

    # 2. add a column with a server default, make one nullable, drop one
    step = Models(app, 2)
    second_path = written(step.cli("migrate", "-m", "status, optional author, no legacy"))
    second = second_path.read_text()
    assert migrations.pending(app, step.db) == [re.search(r"-([0-9a-f]+)_", second_path.name).group(1)]
    assert "add_column" in second and "'draft'" in second and "drop_column" in second
    assert ("batch_alter_table" in second) is sqlite
    ok(step.cli("upgrade"))
    columns = step.columns()
    assert "legacy" not in columns and columns["author"]["nullable"]
    assert step.rows("SELECT id, title, author, status FROM post ORDER BY id") == [
        (1, "one", "ann", "draft"),
        (2, "two", "bob", "draft"),
    ]
    step.execute("INSERT INTO post (id, title, author) VALUES (3, 'three', NULL)")
    assert "agree" in ok(step.cli("check"))
    step.close()

    # 3. a rename, written by hand in an empty revision
    step = Models(app, 3)
    drift = step.cli("check")
    assert drift.exit_code == 1  # the model says headline, the database title
    write_rename(written(step.cli("migrate", "-m", "rename title", "--empty")))
    ok(step.cli("upgrade"))
    assert step.rows("SELECT id, headline, status FROM post ORDER BY id") == [
        (1, "one", "draft"),
        (2, "two", "draft"),
        (3, "three", "draft"),
    ]
    assert "agree" in ok(step.cli("check"))
    history = ok(step.cli("history")).splitlines()
    assert len(history) == 3 and "(head), rename title" in history[0]
    assert history[-1].startswith("<base> -> ")

    # one step back and forth, then down to the base and up again
    ok(step.cli("downgrade"))
    assert "title" in step.columns()
    ok(step.cli("upgrade"))
    assert step.rows("SELECT headline FROM post WHERE id = 1") == [("one",)]
    step.execute("DELETE FROM post WHERE author IS NULL")  # author becomes required going down
    assert "base" in ok(step.cli("downgrade", "base"))
    assert "post" not in step.tables()
    ok(step.cli("upgrade"))
    assert {"id", "headline", "author", "status"} <= set(step.columns())
    assert "agree" in ok(step.cli("check"))
    step.close()

    # 4. models changed without a revision: check fails, naming each difference
    step = Models(app, 4)
    drift = step.cli("check")
    assert drift.exit_code == 1
    assert "new column post.summary" in drift.output
    assert "post.status: server default 'draft'" in drift.output  # PostgreSQL: ::character varying
    assert "-> 'new'" in drift.output
    assert "batteries db migrate" in drift.output
    step.close()


def library(app: Batteries, step: int) -> SQLAlchemy:
    """Authors and their books (deleting an author deletes its books); step 2 drops a column
    of the table the books point at."""
    mdb = SQLAlchemy()
    mdb.init_app(app)

    class Author(mdb.Model):  # type: ignore[name-defined,misc]
        __tablename__ = "author"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(50))
        if step == 1:
            nickname: Mapped[str | None] = mapped_column(String(20))

    class Book(mdb.Model):  # type: ignore[name-defined,misc]
        __tablename__ = "book"
        id: Mapped[int] = mapped_column(primary_key=True)
        author_id: Mapped[int] = mapped_column(ForeignKey("author.id", ondelete="CASCADE"))

    return mdb


def test_sqlite_batch_keeps_rows_pointing_at_the_copied_table(sqlite_app):
    mdb = library(sqlite_app, 1)
    migrations.migrate(sqlite_app, "library", db=mdb)
    migrations.upgrade(sqlite_app, db=mdb)
    with mdb.get_engine(sqlite_app).begin() as conn:
        conn.execute(text("INSERT INTO author (id, name, nickname) VALUES (1, 'ann', 'a')"))
        conn.execute(text("INSERT INTO book (id, author_id) VALUES (10, 1)"))
    mdb.get_engine(sqlite_app).dispose()
    mdb = library(sqlite_app, 2)
    path = migrations.migrate(sqlite_app, "no nickname", db=mdb)
    assert "batch_alter_table('author'" in Path(path).read_text()
    # the batch copy drops the old author table: with foreign keys on, the books would go too
    migrations.upgrade(sqlite_app, db=mdb)
    with mdb.get_engine(sqlite_app).connect() as conn:
        assert conn.execute(text("SELECT id, author_id FROM book")).all() == [(10, 1)]
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert migrations.check(sqlite_app, db=mdb) == []
    # a revision that leaves a book without its author fails, naming the table
    path = migrations.migrate(sqlite_app, "lose the authors", empty=True, db=mdb)
    source = Path(path).read_text().replace(
        "def upgrade() -> None:\n    pass", 'def upgrade() -> None:\n    op.execute("DELETE FROM author")'
    )
    Path(path).write_text(source)
    with pytest.raises(migrations.MigrationError, match="point nowhere, in book"):
        migrations.upgrade(sqlite_app, db=mdb)
    mdb.get_engine(sqlite_app).dispose()


def test_upgrade_without_migrations_names_the_folder(sqlite_app):
    step = Models(sqlite_app, 1)
    for command in (["upgrade"], ["downgrade"], ["check"], ["stamp", "head"]):
        result = step.cli(*command)
        assert result.exit_code == 1
        assert "MIGRATIONS_DIR" in result.output
        assert "batteries db migrate" in result.output
        assert migrations.migrations_dir(sqlite_app) in result.output
    assert "No migrations" in ok(step.cli("history"))


def test_migrate_without_models_says_so(sqlite_app):
    result = sqlite_app.test_cli_runner().invoke(make_group(SQLAlchemy()), ["migrate", "-m", "x"])
    assert result.exit_code == 1
    assert "No models are defined" in result.output
    assert revision_files(sqlite_app) == []


def test_database_down_names_database_url(tmp_path):
    app = make_app(tmp_path)
    step = Models(app, 1)
    ok(step.cli("migrate", "-m", "first"))  # the first revision needs no database
    app.config["DATABASE_URL"] = "postgresql+psycopg://postgres@127.0.0.1:9/nowhere"
    step = Models(app, 1)
    for command in (["upgrade"], ["current"], ["check"]):
        result = step.cli(*command)
        assert result.exit_code == 1
        assert "database is unavailable" in result.output and "DATABASE_URL" in result.output
        assert "Traceback" not in result.output
    # check --deploy says it could not look, and run --debug stays quiet
    [problem] = checks.run(app, migrations.DEPLOY_CHECKS)
    assert problem.level == "warning" and "could not read the database's revision" in problem.message
    assert migrations.unapplied_warning(app) is None


def test_first_revision_describes_tables_create_all_made(sqlite_app):
    step = Models(sqlite_app, 1)
    step.db.create_all(sqlite_app)
    ok(step.cli("migrate", "-m", "first"))
    assert "create_table('post'" in revision_files(sqlite_app)[0].read_text()
    # the database has the tables already: stamp it instead of upgrading
    assert "(head)" in ok(step.cli("stamp", "head"))
    assert "agree" in ok(step.cli("check"))
    step.close()


def test_migrate_on_a_database_behind_asks_for_upgrade(sqlite_app):
    step = Models(sqlite_app, 1)
    ok(step.cli("migrate", "-m", "first"))
    result = step.cli("migrate", "-m", "second")
    assert result.exit_code == 1
    assert "batteries db upgrade" in result.output
    result = step.cli("check")
    assert result.exit_code == 1 and "1 revision behind" in result.output


def test_db_init_upgrades_when_there_are_migrations(sqlite_app):
    step = Models(sqlite_app, 1)
    ok(step.cli("migrate", "-m", "first"))
    output = ok(step.cli("init"))
    assert "Upgraded" in output and "(head)" in output
    assert "alembic_version" in step.tables()
    step.close()


def test_migrations_dir_setting(tmp_path):
    app = make_app(tmp_path)
    assert migrations.migrations_dir(app) == os.path.join(app.root_path, "migrations")
    app.config["MIGRATIONS_DIR"] = "db/revisions"
    assert migrations.migrations_dir(app) == os.path.join(app.root_path, "db", "revisions")
    step = Models(app, 1)
    ok(step.cli("migrate", "-m", "first"))
    assert len(list((tmp_path / "mig" / "db" / "revisions").glob("*_first.py"))) == 1
    from batteries.app import REGISTRY

    assert "MIGRATIONS_DIR" in REGISTRY
    # a folder with a space and a percent sign in its path
    app.config["MIGRATIONS_DIR"] = str(tmp_path / "my revisions" / "100%")
    ok(step.cli("migrate", "-m", "first"))
    ok(step.cli("upgrade"))
    assert len(migrations.history(app)) == 1 and migrations.pending(app, step.db) == []
    step.close()


def test_several_apps_share_one_db(tmp_path):
    one, two = make_app(tmp_path, "one"), make_app(tmp_path, "two")
    shared = SQLAlchemy()

    class Item(shared.Model):  # type: ignore[name-defined,misc]
        __tablename__ = "item"
        id: Mapped[int] = mapped_column(primary_key=True)

    for app in (one, two):
        shared.init_app(app)
    runner = one.test_cli_runner()
    ok(runner.invoke(make_group(shared), ["migrate", "-m", "items"]))
    ok(runner.invoke(make_group(shared), ["upgrade"]))
    assert migrations.current(one, shared) == migrations.heads(one)
    # the second app has its own folder and database, untouched so far
    assert migrations.heads(two) == () and not (tmp_path / "two" / "app.sqlite").exists()
    ok(two.test_cli_runner().invoke(make_group(shared), ["migrate", "-m", "items too"]))
    assert migrations.heads(two) != migrations.heads(one)
    assert migrations.pending(two, shared) == list(migrations.heads(two))
    migrations.upgrade(two, db=shared)
    assert migrations.pending(two, shared) == [] and migrations.pending(one, shared) == []
    for app in (one, two):
        shared.get_engine(app).dispose()


def test_flask_migrate_keeps_its_flask_db(tmp_path):
    flask_migrate = pytest.importorskip("flask_migrate")
    from flask.cli import FlaskGroup
    from flask_sqlalchemy import SQLAlchemy as FlaskSQLAlchemy

    app = make_app(tmp_path)
    fsdb = FlaskSQLAlchemy()
    app.config["SQLALCHEMY_DATABASE_URI"] = app.config.pop("DATABASE_URL")
    fsdb.init_app(app)
    flask_migrate.Migrate(app, fsdb)
    flask_cli = FlaskGroup(create_app=lambda: app)
    result = app.test_cli_runner().invoke(flask_cli, ["db", "--help"])
    assert "Perform database migrations" in ok(result)  # Flask-Migrate's own group
    assert "init" in result.output and "edit" in result.output
    ours = ok(app.test_cli_runner().invoke(cli, ["db", "--help"]))
    assert "MIGRATIONS_DIR" in ours and "edit" not in ours


def test_deploy_check_reports_unapplied_migrations(sqlite_app):
    step = Models(sqlite_app, 1)
    assert checks.run(sqlite_app, migrations.DEPLOY_CHECKS) == []  # no migrations: nothing
    ok(step.cli("migrate", "-m", "first"))
    result = sqlite_app.test_cli_runner().invoke(cli, ["check", "--deploy"])
    assert "batteries.W031" in result.output
    assert "1 migration not applied" in result.output
    assert "batteries db upgrade" in result.output
    ok(step.cli("upgrade"))
    assert checks.run(sqlite_app, migrations.DEPLOY_CHECKS) == []
    step.close()


def test_run_debug_warns_when_behind(sqlite_app, monkeypatch):
    step = Models(sqlite_app, 1)
    ok(step.cli("migrate", "-m", "first"))
    monkeypatch.setenv("FLASK_DEBUG", "1")
    with socket.socket() as busy:  # the server cannot start: the command stops after the warning
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        result = sqlite_app.test_cli_runner().invoke(cli, ["run", "--no-reload", "--port", port])
    assert "1 migration not applied" in result.output
    assert "batteries db upgrade" in result.output
    ok(step.cli("upgrade"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        result = sqlite_app.test_cli_runner().invoke(cli, ["run", "--no-reload", "--port", port])
    assert "not applied" not in result.output
    step.close()


def test_describe_difference_lines():
    from sqlalchemy import Column, Integer, MetaData, Table

    table = Table("t", MetaData(), Column("id", Integer, primary_key=True))
    assert migrations.describe_difference(("add_table", table)) == "new table 't'"
    assert migrations.describe_difference(("remove_table", table)) == "table without a model 't'"
    assert (
        migrations.describe_difference(
            [("modify_nullable", None, "t", "x", {}, False, True)]
        )
        == "t.x: nullable False -> True"
    )


# -- the pytest plugin's schema option ----------------------------------------------------------

PLUGIN_APP = """\
from batteries import Batteries, db
from sqlalchemy.orm import Mapped, mapped_column


class Thing(db.Model):
    __tablename__ = "thing"
    id: Mapped[int] = mapped_column(primary_key=True)


app = Batteries(__name__)
"""

PLUGIN_TEST = """\
from sqlalchemy import inspect


def test_tables(app, db):
    with app.app_context():
        names = set(inspect(db.session.connection()).get_table_names())
    assert "thing" in names
    print("ALEMBIC" if "alembic_version" in names else "CREATE_ALL")
"""


@pytest.mark.slow
def test_plugin_builds_the_schema_from_migrations(tmp_path):
    (tmp_path / "thingapp.py").write_text(PLUGIN_APP)
    (tmp_path / "test_things.py").write_text(PLUGIN_TEST)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BATTERIES_", "FLASK_"))}
    env["BATTERIES_DATABASE_URL"] = f"sqlite:///{tmp_path / 'test.sqlite'}"
    subprocess.run(
        [str(BIN / "batteries"), "--app", "thingapp", "db", "migrate", "-m", "things"],
        cwd=tmp_path, env=env, check=True, capture_output=True,
    )

    def run(*options: str) -> str:
        (tmp_path / "test.sqlite").unlink(missing_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
             "--batteries-app", "thingapp:app", *options, "test_things.py"],
            cwd=tmp_path, env={**env, "PYTHONPATH": str(tmp_path)}, capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        return done.stdout

    assert "CREATE_ALL" in run()
    assert "ALEMBIC" in run("--batteries-schema=migrations")
    assert "ALEMBIC" in run("-o", "batteries_schema=migrations")


# -- the docs' workflow, as written ---------------------------------------------------------------


def docs_workflow() -> list[tuple[str, str]]:
    """The steps of docs/data.md's migration walk-through: ('file', source) or ('run', line)."""
    doc = (ROOT / "docs" / "data.md").read_text()
    section = doc.split("<!-- workflow -->")[1]
    steps: list[tuple[str, str]] = []
    for language, body in re.findall(r"```(\w+)\n(.*?)```", section, re.S):
        if language == "python" and body.startswith("# app.py"):
            steps.append(("file", body))
        elif language == "console":
            steps += [("run", line[2:]) for line in body.splitlines() if line.startswith("$ ")]
    return steps


@pytest.mark.slow
def test_docs_workflow_from_an_empty_folder(tmp_path):
    steps = docs_workflow()
    assert [kind for kind, _ in steps].count("file") >= 2
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BATTERIES_", "FLASK_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    outputs = []
    for kind, body in steps:
        if kind == "file":
            (tmp_path / "app.py").write_text(body)
            continue
        done = subprocess.run(
            shlex.split(body), cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, f"{body}\n{done.stdout}\n{done.stderr}"
        outputs.append(done.stdout)
    revisions = sorted((tmp_path / "migrations").glob("*.py"))
    assert len(revisions) >= 2
    assert any("agree" in out for out in outputs)


# -- batteries new ---------------------------------------------------------------------------------


def test_new_project_ships_its_first_revision(tmp_path):
    from batteries.starter import create_project

    target = create_project("demo", tmp_path)
    revisions = list((target / "demo" / "migrations").glob("*.py"))
    assert len(revisions) == 1
    source = revisions[0].read_text()
    assert "create_table('user'" in source and "create_table('note'" in source
    assert (target / "tests" / "test_migrations.py").is_file()


@pytest.mark.slow
def test_new_project_migrations_match_its_models(tmp_path):
    from batteries.starter import create_project

    target = create_project("demo", tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_migrations.py"],
        cwd=target, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout


def test_example_blog_has_migrations():
    folder = ROOT / "examples" / "blog" / "blog" / "migrations"
    assert len(list(folder.glob("*.py"))) >= 1

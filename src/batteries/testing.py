"""The Batteries pytest plugin (registered through the ``pytest11`` entry point).

Fixtures, each overridable by a fixture of the same name in the project's ``conftest.py``:

- ``app``: the application under test, from ``--batteries-app IMPORT`` (``pkg:create_app`` or
  ``pkg:app``; a factory is called with ``{"TESTING": True}`` when it accepts an argument),
  or the ``BATTERIES_TEST_APP`` environment variable; ``TESTING`` is set;
- ``client``: ``app.test_client()``;
- ``runner``: ``app.test_cli_runner()``.
- ``db``: :data:`batteries.db` for ``app``, its tables created, with the whole test inside one
  database transaction that is rolled back at the end (views that commit only release a
  savepoint), so tests never see each other's rows. The tables come from ``create_all`` (fast,
  the default) or, with ``batteries_schema = migrations`` in the pytest ini (or
  ``--batteries-schema=migrations``), from the app's migrations upgraded to the head. The
  test runs inside an app context of ``app`` (``db.session`` works in the test body); requests
  of the test client still get app contexts of their own.

Isolation (on by default; ``batteries_isolate = false`` in the ini or ``--batteries-no-isolate``
turns it off): each test session gets a temporary folder, and every ``Batteries`` app made
during the session without an explicit ``instance_path`` gets its instance folder there (one
per app) instead of the project's ``instance/``. So the defaults that live in the instance
folder (the SQLite database, the file cache, the task broker, uploads, rate-limit counts, the
development key) start empty and the project's ``instance/`` folder, ``instance/config.py``
included, is neither read nor written. What the tests configure explicitly (a factory's
config, ``app.config[...]``, ``instance_path=``, ``BATTERIES_*`` variables) still wins.

``--batteries-database-url``, else ``BATTERIES_TEST_DATABASE_URL``, else
``batteries_database_url`` in the ini, names a PostgreSQL server for the session: the plugin creates a
private schema there, points the apps' default database at it (``BATTERIES_DATABASE_URL``,
``search_path`` set to the schema) and drops it when the session ends. See docs/testing.md.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import inspect
import os
import re
import shutil
import tempfile
import typing as t
import uuid
from dataclasses import dataclass, field

import pytest

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask
    from flask.testing import FlaskClient, FlaskCliRunner


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("batteries")
    group.addoption(
        "--batteries-app",
        default=None,
        help="import path of the app or factory for the 'app' fixture, e.g. 'blog:create_app'",
    )
    group.addoption(
        "--batteries-schema",
        default=None,
        choices=SCHEMAS,
        help="how the 'db' fixture builds the tables (overrides the batteries_schema ini option)",
    )
    group.addoption(
        "--batteries-no-isolate",
        action="store_true",
        default=False,
        help="let apps use the project's instance folder (overrides batteries_isolate)",
    )
    group.addoption(
        "--batteries-database-url",
        default=None,
        help=f"a PostgreSQL URL; the session uses a private schema there (or {TEST_DATABASE_ENV})",
    )
    parser.addini(
        "batteries_isolate",
        "give each test session its own instance folders (default true)",
        type="bool",
        default=True,
    )
    parser.addini(
        "batteries_database_url",
        f"a PostgreSQL URL for the tests' database, private schema per session "
        f"({TEST_DATABASE_ENV} and --batteries-database-url win over it)",
        default="",
    )
    parser.addini(
        "batteries_schema",
        "how the 'db' fixture builds the tables: 'create_all' (default) or 'migrations' "
        "(the app's MIGRATIONS_DIR upgraded to the head)",
        default="create_all",
    )


SCHEMAS = ("create_all", "migrations")
TEST_DATABASE_ENV = "BATTERIES_TEST_DATABASE_URL"
DATABASE_ENV = "BATTERIES_DATABASE_URL"
#: environment variables that would point the tests at a store outside the session
STORE_VARIABLES = tuple(
    "BATTERIES_" + key
    for key in (
        "DATABASE_URL",
        "SQLALCHEMY_DATABASE_URI",
        "CACHE_",
        "UPLOAD_FOLDER",
        "RATELIMIT_URL",
        "CELERY",
        "MAIL_URL",
        "SQLITE_",
        "MONGODB_",
    )
)


# -- isolation: the session's own instance folders and database -----------------------------


@dataclass
class Isolation:
    """What the plugin changed for the session, undone by :meth:`undo` at its end."""

    root: str | None = None
    database_url: str | None = None
    schema: str | None = None
    admin_url: str | None = None
    saved_env: dict[str, str | None] = field(default_factory=dict)
    saved_finder: t.Any = None
    patched: bool = False
    #: ``BATTERIES_*`` variables of the environment that move a store, reported in the header
    outside: list[str] = field(default_factory=list)

    def instance_path_for(self, name: str, found: str) -> str:
        """The session's instance folder of an app whose own would be ``found``."""
        assert self.root is not None
        digest = hashlib.sha256(os.fsencode(os.path.abspath(found))).hexdigest()[:8]
        folder = os.path.join(self.root, f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}-{digest}")
        os.makedirs(folder, mode=0o700, exist_ok=True)
        return folder

    def set_env(self, name: str, value: str) -> None:
        self.saved_env.setdefault(name, os.environ.get(name))
        os.environ[name] = value

    def undo(self) -> None:
        if self.patched:
            from .app import Batteries

            if self.saved_finder is None:
                del Batteries.auto_find_instance_path
            else:
                setattr(Batteries, "auto_find_instance_path", self.saved_finder)  # noqa: B010
            self.patched = False
        for name, old in self.saved_env.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
        self.saved_env.clear()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
        if self.schema is not None and self.admin_url is not None:
            schema, self.schema = self.schema, None
            drop_schema(self.admin_url, schema)  # a failure here is reported, not hidden


ISOLATION = pytest.StashKey[Isolation]()


def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Set the session up before any conftest (which may make an app at import) is loaded."""
    from ._compat import give_builders_their_own_files

    # Werkzeug 3.2.dev: test builders share one dict of files and close each other's.
    give_builders_their_own_files()
    isolation = Isolation()
    early_config.stash[ISOLATION] = isolation
    options = early_config.known_args_namespace
    isolation.outside = sorted(
        name for name in os.environ if name.startswith(STORE_VARIABLES) and os.environ[name]
    )
    off = getattr(options, "batteries_no_isolate", False)
    if not off and early_config.getini("batteries_isolate"):
        isolation.root = tempfile.mkdtemp(prefix="batteries-test-")
        redirect_instance_folders(isolation)
    url = (
        getattr(options, "batteries_database_url", None)
        or os.environ.get(TEST_DATABASE_ENV)
        or early_config.getini("batteries_database_url")
    )
    if url:
        try:
            use_private_schema(isolation, url)
        except BaseException:
            isolation.undo()
            raise


def pytest_unconfigure(config: pytest.Config) -> None:
    isolation = config.stash.get(ISOLATION, None)
    if isolation is not None:
        isolation.undo()


def pytest_report_header(config: pytest.Config) -> list[str]:
    isolation = config.stash.get(ISOLATION, None)
    if isolation is None:
        return []
    lines = []
    if isolation.root is not None:
        lines.append(f"batteries: instance folders in {isolation.root} (this session's own)")
    else:
        lines.append("batteries: not isolated, apps use their own instance folders")
    if isolation.outside:
        lines.append(
            f"batteries: {', '.join(isolation.outside)} from the environment apply to the tests"
        )
    if isolation.schema is not None:
        lines.append(f"batteries: database {isolation.schema!r} schema (dropped at the end)")
    return lines


def redirect_instance_folders(isolation: Isolation) -> None:
    """Give every ``Batteries`` app made without ``instance_path=`` a folder of the session.

    Flask calls the public ``auto_find_instance_path()`` exactly when the constructor got no
    ``instance_path``; for the session, Batteries' answers with a folder under the session's
    root (one per app and project, so two apps never share a database file). Subclasses that
    define their own ``auto_find_instance_path`` keep it.
    """
    from .app import Batteries

    isolation.saved_finder = Batteries.__dict__.get("auto_find_instance_path")
    found_by_flask = Batteries.auto_find_instance_path

    def auto_find_instance_path(self: Batteries) -> str:
        return isolation.instance_path_for(self.name, found_by_flask(self))

    auto_find_instance_path.__doc__ = (
        "The test session's instance folder for this app (set by the batteries pytest plugin)."
    )
    setattr(Batteries, "auto_find_instance_path", auto_find_instance_path)  # noqa: B010
    isolation.patched = True


def use_private_schema(isolation: Isolation, url: str) -> None:
    """Create a schema of the session's own on PostgreSQL ``url`` and point apps' default there."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise pytest.UsageError(f"{TEST_DATABASE_ENV}: {exc}") from None
    if parsed.get_backend_name() != "postgresql":
        raise pytest.UsageError(
            f"{TEST_DATABASE_ENV} (batteries_database_url) takes a PostgreSQL URL "
            f"(postgresql+psycopg://user@host/db), not {parsed.get_backend_name()!r}"
        )
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    schema = "batteries_test_" + uuid.uuid4().hex[:12]
    admin_url = parsed.render_as_string(hide_password=False)
    try:
        engine = create_engine(admin_url)
    except ImportError as exc:
        raise pytest.UsageError(
            f"{TEST_DATABASE_ENV}: the driver is missing ({exc}); install batteries[postgres]"
        ) from None
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except SQLAlchemyError as exc:
        raise pytest.UsageError(
            f"{TEST_DATABASE_ENV}: cannot create a schema on {parsed!r}: {getattr(exc, 'orig', None) or exc}"
        ) from None
    finally:
        engine.dispose()
    isolation.schema = schema
    isolation.admin_url = admin_url
    options = " ".join(
        filter(None, [str(parsed.query.get("options", "")), f"-csearch_path={schema}"])
    )
    isolation.database_url = parsed.update_query_dict({"options": options}).render_as_string(
        hide_password=False
    )
    isolation.set_env(DATABASE_ENV, isolation.database_url)
    if DATABASE_ENV in isolation.outside:  # replaced for the session: not reaching out any more
        isolation.outside.remove(DATABASE_ENV)


def drop_schema(admin_url: str, schema: str) -> None:
    """Drop the session's schema and everything in it."""
    from sqlalchemy import create_engine

    engine = create_engine(admin_url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("SET LOCAL lock_timeout = '30s'")
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        engine.dispose()


def load_app(import_path: str) -> Flask:
    """Import ``module:name`` and return the app, calling it when it is a factory."""
    from flask import Flask
    from werkzeug.utils import import_string

    module, _, name = import_path.partition(":")
    target = import_string(
        f"{module}:{name or 'create_app'}" if name or ":" in import_path else module
    )
    if isinstance(target, Flask):
        app = target
    elif callable(target):
        params = inspect.signature(target).parameters
        app = target({"TESTING": True}) if params else target()
    else:
        target = getattr(target, "create_app", None) or getattr(target, "app", None)
        if target is None:
            raise pytest.UsageError(f"{import_path!r} has no app or create_app")
        app = (
            target({"TESTING": True})
            if callable(target) and not isinstance(target, Flask)
            else target
        )
    if not isinstance(app, Flask):
        raise pytest.UsageError(f"{import_path!r} did not give a Flask app")
    app.config["TESTING"] = True
    return app


@pytest.fixture
def app(request: pytest.FixtureRequest) -> Flask:
    """The app under test (``--batteries-app`` or ``BATTERIES_TEST_APP``)."""
    import_path = request.config.getoption("--batteries-app") or os.environ.get(
        "BATTERIES_TEST_APP"
    )
    if not import_path:
        raise pytest.UsageError(
            "the 'app' fixture needs --batteries-app=pkg:create_app (or BATTERIES_TEST_APP), "
            "or define an 'app' fixture in conftest.py"
        )
    return load_app(import_path)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of ``app``."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """A CLI runner of ``app`` (``runner.invoke(args=["db", "init"])``)."""
    return app.test_cli_runner()


@pytest.fixture
def db(app: Flask, request: pytest.FixtureRequest) -> t.Iterator[t.Any]:
    """:data:`batteries.db` for ``app``, with each test in a transaction rolled back at the end.

    The models' tables are created (``create_all``) on the app's database; then one connection
    opens a transaction, and every ``db.session`` of the app (in requests of the test client
    and in the test body) joins it through a SAVEPOINT: a view's ``commit()`` releases its
    savepoint, the next request sees the row, and when the test ends the transaction is rolled
    back, so the next test starts from the same database. The test body runs in an app context
    of ``app`` (each request still gets its own, with its own ``g`` and session)::

        def test_signup(client, db):
            client.post("/signup", data={"name": "ann"})      # the view commits
            assert db.session.scalar(select(User.name)) == "ann"

    Use one thread (the test client does); ``db.engine.connect()`` bypasses the transaction.
    With ``batteries_schema = migrations`` the tables come from the app's migrations (upgraded
    to the head, which also tests them) instead of ``create_all``.
    """
    from .sqla import db as database

    schema = request.config.getoption("--batteries-schema") or request.config.getini(
        "batteries_schema"
    )
    if schema not in SCHEMAS:
        raise pytest.UsageError(f"batteries_schema = {schema!r}: use one of {', '.join(SCHEMAS)}")
    with app.app_context():
        if schema == "migrations":
            from .migrations import upgrade

            upgrade(app, db=database)
        else:
            database.create_all()
        engine = database.engine
    connection = engine.connect()
    transaction = connection.begin()
    driver: t.Any = connection.connection.driver_connection
    legacy_sqlite = engine.dialect.name == "sqlite" and driver.isolation_level is not None
    if legacy_sqlite:
        # sqlite3 begins transactions on its own, only before writes, and a SAVEPOINT outside
        # a transaction would commit when released: take the transaction control from it.
        saved_level = driver.isolation_level
        driver.isolation_level = None
        driver.execute("BEGIN")
    try:
        with database.bound_to(app, connection), app.app_context(), own_contexts(app):
            yield database
    finally:
        if transaction.is_active:
            transaction.rollback()
        if legacy_sqlite:
            if driver.in_transaction:
                driver.rollback()
            driver.isolation_level = saved_level
        connection.close()


@contextlib.contextmanager
def own_contexts(app: Flask) -> t.Iterator[None]:
    """Within the block, each request to ``app`` runs with none of the caller's contexts.

    The ``db`` fixture keeps an app context pushed for the test body; Flask would make every
    request of the test client reuse it (one ``g`` and one ``db.session`` for the whole test).
    The WSGI app is wrapped, as a middleware, to run each request in an empty
    ``contextvars.Context``: the request pushes an app context of its own, as it would in
    production. (Contexts preserved by ``with client:`` are pushed in the test's context by
    the client, after the request.)
    """
    inner = app.wsgi_app

    def wsgi_app(environ: dict[str, t.Any], start_response: t.Any) -> t.Any:
        return contextvars.Context().run(inner, environ, start_response)

    app.wsgi_app = wsgi_app  # type: ignore[method-assign]
    try:
        yield
    finally:
        app.wsgi_app = inner  # type: ignore[method-assign]


# -- login_as (added by the auth battery, batteries.auth) -----------------------------------


@pytest.fixture
def login_as(client: FlaskClient) -> t.Callable[[t.Any], FlaskClient]:
    """Log the test ``client`` in as a user, without going through the login form.

    ``login_as(user)`` (an object with ``get_id()``, or the id itself) writes the id where
    :func:`batteries.auth.login_user` keeps it and returns the client; the app's user loader
    turns it back into the user on the next request. Needs ``SECRET_KEY``::

        def test_account(client, login_as, user):
            login_as(user)
            assert client.get("/account").status_code == 200
    """
    from batteries.auth import SESSION_KEY

    def login(user: t.Any) -> FlaskClient:
        user_id = user.get_id() if hasattr(user, "get_id") else user
        if user_id is None:
            raise ValueError(f"login_as: {user!r} has no id")
        with client.session_transaction() as session:
            session[SESSION_KEY] = user_id
        return client

    return login


# -- celery_eager (added by the tasks battery, batteries.tasks) -----------------------------


@pytest.fixture
def celery_eager(app: Flask) -> t.Iterator[t.Any]:
    """Run ``app.celery``'s tasks in the test's own process, synchronously, for one test.

    ``task.delay()`` runs the task at once (in an app context, as a worker would) and returns
    an ``EagerResult``; exceptions raised by the task propagate to the test. Yields the Celery
    app; its settings are restored afterwards::

        def test_welcome_mail(app, celery_eager):
            send_welcome.delay(user_id=1).get()
    """
    celery_app = app.celery  # type: ignore[attr-defined]
    changes = {"task_always_eager": True, "task_eager_propagates": True}
    saved = {key: celery_app.conf.get(key) for key in changes}
    celery_app.conf.update(changes)
    try:
        yield celery_app
    finally:
        celery_app.conf.update(saved)


# -- mail_outbox (added by the mail battery, batteries.mail) --------------------------------


@pytest.fixture
def mail_outbox(app: Flask) -> t.Iterator[list[t.Any]]:
    """The messages ``send_mail()`` sent during the test (``email.message.EmailMessage``).

    ``MAIL_URL`` is ``memory:`` for the test (restored afterwards) and the outbox starts empty::

        def test_reset_mail(client, mail_outbox):
            client.post("/auth/reset", data={"email": "ann@example.com"})
            assert mail_outbox[0]["To"] == "ann@example.com"
    """
    from batteries.mail import outbox

    box = outbox(app)
    missing = object()
    saved = app.config.get("MAIL_URL", missing)
    app.config["MAIL_URL"] = "memory:"
    box.clear()
    try:
        yield box
    finally:
        box.clear()
        if saved is missing:
            app.config.pop("MAIL_URL", None)
        else:
            app.config["MAIL_URL"] = saved

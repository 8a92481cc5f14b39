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
  ``--batteries-schema=migrations``), from the app's migrations upgraded to the head.
"""

from __future__ import annotations

import inspect
import os
import typing as t

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
    parser.addini(
        "batteries_schema",
        "how the 'db' fixture builds the tables: 'create_all' (default) or 'migrations' "
        "(the app's MIGRATIONS_DIR upgraded to the head)",
        default="create_all",
    )


SCHEMAS = ("create_all", "migrations")


def load_app(import_path: str) -> Flask:
    """Import ``module:name`` and return the app, calling it when it is a factory."""
    from flask import Flask
    from werkzeug.utils import import_string

    module, _, name = import_path.partition(":")
    target = import_string(f"{module}:{name or 'create_app'}" if name or ":" in import_path else module)
    if isinstance(target, Flask):
        app = target
    elif callable(target):
        params = inspect.signature(target).parameters
        app = target({"TESTING": True}) if params else target()
    else:
        target = getattr(target, "create_app", None) or getattr(target, "app", None)
        if target is None:
            raise pytest.UsageError(f"{import_path!r} has no app or create_app")
        app = target({"TESTING": True}) if callable(target) and not isinstance(target, Flask) else target
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
    and in ``with app.app_context():`` blocks) joins it through a SAVEPOINT: a view's
    ``commit()`` releases its savepoint, the next request sees the row, and when the test ends
    the transaction is rolled back, so the next test starts from the same database::

        def test_signup(client, db):
            client.post("/signup", data={"name": "ann"})      # the view commits
            with client.application.app_context():
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
        raise pytest.UsageError(
            f"batteries_schema = {schema!r}: use one of {', '.join(SCHEMAS)}"
        )
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
        with database.bound_to(app, connection):
            yield database
    finally:
        if transaction.is_active:
            transaction.rollback()
        if legacy_sqlite:
            if driver.in_transaction:
                driver.rollback()
            driver.isolation_level = saved_level
        connection.close()


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

"""DB-backed list pages: Batteries vs the Flask extension stack vs a hand-written session.

Three apps serve the same two pages from the same kind of table (200 rows), through the whole
WSGI stack, in process, with the same template:

- ``list``: the first 20 rows (``select ... order by id limit 20``);
- ``page``: page 3 of 20 rows with the total and a pager (``?page=3``): Batteries'
  ``db.paginate``, Flask-SQLAlchemy's ``db.paginate``, and by hand a count plus a select.

The contenders:

- ``batteries``: ``Batteries(__name__)`` at its defaults with ``batteries.db``;
- ``stack``: Flask + Flask-SQLAlchemy + Flask-WTF (``CSRFProtect``) + Flask-Caching +
  Flask-Login, initialised as a typical app does;
- ``hand``: plain Flask with a ``scoped_session`` removed at teardown (Flask's "SQLAlchemy in
  Flask" pattern).

On SQLite (a file per app) and, when it answers, on PostgreSQL 127.0.0.1:5432 (database
``test``, a private schema dropped afterwards). Goal (issue 19): Batteries ≤ 0.80× the stack's per-request
time on SQLite.

    python bench/db.py [--rounds 11] [--calls 150] [--no-pg]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import typing as t
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (
    interleave,
    machine,
    make_environ,
    matrix_result,
    paired_ratio,
    print_matrix,
    wsgi_caller,
)

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ROWS = 200
TABLE = "dbbench_items"
SECRET_KEY = "bench-db-secret-key-not-for-production"
IMPLS = ["batteries", "stack", "hand"]

TEMPLATE = """<!doctype html>
<title>Items</title>
<table>
{%- for item in items %}
<tr><td>{{ item.id }}</td><td>{{ item.name }}</td><td>{{ "%.2f"|format(item.price) }}</td></tr>
{%- endfor %}
</table>
{% if nav %}<p>{{ total }} items</p><nav>
{%- for n in nav %}{% if n %}<a href="?page={{ n }}">{{ n }}</a>{% else %}…{% endif %}{% endfor %}
</nav>{% endif %}
"""


def _fill(engine: t.Any) -> None:
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {TABLE} "
                "(id INTEGER PRIMARY KEY, name VARCHAR(80) NOT NULL, price FLOAT NOT NULL)"
            )
        )
        if not conn.execute(text(f"SELECT count(*) FROM {TABLE}")).scalar():
            conn.execute(
                text(f"INSERT INTO {TABLE} (id, name, price) VALUES (:id, :name, :price)"),
                [{"id": i, "name": f"Item number {i}", "price": 1.5 * i + 0.99} for i in range(1, ROWS + 1)],
            )


def _columns() -> t.Any:
    from sqlalchemy import String
    from sqlalchemy.orm import Mapped, mapped_column

    return {
        "__tablename__": TABLE,
        "__annotations__": {"id": Mapped[int], "name": Mapped[str], "price": Mapped[float]},
        "id": mapped_column(primary_key=True),
        "name": mapped_column(String(80)),
    }


_models: dict[str, t.Any] = {}


def batteries_app(url: str, templates: str, engine_options: dict[str, t.Any]) -> t.Any:
    from flask import render_template
    from sqlalchemy import select

    from batteries import Batteries, db

    if "batteries" not in _models:
        _models["batteries"] = type("BatteriesItem", (db.Model,), _columns())
    item = _models["batteries"]
    app = Batteries("bench_db_batteries", template_folder=templates, root_path=templates)
    app.config.update(SECRET_KEY=SECRET_KEY, DATABASE_URL=url, DATABASE_ENGINE_OPTIONS=engine_options)
    with app.app_context():
        _fill(db.engine)

    @app.route("/list")
    def list_page() -> str:
        items = db.session.scalars(select(item).order_by(item.id).limit(20)).all()
        return render_template("list.html", items=items, nav=None)

    @app.route("/page")
    def page() -> str:
        p = db.paginate(select(item).order_by(item.id))
        return render_template("list.html", items=p.items, nav=list(p.iter_pages()), total=p.total)

    return app


def stack_app(url: str, templates: str, engine_options: dict[str, t.Any]) -> t.Any:
    from flask import Flask, render_template
    from flask_caching import Cache
    from flask_login import LoginManager, UserMixin
    from flask_sqlalchemy import SQLAlchemy
    from flask_wtf import CSRFProtect
    from sqlalchemy import select
    from sqlalchemy.orm import DeclarativeBase

    if "stack" not in _models:

        class Base(DeclarativeBase):
            pass

        fsa = SQLAlchemy(model_class=Base)
        _models["stack"] = (fsa, type("StackItem", (fsa.Model,), _columns()))
    fsa, item = _models["stack"]

    class User(UserMixin):
        def __init__(self, user_id: str) -> None:
            self.id = user_id

    app = Flask("bench_db_stack", template_folder=templates, root_path=templates)
    app.config.update(
        SECRET_KEY=SECRET_KEY,
        SQLALCHEMY_DATABASE_URI=url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options,
        CACHE_TYPE="SimpleCache",
    )
    fsa.init_app(app)
    CSRFProtect(app)
    Cache(app)
    login_manager = LoginManager(app)

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        return User(user_id) if user_id == "1" else None

    with app.app_context():
        _fill(fsa.engine)

    @app.route("/list")
    def list_page() -> str:
        items = fsa.session.scalars(select(item).order_by(item.id).limit(20)).all()
        return render_template("list.html", items=items, nav=None)

    @app.route("/page")
    def page() -> str:
        p = fsa.paginate(select(item).order_by(item.id))
        return render_template("list.html", items=p.items, nav=list(p.iter_pages()), total=p.total)

    return app


def hand_app(url: str, templates: str, engine_options: dict[str, t.Any]) -> t.Any:
    from flask import Flask, abort, render_template, request
    from sqlalchemy import create_engine, func, select
    from sqlalchemy.orm import DeclarativeBase, scoped_session, sessionmaker

    if "hand" not in _models:

        class Base(DeclarativeBase):
            pass

        _models["hand"] = type("HandItem", (Base,), _columns())
    item = _models["hand"]
    engine = create_engine(url, **engine_options)
    _fill(engine)
    session = scoped_session(sessionmaker(bind=engine))
    app = Flask("bench_db_hand", template_folder=templates, root_path=templates)
    app.config["SECRET_KEY"] = SECRET_KEY
    app.extensions["bench_engine"] = engine

    @app.teardown_appcontext
    def remove_session(exc: BaseException | None = None) -> None:
        session.remove()

    @app.route("/list")
    def list_page() -> str:
        items = session.scalars(select(item).order_by(item.id).limit(20)).all()
        return render_template("list.html", items=items, nav=None)

    @app.route("/page")
    def page() -> str:
        number = request.args.get("page", 1, type=int)
        if number < 1:
            abort(404)
        total = session.scalar(select(func.count()).select_from(item))
        items = session.scalars(
            select(item).order_by(item.id).limit(20).offset((number - 1) * 20)
        ).all()
        if not items and number > 1:
            abort(404)
        pages = -(-total // 20)
        return render_template("list.html", items=items, nav=list(range(1, pages + 1)), total=total)

    return app


def _engine_of(impl: str, app: t.Any) -> t.Any:
    if impl == "batteries":
        from batteries import db

        return db.get_engine(app)
    if impl == "stack":
        with app.app_context():
            return _models["stack"][0].engine
    return app.extensions["bench_engine"]


def main(argv: list[str] | None = None) -> dict[str, t.Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--calls", type=int, default=150)
    parser.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--tiny", action="store_true", help="a quick smoke run")
    args = parser.parse_args(argv)
    if args.tiny:
        args.rounds, args.calls = 2, 5

    workdir = tempfile.mkdtemp(prefix="batteries-bench-db-")
    templates = os.path.join(workdir, "templates")
    os.makedirs(templates)
    with open(os.path.join(templates, "list.html"), "w", encoding="utf-8") as f:
        f.write(TEMPLATE)

    databases: list[tuple[str, t.Callable[[str], str], dict[str, t.Any]]] = [
        ("sqlite", lambda impl: f"sqlite:///{os.path.join(workdir, impl + '.sqlite')}", {}),
    ]
    schema = None
    if not args.no_pg and _pg_up():
        schema = "bench_db_" + uuid.uuid4().hex[:10]
        _pg_exec(f"CREATE SCHEMA {schema}")
        databases.append(
            ("postgresql", lambda impl: PG_URL, {"connect_args": {"options": f"-csearch_path={schema}"}})
        )

    builders = {"batteries": batteries_app, "stack": stack_app, "hand": hand_app}
    contenders: dict[tuple[str, str], t.Callable[[], None]] = {}
    apps: list[tuple[str, t.Any]] = []
    try:
        for db_name, url_for_impl, options in databases:
            for impl in IMPLS:
                app = builders[impl](url_for_impl(impl), templates, dict(options))
                apps.append((impl, app))
                for case, path in (("list", "/list"), ("page", "/page?page=3")):
                    environ = make_environ(path.split("?")[0])
                    if "?" in path:
                        environ["QUERY_STRING"] = path.split("?", 1)[1]
                    contenders[(f"{db_name} {case}", impl)] = wsgi_caller(app, environ)
        flat = {f"{case}|{impl}": fn for (case, impl), fn in contenders.items()}
        samples = interleave(flat, rounds=args.rounds, calls=args.calls)
    finally:
        for impl, app in apps:
            try:
                _engine_of(impl, app).dispose()
            except Exception:
                pass
        if schema:
            _pg_exec(f"DROP SCHEMA {schema} CASCADE")
        shutil.rmtree(workdir, ignore_errors=True)

    keyed = {tuple(name.split("|")): values for name, values in samples.items()}
    result = matrix_result("db", keyed, baseline="stack")  # type: ignore[arg-type]
    for (case, impl), values in keyed.items():
        if impl == "batteries" and (case, "hand") in keyed:
            result["ratios"][f"{case} batteries/hand"] = paired_ratio(values, keyed[(case, "hand")])
    result["goals"] = [
        {"ratio": "sqlite list batteries/stack", "op": "<=", "target": 0.80},
        {"ratio": "sqlite page batteries/stack", "op": "<=", "target": 0.80},
    ]
    result["machine"] = machine()
    result["rounds"], result["calls"] = args.rounds, args.calls
    print(
        f"DB-backed pages, median per request ({args.rounds} rounds × {args.calls} calls; "
        "ratios are medians of per-round ratios)"
    )
    print_matrix(result, IMPLS, baseline="stack")
    for name, value in sorted(result["ratios"].items()):
        if name.endswith("batteries/hand"):
            print(f"{name}: {value:.2f}×")
    return result


def _pg_up() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


def _pg_exec(sql: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(PG_URL)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(sql)
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()

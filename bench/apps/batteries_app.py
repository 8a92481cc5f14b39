"""Batteries at its defaults (every battery available, none configured), the same routes.

The DB page uses ``batteries.db`` once that battery exists; until then it falls back to the
hand-written session of :mod:`apps.flask_app` (``app.extensions["bench_db"]`` says which). The
template pages extend ``batteries/base.html`` once Batteries ships it, else the app's own layout.
"""

from __future__ import annotations

import os
import typing as t

from flask import render_template
from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column

from apps import JSON_BODY, PAGE_ROWS, SECRET_KEY, TEMPLATES, data_dir, fill_items, sqlite_url
from batteries import Batteries

BASE_TEMPLATE = os.path.join(
    os.path.dirname(__import__("batteries").__file__), "templates", "batteries", "base.html"
)

_models: dict[str, t.Any] = {}


def batteries_db() -> t.Any:
    """``batteries.db`` if this version of Batteries has it, else None."""
    try:
        import batteries

        return batteries.db
    except (AttributeError, ImportError):
        return None


def _batteries_item(db: t.Any) -> t.Any:
    if "item" not in _models:

        class BenchItem(db.Model):  # type: ignore[name-defined,misc]
            __tablename__ = "items"

            id: Mapped[int] = mapped_column(primary_key=True)
            name: Mapped[str] = mapped_column(String(80))
            price: Mapped[float]

        _models["item"] = BenchItem
    return _models["item"]


def uses_base_template() -> bool:
    return os.path.isfile(BASE_TEMPLATE)


def create_app(
    db_url: str | None = None, secret_key: str | None = SECRET_KEY, layout: str = "base"
) -> Batteries:
    """``layout="base"``: the pages extend ``batteries/base.html``; ``"flask"``: the same
    templates as :mod:`apps.flask_app` (its ``layout.html``)."""
    folder = "batteries_app" if layout == "base" and uses_base_template() else "flask"
    app = Batteries(
        __name__,
        template_folder=os.path.join(TEMPLATES, folder),
        instance_path=os.path.join(data_dir(), "batteries-instance"),
    )
    app.config["SECRET_KEY"] = secret_key
    url = db_url or sqlite_url("batteries")
    db = batteries_db()
    if db is not None:
        app.config["DATABASE_URL"] = url
        item = _batteries_item(db)
        with app.app_context():
            fill_items(db.engine)

        def load_items() -> t.Any:
            return db.session.scalars(select(item).order_by(item.id).limit(20)).all()

        app.extensions["bench_db"] = "batteries.db"
    else:
        from sqlalchemy import create_engine
        from sqlalchemy.orm import scoped_session, sessionmaker

        from apps.models import Item

        engine = create_engine(url)
        fill_items(engine)
        session = scoped_session(sessionmaker(bind=engine))

        @app.teardown_appcontext
        def remove_session(exc: BaseException | None = None) -> None:
            session.remove()

        def load_items() -> t.Any:
            return session.scalars(select(Item).order_by(Item.id).limit(20)).all()

        app.extensions["bench_db"] = "hand-written session (batteries.db not available)"

    @app.route("/hello")
    def hello() -> str:
        return "Hello, World!"

    @app.route("/json")
    def json() -> dict:
        return JSON_BODY

    @app.route("/page")
    def page() -> str:
        return render_template("page.html", rows=PAGE_ROWS)

    @app.route("/items")
    def items() -> str:
        return render_template("items.html", items=load_items())

    return app

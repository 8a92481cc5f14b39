"""Plain Flask, with the hand-written SQLAlchemy session of Flask's "SQLAlchemy in Flask" pattern."""

from __future__ import annotations

import os

from flask import Flask, render_template
from sqlalchemy import create_engine, select
from sqlalchemy.orm import scoped_session, sessionmaker

from apps import JSON_BODY, PAGE_ROWS, SECRET_KEY, TEMPLATES, fill_items, sqlite_url
from apps.models import Item


def create_app(
    db_url: str | None = None, secret_key: str | None = SECRET_KEY, layout: str = "flask"
) -> Flask:
    """``layout`` is Batteries' choice of layout (see :mod:`apps.batteries_app`): Flask's app
    always uses its own ``layout.html``."""
    app = Flask(__name__, template_folder=os.path.join(TEMPLATES, "flask"))
    app.config["SECRET_KEY"] = secret_key
    engine = create_engine(db_url or sqlite_url("flask"))
    fill_items(engine)
    session = scoped_session(sessionmaker(bind=engine))
    app.extensions["bench_db_session"] = session

    @app.teardown_appcontext
    def remove_session(exc: BaseException | None = None) -> None:
        session.remove()

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
        rows = session.scalars(select(Item).order_by(Item.id).limit(20)).all()
        return render_template("items.html", items=rows)

    return app

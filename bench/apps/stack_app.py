"""Flask + Flask-SQLAlchemy + Flask-WTF + Flask-Caching + Flask-Login, set up as a typical app is.

``CSRFProtect(app)`` guards every POST, a ``LoginManager`` with a user loader, a ``SimpleCache``,
Flask-SQLAlchemy's ``db.Model`` and session; the layout shows the login state and flashes.
"""

from __future__ import annotations

import os
import typing as t

from flask import Flask, render_template
from flask_caching import Cache
from flask_login import LoginManager, UserMixin
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from apps import JSON_BODY, PAGE_ROWS, SECRET_KEY, TEMPLATES, fill_items, sqlite_url


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
csrf = CSRFProtect()
cache = Cache()
login_manager = LoginManager()


class StackItem(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    price: Mapped[float]


class User(UserMixin):
    def __init__(self, user_id: str) -> None:
        self.id = user_id


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return User(user_id) if user_id == "1" else None


def create_app(db_url: str | None = None) -> Flask:
    app = Flask(__name__, template_folder=os.path.join(TEMPLATES, "stack"))
    app.config["SECRET_KEY"] = SECRET_KEY
    app.config["SQLALCHEMY_DATABASE_URI"] = db_url or sqlite_url("stack")
    app.config["CACHE_TYPE"] = "SimpleCache"
    db.init_app(app)
    csrf.init_app(app)
    cache.init_app(app)
    login_manager.init_app(app)
    with app.app_context():
        fill_items(db.engine)

    @app.route("/hello")
    def hello() -> str:
        return "Hello, World!"

    @app.route("/json")
    def json() -> dict[str, t.Any]:
        return JSON_BODY

    @app.route("/page")
    def page() -> str:
        return render_template("page.html", rows=PAGE_ROWS)

    @app.route("/items")
    def items() -> str:
        rows = db.session.scalars(select(StackItem).order_by(StackItem.id).limit(20)).all()
        return render_template("items.html", items=rows)

    return app

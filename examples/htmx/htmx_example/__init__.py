"""A to-do list driven by htmx: inline edit, delete with confirm, a form answering 422, logins.

Run it (htmx comes from npm, it is not part of this repository)::

    npm pack htmx.org@2 && tar xzf htmx.org-2.*.tgz package/dist/htmx.min.js
    mkdir -p instance/vendor && mv package/dist/htmx.min.js instance/vendor/
    batteries --app htmx_example run

``HTMX_FOLDER`` (default ``<instance>/vendor``) is where ``htmx.min.js`` is served from, at
``/vendor/htmx.min.js``. Log in with any name; the list lives in memory, one per app.
"""

from __future__ import annotations

import itertools
import os
import threading
from dataclasses import dataclass, field

from flask import abort, redirect, render_template, request, send_from_directory, url_for

from batteries import (
    Batteries,
    current_user,
    flash,
    login_required,
    login_user,
    logout_user,
    templated,
)
from batteries.auth import safe_next

MAX_TITLE = 60


@dataclass
class User:
    name: str

    def get_id(self) -> str:
        return self.name


@dataclass
class Item:
    id: int
    title: str
    done: bool = False


@dataclass
class Items:
    """The to-do list of one app (in memory; a real app keeps it in its database)."""

    items: dict[int, Item] = field(default_factory=dict)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, title: str) -> Item:
        with self.lock:
            item = Item(next(self.ids), title)
            self.items[item.id] = item
            return item

    def get(self, id: int) -> Item:
        found = self.items.get(id)
        if found is None:
            abort(404, description=f"There is no item {id}.")
        return found


def check_title(title: str) -> str | None:
    """What is wrong with a title, or None."""
    if not title:
        return "Give the item a title."
    if len(title) > MAX_TITLE:
        return f"Keep the title under {MAX_TITLE} characters (this one has {len(title)})."
    return None


def create_app(config: dict | None = None) -> Batteries:
    app = Batteries(__name__)
    app.config.update(
        SECURITY_HEADERS=True,
        CSRF_PROTECT_ALL=True,
        LOGIN_VIEW="login",
        HTMX_FOLDER=os.path.join(app.instance_path, "vendor"),
    )
    app.config.update(config or {})
    items = Items()
    for title in ("Buy milk", "Write the report", "Call Ada"):
        items.add(title)
    app.extensions["htmx_example_items"] = items

    @app.user_loader
    def load_user(user_id):
        return User(user_id)

    @app.get("/vendor/<path:filename>")
    def vendor(filename):
        return send_from_directory(app.config["HTMX_FOLDER"], filename)

    @app.route("/login", methods=["GET", "POST"])
    def login():
        error = None
        if request.method == "POST":
            name = request.form.get("name", "").strip()
            if name:
                login_user(User(name))
                flash.success(f"Welcome, {name}.")
                return redirect(safe_next(url_for("index")), 302)
            error = "Enter a name."
        return render_template("login.html", error=error), 422 if error else 200

    @app.post("/logout")
    def logout():
        logout_user()
        return redirect(url_for("login"), 302)

    # The list: a whole page, or only its "items" block for htmx (the Refresh button).
    @app.get("/")
    @login_required
    @templated("index.html", block="items")
    def index():
        return {"items": list(items.items.values())}

    @app.get("/items/<int:id>")
    @login_required
    def show(id):
        return render_template("_row.html", item=items.get(id))

    @app.get("/items/<int:id>/edit")
    @login_required
    def edit(id):
        item = items.get(id)
        return render_template("_edit_row.html", item=item, title=item.title, error=None)

    @app.put("/items/<int:id>")
    @login_required
    def update(id):
        item = items.get(id)
        title = request.form.get("title", "").strip()
        error = check_title(title)
        if error:
            return render_template("_edit_row.html", item=item, title=title, error=error), 422
        item.title = title
        flash.success(f"Saved “{title}”.")
        return render_template("_row.html", item=item)

    @app.delete("/items/<int:id>")
    @login_required
    def delete(id):
        item = items.get(id)
        with items.lock:
            items.items.pop(id, None)
        flash.info(f"Deleted “{item.title}”.")
        return ""  # htmx swaps the row away

    @app.context_processor
    def user():
        return {"user": current_user}

    return app

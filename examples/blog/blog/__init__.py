"""The Flask tutorial's blog, grown up on Batteries.

Every battery working together: logins, posts in SQLAlchemy, WTForms with CSRF, flashes, an image
upload with a progress bar, a cached index, a Celery task (a digest e-mail sent with
``send_mail``, logged to the console in debug), English, German and French pages (gettext
catalogs in ``blog/translations``, language in the URL), and a JSON API whose delete is reachable
from an HTML form through method override. With no configuration it runs on SQLite, a filesystem
cache and the embedded SQLite broker, all in ``instance/``.

Run it: ``batteries --app blog run --debug`` from ``examples/blog`` (``scripts/demo`` does it).
"""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for

from batteries import Batteries, db
from batteries.i18n import best_language

LANGUAGES = ("en", "de", "fr")


def create_app(config: dict[str, Any] | None = None) -> Batteries:
    app = Batteries(__name__, instance_relative_config=True)
    app.config.update(
        CSRF_PROTECT_ALL=True,
        SECURITY_HEADERS=True,
        ERROR_PAGES=True,
        LOGIN_VIEW="auth.login",
        UPLOAD_ALLOWED_EXTENSIONS={"png", "jpg", "jpeg", "gif", "webp"},
        CELERY={"task_ignore_result": False},
        LANGUAGES=list(LANGUAGES),
        MAIL_DEFAULT_SENDER="Blog <blog@example.invalid>",
    )
    if config:
        app.config.update(config)

    from . import api, auth, models, posts, tasks  # noqa: F401

    @app.template_global()
    def language_url(code: str) -> str:
        """This page in language ``code``: same view, same arguments, same query string."""
        endpoint = request.endpoint
        if endpoint is None or not (request.view_args is not None and endpoint.startswith(
            ("posts.", "auth.")
        )):
            return url_for("posts.index", lang_code=code)
        return url_for(endpoint, **{**request.args.to_dict(), **request.view_args, "lang_code": code})

    @app.get("/")
    def root():
        """Send visitors to the posts in the language their browser prefers."""
        language = best_language(request.accept_languages, LANGUAGES, LANGUAGES[0])
        return redirect(url_for("posts.index", lang_code=language), 302)

    app.register_blueprint(auth.bp)
    app.register_blueprint(posts.bp)
    app.register_blueprint(api.bp)
    app.task_results("/tasks/<task_id>")

    @app.user_loader
    def load_user(user_id: str) -> models.User | None:
        return db.session.get(models.User, int(user_id))

    @app.cli.command("seed")
    def seed() -> None:
        """Create the tables and a demo user (demo / demo-password)."""
        from batteries.auth import hash_password

        db.create_all()
        if db.session.scalar(db.select(models.User).filter_by(username="demo")) is None:
            db.session.add(
                models.User(username="demo", password_hash=hash_password("demo-password"))
            )
            db.session.commit()
        print("Seeded: log in as demo / demo-password")

    return app

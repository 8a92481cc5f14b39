"""__project__: a Batteries application."""

from __future__ import annotations

from typing import Any

from batteries import Batteries, db


def create_app(config: dict[str, Any] | None = None) -> Batteries:
    """Build the app; ``config`` (tests) wins over instance/config.py and BATTERIES_* variables."""
    app = Batteries(__name__, instance_relative_config=True)
    app.config.update(
        CSRF_PROTECT_ALL=True,
        SECURITY_HEADERS=True,
        LOGIN_VIEW="auth.login",
    )
    if config:
        app.config.update(config)

    from . import auth, main, models, tasks  # noqa: F401  (models and tasks register themselves)

    app.register_blueprint(auth.bp)
    app.register_blueprint(main.bp)

    @app.user_loader
    def load_user(user_id: str) -> models.User | None:
        return db.session.get(models.User, int(user_id))

    return app

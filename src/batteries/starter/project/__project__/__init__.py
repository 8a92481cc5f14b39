"""__project__: a Batteries application."""

from __future__ import annotations

import hmac
from typing import Any

from batteries import Batteries, db


def create_app(config: dict[str, Any] | None = None) -> Batteries:
    """Build the app; ``config`` (tests) wins over instance/config.py and BATTERIES_* variables."""
    app = Batteries(__name__, instance_relative_config=True)
    app.config.update(
        CSRF_PROTECT_ALL=True,
        SECURITY_HEADERS=True,
        ERROR_PAGES=True,  # 4xx/5xx pages in the site's layout (templates/batteries/error.html)
        LOGIN_VIEW="auth.login",
        # Mail: set MAIL_URL (smtp://user:password@host:587?starttls=true) and a real sender.
        MAIL_DEFAULT_SENDER="__project__ <noreply@example.com>",
    )
    if config:
        app.config.update(config)

    from . import auth, main, models, tasks  # noqa: F401  (models and tasks register themselves)

    app.register_blueprint(auth.bp)
    app.register_blueprint(main.bp)

    @app.user_loader
    def load_user(user_id: str) -> models.User | None:
        # "<id>.<password fingerprint>" (User.get_id): an id from before a password change
        # (another browser's session or remember cookie) no longer loads anyone.
        number, _, fingerprint = str(user_id).partition(".")
        if not number.isdigit():
            return None
        user = db.session.get(models.User, int(number))
        if user is None or not hmac.compare_digest(fingerprint, user.password_fingerprint()):
            return None
        return user

    return app

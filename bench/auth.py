"""Auth: the per-request cost of logins, and which responses lose cacheability.

Three apps with the same three pages, called in process through their WSGI callables, in
interleaved rounds (see :mod:`common`):

- ``flask``: the "Patterns for Flask"/tutorial way: a ``before_request`` hook that loads
  ``g.user`` from ``session["user_id"]`` on every request, and a ``login_required`` that checks it;
- ``flask-login``: Flask + Flask-Login (``LoginManager``, its ``login_required``/``current_user``);
- ``batteries``: ``Batteries`` with :mod:`batteries.auth` (user loaded on first use only).

Cases (the request carries the session cookie of a logged-in user, except ``redirect``):

- ``protected``: ``GET /account``, ``@login_required``, shows ``current_user``'s name;
- ``public``: ``GET /public``, a page that never looks at the user;
- ``redirect``: ``GET /account`` with no cookie → 302 to the login page.

It also reports whether ``/public`` carries ``Vary: Cookie``: a response with it cannot be
shared by caches (and ``@cached`` does not store it). Flask-Login reads the session in an
``after_request`` hook on every response; the tutorial's hook reads it before every request.

Usage: ``python bench/auth.py [--rounds N] [--calls N] [--quick] [--tiny]``
"""

from __future__ import annotations

import functools
import os
import sys
import typing as t

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common

IMPLS = ["flask", "flask-login", "batteries"]
CASES = ["protected", "public", "redirect"]
SECRET = "bench secret key, long enough to be realistic 0123456789"


class User:
    def __init__(self, user_id: str, name: str) -> None:
        self.id = user_id
        self.name = name

    def get_id(self) -> str:
        return self.id


USERS = {"1": User("1", "ann")}


def flask_app() -> t.Any:
    from flask import Flask, g, redirect, session, url_for

    app = Flask("bench_auth_flask")
    app.secret_key = SECRET

    @app.before_request
    def load_logged_in_user() -> None:
        user_id = session.get("user_id")
        g.user = USERS.get(user_id) if user_id is not None else None

    def login_required(view: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
        @functools.wraps(view)
        def wrapped(**kwargs: t.Any) -> t.Any:
            if g.user is None:
                return redirect(url_for("login"))
            return view(**kwargs)

        return wrapped

    @app.route("/login", methods=["GET", "POST"])
    def login() -> t.Any:
        session.clear()
        session["user_id"] = "1"
        return "ok"

    @app.get("/account")
    @login_required
    def account() -> str:
        return f"hello {g.user.name}"

    @app.get("/public")
    def public() -> str:
        return "public"

    return app


def flask_login_app() -> t.Any:
    import flask_login
    from flask import Flask

    class FLUser(flask_login.UserMixin):
        def __init__(self, user: User) -> None:
            self.id = user.id
            self.name = user.name

    app = Flask("bench_auth_flask_login")
    app.secret_key = SECRET
    manager = flask_login.LoginManager(app)
    manager.login_view = "login"
    manager.login_message = None  # Batteries flashes nothing either

    @manager.user_loader
    def load_user(user_id: str) -> t.Any:
        user = USERS.get(user_id)
        return FLUser(user) if user else None

    @app.route("/login", methods=["GET", "POST"])
    def login() -> t.Any:
        flask_login.login_user(FLUser(USERS["1"]))
        return "ok"

    @app.get("/account")
    @flask_login.login_required
    def account() -> str:
        return f"hello {flask_login.current_user.name}"

    @app.get("/public")
    def public() -> str:
        return "public"

    return app


def batteries_app() -> t.Any:
    from batteries import Batteries, current_user, login_required, login_user

    app = Batteries("bench_auth_batteries")
    app.config["SECRET_KEY"] = SECRET
    app.config["LOGIN_VIEW"] = "login"
    app.user_loader(USERS.get)

    @app.route("/login", methods=["GET", "POST"])
    def login() -> t.Any:
        login_user(USERS["1"])
        return "ok"

    @app.get("/account")
    @login_required
    def account() -> str:
        return f"hello {current_user.name}"

    @app.get("/public")
    def public() -> str:
        return "public"

    return app


BUILDERS = {"flask": flask_app, "flask-login": flask_login_app, "batteries": batteries_app}


def session_cookie(app: t.Any) -> str:
    client = app.test_client()
    response = client.post("/login")
    assert response.status_code == 200, response.status
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    return f"{cookie.key}={cookie.value}"


def vary_cookie(app: t.Any, cookie: str, path: str) -> bool:
    response = app.test_client().get(path, headers={"Cookie": cookie})
    return "cookie" in response.headers.get("Vary", "").lower()


def main(argv: list[str] | None = None) -> dict[str, t.Any]:
    args = common.size_args(
        __doc__.split("\n\n")[0], argv, rounds=15, calls=1000, quick=(3, 200)
    )

    contenders: dict[str, t.Callable[[], None]] = {}
    vary: dict[str, bool] = {}
    for impl in IMPLS:
        app = BUILDERS[impl]()
        cookie = session_cookie(app)
        vary[impl] = vary_cookie(app, cookie, "/public")
        logged_in = {"Cookie": cookie}
        contenders[f"protected|{impl}"] = common.wsgi_caller(
            app, common.make_environ("/account", headers=logged_in)
        )
        contenders[f"public|{impl}"] = common.wsgi_caller(
            app, common.make_environ("/public", headers=logged_in)
        )
        contenders[f"redirect|{impl}"] = common.wsgi_caller(
            app, common.make_environ("/account"), expect="302"
        )

    samples = common.interleave(contenders, rounds=args.rounds, calls=args.calls)
    keyed = {tuple(name.split("|")): values for name, values in samples.items()}
    result = common.matrix_result("auth", keyed, baseline="flask")  # type: ignore[arg-type]
    result["vary_cookie_on_public_page"] = vary
    for other in ("protected", "public", "redirect"):
        value = common.paired_ratio(keyed[other, "batteries"], keyed[other, "flask-login"])
        if value is not None:
            result["ratios"][f"{other} batteries/flask-login"] = value
    result["machine"] = common.machine()

    print(
        f"auth: median per request ({common.CLOCK_NAME} time), {args.rounds} rounds x {args.calls}"
    )
    common.print_matrix(result, IMPLS, baseline="flask")
    for case in CASES:
        print(
            f"{case} batteries/flask-login: "
            f"{common.fmt_ratio(result['ratios'].get(f'{case} batteries/flask-login'))}"
        )
    print(
        "Vary: Cookie on a page that never looks at the user: "
        + ", ".join(f"{impl} {'yes' if v else 'no'}" for impl, v in vary.items())
    )
    return result


if __name__ == "__main__":
    main()

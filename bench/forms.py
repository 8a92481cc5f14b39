"""Case 2 (forms): a CSRF-protected form POST, in process, through the whole WSGI stack.

The same two-field form (name with ``DataRequired`` + ``Length``, e-mail with ``Email``-like
``Regexp``) posted with a valid CSRF token and a session cookie, answered ``200 ok`` when it
validates. Contenders, each on top of the matching app of :mod:`apps`:

- ``batteries``: ``batteries.forms.Form`` on :mod:`apps.batteries_app` (Batteries at its defaults);
- ``batteries+all``: the same with ``CSRF_PROTECT_ALL = True`` (the app-wide check runs too; the
  request carries no Fetch Metadata, so it checks the token, as for an old browser);
- ``stack``: Flask-WTF's ``FlaskForm`` on :mod:`apps.stack_app` (``CSRFProtect`` guards every POST,
  plus Flask-SQLAlchemy, Flask-Caching and Flask-Login as a typical app has them);
- ``wtforms``: a hand-written WTForms form on plain Flask (:mod:`apps.flask_app`), with WTForms'
  own ``SessionCSRF`` keyed on ``SECRET_KEY`` — what the "Form Validation with WTForms" pattern
  gives when you add CSRF yourself.

Each contender first answers one GET (to get its token and session cookie), then the POST is
replayed as a direct WSGI call with a copied environ, in interleaved rounds; the figure is the
median per-request time. Goal (issue 19): batteries <= 0.80 × stack.

Usage: ``python bench/forms.py [--quick] [--tiny] [--rounds N] [--calls N]``
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import typing as t
from urllib.parse import urlencode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common

IMPLS = ["wtforms", "stack", "batteries", "batteries+all"]
GOALS = [{"ratio": "form-post batteries/stack", "op": "<=", "target": 0.80}]
FIELDS = {"name": "Ada Lovelace", "email": "ada@example.com"}
_TOKEN = re.compile(rb'name="csrf_token" type="hidden" value="([^"]+)"')
_EMAIL = r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$"


def _fields(base: type) -> type:
    from wtforms import StringField
    from wtforms.validators import DataRequired, Length, Regexp

    class ContactForm(base):  # type: ignore[misc,valid-type]
        name = StringField("Name", validators=[DataRequired(), Length(max=80)])
        email = StringField("E-mail", validators=[DataRequired(), Regexp(_EMAIL)])

    return ContactForm


def _render(form: t.Any) -> str:
    return f"<form method=post>{form.csrf_token}{form.name}{form.email}</form>"


def batteries_app(protect_all: bool = False) -> t.Any:
    from apps import batteries_app as module

    from batteries.forms import Form

    app = module.create_app()
    app.config["CSRF_PROTECT_ALL"] = protect_all
    contact = _fields(Form)

    @app.route("/form", methods=["GET", "POST"])
    def form_view() -> str:
        form = contact()
        if form.validate_on_submit():
            return "ok"
        return _render(form)

    return app


def stack_app() -> t.Any:
    from apps import stack_app as module
    from flask_wtf import FlaskForm

    app = module.create_app()
    contact = _fields(FlaskForm)

    @app.route("/form", methods=["GET", "POST"])
    def form_view() -> str:
        form = contact()
        if form.validate_on_submit():
            return "ok"
        return _render(form)

    return app


def wtforms_app() -> t.Any:
    from apps import flask_app as module
    from flask import request, session
    from wtforms import Form
    from wtforms.csrf.session import SessionCSRF

    app = module.create_app()

    class Base(Form):
        class Meta:
            csrf = True
            csrf_class = SessionCSRF
            csrf_secret = app.config["SECRET_KEY"].encode()

            @property
            def csrf_context(self) -> t.Any:
                return session

    contact = _fields(Base)

    @app.route("/form", methods=["GET", "POST"])
    def form_view() -> str:
        form = contact(request.form if request.method == "POST" else None)
        if request.method == "POST" and form.validate():
            return "ok"
        return _render(form)

    return app


BUILDERS: dict[str, t.Callable[[], t.Any]] = {
    "batteries": batteries_app,
    "batteries+all": lambda: batteries_app(protect_all=True),
    "stack": stack_app,
    "wtforms": wtforms_app,
}


def prepared_post(app: t.Any) -> tuple[dict[str, t.Any], bytes]:
    """GET the form once; return the environ and body of a valid POST (token + cookie)."""
    status, page, cookie = _get(app)
    found = _TOKEN.search(page)
    if not status.startswith("200") or found is None or not cookie:
        raise RuntimeError(f"GET /form gave {status}, no token or cookie: {page[:300]!r}")
    body = urlencode({**FIELDS, "csrf_token": found.group(1).decode()}).encode()
    environ = common.make_environ(
        "/form",
        method="POST",
        headers={"Cookie": cookie},
        body=body,
        content_type="application/x-www-form-urlencoded",
    )
    environ["CONTENT_LENGTH"] = str(len(body))
    return environ, body


def _get(app: t.Any) -> tuple[str, bytes, str]:
    import io

    environ = common.make_environ("/form")
    environ["wsgi.input"] = io.BytesIO(b"")
    seen: dict[str, t.Any] = {}

    def start(status: str, headers: list[tuple[str, str]], exc_info: t.Any = None) -> None:
        seen["status"], seen["headers"] = status, headers

    result = app(environ, start)
    page = b"".join(result)
    getattr(result, "close", lambda: None)()
    cookie = "; ".join(
        value.split(";", 1)[0] for name, value in seen["headers"] if name.lower() == "set-cookie"
    )
    return seen["status"], page, cookie


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (rough figures)")
    parser.add_argument("--tiny", action="store_true", help="smoke-test size (no real figures)")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--calls", type=int, default=None, help="requests per batch")
    parser.add_argument("--impls", default=",".join(IMPLS), help="comma-separated contenders")
    args = parser.parse_args(argv)
    if args.tiny:
        rounds, calls = 2, 3
    elif args.quick:
        rounds, calls = 7, 150
    else:
        rounds, calls = 21, 400
    args.rounds = args.rounds or rounds
    args.calls = args.calls or calls
    return args


def main(argv: list[str] | None = None) -> dict[str, t.Any]:
    args = parse_args(argv)
    impls = [i for i in args.impls.split(",") if i]
    contenders = {}
    for impl in impls:
        app = BUILDERS[impl]()
        environ, body = prepared_post(app)
        contenders[impl] = common.wsgi_caller(app, environ, body, expect="200")
    measured = common.interleave(contenders, rounds=args.rounds, calls=args.calls)
    samples = {("form-post", impl): values for impl, values in measured.items()}
    result = common.matrix_result("forms", samples, baseline="stack")
    medians = {r["impl"]: r["median"] for r in result["rows"]}
    for impl in impls:
        if impl != "wtforms" and "wtforms" in medians:
            value = common.ratio(medians.get(impl), medians["wtforms"])
            if value is not None:
                result["ratios"][f"form-post {impl}/wtforms"] = value
    result["goals"] = GOALS if {"batteries", "stack"} <= set(impls) else []
    result["settings"] = {"rounds": args.rounds, "calls": args.calls, "quick": args.quick}
    return result


def report(result: dict[str, t.Any]) -> None:
    print("Case 2 (forms) — CSRF form POST in process, median per request")
    common.print_matrix(result, IMPLS, baseline="stack")
    for key, value in result["ratios"].items():
        if key.endswith("/wtforms"):
            print(f"{key}: {common.fmt_ratio(value)}")


if __name__ == "__main__":
    report(main())

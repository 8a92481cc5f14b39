"""Routes of every kind of response, for the security-header tests (test_headers, test_security).

Imported as ``from _secured import secured_routes`` (kept out of ``conftest.py``: the examples
have conftest modules of their own).
"""

from __future__ import annotations

from flask import abort, make_response, redirect, render_template_string, session

from batteries import Batteries


def secured_routes(app: Batteries) -> None:
    @app.route("/")
    def index():
        return "hello"

    @app.route("/own")
    def own():
        response = make_response("own")
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        return response

    @app.route("/gone")
    def gone():
        abort(410)

    @app.route("/boom")
    def boom():
        raise RuntimeError("boom")

    @app.route("/go")
    def go():
        return redirect("/", 302)

    @app.route("/inline")
    def inline():
        return render_template_string('<script nonce="{{ csp_nonce() }}">go()</script>')

    @app.route("/login", methods=["POST"])
    def login():
        session["uid"] = 1
        return "in"

    @app.route("/visit")
    def visit():
        session["seen"] = True
        return "seen"

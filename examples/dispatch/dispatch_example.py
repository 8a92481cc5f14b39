"""Two ways of combining apps: by path and by subdomain (Flask's "Application Dispatching").

- ``path_application``: the site at ``/`` and one app per customer under ``/<customer>/``,
  made on first request by ``make_customer_app`` (unknown customers → the site's 404).
- ``subdomain_application``: one app per customer at ``<customer>.example.test``; the bare
  domain and unknown customers get a 404, hosts outside the domain a 400.
- ``application``: the admin app mounted at ``/admin`` in front of ``path_application``.

Serve one with any WSGI server, e.g. ``gunicorn dispatch_example:application``.
"""

from __future__ import annotations

from flask import request, session, url_for

from batteries import Batteries
from batteries.dispatch import PathDispatcher, SubdomainDispatcher, combine

CUSTOMERS = {"acme": "ACME Corp", "globex": "Globex"}
SECRET = "dispatch example key, replace me"


def make_site() -> Batteries:
    site = Batteries("site")
    site.config["SECRET_KEY"] = SECRET

    @site.get("/")
    def home():
        return {"app": "site", "customers": sorted(CUSTOMERS)}

    return site


def make_customer_app(name: str) -> Batteries | None:
    if name not in CUSTOMERS:
        return None
    app = Batteries(f"customer_{name}")
    app.config.update(SECRET_KEY=SECRET, CUSTOMER=CUSTOMERS[name])

    @app.get("/")
    def home():
        session["visits"] = session.get("visits", 0) + 1
        return {
            "app": name,
            "customer": app.config["CUSTOMER"],
            "visits": session["visits"],
            "self": url_for("home"),
            "script_root": request.script_root,
        }

    return app


def make_admin() -> Batteries:
    admin = Batteries("admin")
    admin.config["SECRET_KEY"] = SECRET

    @admin.get("/")
    def home():
        return {"app": "admin", "self": url_for("home")}

    return admin


site = make_site()
path_application = PathDispatcher(site, make_customer_app)
subdomain_application = SubdomainDispatcher("example.test", make_customer_app)
application = combine(path_application, {"/admin": make_admin()})

"""The dispatch example: apps combined by path and by subdomain."""

from __future__ import annotations

import dispatch_example as example
from werkzeug.test import Client


def test_by_path():
    client = Client(example.application)
    assert client.get("/").json == {"app": "site", "customers": ["acme", "globex"]}
    acme = client.get("/acme/")
    assert acme.json["customer"] == "ACME Corp"
    assert acme.json["self"] == "/acme/"
    assert acme.json["script_root"] == "/acme"
    assert client.get("/nobody/").status_code == 404
    assert client.get("/admin/").json == {"app": "admin", "self": "/admin/"}


def test_path_apps_keep_their_sessions_apart():
    client = Client(example.application)
    first = client.get("/acme/")
    assert "Path=/acme" in first.headers["Set-Cookie"]
    assert client.get("/acme/").json["visits"] == 2
    assert client.get("/globex/").json["visits"] == 1
    assert client.get("/acme/").json["visits"] == 3


def test_by_subdomain():
    client = Client(example.subdomain_application)
    acme = client.get("/", headers={"Host": "acme.example.test"})
    assert acme.json["app"] == "acme"
    upper = client.get("/", headers={"Host": "ACME.example.test:8000"})
    assert upper.json["app"] == "acme"
    assert client.get("/", headers={"Host": "example.test"}).status_code == 404
    assert client.get("/", headers={"Host": "nobody.example.test"}).status_code == 404
    assert client.get("/", headers={"Host": "evil.test"}).status_code == 400

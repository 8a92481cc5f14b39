"""``batteries.dispatch``: PathDispatcher, SubdomainDispatcher and combine."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from flask import request, session, url_for
from werkzeug.test import Client

from batteries import Batteries
from batteries.dispatch import PathDispatcher, SubdomainDispatcher, combine


def make(name: str, tmp_path) -> Batteries:
    app = Batteries(f"app_{name}", root_path=str(tmp_path))
    app.config.update(TESTING=True, SECRET_KEY=f"key {name}")

    @app.route("/")
    def index():
        return f"{name} {request.script_root or '-'} {url_for('index')}"

    @app.route("/set/<value>")
    def set_value(value):
        session["value"] = value
        return "set"

    @app.route("/get")
    def get_value():
        return f"{name}:{session.get('value')}"

    return app


class Factory:
    """A make_app that counts its calls and can be told to fail or return None."""

    def __init__(self, tmp_path, known=("shop", "blog")):
        self.tmp_path = tmp_path
        self.known = set(known)
        self.calls: list[str] = []
        self.fail = set()
        self.delay = 0.0
        self.lock = threading.Lock()

    def __call__(self, key):
        with self.lock:
            self.calls.append(key)
        if self.delay:
            time.sleep(self.delay)
        if key in self.fail:
            raise RuntimeError(f"cannot make {key}")
        if key not in self.known:
            return None
        return make(key, self.tmp_path)


# -- PathDispatcher ------------------------------------------------------------------------


def test_path_dispatch(tmp_path):
    default = make("default", tmp_path)
    factory = Factory(tmp_path)
    client = Client(PathDispatcher(default, factory))
    assert client.get("/shop/").text == "shop /shop /shop/"
    assert client.get("/shop").status_code in (200, 308)
    assert client.get("/blog/").text == "blog /blog /blog/"
    assert client.get("/").text == "default - /"
    assert client.get("/shop/").text == "shop /shop /shop/"
    assert factory.calls.count("shop") == 1
    assert "" not in factory.calls


def test_none_means_the_default_app_and_is_not_cached(tmp_path):
    default = make("default", tmp_path)
    factory = Factory(tmp_path)
    client = Client(PathDispatcher(default, factory))
    assert client.get("/unknown/").status_code == 404
    assert client.get("/get").text == "default:None"  # the default app's own route
    assert client.get("/unknown/").status_code == 404
    assert factory.calls.count("unknown") == 2


def test_failing_factory_is_a_500_for_that_key_only_and_retried(tmp_path, caplog):
    default = make("default", tmp_path)
    factory = Factory(tmp_path)
    factory.fail.add("shop")
    client = Client(PathDispatcher(default, factory))
    with caplog.at_level(logging.ERROR, logger="batteries.dispatch"):
        response = client.get("/shop/")
    assert response.status_code == 500
    assert "Traceback" not in response.text
    assert "cannot make shop" in caplog.text
    assert client.get("/blog/").status_code == 200
    factory.fail.clear()
    assert client.get("/shop/").status_code == 200
    assert factory.calls.count("shop") == 2


def test_made_once_under_concurrency(tmp_path):
    default = make("default", tmp_path)
    factory = Factory(tmp_path)
    factory.delay = 0.05
    dispatcher = PathDispatcher(default, factory)
    results = []

    def hit():
        results.append(Client(dispatcher).get("/shop/").status_code)

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 8
    assert factory.calls == ["shop"]
    assert dispatcher.apps._key_locks == {}


def test_bounded_number_of_apps(tmp_path):
    default = make("default", tmp_path)
    factory = Factory(tmp_path, known={f"k{i}" for i in range(5)})
    dispatcher = PathDispatcher(default, factory, max_apps=2)
    client = Client(dispatcher)
    for key in ("k0", "k1", "k2", "k0"):
        assert client.get(f"/{key}/").status_code == 200
    assert len(dispatcher.apps) == 2
    assert factory.calls == ["k0", "k1", "k2", "k0"]
    with pytest.raises(ValueError):
        PathDispatcher(default, factory, max_apps=0)


def test_overlong_key_never_reaches_the_factory(tmp_path):
    default = make("default", tmp_path)
    factory = Factory(tmp_path)
    client = Client(PathDispatcher(default, factory))
    assert client.get("/" + "a" * 500 + "/").status_code == 404
    assert factory.calls == []


def test_mounted_session_cookies_are_kept_apart(tmp_path):
    default = make("default", tmp_path)
    factory = Factory(tmp_path)
    client = Client(PathDispatcher(default, factory))
    response = client.get("/shop/set/s1")
    assert "Path=/shop" in response.headers["Set-Cookie"]
    client.get("/set/d1")
    client.get("/blog/set/b1")
    assert client.get("/shop/get").text == "shop:s1"
    assert client.get("/blog/get").text == "blog:b1"
    assert client.get("/get").text == "default:d1"


def test_an_app_cookie_path_of_its_own_is_kept(tmp_path):
    default = make("default", tmp_path)

    def factory(key):
        app = make(key, tmp_path)
        app.config["SESSION_COOKIE_PATH"] = "/custom"
        return app

    client = Client(PathDispatcher(default, factory))
    assert "Path=/custom" in client.get("/x/set/1").headers["Set-Cookie"]


# -- SubdomainDispatcher -------------------------------------------------------------------


def test_subdomain_dispatch(tmp_path):
    factory = Factory(tmp_path)
    client = Client(SubdomainDispatcher("Example.com", factory))
    assert client.get("/", headers={"Host": "shop.example.com"}).text == "shop - /"
    assert client.get("/", headers={"Host": "SHOP.Example.COM:8080"}).text == "shop - /"
    assert client.get("/", headers={"Host": "shop.example.com."}).text == "shop - /"
    assert factory.calls == ["shop"]


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("example.com", 404),  # the bare domain: no key
        ("nothere.example.com", 404),  # make_app returned None
        ("evil.com", 400),
        ("shopexample.com", 400),  # no dot boundary
        ("example.com.evil.com", 400),
        ("[::1]:80", 400),
        ("bad_name!.example.com", 400),
    ],
)
def test_subdomain_bad_hosts(tmp_path, host, status):
    factory = Factory(tmp_path)
    client = Client(SubdomainDispatcher("example.com", factory))
    assert client.get("/", headers={"Host": host}).status_code == status
    assert "" not in factory.calls


def test_subdomain_without_host_is_404(tmp_path):
    factory = Factory(tmp_path)
    dispatcher = SubdomainDispatcher("example.com", factory)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "SERVER_NAME": "x", "SERVER_PORT": "80"}
    statuses = []
    body = b"".join(dispatcher(environ, lambda status, headers, exc_info=None: statuses.append(status)))
    assert statuses[0].startswith("404")
    assert b"Host" in body
    assert factory.calls == []


def test_subdomain_failing_factory(tmp_path):
    factory = Factory(tmp_path)
    factory.fail.add("shop")
    client = Client(SubdomainDispatcher("example.com", factory))
    assert client.get("/", headers={"Host": "shop.example.com"}).status_code == 500
    assert client.get("/", headers={"Host": "blog.example.com"}).status_code == 200
    factory.fail.clear()
    assert client.get("/", headers={"Host": "shop.example.com"}).status_code == 200


def test_subdomain_bad_domain():
    with pytest.raises(ValueError):
        SubdomainDispatcher("", lambda key: None)


# -- combine --------------------------------------------------------------------------------


def test_combine(tmp_path):
    site, shop, admin = make("site", tmp_path), make("shop", tmp_path), make("admin", tmp_path)
    client = Client(combine(site, {"/shop": shop, "/shop/admin/": admin}))
    assert client.get("/").text == "site - /"
    assert client.get("/shop/").text == "shop /shop /shop/"
    assert client.get("/shop/admin/").text == "admin /shop/admin /shop/admin/"
    assert client.get("/shopping").status_code == 404  # whole segments only
    client.get("/shop/set/1")
    client.get("/set/2")
    assert client.get("/shop/get").text == "shop:1"
    assert client.get("/get").text == "site:2"
    assert shop.config["SESSION_COOKIE_PATH"] == "/shop"


@pytest.mark.parametrize("prefix", ["shop", "/", "", "//"])
def test_combine_bad_prefix(tmp_path, prefix):
    with pytest.raises(ValueError):
        combine(make("a", tmp_path), {prefix: make("b", tmp_path)})


def test_combine_duplicate_prefix(tmp_path):
    with pytest.raises(ValueError, match="two apps"):
        combine(make("a", tmp_path), {"/x": make("b", tmp_path), "/x/": make("c", tmp_path)})


# -- tenants keep their stores apart (issue 13 #2) --------------------------------------------------


def tenant_factory(tmp_path, cache_type: str):
    """make_app for tenants of one factory: same import name, same instance folder."""
    from batteries import cache, cached

    def make_app(key: str) -> Batteries:
        app = Batteries("tenant_site", root_path=str(tmp_path), instance_path=str(tmp_path / "inst"))
        app.config.update(TESTING=True, SECRET_KEY="k", CACHE_TYPE=cache_type)

        @cache.memoize(timeout=60)
        def owner() -> str:
            return key

        @app.route("/memo")
        def memo():
            return owner()

        @app.route("/page")
        @cached(timeout=60)
        def page():
            return f"page of {key}"

        @app.route("/raw/<op>")
        def raw(op):
            if op == "set":
                cache.set("secret", key)
                return "ok"
            return str(cache.get("secret"))

        return app

    return make_app


@pytest.mark.parametrize("cache_type", ["filesystem", "simple"])
def test_path_tenants_never_read_each_others_cache(tmp_path, cache_type):
    client = Client(PathDispatcher(make("default", tmp_path), tenant_factory(tmp_path, cache_type)))
    assert client.get("/acme/memo").text == "acme"
    assert client.get("/globex/memo").text == "globex"
    assert client.get("/acme/raw/set").text == "ok"
    assert client.get("/globex/raw/get").text == "None"
    for _ in range(2):
        assert client.get("/acme/page").text == "page of acme"
        assert client.get("/globex/page").text == "page of globex"
        assert client.get("/acme/memo").text == "acme"
        assert client.get("/globex/memo").text == "globex"


def test_subdomain_tenants_never_read_each_others_cache(tmp_path):
    client = Client(SubdomainDispatcher("example.com", tenant_factory(tmp_path, "filesystem")))
    for _ in range(2):
        for tenant in ("acme", "globex"):
            base = f"http://{tenant}.example.com"
            assert client.get("/memo", base_url=base).text == tenant
            assert client.get("/page", base_url=base).text == f"page of {tenant}"


def test_combined_copies_of_one_app_get_their_mount_as_identity(tmp_path):
    from batteries.state import app_identity

    make_app = tenant_factory(tmp_path, "filesystem")
    a, b = make_app("a"), make_app("b")
    client = Client(combine(make("site", tmp_path), {"/a": a, "/b": b}))
    assert (app_identity(a), app_identity(b)) == ("/a", "/b")
    assert client.get("/a/memo").text == "a" and client.get("/b/memo").text == "b"
    assert client.get("/a/memo").text == "a" and client.get("/b/memo").text == "b"

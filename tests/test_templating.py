"""``@templated``, the Jinja globals and the shipped ``batteries/base.html`` layout."""

from __future__ import annotations

import json
import re

import pytest
from flask import redirect, render_template, render_template_string

from batteries import Batteries, Blueprint, flash, templated

PAGE = (
    '{% extends "batteries/base.html" %}{% block title %}Page{% endblock %}'
    "{% block nav %}<nav aria-label=\"Main\">nav</nav>{% endblock %}"
    "{% block content %}<p>content</p>{% endblock %}"
    "{% block scripts %}<script>/* page */</script>{% endblock %}"
)


@pytest.fixture
def templates(app, tmp_path):
    folder = tmp_path / "templates"
    (folder / "admin").mkdir(parents=True)
    (folder / "index.html").write_text("index: {{ name }}")
    (folder / "admin" / "users.html").write_text("users: {{ users|join(',') }}")
    (folder / "other.html").write_text("other: {{ x }}")
    (folder / "page.html").write_text(PAGE)
    return folder


# -- @templated ------------------------------------------------------------------------------


def test_templated_uses_the_endpoint_name(app, templates):
    @app.route("/")
    @templated()
    def index():
        return {"name": "Ada"}

    admin = Blueprint("admin", __name__)

    @admin.route("/users")
    @templated()
    def users():
        return {"users": ["a", "b"]}

    app.register_blueprint(admin, url_prefix="/admin")
    client = app.test_client()
    assert client.get("/").text == "index: Ada"
    assert client.get("/admin/users").text == "users: a,b"


def test_templated_with_a_name_none_and_status(app, templates):
    @app.route("/named")
    @templated("other.html")
    def named():
        return None

    @app.route("/status")
    @templated("other.html")
    def status():
        return {"x": 1}, 201

    @app.route("/headers")
    @templated("other.html")
    def headers():
        return {"x": 2}, 202, {"X-Test": "yes"}

    @app.route("/headers-only")
    @templated("other.html")
    def headers_only():
        return {"x": 3}, {"X-Test": "h"}

    client = app.test_client()
    assert client.get("/named").text == "other: "
    response = client.get("/status")
    assert (response.status_code, response.text) == (201, "other: 1")
    response = client.get("/headers")
    assert (response.status_code, response.headers["X-Test"]) == (202, "yes")
    response = client.get("/headers-only")
    assert (response.status_code, response.headers["X-Test"], response.text) == (200, "h", "other: 3")


def test_templated_passes_other_values_through(app, templates):
    @app.route("/text")
    @templated()
    def text():
        return "plain"

    @app.route("/go")
    @templated()
    def go():
        return redirect("/text", 302)

    @app.route("/tuple")
    @templated()
    def tup():
        return "made", 203

    client = app.test_client()
    assert client.get("/text").text == "plain"
    assert client.get("/go").status_code == 302
    assert client.get("/tuple").status_code == 203


def test_templated_missing_template_is_an_error(app, templates):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.route("/nothere")
    @templated()
    def nothere():
        return {}

    assert app.test_client().get("/nothere").status_code == 500


def test_templated_async_view(app, templates):
    pytest.importorskip("asgiref")

    @app.route("/")
    @templated()
    async def index():
        return {"name": "async"}

    assert app.test_client().get("/").text == "index: async"


def test_templated_needs_parentheses():
    with pytest.raises(TypeError, match="parentheses"):

        @templated  # type: ignore[arg-type]
        def view():
            return {}


def test_templated_keeps_the_name(app):
    @templated()
    def my_view():
        return {}

    assert my_view.__name__ == "my_view"


# -- render_block and @templated(block=...) --------------------------------------------------

HX = {"HX-Request": "true"}

LIST_PAGE = (
    '{% extends "batteries/base.html" %}{% block title %}Items{% endblock %}'
    "{% block nav %}<nav>nav for {{ who }}</nav>{% endblock %}"
    "{% block content %}<ul id=\"items\">{% for i in items %}<li>{{ i }}</li>{% endfor %}</ul>"
    "<p>{{ who }} {{ site }} {{ request.path }} {{ shout(who) }}</p>{% endblock %}"
)


@pytest.fixture
def list_page(app, templates):
    (templates / "list.html").write_text(LIST_PAGE)

    @app.context_processor
    def site():
        return {"site": "Example", "who": "processor"}

    app.jinja_env.globals["shout"] = lambda s: s.upper()
    return templates


def test_render_block_has_the_page_context(app, list_page):
    from flask import template_rendered

    from batteries.templating import render_block

    seen = []

    def record(sender, template, context, **kw):
        seen.append(template.name)

    template_rendered.connect(record, app)
    with app.test_request_context("/things"):
        html = render_block("list.html", "content", items=[1, 2], who="ada")
        full = render_template("list.html", items=[1, 2], who="ada")
    assert html == '<ul id="items"><li>1</li><li>2</li></ul><p>ada Example /things ADA</p>'
    assert html in full and "<nav>" not in html and "<html" not in html
    assert seen == ["list.html", "list.html"]


def test_render_block_unknown_block_names_the_blocks(app, list_page):
    from batteries.templating import render_block

    with app.test_request_context("/"):
        with pytest.raises(LookupError, match=r"no block 'sidebar' \(its own blocks: content, nav, title\)"):
            render_block("list.html", "sidebar")


def test_templated_block_fragment_for_htmx_only(app, list_page):
    @app.route("/items")
    @templated("list.html", block="content")
    def items():
        return {"items": ["a", "b"], "who": "grace"}, 200, {"X-Kind": "list"}

    client = app.test_client()
    page = client.get("/items")
    fragment = client.get("/items", headers=HX)
    boosted = client.get("/items", headers={**HX, "HX-Boosted": "true"})
    restore = client.get("/items", headers={**HX, "HX-History-Restore-Request": "true"})
    wants_json = client.get("/items", headers={**HX, "Accept": "application/json"})
    for response in (page, boosted, restore, wants_json):
        assert "<!doctype html>" in response.text and "<nav>nav for grace</nav>" in response.text
    assert fragment.text.startswith('<ul id="items"><li>a</li>') and "<nav>" not in fragment.text
    for response in (page, fragment, boosted, restore):
        assert {"HX-Request", "HX-Boosted"} <= set(response.vary)
        assert response.headers["X-Kind"] == "list" and response.status_code == 200


def test_templated_block_passes_redirects_through(app, list_page):
    @app.route("/go")
    @templated("list.html", block="content")
    def go():
        return redirect("/items", 302)

    response = app.test_client().get("/go", headers=HX)
    assert response.status_code == 302 and "HX-Request" not in response.vary


def test_cached_keeps_page_and_fragment_apart(app, list_page):
    from batteries import cached

    app.config["CACHE_TYPE"] = "simple"
    calls = []

    @app.route("/plain")
    @cached(timeout=60)
    @templated("list.html", block="content")
    def plain():
        calls.append("plain")
        return {"items": [len(calls)], "who": "p"}

    @app.route("/keyed")
    @cached(timeout=60, vary_on=["HX-Request", "HX-Boosted", "HX-History-Restore-Request"])
    @templated("list.html", block="content")
    def keyed():
        calls.append("keyed")
        return {"items": [len(calls)], "who": "k"}

    client = app.test_client()
    for path in ("/plain", "/keyed"):
        for _ in range(2):
            for headers in ({}, HX, {**HX, "HX-Boosted": "true"}, {}, HX):
                body = client.get(path, headers=headers).text
                is_page = "<!doctype html>" in body
                assert is_page == (headers.get("HX-Request") is None or "HX-Boosted" in headers)
                assert ("<nav>" in body) == is_page
    # The keyed view was rendered once per variant (page, fragment, boosted page), then served
    # from the cache. The plain one: 10 renders while @cached keys on the path alone (the Vary
    # keeps such answers out of the cache), 3 where @cached adds the Vary'd headers to its key.
    assert calls.count("keyed") == 3
    assert calls.count("plain") in (3, 10)


# -- base.html -----------------------------------------------------------------------------


def test_base_layout_blocks_and_markup(app, templates):
    @app.route("/page")
    def page():
        return render_template("page.html")

    html = app.test_client().get("/page").text
    assert html.startswith("<!doctype html>")
    assert '<html lang="en">' in html
    assert "<title>Page</title>" in html
    assert '<nav aria-label="Main">nav</nav>' in html
    assert '<main id="main"' in html and "<p>content</p>" in html
    assert 'href="#main"' in html  # skip link
    assert '<script src="/_batteries/batteries.js" defer></script>' in html
    assert html.index("batteries.js") < html.index("/* page */")
    assert 'name="viewport"' in html


def test_base_renders_without_a_request_and_without_static_folder(tmp_path):
    app = Batteries("nostatic", root_path=str(tmp_path), static_folder=None)
    with app.app_context():
        html = render_template("batteries/base.html")
    assert "/_batteries/batteries.js" in html
    assert 'rel="icon"' not in html
    assert "csrf-token" not in html


def test_favicon_link_only_when_the_file_exists(app, tmp_path, templates):
    @app.route("/page")
    def page():
        return render_template("page.html")

    assert 'rel="icon"' not in app.test_client().get("/page").text
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "favicon.ico").write_bytes(b"\x00\x00\x01\x00")
    assert '<link rel="icon" href="/favicon.ico">' in app.test_client().get("/page").text


def test_urls_follow_script_name_and_static_url_setting(app, templates):
    app.config["BATTERIES_STATIC_URL"] = "/assets/b/"

    @app.route("/page")
    def page():
        return render_template("page.html")

    html = app.test_client().get("/page", environ_overrides={"SCRIPT_NAME": "/mount"}).text
    assert 'src="/mount/assets/b/batteries.js"' in html


def test_anonymous_page_has_no_vary_cookie(app, templates):
    @app.route("/page")
    def page():
        return render_template("page.html")

    response = app.test_client().get("/page")
    assert "Cookie" not in response.headers.get("Vary", "")
    assert "Set-Cookie" not in response.headers
    assert "csrf-token" not in response.text


def test_with_a_session_cookie_flashes_and_csrf_meta(app, templates):
    @app.route("/page")
    def page():
        return render_template("page.html")

    @app.route("/flash")
    def do_flash():
        flash.success("Saved!")
        return "ok"

    client = app.test_client()
    client.get("/flash")
    html = client.get("/page").text
    assert "Saved!" in html
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert match is not None and len(match.group(1)) > 10


def test_lang_attribute_follows_g(app, templates):
    @app.route("/de")
    def de():
        from flask import g

        g.lang_code = "de"
        return render_template("page.html")

    assert '<html lang="de">' in app.test_client().get("/de").text


def test_app_template_overrides_the_shipped_one(app, templates):
    (templates / "batteries").mkdir()
    (templates / "batteries" / "base.html").write_text("mine {% block content %}{% endblock %}")

    @app.route("/page")
    def page():
        return render_template("page.html")

    assert app.test_client().get("/page").text == "mine <p>content</p>"


def test_shipped_templates_are_not_listed(app, templates):
    assert not any(name.startswith("batteries/") for name in app.jinja_env.list_templates())


# -- globals ---------------------------------------------------------------------------------


def _url_map(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="batteries-urls">(.*?)</script>', html)
    assert match is not None
    return json.loads(match.group(1))


def test_js_urls(app):
    @app.route("/user/<int:id>")
    def user(id):
        return ""

    @app.route("/files/<path:name>")
    def files(name):
        return ""

    @app.route("/")
    def index():
        return render_template_string("{{ js_urls('user', 'files', 'index') }}")

    @app.route("/all")
    def all_():
        return render_template_string("{{ js_urls() }}")

    client = app.test_client()
    data = _url_map(client.get("/").text)
    assert data["user"] == [{"pattern": "/user/{id}", "args": ["id"]}]
    assert data["files"] == [{"pattern": "/files/{name}", "args": ["name"], "raw": ["name"]}]
    assert data["index"] == [{"pattern": "/", "args": []}]
    everything = _url_map(client.get("/all", environ_overrides={"SCRIPT_NAME": "/app"}).text)
    assert "static" not in everything
    assert everything["user"][0]["pattern"] == "/app/user/{id}"


def test_js_urls_is_safe_in_a_script(app):
    app.add_url_rule("/x", endpoint="</script><b>", view_func=lambda: "")

    @app.route("/")
    def index():
        return render_template_string("{{ js_urls() }}")

    html = app.test_client().get("/").text
    assert html.count("</script>") == 1


def test_js_urls_unknown_endpoint(app):
    app.config["PROPAGATE_EXCEPTIONS"] = True

    @app.route("/")
    def index():
        return render_template_string("{{ js_urls('nope') }}")

    with pytest.raises(ValueError, match="nope"):
        app.test_client().get("/")


def test_js_urls_defaults_from_url_defaults(app):
    @app.url_defaults
    def add_lang(endpoint, values):
        if app.url_map.is_endpoint_expecting(endpoint, "lang"):
            values.setdefault("lang", "fr")

    @app.route("/<lang>/home")
    def home():
        return ""

    @app.route("/")
    def index():
        return render_template_string("{{ js_urls('home') }}")

    data = _url_map(app.test_client().get("/").text)
    assert data["home"][0]["defaults"] == {"lang": "fr"}


def test_csrf_token_global(app):
    @app.route("/")
    def index():
        return render_template_string("{{ batteries_csrf_token() }}")

    token = app.test_client().get("/").text
    assert isinstance(token, str)


# -- base.html + js_urls + batteries.js in a real browser -----------------------------------

BROWSER_PAGE = (
    '{% extends "batteries/base.html" %}{% block content %}<div id="box">old</div>{% endblock %}'
    '{% block scripts %}{{ js_urls("item", "echo", "fragment") }}{% endblock %}'
)


@pytest.mark.browser
def test_batteries_js_in_chromium(app):
    import os
    import shutil
    import threading

    from flask import request, session
    from werkzeug.serving import make_server

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(chromium):
        pytest.fail("Debian's chromium is missing: run scripts/install-chromium.sh")
    from playwright.sync_api import sync_playwright

    @app.get("/login")
    def login():
        session["user"] = "ada"  # gives the browser a session cookie
        return "ok"

    @app.get("/page")
    def page():
        return render_template_string(BROWSER_PAGE)

    @app.post("/echo")
    def echo():
        if request.get_json().get("fail"):
            return {"error": "Bad Request", "message": "fail was set", "status": 400}, 400
        return {"token": request.headers.get("X-CSRFToken"), "got": request.get_json()}

    @app.post("/go")
    def go():
        return redirect("/page?done=1", 302)

    @app.get("/item/<int:id>")
    def item(id):
        return {"id": id, "tab": request.args.get("tab")}

    @app.get("/fragment")
    def fragment():
        return "<b>new</b>"

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=chromium,
                headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            try:
                page = browser.new_page()
                page.goto(base + "/login")
                page.goto(base + "/page")
                token = page.get_attribute('meta[name="csrf-token"]', "content")
                assert token
                result = page.evaluate("Batteries.fetchJSON('/echo', {data: {a: 1}})")
                assert result == {"token": token, "got": {"a": 1}}
                error = page.evaluate(
                    "Batteries.fetchJSON('/echo', {data: {fail: true}})"
                    ".catch(e => ({status: e.status, message: e.message, body: e.body}))"
                )
                assert error["status"] == 400 and error["message"] == "fail was set"
                url = page.evaluate("Batteries.url('item', {id: 7, tab: 'a b'})")
                assert url == "/item/7?tab=a%20b"
                assert page.evaluate(f"Batteries.fetchJSON({url!r})") == {"id": 7, "tab": "a b"}
                page.evaluate("Batteries.replace('#box', Batteries.url('fragment'))")
                assert page.inner_html("#box") == "<b>new</b>"
                # The promise resolves just as the page navigates away, so awaiting it in
                # evaluate races the navigation; start the call and wait for the navigation.
                with page.expect_navigation(url=base + "/page?done=1"):
                    page.evaluate("() => { Batteries.fetchJSON('/go', {data: {}}); }")
                assert page.url == base + "/page?done=1"
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()


def test_templated_says_which_name_it_derived(tmp_path):
    """A missing template after @templated() names the template it looked for and why (#18)."""
    from jinja2 import TemplateNotFound

    app = Batteries("derive", root_path=str(tmp_path), instance_path=str(tmp_path / "i"))
    app.testing = True

    @app.route("/report")
    @templated()
    def monthly_report():
        return {}

    with pytest.raises(TemplateNotFound) as info:
        app.test_client().get("/report")
    assert info.value.name == "monthly_report.html"
    assert "the name @templated() made from the endpoint 'monthly_report'" in str(info.value)

"""``@cached`` (batteries.viewcache): the rules of a shared HTTP cache, case by case."""

from __future__ import annotations

import re
import uuid

import pytest
from flask import Blueprint, jsonify, make_response, render_template_string, request, session

from batteries import Batteries, cached, current_user
from batteries.headers import csp_nonce
from batteries.signals import cache_hit, cache_miss
from batteries.viewcache import canonical_query, freshness, mark_uncacheable, raw_path


@pytest.fixture
def simple_app(app):
    app.config["CACHE_TYPE"] = "simple"
    return app


@pytest.fixture
def signals():
    seen: list[tuple[str, str]] = []

    def hit(sender, key, **extra):
        seen.append(("hit", key))

    def miss(sender, key, **extra):
        seen.append(("miss", key))

    cache_hit.connect(hit)
    cache_miss.connect(miss)
    yield seen
    cache_hit.disconnect(hit)
    cache_miss.disconnect(miss)


def counted_view(app, rule="/page", **options):
    calls = {"n": 0}

    @app.route(rule, methods=["GET", "HEAD", "POST"], endpoint=f"v{uuid.uuid4().hex[:8]}")
    @cached(**options)
    def view(**kwargs):
        calls["n"] += 1
        return f"body {calls['n']}"

    return calls


# -- keys -----------------------------------------------------------------------------------------


def test_cached_hits_and_misses_with_signals(simple_app, signals):
    calls = counted_view(simple_app)
    client = simple_app.test_client()
    assert client.get("/page").text == "body 1"
    again = client.get("/page")
    assert again.text == "body 1" and again.headers["Age"].isdigit()
    assert calls["n"] == 1
    assert [kind for kind, _ in signals] == ["miss", "hit"]
    assert signals[0][1] == signals[1][1] and signals[0][1].startswith("view:")


def test_query_pairs_are_sorted_by_name_but_repeated_names_keep_their_order(simple_app):
    calls = counted_view(simple_app)
    client = simple_app.test_client()
    assert client.get("/page?b=2&a=1").text == "body 1"
    assert client.get("/page?a=1&b=2").text == "body 1"
    assert client.get("/page?a=2&b=2").text == "body 2"
    assert client.get("/page?page=9&page=2").text == "body 3"
    assert client.get("/page?page=2&page=9").text == "body 4"  # issue 13 #8
    assert client.get("/page?page=9&page=2").text == "body 3"
    assert client.get("/page").text == "body 5"
    assert calls["n"] == 5


def test_host_and_script_root_are_part_of_the_key(simple_app):
    calls = counted_view(simple_app)
    client = simple_app.test_client()
    client.get("/page")
    assert client.get("/page", base_url="http://other.example").text == "body 2"
    assert client.get("/page", base_url="http://localhost/mounted").text == "body 3"
    assert calls["n"] == 3


def test_the_path_as_sent_is_the_key_not_its_decoded_form(simple_app):
    # issue 13 #8: /tag/python%3Fpage=2 is the tag "python?page=2", not page 2 of "python"
    @simple_app.get("/tag/<path:name>")
    @cached()
    def tag(name):
        return f"tag={name} page={request.args.get('page')}"

    client = simple_app.test_client()
    assert client.get("/tag/python%3Fpage=2").text == "tag=python?page=2 page=None"
    assert client.get("/tag/python?page=2").text == "tag=python page=2"
    assert client.get("/tag/python%3Fpage=2").text == "tag=python?page=2 page=None"


def test_canonical_query_never_merges_different_bytes():
    assert canonical_query("b=2&a=1") == canonical_query("a=1&b=2")
    assert canonical_query("a=%ff") != canonical_query("a=%fe")  # no lossy decoding
    assert canonical_query("a=%2B") != canonical_query("a=+")
    assert canonical_query("a=+") == canonical_query("a=%20")
    assert canonical_query("p=9&p=2") != canonical_query("p=2&p=9")
    assert canonical_query("") == ()


def test_raw_path_from_the_server_or_rebuilt():
    assert raw_path({"RAW_URI": "/a%3Fb?x=1"}) == "/a%3Fb"
    assert raw_path({"REQUEST_URI": "http://h.example/p%20q?x"}) == "/p%20q"
    assert raw_path({"SCRIPT_NAME": "/app", "PATH_INFO": "/a?b"}) == "/app/a%3Fb"


def test_cached_without_query_string(simple_app):
    calls = counted_view(simple_app, query_string=False)
    client = simple_app.test_client()
    client.get("/page?x=1")
    assert client.get("/page?x=2").text == "body 1"
    assert calls["n"] == 1


def test_head_shares_the_get_entry_and_post_is_not_cached(simple_app):
    calls = counted_view(simple_app)
    client = simple_app.test_client()
    head = client.head("/page")
    assert head.status_code == 200 and head.data == b""
    assert client.get("/page").text == "body 1"
    assert client.post("/page").text == "body 2"
    assert client.post("/page").text == "body 3"
    assert client.get("/page").text == "body 1"
    assert calls["n"] == 3


def test_unless_and_custom_key(simple_app):
    skip = {"on": False}
    calls = counted_view(simple_app, "/u", unless=lambda: skip["on"], key=lambda: "fixed")
    client = simple_app.test_client()
    client.get("/u?a=1")
    assert client.get("/u?a=2").text == "body 1"  # key= replaces the URL
    skip["on"] = True
    assert client.get("/u").text == "body 2"
    assert calls["n"] == 2


def test_cached_on_a_blueprint(simple_app):
    bp = Blueprint("bp", __name__, url_prefix="/bp")
    calls = {"n": 0}

    @bp.get("/x")
    @cached(timeout=30)
    def x():
        calls["n"] += 1
        return {"n": calls["n"]}

    simple_app.register_blueprint(bp)
    client = simple_app.test_client()
    assert client.get("/bp/x").json == {"n": 1}
    cached_response = client.get("/bp/x")
    assert cached_response.json == {"n": 1}
    assert cached_response.mimetype == "application/json"


def test_cached_entries_of_two_apps_stay_apart(tmp_path):
    apps = []
    for name in ("one", "two"):
        a = Batteries(name, root_path=str(tmp_path), instance_path=str(tmp_path / "shared"))

        @a.get("/")
        @cached()
        def index(name=name):
            return name

        apps.append(a)
    assert apps[0].test_client().get("/").text == "one"
    assert apps[1].test_client().get("/").text == "two"
    assert apps[0].test_client().get("/").text == "one"


def test_async_views_are_cached(simple_app):
    # issue 13 #12: @cached on an async def view was a 500
    calls = {"n": 0}

    @simple_app.get("/async")
    @cached()
    async def view():
        calls["n"] += 1
        return f"async {calls['n']}"

    client = simple_app.test_client()
    assert client.get("/async").text == "async 1"
    assert client.get("/async").text == "async 1"
    assert calls["n"] == 1


# -- what is stored ---------------------------------------------------------------------------------


def test_only_plain_fresh_200_responses_are_stored(simple_app):
    state = {"n": 0}

    @simple_app.get("/r/<kind>")
    @cached()
    def view(kind):
        state["n"] += 1
        response = make_response(kind)
        if kind == "missing":
            response.status_code = 404
        elif kind == "cookie":
            response.set_cookie("c", "1")
        elif kind == "private":
            response.cache_control.private = True
        elif kind == "no-store":
            response.cache_control.no_store = True
        elif kind == "no-cache":
            response.cache_control.no_cache = True
        elif kind == "stale":
            response.cache_control.max_age = 0
        elif kind == "s-stale":
            response.cache_control.s_maxage = 0
            response.cache_control.max_age = 600
        elif kind == "bad-expires":
            response.headers["Expires"] = "0"
        elif kind == "vary-star":
            response.vary.add("*")
        elif kind == "stream":
            return simple_app.response_class(iter([b"a", b"b"]))
        return response

    client = simple_app.test_client()
    kinds = ("missing", "cookie", "private", "no-store", "no-cache", "stale", "s-stale")
    for kind in (*kinds, "bad-expires", "vary-star", "stream"):
        before = state["n"]
        client.get(f"/r/{kind}")
        client.get(f"/r/{kind}")
        assert state["n"] == before + 2, kind
    before = state["n"]
    client.get("/r/plain")
    client.get("/r/plain")
    assert state["n"] == before + 1


def test_freshness_of_a_response(simple_app):
    with simple_app.test_request_context():
        response = make_response("x")
        assert freshness(response) is None
        response.cache_control.max_age = 60
        assert freshness(response) == 60
        response.cache_control.s_maxage = 10  # a shared cache reads s-maxage first
        assert freshness(response) == 10


def test_a_request_with_authorization_is_neither_stored_nor_served(simple_app):
    # issue 13 #3 (RFC 9111 §3.5)
    calls = {"n": 0}

    @simple_app.get("/api")
    @cached()
    def api():
        calls["n"] += 1
        who = request.headers.get("Authorization", "anonymous").split(" ")[0]
        return f"{who} {calls['n']}"

    client = simple_app.test_client()
    assert client.get("/api", auth=("ada", "pw")).text == "Basic 1"
    assert client.get("/api").text == "anonymous 2"  # ada's page was not stored
    assert client.get("/api").text == "anonymous 2"
    assert client.get("/api", headers={"Authorization": "Bearer t"}).text == "Bearer 3"
    assert client.get("/api", auth=("bob", "pw")).text == "Basic 4"  # never the stored page


def test_a_request_saying_no_store_is_not_stored(simple_app):
    calls = counted_view(simple_app)
    client = simple_app.test_client()
    client.get("/page", headers={"Cache-Control": "no-store"})
    assert client.get("/page").text == "body 2"
    assert calls["n"] == 2


def test_mark_uncacheable_keeps_a_page_out(simple_app):
    calls = {"n": 0}

    @simple_app.get("/once")
    @cached()
    def once():
        calls["n"] += 1
        mark_uncacheable("one-time link")
        return f"link {calls['n']}"

    client = simple_app.test_client()
    assert client.get("/once").text == "link 1"
    assert client.get("/once").text == "link 2"
    mark_uncacheable()  # outside a request: nothing to mark, no error


# -- Vary -----------------------------------------------------------------------------------------


def test_each_variant_of_a_vary_header_has_its_own_entry(simple_app):
    calls = {"n": 0}

    @simple_app.get("/lang")
    @cached()
    def lang():
        calls["n"] += 1
        response = make_response(f"{request.headers.get('Accept-Language')} {calls['n']}")
        response.vary.add("Accept-Language")
        return response

    client = simple_app.test_client()
    assert client.get("/lang", headers={"Accept-Language": "de"}).text == "de 1"
    assert client.get("/lang", headers={"Accept-Language": "fr"}).text == "fr 2"
    assert client.get("/lang", headers={"Accept-Language": "de"}).text == "de 1"
    assert client.get("/lang", headers={"Accept-Language": "fr"}).text == "fr 2"
    assert client.get("/lang").text == "None 3"
    assert client.get("/lang").text == "None 3"
    assert client.head("/lang", headers={"Accept-Language": "de"}).status_code == 200
    assert calls["n"] == 3


def test_json_and_html_of_one_url_stay_apart(simple_app):
    # issue 13 #4: a view answering both ways marks Vary (as request.wants_json does)
    calls = {"n": 0}

    @simple_app.get("/both")
    @cached()
    def both():
        calls["n"] += 1
        if request.headers.get("X-Requested-With") == "XMLHttpRequest":
            response = jsonify(n=calls["n"])
        else:
            response = make_response(f"<p>{calls['n']}</p>")
        response.vary.update(["Accept", "X-Requested-With", "Sec-Fetch-Mode", "HX-Request"])
        return response

    client = simple_app.test_client()
    ajax = {"X-Requested-With": "XMLHttpRequest"}
    assert client.get("/both", headers=ajax).json == {"n": 1}
    browser = client.get("/both", headers={"Accept": "text/html"})
    assert browser.mimetype == "text/html" and browser.text == "<p>2</p>"
    assert client.get("/both", headers={"Accept": "text/html"}).text == "<p>2</p>"
    assert client.get("/both", headers=ajax).json == {"n": 1}
    assert client.get("/both").text == "<p>3</p>"  # no Accept is a variant of its own
    assert calls["n"] == 3


def test_vary_on_header_names_add_key_parts(simple_app):
    calls = {"n": 0}

    @simple_app.get("/tz")
    @cached(vary_on=["X-Timezone"])
    def tz():
        calls["n"] += 1
        return f"{request.headers.get('X-Timezone')} {calls['n']}"  # no Vary: the key has it

    client = simple_app.test_client()
    assert client.get("/tz", headers={"X-Timezone": "UTC"}).text == "UTC 1"
    assert client.get("/tz", headers={"X-Timezone": "CET"}).text == "CET 2"
    assert client.get("/tz", headers={"X-Timezone": "UTC"}).text == "UTC 1"


def test_vary_on_callable_adds_a_key_part(simple_app):
    calls = {"n": 0}

    @simple_app.get("/theme")
    @cached(vary_on=lambda: request.cookies.get("theme"))
    def theme():
        calls["n"] += 1
        return f"{request.cookies.get('theme')} {calls['n']}"

    dark, light, none = (simple_app.test_client() for _ in range(3))
    dark.set_cookie("theme", "dark")
    light.set_cookie("theme", "light")
    none.set_cookie("theme", "None")  # a string "None" is not the missing cookie
    assert dark.get("/theme").text == "dark 1"
    assert light.get("/theme").text == "light 2"
    assert dark.get("/theme").text == "dark 1"
    assert simple_app.test_client().get("/theme").text == "None 3"
    assert none.get("/theme").text == "None 4"


# -- the session and the remember cookie ----------------------------------------------------------


def session_app(simple_app, **options):
    calls = {"n": 0}

    @simple_app.get("/s")
    @cached(**options)
    def view():
        calls["n"] += 1
        return f"hello {session.get('name', 'anon')} {calls['n']}"

    @simple_app.get("/login/<name>")
    def login(name):
        session["name"] = name
        return "in"

    return calls


def test_a_page_that_reads_the_session_is_served_only_to_visitors_without_one(simple_app):
    calls = session_app(simple_app)
    first = simple_app.test_client().get("/s")
    assert "Cookie" in first.headers.get("Vary", "")
    again = simple_app.test_client().get("/s")
    assert calls["n"] == 1 and again.data == first.data == b"hello anon 1"
    assert "Cookie" in again.headers.get("Vary", "")  # kept for proxies
    user = simple_app.test_client()
    user.get("/login/ada")
    assert user.get("/s").data == b"hello ada 2"  # never the anonymous page
    assert user.get("/s").data == b"hello ada 3"  # and never stored for others
    assert simple_app.test_client().get("/s").data == b"hello anon 1"


def test_vary_on_never_loosens_the_session_rule(simple_app):
    # issue 13 #5's shape: vary_on keyed on the user used to let pages that read a session be
    # shared by everyone the callable could not tell apart
    calls = session_app(simple_app, vary_on=lambda: "same for everyone")
    alice, bob = simple_app.test_client(), simple_app.test_client()
    alice.get("/login/alice")
    bob.get("/login/bob")
    assert alice.get("/s").text == "hello alice 1"
    assert bob.get("/s").text == "hello bob 2"
    assert alice.get("/s").text == "hello alice 3"
    assert calls["n"] == 3


def test_a_remember_cookie_alone_skips_pages_that_read_the_session(simple_app):
    calls = session_app(simple_app)
    simple_app.test_client().get("/s")
    remembered = simple_app.test_client()
    remembered.set_cookie("batteries_remember", "someone")
    assert remembered.get("/s").text.endswith(" 2")
    assert calls["n"] == 2


def test_other_cookies_are_variants_of_a_page_that_read_the_session(simple_app):
    calls = session_app(simple_app)
    simple_app.test_client().get("/s")
    tracked = simple_app.test_client()
    tracked.set_cookie("theme", "dark")
    assert tracked.get("/s").text == "hello anon 2"  # Vary: Cookie keys on the whole header
    assert tracked.get("/s").text == "hello anon 2"
    assert calls["n"] == 2


def test_a_page_that_did_not_read_the_session_is_served_to_visitors_with_one(simple_app):
    calls = counted_view(simple_app)

    @simple_app.get("/login")
    def login():
        session["name"] = "ada"
        return "in"

    client = simple_app.test_client()
    client.get("/page")
    client.get("/login")
    assert client.get("/page").text == "body 1"
    assert calls["n"] == 1


def test_a_session_written_after_the_view_is_seen_before_storing(simple_app):
    # The cookie is set when the session is saved, after the view and after_request:
    # the response is checked only then.
    calls = {"n": 0}

    @simple_app.get("/w")
    @cached()
    def view():
        calls["n"] += 1
        return "hi"

    @simple_app.after_request
    def mark(response):
        if calls["n"] == 1:
            session["seen"] = True
        return response

    client = simple_app.test_client()
    first = client.get("/w")
    assert "Set-Cookie" in first.headers
    client.delete_cookie("session")
    client.get("/w")
    assert calls["n"] == 2  # the first response was not stored


def test_anonymous_visitors_never_share_a_csrf_token(simple_app):
    # issue 13 #5: with vary_on=lambda: current_user.get_id(), anonymous visitors shared the
    # first one's <meta name="csrf-token">
    @simple_app.get("/form")
    @cached(vary_on=lambda: current_user.get_id())
    def form():
        return render_template_string('<meta name="csrf-token" content="{{ batteries_csrf_token() }}">')

    @simple_app.get("/flash")
    def flash_something():
        session["x"] = 1  # an anonymous visitor with a session (a flash, a cart...)
        return "ok"

    tokens = set()
    for _ in range(3):
        visitor = simple_app.test_client()
        visitor.get("/flash")
        page = visitor.get("/form").text
        tokens.add(re.search(r'content="([^"]+)"', page).group(1))
    for _ in range(2):
        page = simple_app.test_client().get("/form").text  # no session: a new one each
        tokens.add(re.search(r'content="([^"]+)"', page).group(1))
    assert len(tokens) == 5


# -- per-request values ---------------------------------------------------------------------------


def test_each_replay_gets_its_own_csp_nonce(simple_app):
    # issue 13 #9: every visitor of a cached page got the same nonce
    simple_app.config["SECURITY_HEADERS"] = True
    calls = {"n": 0}

    @simple_app.get("/nonce")
    @cached()
    def page():
        calls["n"] += 1
        return f'<script nonce="{csp_nonce()}">go()</script><style nonce="{csp_nonce()}"></style>'

    seen = set()
    for _ in range(4):
        response = simple_app.test_client().get("/nonce")
        nonces = re.findall(r'nonce="([^"]+)"', response.text)
        assert len(set(nonces)) == 1
        assert f"'nonce-{nonces[0]}'" in response.headers["Content-Security-Policy"]
        seen.add(nonces[0])
    assert len(seen) == 4 and calls["n"] == 1


def test_a_conditional_request_gets_a_304_from_the_cache(simple_app):
    calls = {"n": 0}

    @simple_app.get("/tagged")
    @cached()
    def tagged():
        calls["n"] += 1
        response = make_response("tagged page")
        response.set_etag("v1")
        return response

    client = simple_app.test_client()
    assert client.get("/tagged").status_code == 200
    assert client.get("/tagged", headers={"If-None-Match": '"v1"'}).status_code == 304
    other = client.get("/tagged", headers={"If-None-Match": '"v0"'})
    assert other.status_code == 200 and other.text == "tagged page"
    assert calls["n"] == 1


def test_a_request_saying_no_cache_is_still_served_from_the_cache(simple_app):
    calls = counted_view(simple_app)
    client = simple_app.test_client()
    client.get("/page")
    assert client.get("/page", headers={"Cache-Control": "no-cache"}).text == "body 1"
    assert client.get("/page", headers={"Pragma": "no-cache"}).text == "body 1"
    assert calls["n"] == 1


def test_a_mark_does_not_outlive_its_request_in_a_reused_app_context(simple_app):
    calls = {"n": 0}

    @simple_app.get("/m/<kind>")
    @cached()
    def view(kind):
        calls["n"] += 1
        if kind == "once":
            mark_uncacheable()
        return f"{kind} {calls['n']}"

    client = simple_app.test_client()
    with simple_app.app_context():
        client.get("/m/once")
        assert client.get("/m/plain").text == "plain 2"
        assert client.get("/m/plain").text == "plain 2"  # stored: the mark was /m/once's only

"""Property tests: bad input never gets a 500, a traceback, or a file outside the upload folder.

Each property builds one app, then lets Hypothesis (``derandomize=True``: the same cases on
every run) send generated requests through the test client. ``TESTING`` is on, so an unhandled
exception is raised into the test instead of becoming a 500 page: any crash fails the property.
Every answer must be a 2xx, 3xx or 4xx; a 4xx must carry a message; no body may contain a
traceback. Each property adds the invariant of its own input class (digest equality, the
method the view saw, the file's place on disk, the redirect target, ...).

Run with ``--hypothesis-show-statistics`` to see how many cases each property ran.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import string

import pytest
from flask import jsonify, request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batteries import Batteries

FUZZ = settings(
    derandomize=True,
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: the cheap properties (no body parsing beyond a header, no database) run more cases
FUZZ_MORE = settings(FUZZ, max_examples=600)


#: cases run per property in this session (printed with ``pytest -s``)
CASES: dict[str, int] = {}


def count(name: str) -> None:
    CASES[name] = CASES.get(name, 0) + 1


@pytest.fixture(autouse=True)
def _report_cases(request):
    yield
    name = request.node.name
    if name in CASES:
        print(f"\n{name}: {CASES[name]} generated cases")


def make_app(tmp_path, name: str = "fuzz_app") -> Batteries:
    app = Batteries(name, root_path=str(tmp_path), instance_path=str(tmp_path / "instance"))
    app.config.update(TESTING=True, SECRET_KEY="fuzz secret key " * 4)
    return app


def assert_handled(response, *allowed: int) -> None:
    """2xx/3xx/4xx (or one of ``allowed``), a message on errors, never a traceback."""
    status = response.status_code
    body = response.get_data()  # buffers the body, so closing (files served) keeps it readable
    response.close()
    assert status < 500, (status, body[:300])
    if allowed:
        assert status in allowed, (status, body[:300])
    assert b"Traceback (most recent call last)" not in body
    if status >= 400 and response.request.method != "HEAD":
        assert body.strip(), f"{status} without a message"


headers_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)


# -- method override ---------------------------------------------------------------------------

OVERRIDE_VALUES = st.one_of(
    st.sampled_from(
        ["PUT", "patch", " delete ", "GET", "HEAD", "CONNECT", "TRACE", "OPTIONS", "POST", "", " "]
    ),
    headers_text,
)


def test_method_override(tmp_path) -> None:
    app = make_app(tmp_path)
    seen: list[str] = []

    @app.route("/item", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def item():
        seen.append(request.method)
        return request.method

    client = app.test_client()
    allowed = {"PUT", "PATCH", "DELETE"}

    @FUZZ_MORE
    @given(
        method=st.sampled_from(["GET", "POST", "HEAD", "PUT"]),
        header=st.none() | OVERRIDE_VALUES,
        query=st.none() | OVERRIDE_VALUES,
        form=st.none() | OVERRIDE_VALUES,
        multipart=st.booleans(),
    )
    def run(method, header, query, form, multipart):
        count("test_method_override")
        seen.clear()
        headers = {} if header is None else {"X-HTTP-Method-Override": header}
        query_string = {} if query is None else {"_method": query}
        data = None
        if form is not None and method not in ("GET", "HEAD"):
            data = {"_method": form, "x": "1"}
            if multipart:
                data["f"] = (io.BytesIO(b"x"), "f.txt")
        response = client.open(
            "/item", method=method, headers=headers, query_string=query_string, data=data
        )
        assert_handled(response, 200, 400)
        if method != "POST":
            # never from GET/HEAD/PUT: the view sees the real method
            assert response.status_code == 200
            assert seen == [method]
            return
        given_values = [v.strip().upper() for v in (header, query, form) if v is not None]
        given_values = [v for v in given_values if v]
        if response.status_code == 200:
            assert len(seen) == 1
            assert seen[0] in allowed | {"POST"}
            if given_values:
                assert seen == [given_values[0]]
        else:
            assert seen == []  # a refused override never reaches a view

    run()


# -- digests -----------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


@st.composite
def digest_header(draw, body: bytes):
    kind = draw(st.sampled_from(["right", "wrong", "garbage", "unknown-alg", "md5", "md5-wrong"]))
    if kind == "garbage":
        return draw(st.sampled_from(["Content-Digest", "Repr-Digest", "Content-MD5"])), draw(
            headers_text
        )
    if kind in ("md5", "md5-wrong"):
        data = body if kind == "md5" else body + b"!"
        return "Content-MD5", _b64(hashlib.md5(data).digest())
    name = draw(st.sampled_from(["Content-Digest", "Repr-Digest"]))
    alg = draw(st.sampled_from(["sha-256", "sha-512"]))
    data = body if kind != "wrong" else body + b"!"
    value = _b64(hashlib.new(alg.replace("-", ""), data).digest())
    entry = f"{alg}=:{value}:"
    if kind == "unknown-alg":
        entry = f"crc32c=:AAAAAA==:, {entry}"
    return name, entry


def test_digest_headers(tmp_path) -> None:
    app = make_app(tmp_path)

    @app.route("/upload", methods=["POST"])
    def upload():
        request.get_data()
        return jsonify(sha256=request.content_digest())

    client = app.test_client()

    @FUZZ_MORE
    @given(data=st.data(), body=st.binary(max_size=2048))
    def run(data, body):
        count("test_digest_headers")
        name, value = data.draw(digest_header(body))
        response = client.post(
            "/upload", data=body, headers={name: value, "Content-Type": "application/octet-stream"}
        )
        assert_handled(response, 200, 400)
        if response.status_code == 200:
            assert response.json["sha256"] == hashlib.sha256(body).hexdigest()

    run()


# -- multipart ---------------------------------------------------------------------------------

part_names = st.one_of(
    st.text(max_size=20),
    st.lists(st.text(alphabet=string.ascii_letters + "[]._", max_size=6), max_size=4).map(
        lambda p: "a" + "".join(f"[{x}]" for x in p)
    ),
)


@st.composite
def multipart_body(draw):
    boundary = draw(
        st.text(
            alphabet=string.ascii_letters + string.digits + "'()+_,-./:=?", min_size=1, max_size=70
        )
    )
    parts = draw(
        st.lists(
            st.tuples(part_names, st.none() | st.text(max_size=30), st.binary(max_size=200)),
            max_size=8,
        )
    )
    many = draw(st.sampled_from([0, 0, 0, 999, 1001]))
    out = io.BytesIO()
    for i in range(many):
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="p{i}"\r\n\r\nx\r\n'.encode()
        )
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out.write(
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode(
                "utf-8", "surrogatepass"
            )
        )
        out.write(content + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    body = out.getvalue()
    if draw(st.booleans()):
        body = body[: draw(st.integers(0, len(body)))]
    header_boundary = (
        boundary
        if draw(st.booleans())
        else draw(st.text(alphabet=string.ascii_letters, max_size=10))
    )
    return body, f"multipart/form-data; boundary={header_boundary}"


def test_multipart_bodies(tmp_path) -> None:
    app = make_app(tmp_path)

    @app.route("/form", methods=["POST"])
    def form():
        return jsonify(fields=len(request.form), files=len(request.files))

    client = app.test_client()

    @FUZZ
    @given(multipart_body())
    def run(case):
        count("test_multipart_bodies")
        body, content_type = case
        response = client.post("/form", data=body, headers={"Content-Type": content_type})
        assert_handled(response, 200, 400, 413)

    run()


# -- JSON --------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def json_body(draw):
    kind = draw(
        st.sampled_from(
            ["valid", "truncated", "deep", "huge-number", "constants", "bytes", "charset"]
        )
    )
    if kind == "deep":
        depth = draw(st.sampled_from([10, 511, 513, 1000, 5000, 20000]))
        opener = draw(st.sampled_from(["[", '{"a":']))
        closer = "]" if opener == "[" else "}"
        return (opener * depth + "1" + closer * depth).encode(), "application/json"
    if kind == "huge-number":
        digits = draw(st.integers(1, 6000))
        return ("[" + "9" * digits + "]").encode(), "application/json"
    if kind == "constants":
        return draw(
            st.sampled_from(
                [b"NaN", b"[Infinity]", b'{"a": -Infinity}', b'"\\ud800"', b'{"a":1,"a":2}']
            )
        ), "application/json"
    if kind == "bytes":
        return draw(st.binary(max_size=200)), "application/json"
    text = json.dumps(draw(json_values))
    if kind == "truncated":
        text = text[: draw(st.integers(0, max(0, len(text) - 1)))]
    if kind == "charset":
        charset = draw(st.sampled_from(["utf-16", "latin-1", "utf-32", "bogus", "utf-8"]))
        try:
            data = text.encode(charset)
        except (LookupError, UnicodeEncodeError):
            data = text.encode("utf-8", "surrogatepass")
        return data, f"application/json; charset={charset}"
    return text.encode("utf-8", "surrogatepass"), draw(
        st.sampled_from(["application/json", "application/vnd.api+json", "text/plain"])
    )


def test_json_bodies(tmp_path) -> None:
    app = make_app(tmp_path)

    @app.route("/api", methods=["POST"])
    def api():
        value = request.get_json()
        return jsonify(type=type(value).__name__)

    client = app.test_client()

    @FUZZ
    @given(json_body())
    def run(case):
        count("test_json_bodies")
        body, content_type = case
        response = client.post("/api", data=body, headers={"Content-Type": content_type})
        assert_handled(response, 200, 400, 415)
        if body.count(b"[") > 600 or body.count(b"{") > 600:
            assert response.status_code == 400

    run()


# -- upload filenames --------------------------------------------------------------------------

NASTY_NAMES = [
    "../../etc/passwd",
    "..\\..\\boot.ini",
    "/abs/path.txt",
    "C:\\x.txt",
    "\\\\srv\\share\\x.txt",
    "x.jpg\x00.php",
    "x.txt\x00",
    "CON",
    "aux.txt",
    "NUL.png",
    "com1.jpg",
    "a" * 300 + ".txt",
    "é" * 200 + ".png",
    ".htaccess",
    ".txt",
    "..",
    "$$$",
    "文件.txt",
    "x.ｐｈｐ",
    "X.PHP",
    "x.php.jpg",
    "",
]

filenames = st.one_of(
    st.sampled_from(NASTY_NAMES),
    st.text(max_size=300),
    st.builds(
        lambda stem, ext: stem + "." + ext,
        st.text(max_size=260),
        st.sampled_from(["txt", "png", "jpg", "php", "exe", "TXT", "Jpg", ""]),
    ),
)


def _files_under(root) -> set[str]:
    found = set()
    for folder, _dirs, files in os.walk(root):
        for name in files:
            found.add(os.path.join(folder, name))
    return found


def test_upload_filenames(tmp_path) -> None:
    from batteries.uploads import save_upload

    app = make_app(tmp_path)
    folder = tmp_path / "uploads"
    app.config["UPLOAD_FOLDER"] = str(folder)

    @app.route("/up", methods=["POST"])
    def up():
        return jsonify(name=save_upload(request.files["f"])), 201

    client = app.test_client()
    # one upload first: whatever the app creates on first use (an embedded broker when Celery
    # is loaded in this process, the instance folder) is not an upload
    warm = client.post("/up", data={"f": (io.BytesIO(b"x"), "warm.txt")})
    assert warm.status_code == 201, warm.get_data()[:300]
    before = _files_under(tmp_path)
    real_folder = os.path.realpath(folder)

    @FUZZ
    @given(name=filenames, content=st.binary(min_size=1, max_size=64))
    def run(name, content):
        count("test_upload_filenames")
        try:
            data = {"f": (io.BytesIO(content), name)}
            response = client.post("/up", data=data, content_type="multipart/form-data")
        except (UnicodeEncodeError, ValueError):
            return  # the test client cannot encode this name; a browser could not send it either
        assert_handled(response, 201, 400)
        after = _files_under(tmp_path)
        for path in after - before:
            assert os.path.dirname(os.path.realpath(path)) == real_folder, path
        if response.status_code == 201:
            stored = response.json["name"]
            assert stored and "/" not in stored and "\\" not in stored and "\x00" not in stored
            assert len(stored.encode()) <= 255
            with open(folder / stored, "rb") as f:
                assert f.read() == content
            assert not stored.lower().endswith((".php", ".exe", ".htaccess"))

    run()


# -- next= -------------------------------------------------------------------------------------

NEXT_CORPUS = [
    "//evil.example",
    "///evil.example",
    "////evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "\\\\evil.example",
    "https://evil.example",
    "http:///evil.example",
    "http:\\/evil.example",
    "javascript:alert(1)",
    "\x08//evil.example",
    "/\t/evil.example",
    "/ /evil.example",
    "/ok\r\nSet-Cookie: x=1",
    "/ok\x00",
    "http://srv\\@evil.example",
    "/" + "a" * 10000,
    "/fine/path?x=1",
    "",
]


def test_next_values(tmp_path) -> None:
    from flask import redirect

    from batteries.auth import safe_next

    app = make_app(tmp_path)

    @app.route("/login", methods=["GET", "POST"])
    def login():
        return redirect(safe_next("/home"))

    client = app.test_client()

    @FUZZ_MORE
    @given(
        target=st.one_of(st.sampled_from(NEXT_CORPUS), st.text(max_size=60)),
        via_form=st.booleans(),
    )
    def run(target, via_form):
        count("test_next_values")
        if via_form:
            response = client.post("/login", data={"next": target})
        else:
            response = client.get("/login", query_string={"next": target})
        assert_handled(response, 302, 303)
        location = response.headers["Location"]
        assert location.startswith("/") and location[1:2] not in ("/", "\\"), location
        assert not any(c in location for c in "\r\n\x00\t"), location

    run()


# -- page / per_page ---------------------------------------------------------------------------

page_values = st.one_of(
    st.integers(-5, 10).map(str),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["", " 1", "1.5", "1e3", "0x10", "NaN", "١", "²", "+2", "-0", "9" * 400]),
    st.text(max_size=10),
)


def test_pagination_args(tmp_path) -> None:
    import sqlalchemy as sa

    from batteries import db

    class FuzzPageItem(db.Model):
        __tablename__ = "fuzz_page_item"
        __table_args__ = {"extend_existing": True}
        id = sa.Column(sa.Integer, primary_key=True)

    app = make_app(tmp_path)
    app.config["DATABASE_URL"] = f"sqlite:///{tmp_path / 'page.sqlite'}"
    with app.app_context():
        db.create_all()
        db.session.add_all(FuzzPageItem() for _ in range(45))
        db.session.commit()

    @app.route("/items")
    def items():
        page = db.paginate(sa.select(FuzzPageItem).order_by(FuzzPageItem.id))
        return jsonify(ids=[i.id for i in page.items], page=page.page, per_page=page.per_page)

    client = app.test_client()

    @FUZZ
    @given(page=st.none() | page_values, per_page=st.none() | page_values)
    def run(page, per_page):
        count("test_pagination_args")
        query = {k: v for k, v in (("page", page), ("per_page", per_page)) if v is not None}
        response = client.get("/items", query_string=query)
        assert_handled(response, 200, 404)
        if response.status_code == 200:
            body = response.json
            assert 1 <= body["per_page"] <= 100
            assert 1 <= len(body["ids"]) <= body["per_page"]

    run()
    with app.app_context():
        db.drop_all()


# -- i18n lang_code ----------------------------------------------------------------------------


def test_lang_codes(tmp_path) -> None:
    from urllib.parse import quote

    from batteries.i18n import localize

    app = make_app(tmp_path)
    localize(app, ["en", "de", "pt_BR"], "en")

    @app.route("/hello")
    def hello():
        from flask import g

        return g.lang_code

    client = app.test_client()

    @FUZZ
    @given(
        lang=st.one_of(
            st.sampled_from(["en", "de", "pt_BR", "pt-br", "EN", "fr", "", ".."]),
            st.text(max_size=12),
        )
    )
    def run(lang):
        count("test_lang_codes")
        response = client.get("/" + quote(lang, safe="") + "/hello")
        assert_handled(response)
        if lang in ("en", "de", "pt_BR"):
            assert response.status_code == 200 and response.text == lang
        else:
            assert response.status_code in (404, 308, 301, 302)

    run()


# -- SPA paths ---------------------------------------------------------------------------------

spa_segments = st.one_of(
    st.sampled_from(
        [
            "..",
            ".",
            "%2e%2e",
            "..%2f",
            "%5c..",
            "api",
            "app.js",
            "index.html",
            "secret.txt",
            "a.b",
            "",
            "\\..",
        ]
    ),
    st.text(alphabet=string.ascii_letters + string.digits + ".-_~%\\", max_size=10),
)


def test_spa_paths(tmp_path) -> None:
    from urllib.parse import unquote

    spa = tmp_path / "spa"
    spa.mkdir()
    (spa / "index.html").write_text("<!doctype html><p>index</p>")
    (spa / "app.js").write_text("console.log('app')")
    (tmp_path / "secret.txt").write_text("SECRET")
    app = make_app(tmp_path)
    app.spa("spa")
    client = app.test_client()
    served = {b"<!doctype html><p>index</p>", b"console.log('app')"}

    @FUZZ
    @given(
        segments=st.lists(spa_segments, max_size=5),
        method=st.sampled_from(["GET", "HEAD", "POST"]),
        accept=st.sampled_from([None, "text/html", "application/json", "*/*"]),
    )
    def run(segments, method, accept):
        count("test_spa_paths")
        headers = {"Accept": accept} if accept else {}
        # PATH_INFO as a server hands it over (percent-decoded, bytes as latin-1); set directly
        # because the test client reads a path starting with "//" as a host name
        path = unquote("/" + "/".join(segments)).encode("utf-8", "surrogatepass")
        response = client.open(
            "/",
            method=method,
            headers=headers,
            environ_overrides={"PATH_INFO": path.decode("latin-1")},
        )
        assert_handled(response)
        assert response.status_code in (200, 301, 302, 304, 308, 404, 405)
        if response.status_code == 200 and method == "GET":
            assert response.get_data() in served
        assert b"SECRET" not in response.get_data()

    run()


# -- cache keys from query strings -------------------------------------------------------------


def test_cache_keys(tmp_path) -> None:
    from batteries import cached

    app = make_app(tmp_path)
    app.config["CACHE_TYPE"] = "simple"

    def echo():
        return jsonify(path=request.path, args=sorted(request.args.items(multi=True)))

    app.add_url_rule("/plain", "plain", echo)
    app.add_url_rule("/cached", "cached", cached(timeout=60)(echo))
    client = app.test_client()
    raw_query = st.text(alphabet=string.ascii_letters + string.digits + "&=%+;#?[]/é", max_size=30)

    @FUZZ
    @given(queries=st.lists(raw_query, min_size=1, max_size=3))
    def run(queries):
        count("test_cache_keys")
        for query in queries:
            expected = client.get("/plain?" + query)
            got = client.get("/cached?" + query)
            assert_handled(got)
            if expected.status_code == 200:
                assert got.status_code == 200
                assert got.json["args"] == expected.json["args"]

    run()


def test_no_cached_response_differs_from_the_view(tmp_path) -> None:
    """Whatever the user, headers, query order and variant: what ``@cached`` answers is what
    the view itself answers for that request (issue 13). The view treats the query as a
    multi-dict (names apart, the order of a repeated name kept), reads the session for some
    queries, answers JSON or HTML by ``X-Requested-With``, varies on ``Accept-Language`` when
    asked, echoes ``Authorization`` and a cookie, and embeds a CSP nonce for some queries."""
    import re
    from itertools import groupby

    from flask import make_response, session

    from batteries import cached
    from batteries.headers import csp_nonce
    from batteries.signals import cache_hit

    app = make_app(tmp_path)
    app.config.update(CACHE_TYPE="simple", SECURITY_HEADERS=True)

    def page(name):
        args = sorted(request.args.items(multi=True), key=lambda pair: pair[0])
        grouped = {key: [v for _, v in group] for key, group in groupby(args, key=lambda p: p[0])}
        out = {"name": name, "args": grouped, "auth": request.headers.get("Authorization")}
        vary = []
        if "fmt" in grouped:
            vary.append("X-Requested-With")
        if "lang" in grouped:
            out["lang"] = request.headers.get("Accept-Language")
            vary.append("Accept-Language")
        if "who" in grouped:
            out["user"] = session.get("user")
        if "theme" in grouped:
            out["theme"] = request.cookies.get("theme")
            vary.append("Cookie")
        if "nonce" in grouped:
            out["nonce"] = csp_nonce()
        if "fmt" in grouped and request.headers.get("X-Requested-With") == "XMLHttpRequest":
            response = jsonify(out)
        else:
            response = make_response(f"<pre>{json.dumps(out, sort_keys=True)}</pre>")
        response.vary.update(vary)
        return response

    app.add_url_rule("/c/<path:name>", "cached_page", cached(timeout=600)(page))
    app.add_url_rule("/u/<path:name>", "plain_page", page)

    @app.route("/login/<user>")
    def login(user):
        session["user"] = user
        return "in"

    clients = {}
    for user in (None, "alice", "bob"):
        for theme in (None, "dark"):
            client = app.test_client()
            if user:
                client.get(f"/login/{user}")
            if theme:
                client.set_cookie("theme", theme)
            clients[(user, theme)] = client

    names = ["page", "q", "fmt", "lang", "who", "theme", "nonce"]
    pair = st.tuples(st.sampled_from(names), st.sampled_from(["1", "2", "x y", "%3F"]))
    nonces_seen: set[str] = set()
    hits: list[str] = []

    def on_hit(sender, key, **extra):
        hits.append(key)

    def normal(response):
        body = response.get_data(as_text=True)
        policy = response.headers.get("Content-Security-Policy", "")
        nonces = set(re.findall(r"'nonce-([^']+)'", policy))
        for nonce in nonces:
            assert nonce in body  # the page's nonce is the one its policy allows
            assert nonce not in nonces_seen  # and no other request ever had it
            nonces_seen.add(nonce)
            body = body.replace(nonce, "N")
        policy = re.sub(r"'nonce-[^']+'", "'nonce-N'", policy)
        vary = sorted(v.strip().lower() for v in response.headers.get("Vary", "").split(","))
        return response.status_code, response.mimetype, body, policy, vary

    @FUZZ
    @given(
        user=st.sampled_from([None, "alice", "bob"]),
        theme=st.sampled_from([None, "dark"]),
        name=st.sampled_from(["a", "a%3Fpage=2", "a%2Fb", "b"]),
        pairs=st.lists(pair, max_size=4),
        lang=st.sampled_from([None, "de", "fr"]),
        ajax=st.booleans(),
        auth=st.sampled_from([None, "Bearer one", "Bearer two"]),
    )
    def run(user, theme, name, pairs, lang, ajax, auth):
        count("test_no_cached_response_differs_from_the_view")
        headers = {}
        if lang:
            headers["Accept-Language"] = lang
        if ajax:
            headers["X-Requested-With"] = "XMLHttpRequest"
        if auth:
            headers["Authorization"] = auth
        query = "&".join(f"{k}={v}" for k, v in pairs)
        client = clients[(user, theme)]
        for _ in range(2):  # the second one is a hit whenever the first was stored
            expected = client.get(f"/u/{name}?{query}", headers=headers)
            got = client.get(f"/c/{name}?{query}", headers=headers)
            assert_handled(got, 200)
            assert normal(got) == normal(expected)

    with cache_hit.connected_to(on_hit, sender=app):
        run()
    assert len(hits) > 100  # the property is not met by caching nothing


# -- CSRF tokens -------------------------------------------------------------------------------


def test_csrf_tokens(tmp_path) -> None:
    from batteries.forms import csrf_token

    app = make_app(tmp_path)
    app.config["CSRF_PROTECT_ALL"] = True

    @app.route("/token")
    def token():
        return csrf_token()

    @app.route("/submit", methods=["POST"])
    def submit():
        return "ok"

    client = app.test_client()
    valid = client.get("/token").text
    tokens = st.one_of(
        st.just(valid),
        st.text(max_size=300),
        st.sampled_from(["", "##", valid[:-1], valid + "0", valid.upper(), "x" * 100_000]),
        st.builds(lambda d: d + "##" + "0" * 64, st.text(alphabet=string.digits, max_size=16)),
    )

    @FUZZ
    @given(
        token=tokens,
        where=st.sampled_from(["form", "header", "json"]),
        site=st.sampled_from([None, "same-origin", "same-site", "cross-site", "none"]),
    )
    def run(token, where, site):
        count("test_csrf_tokens")
        headers = {"Sec-Fetch-Site": site} if site else {}
        kwargs: dict = {}
        if where == "form":
            kwargs["data"] = {"csrf_token": token}
        elif where == "header":
            headers["X-CSRFToken"] = token
        else:
            kwargs["json"] = {"csrf_token": token}
        try:
            response = client.post("/submit", headers=headers, **kwargs)
        except ValueError:
            return  # a header value the test client refuses to send (newline)
        assert_handled(response, 200, 400, 403)
        if response.status_code == 200 and site in (None,):
            assert token == valid

    run()


# -- Host header -------------------------------------------------------------------------------


def test_host_headers(tmp_path) -> None:
    from flask import url_for
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request, Response

    app = make_app(tmp_path)
    app.config["TRUSTED_HOSTS"] = ["example.com", ".example.org"]

    @app.route("/link")
    def link():
        return url_for("link", _external=True)

    hosts = st.one_of(
        st.sampled_from(
            [
                "example.com",
                "example.com:8080",
                "a.example.org",
                "example.org",
                "evil.example",
                "example.com.evil.example",
                "evilexample.com",
                "",
                "a b",
                "x:99999",
                "example.com:",
                "[::1]",
                "EXAMPLE.COM",
                "example.com@evil.example",
                "example.com/evil",
            ]
        ),
        st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40),
    )

    @FUZZ
    @given(host=hosts)
    def run(host):
        count("test_host_headers")
        # the header as a server passes it, straight to the WSGI app: Werkzeug 3.2's test client
        # parses the Host itself (to build the request's URL) and refuses a bad port
        environ = EnvironBuilder(path="/link").get_environ()
        environ["HTTP_HOST"] = host
        response = Response.from_app(app, environ)
        response.request = Request(environ)  # type: ignore[attr-defined]
        assert_handled(response, 200, 400)
        if response.status_code == 200:
            netloc = response.get_data(as_text=True).split("/")[2]
            name = netloc.rsplit(":", 1)[0] if not netloc.endswith("]") else netloc
            name = name.lower()
            # ".example.org" in TRUSTED_HOSTS means the domain and its subdomains
            assert name in ("example.com", "example.org") or name.endswith(".example.org"), host

    run()


# -- method override x CSRF x cache ------------------------------------------------------------


def test_override_with_csrf_and_cache(tmp_path) -> None:
    from batteries import cached
    from batteries.forms import csrf_token

    app = make_app(tmp_path)
    app.config.update(CSRF_PROTECT_ALL=True, CACHE_TYPE="simple")
    deleted: list[int] = []

    @app.route("/token")
    def token():
        return csrf_token()

    @app.route("/item", methods=["GET", "POST", "DELETE"])
    @cached(timeout=60)
    def item():
        if request.method == "DELETE":
            deleted.append(1)
            return "deleted"
        return "the item"

    client = app.test_client()
    valid = client.get("/token").text

    @FUZZ
    @given(
        method=st.sampled_from(["GET", "HEAD", "POST"]),
        override=st.sampled_from(["DELETE", "delete", "PUT", "GET", "junk", ""]),
        via=st.sampled_from(["header", "query", "form"]),
        token=st.sampled_from(["valid", "none", "garbage"]),
        site=st.sampled_from([None, "same-origin", "cross-site"]),
    )
    def run(method, override, via, token, site):
        count("test_override_with_csrf_and_cache")
        deleted.clear()
        headers = {"Sec-Fetch-Site": site} if site else {}
        data = {}
        query = {}
        if via == "header":
            headers["X-HTTP-Method-Override"] = override
        elif via == "query":
            query["_method"] = override
        else:
            data["_method"] = override
        if token != "none":
            headers["X-CSRFToken"] = valid if token == "valid" else "0" * 20 + "##" + "0" * 64
        response = client.open(
            "/item",
            method=method,
            headers=headers,
            query_string=query,
            data=data if method == "POST" else None,
        )
        assert_handled(response, 200, 400, 403, 405)
        if deleted:
            # a delete ran: only from a POST, never cross-site, and with a valid token unless
            # the browser said same-origin (Fetch Metadata)
            assert method == "POST" and override.upper() == "DELETE"
            assert site != "cross-site"
            assert token == "valid" or site == "same-origin"
        # whatever was sent, the cached GET still answers the real page
        assert client.get("/item").text == "the item"

    run()

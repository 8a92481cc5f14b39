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

import io
import os
import string

import pytest
from flask import jsonify, request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batteries import Batteries

FUZZ = settings(
    derandomize=True,
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


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


# -- digests -----------------------------------------------------------------------------------


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


# Werkzeug 3.1 leaves the file object of a truncated file part unclosed (it is never put in
# request.files, so Request.close() cannot reach it); CPython closes it when it is collected.
# Nothing reaches the disk: the spooled file is in memory below 500 kB and an unlinked temp file
# above. Reported to the request layer; until then the warning is not a failure here.
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <function SpooledTemporaryFile.__del__"
    ":pytest.PytestUnraisableExceptionWarning"
)
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

    @FUZZ
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


# -- i18n lang_code ----------------------------------------------------------------------------


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

"""HTTP method override (batteries.ctx): header, query, urlencoded and multipart ``_method``."""

from __future__ import annotations

import hashlib
import io

import pytest
from flask import request, stream_with_context
from werkzeug.test import EnvironBuilder, run_wsgi_app

from batteries.ctx import PeekedInput

BOUNDARY = "ctxboundary"


def multipart(*parts: tuple[str, bytes, str | None]) -> bytes:
    out = b""
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"'
        if filename:
            disposition += f'; filename="{filename}"'
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += value + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


MULTIPART_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


@pytest.fixture
def app(app):
    @app.route("/item", methods=["DELETE", "PUT", "PATCH"])
    def item():
        return {
            "method": request.method,
            "environ": request.environ["REQUEST_METHOD"],
            "original": request.original_method,
            "saved": request.environ.get("batteries.original_method"),
            "form": request.form.to_dict(),
            "files": {k: v.read().decode() for k, v in request.files.items()},
            "digest": request.content_digest(),
        }

    @app.route("/any", methods=["GET", "POST", "DELETE"])
    def any_method():
        return {"method": request.method}

    return app


@pytest.fixture
def client(app):
    return app.test_client()


def test_header_override(client):
    result = client.post("/item", headers={"X-HTTP-Method-Override": " delete "}).json
    assert result["method"] == result["environ"] == "DELETE"
    assert result["original"] == result["saved"] == "POST"


def test_query_override(client):
    assert client.post("/item?_method=put").json["method"] == "PUT"


def test_urlencoded_override_keeps_the_body(client):
    body = b"a=1&_method=Patch&b=2"
    result = client.post(
        "/item", data=body, content_type="application/x-www-form-urlencoded"
    ).json
    assert result["method"] == "PATCH"
    assert result["form"] == {"a": "1", "_method": "Patch", "b": "2"}
    assert result["digest"] == hashlib.sha256(body).hexdigest()


def test_multipart_first_part_override_keeps_files_and_digest(client):
    body = multipart(("_method", b"DELETE", None), ("f", b"file body" * 1000, "f.txt"))
    result = client.post("/item", data=body, content_type=MULTIPART_TYPE).json
    assert result["method"] == "DELETE"
    assert result["files"] == {"f": "file body" * 1000}
    assert result["digest"] == hashlib.sha256(body).hexdigest()


def test_multipart_override_only_from_the_first_part(client):
    body = multipart(("a", b"1", None), ("_method", b"DELETE", None))
    assert client.post("/item", data=body, content_type=MULTIPART_TYPE).status_code == 405
    body = multipart(("f", b"x", "f.txt"), ("_method", b"DELETE", None))
    assert client.post("/item", data=body, content_type=MULTIPART_TYPE).status_code == 405


def test_test_client_dict_form(client):
    assert client.post("/item", data={"_method": "put", "x": "y"}).json["form"] == {
        "_method": "put",
        "x": "y",
    }


def test_get_and_head_are_never_overridden(client):
    assert client.get("/any?_method=DELETE").json == {"method": "GET"}
    response = client.get("/any", headers={"X-HTTP-Method-Override": "DELETE"})
    assert response.json == {"method": "GET"}
    assert client.head("/any", headers={"X-HTTP-Method-Override": "DELETE"}).status_code == 200
    response = client.get("/item", headers={"X-HTTP-Method-Override": "DELETE"})
    assert response.status_code == 405


@pytest.mark.parametrize(
    "value", ["GET", "head", "TRACE", "CONNECT", "OPTIONS", "junk", "DEL\tETE", "x" * 500]
)
def test_unknown_values_are_400_naming_them(client, value):
    response = client.post(
        "/any", headers={"X-HTTP-Method-Override": value, "Accept": "application/json"}
    )
    assert response.status_code == 400
    shown = value.strip().upper()[:10]
    assert repr(shown)[1:-1] in response.json["message"] if response.is_json else True
    assert "METHOD_OVERRIDE_ALLOWED" in response.json["message"]
    assert len(response.json["message"]) < 200
    response = client.post("/any", data={"_method": value}, headers={"Accept": "application/json"})
    assert response.status_code == 400 and response.json["status"] == 400


def test_empty_is_ignored_and_post_is_a_no_op(client):
    assert client.post("/any", data={"_method": "  "}).json == {"method": "POST"}
    assert client.post("/any?_method=post").json == {"method": "POST"}


def test_sources_must_agree(client):
    response = client.post(
        "/any?_method=DELETE",
        data={"_method": "PUT"},
        headers={"X-HTTP-Method-Override": "delete", "Accept": "application/json"},
    )
    assert response.status_code == 400
    assert "'PUT'" in response.json["message"] and "'DELETE'" in response.json["message"]
    response = client.post("/any?_method=DELETE", headers={"X-HTTP-Method-Override": "delete"})
    assert response.json == {"method": "DELETE"}


def test_config(app, client):
    app.config["METHOD_OVERRIDE_ALLOWED"] = ["delete"]
    assert client.post("/item?_method=PUT").status_code == 400
    assert client.post("/item?_method=DELETE").json["method"] == "DELETE"
    app.config["METHOD_OVERRIDE_ALLOWED"] = {"GET", "DELETE"}  # GET is never allowed
    assert client.post("/any?_method=GET").status_code == 400
    app.config["METHOD_OVERRIDE"] = False
    assert client.post("/any?_method=DELETE").json == {"method": "POST"}
    assert client.post("/any?_method=junk").json == {"method": "POST"}


def test_routing_answers_first(app, client):
    @app.route("/slash/", methods=["POST", "DELETE"])
    def slash():
        return {"method": request.method, "data": request.get_data().decode()}

    # 404: the body is not read and no override error replaces the 404
    response = client.post("/nowhere", data={"_method": "junk"})
    assert response.status_code == 404
    # 308 routing redirect: the body is re-sent intact to the new URL and overridden there
    response = client.post(
        "/slash", data=b"_method=delete", content_type="application/x-www-form-urlencoded",
        follow_redirects=True,
    )
    assert response.json == {"method": "DELETE", "data": "_method=delete"}


def test_error_goes_through_hooks_and_handlers(app, client):
    seen = []

    @app.before_request
    def before():
        seen.append(request.method)

    @app.errorhandler(400)
    def bad(e):
        return f"handled: {e.description}", 400

    response = client.post("/any", headers={"X-HTTP-Method-Override": "junk"})
    assert response.status_code == 400 and response.text.startswith("handled:")
    assert seen == ["POST"]


def test_view_can_raise_max_content_length_after_a_peek(app, client):
    """The peek reads no more than the first part: a view may still raise its own limit, when
    the override did not come from the over-limit body itself (see the 413 test below)."""
    app.config["MAX_CONTENT_LENGTH"] = 1000

    @app.route("/big", methods=["PUT"])
    def big():
        if request.args.get("raise"):
            request.max_content_length = 100_000
        return {"method": request.method, "size": len(request.files["f"].read())}

    body = multipart(("f", b"x" * 5000, "f.bin"), ("_method", b"PUT", None))
    response = client.post("/big?raise=1&_method=PUT", data=body, content_type=MULTIPART_TYPE)
    assert response.json == {"method": "PUT", "size": 5000}
    response = client.post("/big?_method=PUT", data=body, content_type=MULTIPART_TYPE)
    assert response.status_code == 413


@pytest.mark.parametrize("limit", ["config", "request"])
def test_body_override_over_the_limit_is_413(app, client, limit):
    """Batteries read the body to find ``_method``: a declared length over the effective limit
    is a 413 then, as a form parse would give, even for a view that never reads its body."""
    if limit == "config":
        app.config["MAX_CONTENT_LENGTH"] = 17 * 1024 * 1024 - 1
    else:
        app.config["MAX_CONTENT_LENGTH"] = None

        @app.before_request
        def lower():  # runs after routing: the override decided with the config's limit
            request.max_content_length = 1000

    @app.route("/put", methods=["PUT"])
    def put():
        return "never read the body"

    big = multipart(("_method", b"PUT", None), ("f", b"x" * (17 * 1024 * 1024), "f.bin"))
    response = client.post(
        "/put", data=big, content_type=MULTIPART_TYPE, headers={"Accept": "application/json"}
    )
    if limit == "config":
        assert response.status_code == 413
        assert "MAX_CONTENT_LENGTH" in response.json["message"]
    else:
        assert response.status_code == 200  # no limit when routing: the override stands
    small = multipart(("_method", b"PUT", None), ("f", b"x" * 10, "f.bin"))
    assert client.post("/put", data=small, content_type=MULTIPART_TYPE).status_code == 200


def test_over_the_limit_without_body_override_is_left_to_the_view(app, client):
    """No ``_method`` in the body: the body is not the override's business, nothing changes."""
    app.config["MAX_CONTENT_LENGTH"] = 1000

    @app.post("/ignore")
    def ignore():
        return "not read"

    body = multipart(("f", b"x" * 5000, "f.bin"))
    assert client.post("/ignore", data=body, content_type=MULTIPART_TYPE).status_code == 200
    body = b"a=" + b"x" * 5000 + b"&_method=PUT"
    response = client.post("/ignore", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200  # over the limit: not searched, so not read either


def test_override_survives_stream_with_context(app, client):
    @app.route("/stream", methods=["DELETE"])
    def stream():
        def gen():
            yield request.method
            yield request.endpoint

        return stream_with_context(gen())

    assert client.post("/stream?_method=delete").text == "DELETEstream"


def test_disconnect_during_peek_is_a_client_error(app):
    body = multipart(("_method", b"DELETE", None), ("f", b"x" * 100, "f.txt"))
    environ = EnvironBuilder(
        path="/item", method="POST", data=body, content_type=MULTIPART_TYPE
    ).get_environ()
    environ["CONTENT_LENGTH"] = str(len(body) + 5000)
    _, status, _ = run_wsgi_app(app, environ, buffered=True)
    assert status.startswith("400")


def test_large_urlencoded_body_is_not_peeked(client):
    body = b"_method=DELETE&pad=" + b"x" * (1024 * 1024)
    response = client.post("/any", data=body, content_type="application/x-www-form-urlencoded")
    assert response.json == {"method": "POST"}


def test_peeked_input():
    raw = io.BytesIO(b"two\nthree")
    peeked = PeekedInput(b"one\nline ", raw)
    assert peeked.readline() == b"one\n"
    assert peeked.readline() == b"line two\n"
    assert peeked.read() == b"three"
    peeked = PeekedInput(b"abc", io.BytesIO(b"def"))
    buffer = bytearray(2)
    assert peeked.readinto(buffer) == 2 and buffer == b"ab"
    assert peeked.read(5) == b"c"
    assert peeked.read(5) == b"def"
    peeked = PeekedInput(b"ab", io.BytesIO(b""), error=OSError("gone"))
    assert peeked.read(10) == b"ab"
    with pytest.raises(OSError):
        peeked.read(10)


def test_overridden_requests_still_need_csrf(app, client):
    """A ``_method`` form is a plain HTML form: CSRF protection sees the DELETE it became."""
    app.config["CSRF_PROTECT_ALL"] = True
    response = client.post(
        "/item", data={"_method": "DELETE"}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert response.status_code in (400, 403)
    response = client.post(
        "/item", data={"_method": "DELETE"}, headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert response.json["method"] == "DELETE"


def test_the_context_is_flasks_own(app):
    """No subclass of Flask's context (Flask 3.2 merges RequestContext into AppContext): the
    context is the one Flask builds, its ``url_adapter`` wrapped for a POST only."""
    from flask import Flask

    from batteries.ctx import OverridingAdapter

    for method in ("GET", "POST"):
        environ = EnvironBuilder(path="/any", method=method).get_environ()
        ctx = app.request_context(environ)
        assert type(ctx) is type(Flask.request_context(app, environ))
        assert isinstance(ctx.url_adapter, OverridingAdapter) is (method == "POST")


def test_the_wrapped_adapter_still_builds_and_matches_other_paths(app, client):
    from flask import url_for

    @app.route("/thing/<int:n>", methods=["DELETE"])
    def thing(n):
        adapter = app.create_url_adapter(request)
        return {
            "method": request.method,
            "url": url_for("thing", n=n + 1),
            "other": request.url_rule.rule,
            "match": adapter.match("/any", method="GET")[0],
        }

    response = client.post("/thing/3?_method=DELETE")
    assert response.json == {
        "method": "DELETE", "url": "/thing/4", "other": "/thing/<int:n>", "match": "any_method"
    }


def test_converters_run_inside_the_context(app, client):
    """Routing still happens with the context pushed (the session open), as in Flask: a
    converter may use ``current_app``, ``g`` or the session."""
    from flask import current_app, g
    from werkzeug.routing import BaseConverter

    class Named(BaseConverter):
        def to_python(self, value):
            g.converted = value
            return f"{current_app.name}:{value}"

    app.url_map.converters["named"] = Named

    @app.route("/named/<named:x>", methods=["PUT"])
    def named(x):
        return {"x": x, "method": request.method}

    response = client.post("/named/abc", headers={"X-HTTP-Method-Override": "PUT"})
    assert response.json == {"x": "test_app:abc", "method": "PUT"}

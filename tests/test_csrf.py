"""batteries.csrf: tokens, rotation, the app-wide CSRF_PROTECT_ALL check, csrf_token in templates."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from _formviews import NameForm, add_views, errors_of, get_token
from flask import Blueprint, Flask, render_template_string, session
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import batteries.csrf
from batteries import Batteries
from batteries.forms import csrf_exempt, csrf_protect, csrf_token


@pytest.fixture
def client(app):
    add_views(app)
    return app.test_client()


# -- tokens -------------------------------------------------------------------------------


def test_key_rotation_keeps_old_tokens_valid(app, client):
    token = get_token(client)
    app.config["SECRET_KEY"] = "a new key"
    app.config["SECRET_KEY_FALLBACKS"] = ["test secret key"]
    response = client.post("/form", data={"name": "Ada", "csrf_token": token})
    assert response.get_json()["ok"] is True
    # tokens made now are signed with the new key
    with app.test_request_context():
        new_token = csrf_token()
        app.config["SECRET_KEY_FALLBACKS"] = []
        assert batteries.forms.check_token(new_token) is None


def test_old_key_without_fallback_is_refused(app, client):
    token = get_token(client)
    app.config["SECRET_KEY"] = b"a new key as bytes"
    errors = errors_of(client.post("/form", data={"name": "Ada", "csrf_token": token}))
    # the session cookie itself no longer verifies, so the session is empty
    assert errors["csrf_token"] == [batteries.forms.MESSAGES["no-session"]]


def test_session_secret_is_short_and_hex_secrets_of_older_sessions_still_work(app, client):
    import secrets

    from batteries.csrf import SESSION_KEY

    get_token(client)
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    assert not cookie.startswith(".")  # not compressed: no zlib round trip per request
    with client.session_transaction() as session:
        assert len(session[SESSION_KEY]) == 43  # 32 random bytes, URL-safe base64
        session[SESSION_KEY] = old = secrets.token_hex(32)  # what earlier versions stored
    token = get_token(client)
    assert client.post("/form", data={"name": "Ada", "csrf_token": token}).get_json()["ok"]
    with client.session_transaction() as session:
        assert session[SESSION_KEY] == old  # kept, not replaced


def test_csrf_token_function_is_stable_within_a_request(client):
    body = client.get("/token").get_json()
    assert body["token"] == body["again"]
    token = body["token"]
    assert client.post("/form", data={"name": "A", "csrf_token": token}).get_json()["ok"]


def test_csrf_token_after_secret_rotation_in_the_same_request(app):
    with app.test_request_context():
        first = csrf_token()
        session.pop("_batteries_csrf")  # what login_user does
        second = csrf_token()
        assert first != second
        assert batteries.forms.check_token(second) is None
        assert batteries.forms.check_token(first) in ("mismatch", "no-session")



# -- rotate() -----------------------------------------------------------------------------


def test_rotate_drops_the_secret_and_old_tokens_stop_working(app):
    add_views(app)

    @app.post("/rotate")
    def rotate_view():
        before = batteries.csrf.has_secret()
        batteries.csrf.rotate()
        return {"before": before, "after": batteries.csrf.has_secret(), "new": csrf_token()}

    client = app.test_client()
    token = get_token(client)

    body = client.post("/rotate", headers={"X-CSRFToken": token}).get_json()
    assert body["before"] is True and body["after"] is False
    assert body["new"] != token
    assert "csrf_token" in errors_of(client.post("/form", data={"name": "a", "csrf_token": token}))
    ok = client.post("/form", data={"name": "a", "csrf_token": body["new"]})
    assert ok.get_json()["ok"] is True


# -- csrf_token in templates (#20) ----------------------------------------------------------

PROBE = "{{ csrf_token is defined }} {{ batteries_csrf_token is defined }}"


def test_csrf_token_reaches_templates_only_once_the_app_uses_csrf(app):
    @app.get("/probe")
    def probe():
        return render_template_string(PROBE)

    @app.get("/with-form")
    def with_form():
        NameForm()
        return render_template_string(PROBE)

    client = app.test_client()
    assert client.get("/probe").get_data(as_text=True) == "False True"
    assert not batteries.csrf.uses_csrf(app)
    assert client.get("/with-form").get_data(as_text=True) == "True True"
    assert client.get("/probe").get_data(as_text=True) == "True True"
    assert batteries.csrf.uses_csrf(app)


def test_csrf_protect_all_puts_csrf_token_in_templates(app):
    app.config["CSRF_PROTECT_ALL"] = True
    app.get("/probe")(lambda: render_template_string("{{ csrf_token() | length > 20 }}"))
    assert app.test_client().get("/probe").get_data(as_text=True) == "True"


def test_another_extensions_csrf_token_is_left_alone(app):
    # an extension that injects its own csrf_token (Flask-WTF, SeaSurf do) keeps it
    app.context_processor(lambda: {"csrf_token": lambda: "theirs"})
    app.get("/probe")(lambda: render_template_string("{{ csrf_token() }}"))
    assert app.test_client().get("/probe").get_data(as_text=True) == "theirs"


# -- CSRF_PROTECT_ALL -------------------------------------------------------------------


@pytest.fixture
def protected(app):
    app.config["CSRF_PROTECT_ALL"] = True  # set after construction: still honoured
    add_views(app)

    @app.post("/exempt")
    @csrf_exempt
    def exempt_view():
        return {"ok": True}

    api = Blueprint("api", __name__, url_prefix="/api")
    inner = Blueprint("inner", __name__, url_prefix="/inner")

    @api.post("/hook")
    def hook():
        return {"ok": True}

    @inner.post("/deep")
    def deep():
        return {"ok": True}

    api.register_blueprint(inner)
    csrf_exempt(api)
    app.register_blueprint(api)
    return app.test_client()


def test_protect_all_safe_methods_pass(protected):
    assert protected.get("/plain").status_code == 200
    assert protected.get("/form").status_code == 200


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Sec-Fetch-Site": "same-origin"}, 200),
        ({"Sec-Fetch-Site": "none"}, 200),
        ({"Sec-Fetch-Site": "same-site"}, 400),
        ({"Sec-Fetch-Site": "cross-site"}, 400),
        ({"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 400),
        ({"Sec-Fetch-Site": "cross-site", "Origin": "https://partner.example"}, 200),
        ({"Sec-Fetch-Site": "same-site", "Origin": "https://PARTNER.example:443"}, 200),
        ({"Origin": "http://localhost"}, 200),
        ({"Origin": "http://localhost:80"}, 200),
        ({"Origin": "https://evil.example"}, 400),
        ({"Origin": "http://localhost:8080"}, 400),
        ({"Origin": "null"}, 400),
        ({"Origin": "https://["}, 400),
        ({"Origin": "https://partner.example"}, 200),
        ({}, 400),
    ],
)
def test_protect_all_fetch_metadata_and_origin(app, protected, headers, status):
    app.config["CSRF_TRUSTED_ORIGINS"] = ["https://partner.example"]
    response = protected.post("/plain", headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)
    if status == 400:
        assert "CSRF check failed" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("base", "origin", "status"),
    [
        ("https://localhost", "https://localhost", 200),
        ("https://localhost", "http://localhost", 400),  # downgrade
        ("http://localhost", "https://localhost", 200),  # TLS ended at a proxy
        ("https://localhost:8443", "https://localhost:8443", 200),
        ("https://localhost:8443", "https://localhost", 400),
    ],
)
def test_protect_all_origin_scheme_and_port(protected, base, origin, status):
    response = protected.post("/plain", base_url=base, headers={"Origin": origin})
    assert response.status_code == status, response.get_data(as_text=True)


def test_cross_site_text_plain_body_is_not_json(client):
    token = get_token(client)
    body = json.dumps({"name": "Ada", "csrf_token": token})
    response = client.post("/form", data=body, content_type="text/plain")
    assert errors_of(response)["csrf_token"] == [batteries.forms.MESSAGES["missing"]]


def test_protect_all_exempt_lazy_view(app, protected, tmp_path, monkeypatch):
    if not hasattr(app, "lazy_url"):
        pytest.skip("app.lazy_url is not available in this tree")
    (tmp_path / "lazy_forms_views.py").write_text(
        "from batteries.forms import csrf_exempt\n"
        "@csrf_exempt\n"
        "def hook():\n"
        "    return 'lazy ok'\n"
        "def guarded():\n"
        "    return 'guarded ok'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    app.lazy_url("lazy_forms_views.hook", "/lazy-hook", methods=["POST"])
    app.lazy_url("lazy_forms_views.guarded", "/lazy-guarded", methods=["POST"])
    assert protected.post("/lazy-hook").get_data(as_text=True) == "lazy ok"
    assert protected.post("/lazy-guarded").status_code == 400


def test_protect_all_messages_name_the_reason(protected):
    response = protected.post(
        "/plain", headers={"Sec-Fetch-Site": "cross-site", "Accept": "application/json"}
    )
    body = response.get_json()
    assert body["status"] == 400 and "Sec-Fetch-Site: cross-site" in body["message"]
    response = protected.post(
        "/plain", headers={"Origin": "https://evil.example", "Accept": "application/json"}
    )
    assert "does not match this host" in response.get_json()["message"]
    response = protected.post("/plain", headers={"Accept": "application/json"})
    assert response.get_json()["message"] == "CSRF check failed: The CSRF token is missing."
    html = protected.post("/plain").get_data(as_text=True)
    assert "The CSRF token is missing." in html


def test_protect_all_token_fallback(protected, monkeypatch):
    token = get_token(protected)
    assert protected.post("/plain", data={"csrf_token": token}).status_code == 200
    assert protected.post("/plain", headers={"X-CSRFToken": token}).status_code == 200
    assert protected.delete("/plain", headers={"X-CSRFToken": token}).status_code == 200
    assert (
        protected.post("/plain", json={"a": 1}, headers={"X-CSRFToken": token}).status_code == 200
    )
    assert protected.post("/plain", headers={"X-CSRFToken": "junk"}).status_code == 400
    assert protected.post("/plain", data={"csrf_token": "x" * 100_000}).status_code == 400
    real_now = batteries.csrf.now
    monkeypatch.setattr(batteries.csrf, "now", lambda: real_now() + timedelta(days=2))
    response = protected.post("/plain", headers={"X-CSRFToken": token})
    assert response.status_code == 400 and b"expired" in response.data


def test_protect_all_token_from_another_session(app, protected):
    token = get_token(protected)
    other = app.test_client()
    get_token(other)
    response = other.post("/plain", headers={"X-CSRFToken": token})
    assert response.status_code == 400 and b"another session" in response.data


def test_protect_all_form_needs_no_token_from_a_same_origin_browser(protected):
    response = protected.post(
        "/form", data={"name": "Ada"}, headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert response.get_json()["ok"] is True


def test_protect_all_exempt_view_and_blueprint(protected):
    assert protected.post("/exempt").status_code == 200
    assert protected.post("/api/hook", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200
    assert protected.post("/api/inner/deep").status_code == 200


def test_protect_all_exempt_class_based_view(app, protected):
    from flask.views import MethodView

    @csrf_exempt
    class Hook(MethodView):
        def post(self):
            return "class ok"

    app.add_url_rule("/class-hook", view_func=Hook.as_view("class_hook"))
    assert protected.post("/class-hook").get_data(as_text=True) == "class ok"


def test_trusted_origin_as_a_string(app, protected):
    app.config["CSRF_TRUSTED_ORIGINS"] = "https://partner.example"
    headers = {"Sec-Fetch-Site": "cross-site", "Origin": "https://partner.example"}
    assert protected.post("/plain", headers=headers).status_code == 200


def test_bad_time_limit_is_a_clear_config_error(app, client):
    from batteries.config import ConfigError

    app.config["CSRF_TIME_LIMIT"] = "1h"
    with pytest.raises(ConfigError, match="CSRF_TIME_LIMIT"):
        client.get("/token")


def test_exempt_view_skips_the_form_check(app):
    app.config["CSRF_PROTECT_ALL"] = False

    @app.post("/exempt-form")
    @csrf_exempt
    def exempt_form():
        return {"ok": NameForm().validate_on_submit()}

    assert app.test_client().post("/exempt-form", data={"name": "Ada"}).get_json() == {"ok": True}


def test_protect_all_unknown_route_is_404(protected):
    assert protected.post("/nowhere").status_code == 404
    assert protected.put("/token").status_code == 405


def test_protect_all_turned_on_after_the_first_request_applies(app, client):
    # (#13) the check used to remove itself at a first request that found it off; now it is
    # installed by the first request that finds it on
    cross_site = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
    assert client.post("/plain", headers=cross_site).status_code == 200
    assert batteries.csrf.protect not in app.before_request_funcs.get(None, [])
    app.config["CSRF_PROTECT_ALL"] = True
    response = client.post("/plain", headers=cross_site)
    assert response.status_code == 400
    assert "cross-site" in response.get_data(as_text=True)
    assert client.post("/plain").status_code == 400  # neither header: the token decides
    app.config["CSRF_PROTECT_ALL"] = False
    assert client.post("/plain", headers=cross_site).status_code == 200


def test_csrf_protect_is_idempotent_and_works_on_plain_flask(app):
    csrf_protect(app)
    csrf_protect(app)
    assert app.before_request_funcs[None].count(batteries.csrf.protect) == 1
    plain = Flask("plain")
    plain.config.update(SECRET_KEY="k", CSRF_PROTECT_ALL=True)
    plain.post("/p")(lambda: "ok")
    csrf_protect(plain)
    client = plain.test_client()
    assert client.post("/p", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 400
    assert client.post("/p", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200


def test_user_hooks_run_beside_the_check(app):
    seen = []
    app.before_request(lambda: seen.append(1))
    add_views(app)
    client = app.test_client()
    client.get("/plain")
    client.get("/plain")
    assert seen == [1, 1]
    app.config["CSRF_PROTECT_ALL"] = True
    client.get("/plain")
    assert seen == [1, 1, 1]
    assert app.before_request_funcs[None][0] is batteries.csrf.protect  # first, as before


def test_protect_all_with_csrf_disabled(app, protected):
    app.config["CSRF_ENABLED"] = False
    assert protected.post("/plain").status_code == 200


def test_protect_all_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("BATTERIES_CSRF_PROTECT_ALL", "true")
    app = Batteries("envapp", root_path=str(tmp_path), instance_path=str(tmp_path / "i"))
    app.config["SECRET_KEY"] = "k"
    add_views(app)
    assert app.test_client().post("/plain").status_code == 400


# -- property: no input gives a 500 ----------------------------------------------------

_latin = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=255, blacklist_characters="\x7f"),
    max_size=120,
)
_any_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)


def _fuzz_app(protect_all: bool) -> Batteries:
    app = Batteries("fuzz")
    app.config.update(TESTING=True, SECRET_KEY="fuzz key", CSRF_PROTECT_ALL=protect_all)
    add_views(app)
    return app


_FUZZ_APPS = {}


@settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    field=st.one_of(st.none(), _any_text),
    header=st.one_of(st.none(), _latin),
    site=st.one_of(st.none(), st.sampled_from(["same-origin", "cross-site", "none"]), _latin),
    origin=st.one_of(st.none(), _latin),
    protect_all=st.booleans(),
)
def test_random_tokens_and_headers_never_500(field, header, site, origin, protect_all):
    app = _FUZZ_APPS.get(protect_all) or _FUZZ_APPS.setdefault(protect_all, _fuzz_app(protect_all))
    client = app.test_client()
    client.get("/form")
    headers = {}
    for name, val in (("X-CSRFToken", header), ("Sec-Fetch-Site", site), ("Origin", origin)):
        if val is not None:
            headers[name] = val
    data = {"name": "Ada"}
    if field is not None:
        data["csrf_token"] = field
    response = client.post("/form", data=data, headers=headers)
    assert response.status_code in (200, 400)
    response = client.post("/form", json=data, headers=headers)
    assert response.status_code in (200, 400)

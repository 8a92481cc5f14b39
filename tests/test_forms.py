"""batteries.forms: Form binding, CSRF tokens, the app-wide CSRF check, render_field."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from datetime import timedelta

import pytest
from flask import Blueprint, render_template_string, session
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wtforms import (
    BooleanField,
    FieldList,
    FileField,
    FormField,
    IntegerField,
    SelectMultipleField,
    StringField,
)
from wtforms import Form as PlainForm
from wtforms.validators import DataRequired, Length

import batteries.csrf
import batteries.forms
from batteries import Batteries
from batteries.forms import Form, csrf_exempt, csrf_protect, csrf_token
from batteries.sessions import MissingSecretKey

TOKEN_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]*)"')


class Address(PlainForm):
    city = StringField()


class NameForm(Form):
    name = StringField("Name", validators=[DataRequired(), Length(max=10)])
    agree = BooleanField("Agree")
    age = IntegerField("Age", default=None)
    tags = SelectMultipleField("Tags", choices=["a", "b", "c"])
    address = FormField(Address)
    people = FieldList(FormField(Address))


class UploadForm(Form):
    upload = FileField("File")


PAGE = """{% from "batteries/_formhelpers.html" import render_field %}
<form method="post">{{ form.hidden_tag() }}{{ render_field(form.name, class_="wide") }}
{{ render_field(form.agree) }}</form>"""


def add_views(app: Batteries) -> None:
    @app.route("/form", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def form_view():
        form = NameForm()
        if form.validate_on_submit():
            data = dict(form.data)
            data.pop("csrf_token", None)
            return {"ok": True, "data": data}
        if form.is_submitted():
            return {"ok": False, "errors": form.errors}
        return render_template_string(PAGE, form=form)

    @app.post("/upload")
    def upload_view():
        form = UploadForm()
        if form.validate_on_submit():
            return {
                "ok": True,
                "name": form.upload.data.filename,
                "size": len(form.upload.data.read()),
            }
        return {"ok": False, "errors": form.errors}

    @app.route("/plain", methods=["GET", "POST", "PUT", "DELETE"])
    def plain_view():
        return {"ok": True}

    @app.get("/token")
    def token_view():
        return {"token": csrf_token(), "again": csrf_token()}


@pytest.fixture
def client(app):
    add_views(app)
    return app.test_client()


def get_token(client) -> str:
    response = client.get("/form")
    assert response.status_code == 200
    found = TOKEN_RE.search(response.get_data(as_text=True))
    assert found, response.get_data(as_text=True)
    return found.group(1)


def errors_of(response) -> dict:
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["ok"] is False, body
    return body["errors"]


# -- rendering and plain form posts -----------------------------------------------------


def test_get_renders_hidden_token_and_fields(client):
    response = client.get("/form")
    html = response.get_data(as_text=True)
    assert TOKEN_RE.search(html)
    assert '<label for="name">Name</label>' in html
    assert 'class="wide"' in html and "required" in html
    assert "aria-invalid" not in html
    assert "session=" in response.headers["Set-Cookie"]


def test_valid_token_is_accepted(client):
    token = get_token(client)
    response = client.post("/form", data={"name": "Ada", "csrf_token": token})
    assert response.get_json() == {
        "ok": True,
        "data": {
            "name": "Ada",
            "agree": False,
            "age": None,
            "tags": [],
            "address": {"city": None},
            "people": [],
        },
    }


def test_valid_post_does_not_rewrite_the_session(client):
    token = get_token(client)
    response = client.post("/form", data={"name": "Ada", "csrf_token": token})
    assert response.get_json()["ok"] is True
    assert "Set-Cookie" not in response.headers


def test_missing_token_is_a_form_error(client):
    get_token(client)
    errors = errors_of(client.post("/form", data={"name": "Ada"}))
    assert errors == {"csrf_token": [batteries.forms.MESSAGES["missing"]]}


def test_missing_token_with_empty_session_is_no_500(client):
    errors = errors_of(client.post("/form", data={"name": "Ada"}))
    assert errors["csrf_token"] == ["The CSRF token is missing."]
    errors = errors_of(client.post("/form"))
    assert "csrf_token" in errors and "name" in errors


def test_testing_mode_still_enforces_csrf(app, client):
    assert app.testing
    assert "csrf_token" in errors_of(client.post("/form", data={"name": "Ada"}))


def test_put_patch_delete_are_bound_and_checked(client):
    token = get_token(client)
    for method in ("put", "patch", "delete"):
        send = getattr(client, method)
        assert send("/form", data={"name": "Ada", "csrf_token": token}).get_json()["ok"] is True
        assert "csrf_token" in errors_of(send("/form", data={"name": "Ada"}))


def test_expired_token(client, monkeypatch):
    token = get_token(client)
    real_now = batteries.csrf.now
    monkeypatch.setattr(batteries.csrf, "now", lambda: real_now() + timedelta(hours=25))
    errors = errors_of(client.post("/form", data={"name": "Ada", "csrf_token": token}))
    assert errors["csrf_token"] == [batteries.forms.MESSAGES["expired"]]


def test_time_limit_is_configurable(app, client, monkeypatch):
    app.config["CSRF_TIME_LIMIT"] = 60
    token = get_token(client)
    real_now = batteries.csrf.now
    monkeypatch.setattr(batteries.csrf, "now", lambda: real_now() + timedelta(seconds=30))
    assert client.post("/form", data={"name": "A", "csrf_token": token}).get_json()["ok"]
    monkeypatch.setattr(batteries.csrf, "now", lambda: real_now() + timedelta(seconds=90))
    assert (
        "expired"
        in errors_of(client.post("/form", data={"name": "A", "csrf_token": token}))["csrf_token"][0]
    )


def test_no_time_limit(app, client, monkeypatch):
    app.config["CSRF_TIME_LIMIT"] = None
    token = get_token(client)
    assert token.startswith("##")
    real_now = batteries.csrf.now
    monkeypatch.setattr(batteries.csrf, "now", lambda: real_now() + timedelta(days=400))
    assert client.post("/form", data={"name": "A", "csrf_token": token}).get_json()["ok"]


def test_token_from_another_session(app, client):
    token = get_token(client)
    other = app.test_client()
    get_token(other)  # the other client has a session with its own secret
    errors = errors_of(other.post("/form", data={"name": "Ada", "csrf_token": token}))
    assert errors["csrf_token"] == [batteries.forms.MESSAGES["mismatch"]]


def test_token_without_any_session(app, client):
    token = get_token(client)
    fresh = app.test_client()
    errors = errors_of(fresh.post("/form", data={"name": "Ada", "csrf_token": token}))
    assert errors["csrf_token"] == [batteries.forms.MESSAGES["no-session"]]


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "##",
        "20991231235959##" + "0" * 64,
        "20991231235959##" + "g" * 64,
        "x" * 100_000,
        "é" * 80 + "##",
        "1##" + "a" * 64,
    ],
)
def test_garbage_tokens_are_form_errors(client, token):
    get_token(client)
    errors = errors_of(client.post("/form", data={"name": "Ada", "csrf_token": token}))
    assert errors["csrf_token"][0] in (
        batteries.forms.MESSAGES["invalid"],
        batteries.forms.MESSAGES["mismatch"],
    )


def test_tampered_expiry_is_refused(client):
    token = get_token(client)
    forged = "29991231235959" + token[14:]
    errors = errors_of(client.post("/form", data={"name": "Ada", "csrf_token": forged}))
    assert errors["csrf_token"] == [batteries.forms.MESSAGES["mismatch"]]


def test_rotated_session_secret_invalidates_old_tokens(app, client):
    token = get_token(client)
    with client.session_transaction() as sess:
        sess.pop("_batteries_csrf")
    errors = errors_of(client.post("/form", data={"name": "Ada", "csrf_token": token}))
    assert errors["csrf_token"] == [batteries.forms.MESSAGES["no-session"]]


def test_nul_characters_are_refused(client):
    token = get_token(client)
    errors = errors_of(client.post("/form", data={"name": "A\x00B", "csrf_token": token}))
    assert errors == {"name": ["This value must not contain NUL characters."]}


# -- the X-CSRFToken header and JSON bodies ---------------------------------------------


def test_header_token_with_json_body(client):
    token = get_token(client)
    response = client.post("/form", json={"name": "Ada"}, headers={"X-CSRFToken": token})
    assert response.get_json()["ok"] is True
    response = client.post("/form", json={"name": "Ada"}, headers={"X-CSRF-Token": token})
    assert response.get_json()["ok"] is True


def test_header_token_with_form_body(client):
    token = get_token(client)
    response = client.post("/form", data={"name": "Ada"}, headers={"X-CSRFToken": token})
    assert response.get_json()["ok"] is True


def test_wrong_header_token(client):
    get_token(client)
    response = client.post("/form", json={"name": "Ada"}, headers={"X-CSRFToken": "nope"})
    assert errors_of(response)["csrf_token"] == [batteries.forms.MESSAGES["invalid"]]
    response = client.post("/form", json={"name": "Ada"}, headers={"X-Wrong-Token": "nope"})
    assert errors_of(response)["csrf_token"] == [batteries.forms.MESSAGES["missing"]]


def test_field_wins_over_header_when_present(client):
    token = get_token(client)
    response = client.post(
        "/form", data={"name": "Ada", "csrf_token": "bad"}, headers={"X-CSRFToken": token}
    )
    assert errors_of(response)["csrf_token"] == [batteries.forms.MESSAGES["invalid"]]


def test_token_in_json_body(client):
    token = get_token(client)
    response = client.post("/form", json={"name": "Ada", "csrf_token": token})
    assert response.get_json()["ok"] is True


def post_json(client, body, **kwargs):
    token = get_token(client)
    return client.post("/form", headers={"X-CSRFToken": token}, **kwargs, json=body)


def test_json_values_are_coerced_like_a_browser(client):
    response = post_json(
        client,
        {
            "name": 1234567890,
            "agree": None,
            "age": 42,
            "tags": ["a", "c"],
            "address": {"city": "Oslo"},
            "people": [{"city": "Rome"}, {"city": "Lima"}],
        },
    )
    assert response.get_json()["data"] == {
        "name": "1234567890",
        "agree": False,
        "age": 42,
        "tags": ["a", "c"],
        "address": {"city": "Oslo"},
        "people": [{"city": "Rome"}, {"city": "Lima"}],
    }


def test_json_booleans(client):
    assert post_json(client, {"name": "A", "agree": True}).get_json()["data"]["agree"] is True
    assert post_json(client, {"name": "A", "agree": False}).get_json()["data"]["agree"] is False


def test_json_number_too_long_for_length_is_a_field_error(client):
    errors = errors_of(post_json(client, {"name": 12345678901234}))
    assert list(errors) == ["name"]


def test_json_float_and_nested_object_in_a_plain_field(client):
    data = post_json(client, {"name": 1.5, "age": "7"}).get_json()["data"]
    assert data["name"] == "1.5" and data["age"] == 7
    # an object where a plain field is expected is not that field's value
    errors = errors_of(post_json(client, {"name": {"first": "Ada"}}))
    assert "name" in errors


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ([1, 2], "array"),
        ("text", "string"),
        (None, "null"),
        (3, "number"),
    ],
)
def test_json_that_is_not_an_object_is_400(client, body, word):
    token = get_token(client)
    response = client.post(
        "/form",
        data=json.dumps(body),
        content_type="application/json",
        headers={"X-CSRFToken": token, "Accept": "application/json"},
    )
    assert response.status_code == 400
    assert word in response.get_json()["message"]


@pytest.mark.parametrize(
    "raw",
    [
        '{"name": "A',
        '{"name": "\\ud800"}',
        '{"\\udfff": "A"}',
        '{"name": NaN}',
        '{"name": ["\\ud800"]}',
        "",
    ],
)
def test_malformed_json_is_400(client, raw):
    token = get_token(client)
    response = client.post(
        "/form",
        data=raw,
        content_type="application/json",
        headers={"X-CSRFToken": token, "Accept": "application/json"},
    )
    assert response.status_code == 400
    assert response.get_json()["status"] == 400


def test_file_field_reads_request_files(client):
    token = get_token(client)
    response = client.post(
        "/upload",
        data={"csrf_token": token, "upload": (io.BytesIO(b"hello"), "hello.txt")},
        content_type="multipart/form-data",
    )
    assert response.get_json() == {"ok": True, "name": "hello.txt", "size": 5}
    response = client.post(
        "/upload",
        data={"upload": (io.BytesIO(b"hello"), "hello.txt")},
        content_type="multipart/form-data",
    )
    assert "csrf_token" in response.get_json()["errors"]


# -- switches, keys, helpers ------------------------------------------------------------


def test_csrf_enabled_false(app, client):
    app.config["CSRF_ENABLED"] = False
    html = client.get("/form").get_data(as_text=True)
    assert "csrf_token" not in html
    assert client.post("/form", data={"name": "Ada"}).get_json()["ok"] is True


def test_meta_csrf_false_for_one_form(app):
    class NoCsrf(Form):
        class Meta:
            csrf = False

        name = StringField()

    with app.test_request_context("/", method="POST", data={"name": "x"}):
        form = NoCsrf()
        assert "csrf_token" not in form._fields
        assert form.validate_on_submit()


def test_form_outside_a_request_has_no_csrf(app):
    with app.app_context():
        form = NameForm(data={"name": "Ada"})
        assert "csrf_token" not in form._fields
        assert not form.is_submitted()
        assert form.validate()
    form = NameForm(formdata=None)
    assert form.name.data is None


def test_get_is_not_bound(app):
    with app.test_request_context("/?name=Ada"):
        form = NameForm()
        assert form.name.data is None
        assert not form.validate_on_submit()


def test_missing_secret_key_gives_a_clear_error(tmp_path):
    app = Batteries("nokey", root_path=str(tmp_path), instance_path=str(tmp_path / "i"))
    app.config["TESTING"] = True
    add_views(app)
    client = app.test_client()
    with pytest.raises(MissingSecretKey, match="SECRET_KEY"):
        client.get("/form")
    with pytest.raises(MissingSecretKey, match="SECRET_KEY"):
        client.post("/form", data={"name": "Ada", "csrf_token": "x"})
    with app.test_request_context(), pytest.raises(MissingSecretKey, match="SECRET_KEY"):
        csrf_token()


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


def test_render_field_errors_and_aria(app):
    class Evil(Form):
        name = StringField("<b>Name</b>", validators=[Length(max=2)], description="<i>d</i>")

    with app.test_request_context("/", method="POST", data={"name": "<script>x</script>"}):
        form = Evil()
        assert not form.validate()
        html = render_template_string(
            '{% from "batteries/_formhelpers.html" import render_field %}{{ render_field(f.name) }}',
            f=form,
        )
    assert "<script>" not in html and "<b>" not in html and "<i>" not in html
    assert "&lt;script&gt;" in html
    assert 'aria-invalid="true"' in html
    assert 'aria-describedby="name-description name-errors"' in html
    assert '<ul class="field-errors" id="name-errors">' in html
    assert "field-error" in html


def test_render_field_on_every_kind_of_field(app):
    from wtforms import RadioField, SelectField, SubmitField, TextAreaField

    class Every(Form):
        text = TextAreaField("Text", description="Say it")
        pick = SelectField("Pick", choices=["a", "b"])
        radio = RadioField("Radio", choices=["x", "y"])
        upload = FileField("File")
        flag = BooleanField("Flag")
        send = SubmitField("Send")
        address = FormField(Address)

    with app.test_request_context("/"):
        form = Every()
        html = render_template_string(
            '{% from "batteries/_formhelpers.html" import render_field %}'
            "{% for f in form %}{{ render_field(f) }}{% endfor %}",
            form=form,
        )
    assert '<input id="send" name="send" type="submit" value="Send">' in html
    assert '<label for="send">' not in html
    assert 'aria-describedby="text-description"' in html
    assert '<select id="pick" name="pick">' in html and 'type="radio"' in html
    assert 'type="file"' in html and 'name="address-city"' in html
    assert 'name="csrf_token" type="hidden"' in html


def test_render_field_hidden_and_checkbox(app, client):
    html = client.get("/form").get_data(as_text=True)
    assert html.index('type="checkbox"') < html.index('<label for="agree">')


def test_import_stays_light():
    # batteries.csrf (tokens, CSRF_PROTECT_ALL) is wired into every app without WTForms;
    # batteries.forms is the WTForms half, imported only by code that uses a form.
    code = (
        "import sys, batteries, batteries.csrf; app = batteries.Batteries('x');"
        "app.test_client().get('/');"
        "assert 'wtforms' not in sys.modules, 'wtforms imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


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


def test_protect_all_off_by_default_and_hook_removes_itself(app, client):
    assert batteries.csrf.protect in app.before_request_funcs[None]
    assert client.post("/plain").status_code == 200
    assert batteries.csrf.protect not in app.before_request_funcs.get(None, [])
    # switched on later: csrf_protect puts the check back
    app.config["CSRF_PROTECT_ALL"] = True
    assert client.post("/plain").status_code == 200
    csrf_protect(app)
    csrf_protect(app)
    assert app.before_request_funcs[None].count(batteries.csrf.protect) == 1
    assert client.post("/plain").status_code == 400


def test_hook_removal_keeps_user_hooks(app):
    seen = []
    app.before_request(lambda: seen.append(1))
    add_views(app)
    client = app.test_client()
    client.get("/plain")
    client.get("/plain")
    assert seen == [1, 1]
    assert app.before_request_funcs[None] != []


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


# -- interop: Flask-WTF on a Batteries app ----------------------------------------------


def test_flask_wtf_still_works_beside_batteries_forms(app):
    flask_wtf = pytest.importorskip("flask_wtf")
    from flask_wtf.csrf import generate_csrf

    flask_wtf.CSRFProtect(app)

    class WtfForm(flask_wtf.FlaskForm):
        name = StringField(validators=[DataRequired()])

    @app.route("/wtf", methods=["GET", "POST"])
    def wtf_view():
        form = WtfForm()
        if form.validate_on_submit():
            return {"ok": True, "ours": csrf_token() != ""}
        return {"token": generate_csrf()}

    client = app.test_client()
    token = client.get("/wtf").get_json()["token"]
    assert client.post("/wtf", data={"name": "x"}).status_code == 400  # CSRFProtect refuses
    assert client.post("/wtf", data={"name": "x", "csrf_token": token}).get_json() == {
        "ok": True,
        "ours": True,
    }
    with client.session_transaction() as sess:
        assert "csrf_token" in sess and "_batteries_csrf" in sess  # separate session keys

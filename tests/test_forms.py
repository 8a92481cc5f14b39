"""batteries.forms: Form binding, its CSRF field, render_field (tokens and the app-wide check:
tests/test_csrf.py)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import timedelta

import pytest
from _formviews import TOKEN_RE, Address, NameForm, add_views, errors_of, get_token
from flask import render_template_string
from wtforms import (
    BooleanField,
    FileField,
    FormField,
    StringField,
)
from wtforms.validators import DataRequired, Length

import batteries.csrf
import batteries.forms
from batteries import Batteries
from batteries.forms import Form, csrf_token
from batteries.sessions import MissingSecretKey


@pytest.fixture
def client(app):
    add_views(app)
    return app.test_client()

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


# -- a refused token is seen, logged and translated (#16, #18) --------------------------------


def _rerendering_view(app):
    @app.route("/page-form", methods=["GET", "POST"])
    def page_form():
        form = NameForm()
        if form.validate_on_submit():
            return "saved"
        return render_template_string(
            "<form method=post>{{ form.hidden_tag() }}{{ form.name() }}</form>", form=form
        )


def test_missing_token_is_shown_on_the_rerendered_page_and_logged(app, caplog):
    _rerendering_view(app)
    client = app.test_client()
    client.get("/page-form")
    with caplog.at_level("WARNING", logger="batteries.csrf"):
        response = client.post("/page-form", data={"name": "Ada"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<ul class="form-errors" role="alert"><li>The CSRF token is missing.</li></ul>' in html
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "CSRF check failed for POST /page-form: missing" in caplog.records[0].getMessage()
    # no error, no list
    assert "form-errors" not in client.get("/page-form").get_data(as_text=True)


def test_token_and_wtforms_messages_in_the_request_locale(app):
    from batteries.i18n import force_locale

    _rerendering_view(app)
    app.config["LANGUAGES"] = ["en", "de", "fr"]
    client = app.test_client()
    client.get("/page-form")
    html = client.post(
        "/page-form", data={"name": ""}, headers={"Accept-Language": "de"}
    ).get_data(as_text=True)
    assert "CSRF" in html and "The CSRF token is missing." not in html
    with app.test_request_context("/", method="POST", data={"name": ""}), force_locale("fr"):
        form = NameForm(meta={"csrf": False})
        assert not form.validate()
        assert form.errors["name"] == ["Ce champ est requis."]

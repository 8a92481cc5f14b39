"""Forms and views shared by tests/test_forms.py and tests/test_csrf.py."""

from __future__ import annotations

import re

from flask import render_template_string
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

from batteries import Batteries
from batteries.forms import Form, csrf_token

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



"""Forms: bound to the request and CSRF-protected by batteries.forms.Form."""

from __future__ import annotations

from batteries.forms import Form
from wtforms import PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(Form):
    username = StringField("Username", validators=[DataRequired(), Length(max=80)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class RegisterForm(LoginForm):
    confirm = PasswordField(
        "Repeat password", validators=[EqualTo("password", message="Passwords must match")]
    )


class NoteForm(Form):
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    body = TextAreaField("Text", validators=[Length(max=10_000)])

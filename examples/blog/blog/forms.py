"""Forms (CSRF comes with batteries.forms.Form)."""

from __future__ import annotations

from wtforms import FileField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length

from batteries.forms import Form


class LoginForm(Form):
    username = StringField("Username", validators=[DataRequired(), Length(max=80)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class RegisterForm(LoginForm):
    confirm = PasswordField(
        "Repeat password", validators=[EqualTo("password", message="Passwords must match")]
    )


class PostForm(Form):
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    body = TextAreaField("Text", validators=[Length(max=20_000)])
    image = FileField("Image (optional)")

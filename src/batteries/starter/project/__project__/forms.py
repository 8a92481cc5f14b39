"""Forms: bound to the request and CSRF-protected by batteries.forms.Form."""

from __future__ import annotations

from batteries.forms import Form
from wtforms import BooleanField, EmailField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

EMAIL = Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message="Enter an e-mail address.")


class LoginForm(Form):
    username = StringField("Username", validators=[DataRequired(), Length(max=80)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    remember = BooleanField("Remember me")


class RegisterForm(Form):
    username = StringField("Username", validators=[DataRequired(), Length(max=80)])
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=254), EMAIL])
    password = PasswordField("Password", validators=[DataRequired(), Length(min=8, max=1024)])
    confirm = PasswordField(
        "Repeat password", validators=[EqualTo("password", message="Passwords must match")]
    )


class ResetRequestForm(Form):
    email = EmailField("E-mail", validators=[DataRequired(), Length(max=254), EMAIL])


class NewPasswordForm(Form):
    password = PasswordField(
        "New password", validators=[DataRequired(), Length(min=8, max=1024)]
    )
    confirm = PasswordField(
        "Repeat password", validators=[EqualTo("password", message="Passwords must match")]
    )


class NoteForm(Form):
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    body = TextAreaField("Text", validators=[Length(max=10_000)])

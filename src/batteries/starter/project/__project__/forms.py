"""Forms: bound to the request and CSRF-protected by batteries.forms.Form.

Labels and messages are made at import, so they are marked with ``lazy_gettext`` (``_l``): each
is translated when a page shows it, in that request's language.
"""

from __future__ import annotations

from batteries.forms import Form
from batteries.i18n import lazy_gettext as _l
from wtforms import BooleanField, EmailField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

EMAIL = Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("Enter an e-mail address."))


class LoginForm(Form):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    remember = BooleanField(_l("Remember me"))


class RegisterForm(Form):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=80)])
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254), EMAIL])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(min=8, max=1024)])
    confirm = PasswordField(
        _l("Repeat password"), validators=[EqualTo("password", message=_l("Passwords must match"))]
    )


class ResetRequestForm(Form):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254), EMAIL])


class NewPasswordForm(Form):
    password = PasswordField(
        _l("New password"), validators=[DataRequired(), Length(min=8, max=1024)]
    )
    confirm = PasswordField(
        _l("Repeat password"), validators=[EqualTo("password", message=_l("Passwords must match"))]
    )


class NoteForm(Form):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    body = TextAreaField(_l("Text"), validators=[Length(max=10_000)])

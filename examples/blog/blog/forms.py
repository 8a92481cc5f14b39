"""Forms (CSRF comes with batteries.forms.Form); labels and messages translated when shown."""

from __future__ import annotations

from wtforms import FileField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length

from batteries.forms import Form as BaseForm
from batteries.i18n import lazy_gettext as _l
from batteries.translations import wtforms_translations


class Form(BaseForm):
    class Meta:
        def get_translations(self, form):
            """WTForms' own messages ("This field is required.") in the page's language."""
            return wtforms_translations()


class LoginForm(Form):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])


class RegisterForm(LoginForm):
    confirm = PasswordField(
        _l("Repeat password"), validators=[EqualTo("password", message=_l("Passwords must match"))]
    )


class PostForm(Form):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    body = TextAreaField(_l("Text"), validators=[Length(max=20_000)])
    image = FileField(_l("Image (optional)"))

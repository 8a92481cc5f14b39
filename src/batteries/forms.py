"""WTForms forms bound to the request, with CSRF: Flask's "Form Validation with WTForms" pattern.

::

    from batteries.forms import Form
    from wtforms import StringField
    from wtforms.validators import DataRequired

    class NameForm(Form):
        name = StringField("Name", validators=[DataRequired()])

    @app.route("/", methods=["GET", "POST"])
    def index():
        form = NameForm()              # bound to request.form + request.files (or JSON) on POST
        if form.validate_on_submit():  # CSRF token checked too
            ...

The tokens and the app-wide ``CSRF_PROTECT_ALL`` check live in the light :mod:`batteries.csrf`
(wired into every app); this module imports WTForms, so nothing in Batteries imports it: only
code that uses a form does. The CSRF names are re-exported here for convenience.

Config: ``CSRF_ENABLED``, ``CSRF_TIME_LIMIT`` (see :mod:`batteries.csrf`), ``SECRET_KEY``.
"""

from __future__ import annotations

import typing as t
from datetime import timedelta

import wtforms
from flask import current_app, has_request_context, request, session
from markupsafe import Markup
from wtforms.csrf.core import CSRF, CSRFTokenField
from wtforms.csrf.session import SessionCSRF
from wtforms.meta import DefaultMeta
from wtforms.validators import ValidationError

from . import csrf as _csrf
from .csrf import (
    MESSAGES,
    CSRFError,
    check_token,
    csrf_exempt,
    csrf_protect,
    csrf_token,
    json_to_formdata,
)
from .i18n import gettext as _
from .translations import wtforms_translations

if t.TYPE_CHECKING:  # pragma: no cover
    from wtforms.fields import Field

_AUTO: t.Any = object()


class LazyCSRFTokenField(CSRFTokenField):
    """The hidden ``csrf_token`` field; its token is made when first rendered or read.

    A POST that validates never renders the form, so it never pays for a new token (nor
    writes a CSRF secret into the session).
    """

    def process(self, *args: t.Any, **kwargs: t.Any) -> None:
        wtforms.fields.HiddenField.process(self, *args, **kwargs)

    @property
    def current_token(self) -> str:
        return _csrf.csrf_token()

    @current_token.setter
    def current_token(self, value: str) -> None:
        pass  # always the session's current token


class BatteriesCSRF(SessionCSRF):
    """WTForms' session CSRF, made safe for Flask.

    Compared with :class:`wtforms.csrf.session.SessionCSRF`: the key is derived from
    ``SECRET_KEY`` (bytes; a clear error when it is missing) and tokens signed with a key from
    ``SECRET_KEY_FALLBACKS`` stay valid when the key rotates; the signature (HMAC-SHA256) is
    compared in constant time; time is timezone-aware (UTC); the limit is ``CSRF_TIME_LIMIT``
    (default 24 h); the session secret lives in ``session["_batteries_csrf"]``; each failure
    (missing, malformed, no session, another session, expired) has its own message; and when
    the ``csrf_token`` field is absent from the submitted data the ``X-CSRFToken`` header is
    read instead.
    """

    field_class = LazyCSRFTokenField

    def setup_form(self, form: wtforms.Form) -> t.Any:
        self.form_meta = form.meta
        return CSRF.setup_form(self, form)

    def generate_csrf_token(self, csrf_token_field: Field) -> str:
        return _csrf.csrf_token()

    def validate_csrf_token(self, form: wtforms.Form, field: Field) -> None:
        if _csrf.request_passed():  # the app-wide check already vouched for this request
            return
        token = field.data if field.raw_data else _csrf.header_token()
        reason = _csrf.check_token(token)
        if reason is not None:
            if _csrf.is_exempt(current_app):
                return
            # a WARNING: a form refused for its token is a user's lost work or an attack
            _csrf.logger.warning(
                "CSRF check failed for %s %s: %s", request.method, request.path, reason
            )
            raise ValidationError(_(_csrf.MESSAGES[reason]))

    def now(self) -> t.Any:
        return _csrf.now()

    @property
    def time_limit(self) -> timedelta | None:
        return _csrf.time_limit(current_app)

    @property
    def session(self) -> t.Any:
        return session


class Form(wtforms.Form):
    """A WTForms form bound to the current request, with a CSRF token.

    On POST, PUT, PATCH and DELETE it binds itself to ``request.form`` plus ``request.files``
    (so ``FileField`` works), or to a JSON object body (values coerced as a browser sends them:
    see :func:`batteries.csrf.json_to_formdata`). Pass ``formdata=None`` to bind nothing, or
    your own multidict.

    The ``csrf_token`` field is added and checked (see :class:`BatteriesCSRF`); render it with
    ``{{ form.csrf_token }}`` or ``{{ form.hidden_tag() }}``. Turn it off for one form with
    ``class Meta: csrf = False``, for the app with ``CSRF_ENABLED = False``; it stays on under
    ``TESTING``. Strings containing NUL characters are refused with a field error (databases
    such as PostgreSQL cannot store them)::

        class CommentForm(Form):
            body = TextAreaField("Comment", validators=[DataRequired()])

        form = CommentForm()
        if form.validate_on_submit():
            save(form.body.data)

    Config: ``CSRF_ENABLED``, ``CSRF_TIME_LIMIT``, ``SECRET_KEY``, ``SECRET_KEY_FALLBACKS``.
    """

    class Meta(DefaultMeta):
        csrf = True
        csrf_class = BatteriesCSRF
        csrf_field_name = _csrf.FIELD_NAME

        def get_translations(self, form: wtforms.Form) -> t.Any:
            """WTForms' own messages ("This field is required.") in the request's locale."""
            return wtforms_translations()

    def __init__(self, formdata: t.Any = _AUTO, **kwargs: t.Any) -> None:
        in_request = has_request_context()
        if formdata is _AUTO:
            formdata = _csrf.submitted_formdata() if in_request else None
        if in_request:
            _csrf.use(current_app._get_current_object())  # type: ignore[attr-defined]
        if not in_request or not _csrf.CSRF_ENABLED.get(current_app):
            # No request, no CSRF to fear (a form built in a shell or a task); or switched off.
            kwargs["meta"] = {**(kwargs.get("meta") or {}), "csrf": False}
        super().__init__(formdata, **kwargs)

    def is_submitted(self) -> bool:
        """True when the current request is a POST, PUT, PATCH or DELETE."""
        return has_request_context() and request.method in _csrf.SUBMIT_METHODS

    def validate_on_submit(self, extra_validators: t.Any = None) -> bool:
        """``is_submitted() and validate()``: the usual first line of a form view."""
        return self.is_submitted() and self.validate(extra_validators=extra_validators)

    def validate(self, extra_validators: t.Any = None) -> bool:
        valid = super().validate(extra_validators=extra_validators)
        for field in self:
            raw_data = getattr(field, "raw_data", None) or ()
            if any(isinstance(raw, str) and "\x00" in raw for raw in raw_data):
                field.errors = [*field.errors, _("This value must not contain NUL characters.")]
                valid = False
        return bool(valid)

    def csrf_errors(self) -> list[str]:
        """The CSRF token's errors (a missing or expired token), to show on the page:
        ``hidden_tag()`` shows them above the hidden fields, since the token's own field is
        hidden (``form.errors["csrf_token"]`` keeps them for JSON answers)."""
        field = getattr(self, self.meta.csrf_field_name, None) if self.meta.csrf else None
        return list(field.errors) if field is not None else []

    def hidden_tag(self, *fields: t.Any) -> Markup:
        """Render the hidden fields (the CSRF token included), or the given ones, for a template."""
        chosen = fields or [f for f in self if getattr(f.widget, "input_type", None) == "hidden"]
        html = Markup("\n").join((getattr(self, f) if isinstance(f, str) else f)() for f in chosen)
        errors = self.csrf_errors()
        if errors and not fields:
            # a hidden field's error would otherwise never be seen: the form said nothing
            items = Markup("").join(Markup("<li>%s</li>") % e for e in errors)
            html = Markup('<ul class="form-errors" role="alert">%s</ul>\n') % items + html
        return html


__all__ = [
    "MESSAGES",
    "BatteriesCSRF",
    "CSRFError",
    "Form",
    "check_token",
    "csrf_exempt",
    "csrf_protect",
    "csrf_token",
    "json_to_formdata",
]

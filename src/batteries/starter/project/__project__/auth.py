"""Accounts: register with e-mail confirmation, log in (rate-limited), log out, reset a password.

- Links in mail carry signed tokens (``make_token``/``read_token``): a confirmation link is
  bound to the address and dies once used; a reset link is bound to the password hash, so it
  works once, and the new password logs the user out everywhere else (see ``User.get_id``).
- The reset form answers the same whether the address is known or not (no user enumeration);
  mail goes out from a task (``later=True``), so a slow mail server never holds a request.
- Redirects say their code: 303 (See Other) after a form is posted, 302 after a GET.
- Every message is marked for translation (``_``; ``lazy_gettext`` for module constants).
"""

from __future__ import annotations

from batteries import Blueprint, db, flash, login_user, logout_user
from batteries.auth import check_password, hash_password, make_token, read_token, safe_next
from batteries.i18n import _, lazy_gettext
from batteries.mail import send_mail
from batteries.ratelimit import rate_limit
from flask import redirect, render_template, url_for
from sqlalchemy import select

from .forms import LoginForm, NewPasswordForm, RegisterForm, ResetRequestForm
from .models import User

bp = Blueprint("auth", __name__, url_prefix="/auth")

CONFIRM_MAX_AGE = 3 * 24 * 3600
RESET_MAX_AGE = 3600
RESET_SENT = lazy_gettext(
    "If an account uses that address, we sent it a link to choose a new password."
)


def send_confirmation(user: User) -> None:
    token = make_token(user, "confirm", state=user.confirm_state())
    link = url_for("auth.confirm", token=token, _external=True)
    send_mail(user.email, _("Confirm your e-mail address"), template="mail/confirm",
              context={"user": user, "link": link}, later=True)  # fmt: skip


@bp.route("/register", methods=["GET", "POST"])
@rate_limit("10/hour", methods=["POST"])
def register():
    form = RegisterForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        if db.session.scalar(select(User).where(User.username == form.username.data)):
            form.username.errors.append(_("That name is taken."))
            return render_template("auth/register.html", form=form)
        owner = db.session.scalar(select(User).where(User.email == email))
        if owner is not None:
            # Same answer as a new address; the owner is told, nobody else learns it is taken.
            send_mail(email, _("Someone tried to register with your address"),
                      template="mail/taken", context={"user": owner}, later=True)  # fmt: skip
        else:
            user = User(username=form.username.data, email=email,
                        password_hash=hash_password(form.password.data))  # fmt: skip
            db.session.add(user)
            db.session.commit()
            send_confirmation(user)
        flash.success(_("Registered. Check your e-mail: we sent you a link to confirm it."))
        return redirect(url_for("auth.login"), 303)
    return render_template("auth/register.html", form=form)


@bp.get("/confirm/<token>")
def confirm(token: str):
    user = read_token(token, "confirm", CONFIRM_MAX_AGE, state=User.confirm_state)
    if user is None:
        flash.error(
            _("That confirmation link is invalid, used or expired. Log in to get a new one.")
        )
        return redirect(url_for("auth.login"), 302)
    user.email_confirmed = True
    db.session.commit()
    flash.success(_("Your e-mail address is confirmed. You can log in."))
    return redirect(url_for("auth.login"), 302)


@bp.route("/login", methods=["GET", "POST"])
@rate_limit("5/minute; 100/day", methods=["POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(select(User).where(User.username == form.username.data))
        # check_password runs even for an unknown name, so timing does not tell names apart
        stored = user.password_hash if user is not None else None
        if check_password(stored, form.password.data) and user is not None:
            if not user.email_confirmed:
                send_confirmation(user)
                flash.warning(_("Confirm your e-mail address first: we sent you a new link."))
                return render_template("auth/login.html", form=form)
            login_user(user, remember=form.remember.data)
            flash.success(_("Welcome, %(name)s.", name=user.username))
            return redirect(safe_next(url_for("main.index")), 303)
        flash.error(_("Wrong username or password."))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout():
    logout_user()
    flash.info(_("Logged out."))
    return redirect(url_for("main.index"), 303)


@bp.route("/reset", methods=["GET", "POST"])
@rate_limit("5/hour; 20/day", methods=["POST"])
def reset_request():
    form = ResetRequestForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        user = db.session.scalar(select(User).where(User.email == email))
        if user is not None:
            link = url_for("auth.reset", token=make_token(user, "reset"), _external=True)
            send_mail(user.email, _("Choose a new password"), template="mail/reset",
                      context={"user": user, "link": link}, later=True)  # fmt: skip
        flash.info(str(RESET_SENT))  # the same answer either way
        return redirect(url_for("auth.login"), 303)
    return render_template("auth/reset_request.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str):
    user = read_token(token, "reset", RESET_MAX_AGE)
    if user is None:
        flash.error(_("That link is invalid, used or expired. Ask for a new one."))
        return redirect(url_for("auth.reset_request"), 302)
    form = NewPasswordForm()
    if form.validate_on_submit():
        user.password_hash = hash_password(form.password.data)  # every other session ends
        user.email_confirmed = True  # the link proved the address
        db.session.commit()
        login_user(user)
        flash.success(_("Your password is changed."))
        return redirect(url_for("main.index"), 303)
    return render_template("auth/reset.html", form=form)

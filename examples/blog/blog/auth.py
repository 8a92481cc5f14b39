"""Register, log in, log out — under /en/auth/..., /de/auth/... and /fr/auth/..."""

from __future__ import annotations

from flask import g, redirect, render_template, url_for

from batteries import Blueprint, db, flash, login_user, logout_user
from batteries.auth import check_password, hash_password, safe_next
from batteries.i18n import _, localize
from batteries.ratelimit import rate_limit

from . import LANGUAGES
from .forms import LoginForm, RegisterForm
from .models import User

bp = Blueprint("auth", __name__, url_prefix="/auth")
localize(bp, LANGUAGES, "en")


@bp.route("/register", methods=["GET", "POST"])
def register():
    form = RegisterForm()
    if form.validate_on_submit():
        if db.session.scalar(db.select(User).filter_by(username=form.username.data)):
            form.username.errors.append(_("That name is taken."))
        else:
            db.session.add(
                User(username=form.username.data, password_hash=hash_password(form.password.data))
            )
            db.session.commit()
            flash.success(_("Registered. Please log in."))
            return redirect(url_for("auth.login"), 302)
    return render_template("auth/register.html", form=form, lang=g.lang_code)


@bp.route("/login", methods=["GET", "POST"])
@rate_limit("5/minute; 100/day", methods=["POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(db.select(User).filter_by(username=form.username.data))
        # check_password runs even for an unknown name, so timing does not tell names apart
        stored = user.password_hash if user is not None else None
        if check_password(stored, form.password.data) and user is not None:
            login_user(user)
            flash.success(_("Welcome, %(name)s.", name=user.username))
            return redirect(safe_next(url_for("posts.index")), 302)
        flash.error(_("Wrong username or password."))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout():
    logout_user()
    flash.info(_("Logged out."))
    return redirect(url_for("posts.index"), 302)

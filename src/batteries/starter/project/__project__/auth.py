"""Register, log in, log out."""

from __future__ import annotations

from batteries import Blueprint, db, flash, login_user, logout_user
from batteries.auth import check_password, hash_password, safe_next
from flask import redirect, render_template, url_for
from sqlalchemy import select

from .forms import LoginForm, RegisterForm
from .models import User

bp = Blueprint("auth", __name__, url_prefix="/auth")


@bp.route("/register", methods=["GET", "POST"])
def register():
    form = RegisterForm()
    if form.validate_on_submit():
        if db.session.scalar(select(User).where(User.username == form.username.data)):
            form.username.errors.append("That name is taken.")
        else:
            db.session.add(
                User(username=form.username.data, password_hash=hash_password(form.password.data))
            )
            db.session.commit()
            flash.success("Registered. Please log in.")
            return redirect(url_for("auth.login"))
    return render_template("auth/register.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(select(User).where(User.username == form.username.data))
        # check_password runs even for an unknown name, so timing does not tell names apart
        stored = user.password_hash if user is not None else None
        if check_password(stored, form.password.data) and user is not None:
            login_user(user)
            flash.success(f"Welcome, {user.username}.")
            return redirect(safe_next(url_for("main.index")))
        flash.error("Wrong username or password.")
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout():
    logout_user()
    flash.info("Logged out.")
    return redirect(url_for("main.index"))

"""The notes: a cached public index, a form to add notes (logged-in users)."""

from __future__ import annotations

from batteries import Blueprint, cached, current_user, db, flash, login_required, templated
from batteries.i18n import _
from flask import redirect, url_for
from sqlalchemy import select

from .forms import NoteForm
from .models import Note
from .tasks import count_words

bp = Blueprint("main", __name__)


@bp.get("/")
@cached(timeout=30)
@templated("main/index.html")
def index():
    page = db.paginate(select(Note).order_by(Note.created.desc()), per_page=10)
    return {"page": page}


@bp.route("/notes/new", methods=["GET", "POST"])
@login_required
@templated("main/new.html")
def new_note():
    form = NoteForm()
    if form.validate_on_submit():
        note = Note(author=current_user, title=form.title.data, body=form.body.data or "")
        db.session.add(note)
        db.session.commit()
        count_words.delay(note.id)
        flash.success(_("Note saved."))
        return redirect(url_for("main.index"), 303)
    return {"form": form}

"""Background tasks: they run in an app context, so the database is there."""

from __future__ import annotations

from batteries import db
from celery import shared_task

from .models import Note


@shared_task(ignore_result=False)
def count_words(note_id: int) -> int | None:
    """Store the number of words of a note (an example of work done outside the request)."""
    note = db.session.get(Note, note_id)
    if note is None:
        return None
    note.words = len(note.body.split())
    db.session.commit()
    return note.words

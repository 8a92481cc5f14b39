"""Background tasks: they run in an app context, so the database is there."""

from __future__ import annotations

from batteries import db
from batteries.mail import share_task as share_mail_task
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


# send_mail(..., later=True) runs Batteries' mail task: register it with the worker too.
share_mail_task()

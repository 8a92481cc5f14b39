"""Background work: a digest of the latest posts, e-mailed with ``send_mail``."""

from __future__ import annotations

from celery import shared_task

from batteries import db
from batteries.mail import send_mail

from .models import Post, User


@shared_task(ignore_result=False)
def send_digest(user_id: int) -> str | None:
    """Mail a digest of the ten latest posts to ``user_id``; return the Message-ID.

    Already in a task, so the mail is sent now (a failure fails the task, which reports it).
    """
    user = db.session.get(User, user_id)
    if user is None:
        return None
    posts = db.session.scalars(db.select(Post).order_by(Post.created.desc()).limit(10)).all()
    return send_mail(
        f"{user.username}@example.invalid",
        f"Your digest: {len(posts)} posts",
        template="mail/digest",
        context={"user": user, "posts": posts},
    )

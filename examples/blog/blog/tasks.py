"""Background work: a digest of the latest posts, "e-mailed" into instance/outbox/."""

from __future__ import annotations

import os
from email.message import EmailMessage

from celery import shared_task
from flask import current_app

from batteries import db

from .models import Post, User


@shared_task(ignore_result=False)
def send_digest(user_id: int) -> str | None:
    """Write a digest of the ten latest posts for ``user_id``; return the file's name."""
    user = db.session.get(User, user_id)
    if user is None:
        return None
    posts = db.session.scalars(db.select(Post).order_by(Post.created.desc()).limit(10)).all()
    message = EmailMessage()
    message["To"] = f"{user.username}@example.invalid"
    message["Subject"] = f"Your digest: {len(posts)} posts"
    message.set_content("\n".join(f"- {p.title} by {p.author.username}" for p in posts) or "-")
    outbox = os.path.join(current_app.instance_path, "outbox")
    os.makedirs(outbox, exist_ok=True)
    name = f"digest-{user.id}-{send_digest.request.id or 'eager'}.eml"
    with open(os.path.join(outbox, name), "w", encoding="utf-8") as f:
        f.write(message.as_string())
    return name

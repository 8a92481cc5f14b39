"""Database models (SQLAlchemy 2, typed columns)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from batteries import db
from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship


def _now() -> datetime:
    return datetime.now(timezone.utc)


class User(db.Model):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    email_confirmed: Mapped[bool] = mapped_column(default=False)
    password_hash: Mapped[str] = mapped_column(String(255))
    notes: Mapped[list[Note]] = relationship(back_populates="author")

    def get_id(self) -> str:
        """The id kept in the session and the remember cookie: ``<id>.<password fingerprint>``.

        A new password changes the fingerprint, so a password reset logs the user out of every
        other session and remember cookie (the loader refuses an id whose fingerprint is old).
        """
        return f"{self.id}.{self.password_fingerprint()}"

    def password_fingerprint(self) -> str:
        return hashlib.sha256(self.password_hash.encode()).hexdigest()[:16]

    def confirm_state(self) -> str:
        """What a confirmation link is bound to: it dies once used or if the address changes."""
        return f"{self.email}|{self.email_confirmed}"


class Note(db.Model):
    __tablename__ = "note"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    words: Mapped[int | None] = mapped_column(default=None)
    created: Mapped[datetime] = mapped_column(default=_now)
    author: Mapped[User] = relationship(back_populates="notes")

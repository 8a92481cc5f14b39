"""Database models (SQLAlchemy 2, typed columns)."""

from __future__ import annotations

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
    password_hash: Mapped[str] = mapped_column(String(255))
    notes: Mapped[list[Note]] = relationship(back_populates="author")

    def get_id(self) -> str:
        return str(self.id)


class Note(db.Model):
    __tablename__ = "note"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    words: Mapped[int | None] = mapped_column(default=None)
    created: Mapped[datetime] = mapped_column(default=_now)
    author: Mapped[User] = relationship(back_populates="notes")

"""The blog's two languages: a tiny message catalogue keyed on g.lang_code."""

from __future__ import annotations

from flask import g

GERMAN = {
    "Posts": "Beiträge",
    "New post": "Neuer Beitrag",
    "No posts yet.": "Noch keine Beiträge.",
    "Log in": "Anmelden",
    "Log out": "Abmelden",
    "Register": "Registrieren",
    "Save": "Speichern",
    "Delete": "Löschen",
    "Post saved.": "Beitrag gespeichert.",
    "Post deleted.": "Beitrag gelöscht.",
    "Registered. Please log in.": "Registriert. Bitte anmelden.",
    "Welcome, {name}.": "Willkommen, {name}.",
    "Wrong username or password.": "Falscher Name oder falsches Passwort.",
    "Logged out.": "Abgemeldet.",
    "That name is taken.": "Der Name ist vergeben.",
    "Send me a digest": "Zusammenfassung senden",
    "Digest queued.": "Zusammenfassung in Arbeit.",
    "Images only (png, jpg, gif, webp).": "Nur Bilder (png, jpg, gif, webp).",
}


def _(text: str) -> str:
    """Translate ``text`` into the language of the current URL."""
    if g.get("lang_code") == "de":
        return GERMAN.get(text, text)
    return text

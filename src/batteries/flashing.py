"""Flash messages with categories: ``flash.success("Saved")`` and a macro that shows them.

Replaces Flask's "Message Flashing" pattern. :data:`flash` is Flask's ``flash`` with one method
per common category::

    from batteries import flash

    flash("Plain message")                 # category "message", as flask.flash
    flash("Careful", "warning")            # as flask.flash(message, category)
    flash.success("Saved.")                # flask.flash("Saved.", "success")
    flash.error("That did not work.")

In a template, ``{% from "batteries/_flashes.html" import render_flashes %}`` then
``{{ render_flashes() }}`` shows every waiting message; ``render_flashes(["error"])`` shows (and
consumes) only the errors and leaves the others waiting for another call or the next page —
``flask.get_flashed_messages(category_filter=...)`` would drop them all.

Reading flashes needs the session; a visitor who sent no session cookie has none waiting, so the
macro does not open the session for them (the page then carries no ``Vary: Cookie``), unless
this very request already used the session (a message flashed before rendering shows at once).

Config: ``SESSION_COOKIE_NAME`` (Flask's).
"""

from __future__ import annotations

import typing as t

import flask
from markupsafe import Markup, escape

from .sessions import FLASHES_KEY, opened_session, sends_session_cookie

__all__ = ["CATEGORIES", "flash", "pop_flashes", "session_in_use"]

#: The categories :data:`flash` has a method for (also the CSS classes of ``_flashes.html``).
CATEGORIES = ("success", "info", "warning", "error")


class Flash:
    """Callable like ``flask.flash``; ``.success/.info/.warning/.error(message)`` set the category."""

    def __call__(self, message: str, category: str = "message") -> None:
        flask.flash(message, category)

    def success(self, message: str) -> None:
        flask.flash(message, "success")

    def info(self, message: str) -> None:
        flask.flash(message, "info")

    def warning(self, message: str) -> None:
        flask.flash(message, "warning")

    def error(self, message: str) -> None:
        flask.flash(message, "error")

    def __repr__(self) -> str:
        return "<batteries.flash>"


#: ``flash(message, category="message")``, ``flash.success(message)``, ...
flash = Flash()


def session_in_use() -> bool:
    """True when reading the session costs nothing new: the client sent a session cookie, or
    this request already used the session (flashed, logged in...)."""
    if not flask.has_request_context():
        return False
    request = flask.request._get_current_object()  # type: ignore[attr-defined]
    if sends_session_cookie(flask.current_app, request):
        return True
    # Peek at what Batteries' session interface opened (the ``session`` proxy marks it read).
    opened = opened_session(request)
    return bool(opened is not None and (opened.accessed or opened))


def pop_flashes(categories: t.Iterable[str] | str | None = None) -> list[tuple[str, str]]:
    """Waiting ``(category, message)`` pairs of ``categories`` (all when None), removed; the
    others stay waiting. Empty without a request or when :func:`session_in_use` is False."""
    if not session_in_use():
        return []
    if isinstance(categories, str):
        categories = (categories,)
    wanted = None if categories is None else set(categories)
    try:
        session = flask.session._get_current_object()  # type: ignore[attr-defined]
    except RuntimeError:
        return []

    def keep(pair: tuple[str, str]) -> bool:
        return wanted is not None and pair[0] not in wanted

    shown: list[tuple[str, str]] = []
    # Messages get_flashed_messages already took out of the session for this request: Flask
    # keeps returning that very list, so it is trimmed in place.
    taken = getattr(session, "taken_flashes", None)
    if taken:
        shown.extend(f for f in taken if not keep(f))
        taken[:] = [f for f in taken if keep(f)]
    if FLASHES_KEY in session:
        waiting = session[FLASHES_KEY]
        shown.extend(f for f in waiting if not keep(f))
        kept = [f for f in waiting if keep(f)]
        try:
            if kept:
                if len(kept) != len(waiting):
                    session[FLASHES_KEY] = kept
            else:
                del session[FLASHES_KEY]
        except RuntimeError:  # a null session (no SECRET_KEY): nothing can be stored
            pass
    return [(str(c), m) for c, m in shown]


_ALERT = frozenset(("error", "danger", "warning"))


def render_flashes(
    categories: t.Iterable[str] | str | None = None, class_: str = "flashes"
) -> Markup:
    """The waiting messages of ``categories`` as an accessible list (``batteries/_flashes.html``'s
    ``render_flashes`` and ``base.html`` call it); errors and warnings get ``role="alert"``.

    Rendered here rather than in a Jinja macro: importing a macro costs every page that uses it.
    """
    messages = pop_flashes(categories)
    if not messages:
        return Markup("")
    items = "".join(
        f'\n    <li class="flash flash-{escape(category)}" '
        f'role="{"alert" if category in _ALERT else "status"}">{escape(message)}</li>'
        for category, message in messages
    )
    return Markup(f'\n  <ul class="{escape(class_)}">{items}\n  </ul>')

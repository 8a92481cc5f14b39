"""``call_after_response(fn)``: run work after the response was sent.

Flask's "Deferred Request Callbacks" pattern gives ``after_this_request``, which runs *before*
the response leaves (it may still change it). Work the client should not wait for — a log line,
a cache warm-up, an e-mail — belongs after the body was sent: ``call_after_response`` runs ``fn``
when the server closes the response (for a streamed response, once the stream is done), inside an
app context of the same app. Its errors are logged, never shown to the client. ::

    from batteries import call_after_response

    @app.post("/signup")
    def signup():
        user = create_user(request.form)
        call_after_response(lambda: send_welcome_mail(user.id))
        return redirect(url_for("home"))

It can also be used as a decorator inside a view (``@call_after_response`` on a local function).
The request context is gone by then: pass what ``fn`` needs (ids, not ``request``).
"""

from __future__ import annotations

import typing as t
from functools import partial

from flask import after_this_request, current_app

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask
    from flask.wrappers import Response

F = t.TypeVar("F", bound=t.Callable[[], t.Any])


def call_after_response(fn: F) -> F:
    """Run ``fn()`` once the response to the current request has been sent and closed.

    Must be called while a request is handled (``RuntimeError`` otherwise). ``fn`` runs inside
    an app context; an exception it raises is logged with ``app.logger`` and goes no further.
    Returns ``fn`` so it works as a decorator.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def attach(response: Response) -> Response:
        response.call_on_close(partial(_run, app, fn))
        return response

    after_this_request(attach)
    return fn


def _run(app: Flask, fn: t.Callable[[], t.Any]) -> None:
    try:
        with app.app_context():
            fn()
    except Exception:
        app.logger.exception("call_after_response: %r failed", fn)

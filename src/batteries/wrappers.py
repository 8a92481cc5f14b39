"""``batteries.Request``: Flask's request with content negotiation built in.

Set as ``Batteries.request_class``. It adds:

- ``request.wants_json``: whether the client should be answered with JSON
  (see :mod:`batteries.negotiation`).
"""

from __future__ import annotations

from flask import Request as FlaskRequest
from werkzeug.utils import cached_property

from . import negotiation


class Request(FlaskRequest):
    """The request class of a Batteries app (``app.request_class``)."""

    @cached_property
    def wants_json(self) -> bool:
        """True when the client should be answered with JSON rather than HTML."""
        return negotiation.wants_json(self)

"""The app's JSON provider: Flask's, with its encoder kept between responses.

Flask's ``DefaultJSONProvider.dumps`` hands its settings to :func:`json.dumps`, which builds a
new :class:`json.JSONEncoder` for every call that sets anything (Flask always sets ``default``
and ``sort_keys``): about 1 µs of a 4 µs ``jsonify``. :class:`JSONProvider` keeps one encoder
per combination of settings (``default``, ``ensure_ascii``, ``sort_keys``, ``indent``,
``separators``), read afresh on every call, so ``app.json.sort_keys = False`` or a subclass's
``default`` work as on Flask. An encoder holds only its settings and each ``encode`` call keeps
its own state, so threads share it. A call with other arguments (``cls=``, ``default=``...)
goes to Flask's code unchanged; the output is byte for byte Flask's.
"""

from __future__ import annotations

import json
import typing as t

from flask.json.provider import DefaultJSONProvider

_KEPT = frozenset({"indent", "separators"})


class JSONProvider(DefaultJSONProvider):
    """``app.json`` of a Batteries app (``Batteries.json_provider_class``)."""

    def __init__(self, app: t.Any) -> None:
        super().__init__(app)
        self._encoders: dict[tuple[t.Any, ...], json.JSONEncoder] = {}

    def dumps(self, obj: t.Any, **kwargs: t.Any) -> str:
        if kwargs.keys() <= _KEPT:
            key = (
                self.default,
                self.ensure_ascii,
                self.sort_keys,
                kwargs.get("indent"),
                kwargs.get("separators"),
            )
            try:
                encoder = self._encoders.get(key)
            except TypeError:  # an unhashable setting (separators as a list): Flask's way
                return super().dumps(obj, **kwargs)
            if encoder is None:
                encoder = json.JSONEncoder(
                    default=self.default,
                    ensure_ascii=self.ensure_ascii,
                    sort_keys=self.sort_keys,
                    indent=kwargs.get("indent"),
                    separators=kwargs.get("separators"),
                )
                if len(self._encoders) < 16:  # settings rarely change; never grow unbounded
                    self._encoders[key] = encoder
            return encoder.encode(obj)
        return super().dumps(obj, **kwargs)

"""Each touch of a dependency's non-public API (``batteries._compat``) tested on its own.

A test here fails loudly when Flask, Werkzeug, Celery, kombu or cachelib changes what the touch
relies on, so the break shows in this file rather than as a wrong behaviour somewhere else.
"""

from __future__ import annotations

# -- Flask -----------------------------------------------------------------------------------


# -- Werkzeug --------------------------------------------------------------------------------
# The request layer (ctx.py, wrappers.py, bodydigest.py) has no private touch left; these pin
# the public behaviours it is built on, so a change shows here first.


def test_werkzeug_form_parser_reads_stream_factory_when_it_parses():
    """``wrappers._FormParser`` replaces ``FormDataParser.stream_factory`` (a public attribute)
    after the parser is built, to close half-received files when parsing fails."""
    import io

    from werkzeug.formparser import FormDataParser

    made = []

    def factory(*args, **kwargs):
        made.append(args)
        return io.BytesIO()

    parser = FormDataParser()
    parser.stream_factory = factory
    body = (
        b'--b\r\nContent-Disposition: form-data; name="f"; filename="x"\r\n\r\nabc\r\n--b--\r\n'
    )
    _, _, files = parser.parse(io.BytesIO(body), "multipart/form-data", len(body), {"boundary": "b"})
    assert made and files["f"].read() == b"abc"


def test_werkzeug_request_registers_itself_in_the_environ():
    """``Request.close`` drops ``environ["werkzeug.request"]`` when it is the request itself."""
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    environ = EnvironBuilder().get_environ()
    request = Request(environ)
    assert environ.get("werkzeug.request") in (request, None)


def test_werkzeug_map_adapter_match_signature():
    """``ctx.OverridingAdapter.match`` takes the same arguments as ``MapAdapter.match``."""
    import inspect

    from werkzeug.routing import MapAdapter

    from batteries.ctx import OverridingAdapter

    ours = list(inspect.signature(OverridingAdapter.match).parameters)
    assert ours == list(inspect.signature(MapAdapter.match).parameters)


def test_json_detect_encoding_is_what_json_loads_uses():
    """``wrappers.json_too_deep`` reads bytes in the encoding ``json.detect_encoding`` gives."""
    import json

    for encoding in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"):
        assert json.detect_encoding('{"a": 1}'.encode(encoding)) == encoding


# -- Celery and kombu ------------------------------------------------------------------------


# -- cachelib, SQLite, others ----------------------------------------------------------------

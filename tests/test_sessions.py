"""The secret-key policy and the cached session serializer."""

from __future__ import annotations

import os
import stat

import pytest
from flask import flash, session

from batteries import Batteries
from batteries.sessions import (
    DEV_KEY_FILE,
    MissingSecretKey,
    ensure_dev_secret_key,
    require_secret_key,
)


def make_app(tmp_path, **config):
    app = Batteries("sess_app", root_path=str(tmp_path), instance_path=str(tmp_path / "instance"))
    app.config.update(config)
    return add_routes(app)


def add_routes(app, value=1):
    """/write puts ``value`` in the session, /read shows it, /flash flashes."""

    @app.route("/write")
    def write():
        session["x"] = value
        return "ok"

    @app.route("/flash")
    def do_flash():
        flash("hello")
        return "ok"

    @app.route("/read")
    def read():
        return str(session.get("x"))

    return app


def test_no_default_secret_key(tmp_path):
    assert make_app(tmp_path).secret_key is None


@pytest.mark.parametrize("path", ["/write", "/flash"])
def test_missing_key_error_names_secret_key(tmp_path, path):
    app = make_app(tmp_path, PROPAGATE_EXCEPTIONS=True)
    with pytest.raises(MissingSecretKey) as info:
        app.test_client().get(path)
    message = str(info.value)
    assert "session is unavailable" in message  # Flask's own words, kept
    assert "SECRET_KEY" in message
    assert "BATTERIES_SECRET_KEY" in message


def test_missing_key_is_a_runtime_error_and_500_outside_testing(tmp_path):
    app = make_app(tmp_path)
    assert issubclass(MissingSecretKey, RuntimeError)
    response = app.test_client().get("/write")
    assert response.status_code == 500


def test_reading_without_key_works(tmp_path):
    app = make_app(tmp_path)
    assert app.test_client().get("/read").data == b"None"


def test_session_round_trip_with_key(tmp_path):
    app = make_app(tmp_path, SECRET_KEY="k" * 32)
    client = app.test_client()
    client.get("/write")
    assert client.get("/read").data == b"1"


def test_serializer_is_reused_and_follows_key_changes(tmp_path):
    app = make_app(tmp_path, SECRET_KEY="first key")
    interface = app.session_interface
    one = interface.get_signing_serializer(app)
    assert interface.get_signing_serializer(app) is one
    client = app.test_client()
    client.get("/write")
    # Rotating the key: old cookies verify through the fallback, new ones use the new key.
    app.config["SECRET_KEY"] = "second key"
    app.config["SECRET_KEY_FALLBACKS"] = ["first key"]
    two = interface.get_signing_serializer(app)
    assert two is not one
    assert client.get("/read").data == b"1"
    app.config["SECRET_KEY_FALLBACKS"] = []
    assert client.get("/read").data == b"None"


def test_signer_is_kept_and_each_key_derived_once(tmp_path, monkeypatch):
    from itsdangerous.signer import Signer

    derived: list[bytes] = []
    original = Signer.derive_key

    def counting(self, secret_key=None):
        derived.append(secret_key)
        return original(self, secret_key)

    monkeypatch.setattr(Signer, "derive_key", counting)
    app = make_app(tmp_path, SECRET_KEY="new key", SECRET_KEY_FALLBACKS=["old key"])
    serializer = app.session_interface.get_signing_serializer(app)
    assert serializer.make_signer() is serializer.make_signer()
    client = app.test_client()
    client.get("/write")
    for _ in range(5):
        assert client.get("/read").data == b"1"
    assert len(derived) == len(set(derived)) == 1  # the new key, once (itsdangerous: 6 times)


def test_a_serializer_flask_did_not_make_the_usual_way_is_kept_as_it_is():
    from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer

    from batteries.sessions import keeping_signers

    assert keeping_signers(None) is None
    untimed = URLSafeSerializer("key", salt="cookie-session")
    assert keeping_signers(untimed) is untimed
    own_signer = URLSafeTimedSerializer("key", signer=type("Own", (untimed.signer,), {}))
    assert keeping_signers(own_signer) is own_signer


def test_cookies_are_flasks_both_ways_through_a_key_rotation(tmp_path):
    from flask import Flask

    flask_app = add_routes(Flask("plain"), value=2)
    flask_app.config.update(SECRET_KEY="old key")
    plain = flask_app.test_client()
    plain.get("/write")
    made_by_flask = plain.get_cookie("session").value
    app = make_app(tmp_path, SECRET_KEY="new key", SECRET_KEY_FALLBACKS=["old key"])
    client = app.test_client()
    client.set_cookie("session", made_by_flask)
    assert client.get("/read").data == b"2"  # signed with a fallback key: still read
    client.set_cookie("session", made_by_flask[:-2] + ("A" if made_by_flask[-2] != "A" else "B") + made_by_flask[-1])
    assert client.get("/read").data == b"None"  # a forged signature is refused
    client.get("/write")
    flask_app.config.update(SECRET_KEY="new key")
    plain.set_cookie("session", client.get_cookie("session").value)
    assert plain.get("/read").data == b"1"  # and Flask reads what Batteries signed


def test_two_apps_do_not_share_serializers(tmp_path):
    a = make_app(tmp_path / "a", SECRET_KEY="key a")
    b = make_app(tmp_path / "b", SECRET_KEY="key b")
    client_a = a.test_client()
    client_a.get("/write")
    cookie = client_a.get_cookie("session")
    client_b = b.test_client()
    client_b.set_cookie("session", cookie.value)
    assert client_b.get("/read").data == b"None"


def test_debug_generates_and_keeps_a_key(tmp_path):
    app = make_app(tmp_path)
    app.debug = True
    client = app.test_client()
    client.get("/write")
    key_file = tmp_path / "instance" / DEV_KEY_FILE
    assert key_file.exists()
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(key_file.parent).st_mode) == 0o700  # the folder it made
    key = app.secret_key
    assert key and len(key) >= 32
    # A second app (a reloader restart) reads the same key back: sessions survive.
    again = make_app(tmp_path)
    again.debug = True
    assert ensure_dev_secret_key(again)
    assert again.secret_key == key
    client2 = again.test_client()
    client2.set_cookie("session", client.get_cookie("session").value)
    assert client2.get("/read").data == b"1"


def test_generated_key_is_told_on_batteries_logger_not_the_apps(tmp_path, caplog):
    """A handler on app.logger sees the app's records only, as on Flask (Flask's own
    test_template_loader_debugging puts one there on a debug app without a key)."""
    import logging

    app = make_app(tmp_path)
    app.debug = True
    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record)

    app.logger.addHandler(Keep())
    with caplog.at_level(logging.INFO, logger="batteries.sessions"):
        app.test_client().get("/write")
    assert seen == []
    assert [r.name for r in caplog.records if "development SECRET_KEY" in r.getMessage()] == [
        "batteries.sessions"
    ]


def test_testing_mode_never_generates_a_key(tmp_path):
    app = make_app(tmp_path, TESTING=True)
    app.debug = True
    with pytest.raises(MissingSecretKey):
        app.test_client().get("/write")
    assert not (tmp_path / "instance" / DEV_KEY_FILE).exists()


def test_require_secret_key(tmp_path):
    app = make_app(tmp_path)
    with pytest.raises(MissingSecretKey, match="SECRET_KEY"):
        require_secret_key(app)
    app.config["SECRET_KEY"] = "abc"
    assert require_secret_key(app) == "abc"


def test_cookie_defaults(tmp_path):
    app = make_app(tmp_path, SECRET_KEY="k")
    response = app.test_client().get("/write")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie

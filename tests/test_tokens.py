"""make_token / read_token: purpose, state, age, key rotation; bad tokens read as None."""

from __future__ import annotations

import base64

import pytest

from batteries.auth import hash_password, make_token, read_token


class User:
    def __init__(self, user_id: int, password: str, email: str = "ann@example.com") -> None:
        self.id = user_id
        self.password_hash = hash_password(password)
        self.email = email

    def get_id(self) -> str:
        return str(self.id)


@pytest.fixture
def users(app):
    found = {1: User(1, "first password"), 2: User(2, "other")}

    @app.user_loader
    def load(user_id):
        return found.get(int(user_id))

    return found


def test_round_trip_through_the_apps_user_loader(app, users):
    with app.app_context():
        token = make_token(users[1], "reset")
        assert read_token(token, "reset", max_age=60) is users[1]
        # The same token, read again while nothing changed, still reads (the state binds it).
        assert read_token(token, "reset", max_age=60) is users[1]


def test_token_dies_when_the_password_changes(app, users):
    with app.app_context():
        token = make_token(users[1], "reset")
        users[1].password_hash = hash_password("new password")  # the reset was used
        assert read_token(token, "reset", max_age=60) is None
        # The hash itself is not readable from the token.
        payload = token.split(".")[0]
        decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        assert b"scrypt" not in decoded and b"pbkdf2" not in decoded


def test_wrong_purpose_tampered_garbage_and_unknown_user(app, users):
    with app.app_context():
        token = make_token(users[1], "confirm")
        assert read_token(token, "reset", max_age=60) is None
        flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
        assert read_token(flipped, "confirm", max_age=60) is None
        for junk in ("", "x", "a.b.c", "." * 5000, None, 42, "\x00\xff"):
            assert read_token(junk, "confirm", max_age=60) is None
        gone = make_token(users[2], "confirm")
        del users[2]
        assert read_token(gone, "confirm", max_age=60) is None


def test_expired(app, users, monkeypatch):
    import time

    with app.app_context():
        token = make_token(users[1], "reset")
        now = time.time()
        monkeypatch.setattr(time, "time", lambda: now + 120)
        assert read_token(token, "reset", max_age=60) is None
        assert read_token(token, "reset", max_age=600) is users[1]


def test_custom_state_and_loader(app):
    user = User(7, "pw", email="old@example.com")
    with app.app_context():
        token = make_token(user, "confirm", state=user.email)
        by_email = lambda u: u.email  # noqa: E731
        assert read_token(token, "confirm", 60, load_user={"7": user}.get, state=by_email) is user
        # Without the same state function, the default (password hash) does not match.
        assert read_token(token, "confirm", 60, load_user={"7": user}.get) is None
        user.email = "new@example.com"
        assert read_token(token, "confirm", 60, load_user={"7": user}.get, state=by_email) is None


def test_secret_key_rotation(app, users):
    with app.app_context():
        old = make_token(users[1], "reset")
    app.config["SECRET_KEY_FALLBACKS"] = [app.config["SECRET_KEY"]]
    app.config["SECRET_KEY"] = "a brand new secret key of enough length"
    with app.app_context():
        assert read_token(old, "reset", max_age=60) is users[1]
        new = make_token(users[1], "reset")
        assert read_token(new, "reset", max_age=60) is users[1]
    app.config["SECRET_KEY_FALLBACKS"] = []
    with app.app_context():
        assert read_token(old, "reset", max_age=60) is None
        assert read_token(new, "reset", max_age=60) is users[1]


def test_another_apps_token_is_refused(app, users, tmp_path):
    from batteries import Batteries

    other = Batteries("other", root_path=str(tmp_path), instance_path=str(tmp_path / "o"))
    other.config["SECRET_KEY"] = "a completely different secret key!!"
    other.user_loader(lambda user_id: users.get(int(user_id)))
    with other.app_context():
        foreign = make_token(users[1], "reset")
    with app.app_context():
        assert read_token(foreign, "reset", max_age=60) is None


def test_no_loader_is_a_clear_error_and_no_id_refused(app):
    user = User(1, "pw")
    with app.app_context():
        token = make_token(user, "reset")
        with pytest.raises(RuntimeError, match="user_loader"):
            read_token(token, "reset", max_age=60)
        user.get_id = lambda: None
        with pytest.raises(ValueError, match="get_id"):
            make_token(user, "reset")

"""batteries.auth through the test client: login, remember-me, login_required, safe_next."""

from __future__ import annotations

import logging
import time
import unicodedata
from urllib.parse import parse_qs, urlsplit

import flask
import pytest
from flask import redirect, render_template_string, request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from batteries import (
    Batteries,
    Blueprint,
    auth,
    current_user,
    login_required,
    login_user,
    logout_user,
)
from batteries.auth import (
    REMEMBER_SALT,
    SESSION_KEY,
    LoginViewError,
    PasswordTooLong,
    check_password,
    hash_password,
    safe_next,
)
from batteries.sessions import MissingSecretKey
from batteries.signals import user_logged_in, user_logged_out

REMEMBER = "batteries_remember"


class User:
    """A user object with nothing but ``get_id()`` (and a name to show)."""

    def __init__(self, user_id: str, name: str, active: bool = True) -> None:
        self.id = user_id
        self.name = name
        if not active:
            self.is_active = False

    def get_id(self) -> str:
        return self.id

    def __repr__(self) -> str:
        return f"<User {self.id}>"


@pytest.fixture
def users() -> dict[str, User]:
    return {"1": User("1", "ann"), "2": User("2", "bob"), "3": User("3", "cy", active=False)}


@pytest.fixture
def site(app: Batteries, users: dict[str, User]) -> Batteries:
    """The app with an ``auth`` blueprint (login, logout, loader) and a few pages."""
    bp = Blueprint("auth", __name__)

    @bp.user_loader
    def load_user(user_id):
        return users.get(user_id)

    @bp.route("/login", methods=["GET", "POST"])
    def login():
        if request.method == "POST":
            user = users[request.form["id"]]
            if not login_user(user, remember=bool(request.form.get("remember"))):
                return "inactive", 403
            return redirect(safe_next(), 302)
        return "login page"

    @bp.post("/logout")
    def logout():
        logout_user()
        return "bye"

    app.register_blueprint(bp, url_prefix="/auth")

    @app.get("/secret")
    @login_required
    def secret():
        return f"hi {current_user.name}"

    @app.get("/plain")
    def plain():
        return "plain"

    @app.get("/whoami")
    def whoami():
        if current_user.is_authenticated:
            return current_user.get_id()
        return "anonymous"

    return app


def login(client, user_id="1", **form):
    return client.post("/auth/login", data={"id": user_id, **form})


def location(response) -> str:
    return response.headers["Location"]


def set_cookies(response, name: str) -> list[str]:
    return [v for v in response.headers.getlist("Set-Cookie") if v.startswith(name + "=")]


# -- login_required -------------------------------------------------------------------------


def test_anonymous_is_sent_to_login_view_with_relative_next(site):
    client = site.test_client()
    response = client.get("/secret")
    assert response.status_code == 302
    assert location(response) == "/auth/login?next=/secret"

    response = client.get("/secret?a=1&b=x%20y")
    target = urlsplit(location(response))
    assert target.path == "/auth/login"
    # The query string stays percent-encoded, so the round trip passes safe_next.
    (next_path,) = parse_qs(target.query)["next"]
    assert next_path == "/secret?a=1&b=x%20y"
    response = login(client, next=next_path)
    assert location(response) == next_path
    assert client.get(location(response)).text == "hi ann"


def test_next_path_is_percent_encoded_and_round_trips(site):
    @site.get("/café/<name>")
    @login_required
    def cafe(name):
        return f"{name} at the café"

    client = site.test_client()
    response = client.get("/caf%C3%A9/a%20b%2525?x=%C3%A9+1&y=%2F%2F")
    (next_path,) = parse_qs(urlsplit(location(response)).query)["next"]
    assert next_path == "/caf%C3%A9/a%20b%2525?x=%C3%A9+1&y=%2F%2F"
    response = login(client, next=next_path)
    assert location(response) == next_path
    assert client.get(next_path).text == "a b%25 at the café"


def test_next_includes_script_root(site):
    response = site.test_client().get("/secret?q=1", base_url="http://localhost/mount")
    target = urlsplit(location(response))
    assert target.path == "/mount/auth/login"
    assert parse_qs(target.query) == {"next": ["/mount/secret?q=1"]}


@pytest.mark.parametrize(
    "headers",
    [
        {"Accept": "application/json"},
        {"X-Requested-With": "XMLHttpRequest"},
        {"Sec-Fetch-Mode": "cors"},
    ],
)
def test_json_clients_get_401_json(site, headers):
    response = site.test_client().get("/secret", headers=headers)
    assert response.status_code == 401
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["status"] == 401
    assert body["error"] == "Unauthorized"
    assert body["message"] == auth.UNAUTHORIZED_MESSAGE
    assert "Location" not in response.headers


def test_browser_accept_gets_redirect(site):
    response = site.test_client().get(
        "/secret", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    )
    assert response.status_code == 302


def test_login_then_protected_page(site):
    client = site.test_client()
    response = login(client, next="/secret")
    assert response.status_code == 302
    assert location(response) == "/secret"
    response = client.get("/secret")
    assert response.status_code == 200
    assert response.text == "hi ann"


def test_login_view_none_answers_401(site):
    site.config["LOGIN_VIEW"] = None
    response = site.test_client().get("/secret")
    assert response.status_code == 401
    assert response.mimetype == "text/html"


def test_missing_login_view_endpoint_is_a_clear_error(app):
    @app.get("/secret")
    @login_required
    def secret():
        return "x"

    auth.user_loader(app, lambda user_id: None)
    with pytest.raises(LoginViewError, match="LOGIN_VIEW is 'auth.login'"):
        app.test_client().get("/secret")
    app.config["LOGIN_VIEW"] = "nope"
    with pytest.raises(LoginViewError, match="LOGIN_VIEW is 'nope'"):
        app.test_client().get("/secret")


def test_login_required_on_blueprint_views_and_async_views(site, users):
    bp = Blueprint("admin", __name__)

    @bp.get("/")
    @login_required
    def index():
        return f"admin {current_user.name}"

    @bp.get("/async")
    @login_required
    async def later():
        return "async ok"

    site.register_blueprint(bp, url_prefix="/admin")
    client = site.test_client()
    assert location(client.get("/admin/")) == "/auth/login?next=/admin/"
    assert location(client.get("/admin/async")) == "/auth/login?next=/admin/async"
    login(client)
    assert client.get("/admin/").text == "admin ann"
    assert client.get("/admin/async").text == "async ok"
    assert index.__name__ == "index"


def test_plain_flask_blueprint_loader(app, users):
    bp = flask.Blueprint("auth", __name__)
    auth.user_loader(bp, users.get)

    @bp.post("/login")
    def login():
        login_user(users["2"])
        return "ok"

    @bp.get("/me")
    @login_required
    def me():
        return current_user.name

    app.register_blueprint(bp, url_prefix="/auth")
    client = app.test_client()
    assert client.get("/auth/me").status_code == 302
    client.post("/auth/login")
    assert client.get("/auth/me").text == "bob"


def test_user_loader_after_first_request_is_refused(site):
    site.test_client().get("/plain")
    with pytest.raises(AssertionError, match="user_loader"):
        site.user_loader(lambda user_id: None)


# -- current_user ---------------------------------------------------------------------------


def test_current_user_is_lazy_no_vary_cookie(site):
    client = site.test_client()
    response = client.get("/plain")
    assert "Vary" not in response.headers
    assert not response.headers.getlist("Set-Cookie")

    login(client, remember="1")
    response = client.get("/plain")  # logged in, with session and remember cookies
    assert "cookie" not in response.headers.get("Vary", "").lower()
    assert not response.headers.getlist("Set-Cookie")

    # A page that looks at the user does depend on the cookie.
    response = client.get("/whoami")
    assert response.text == "1"
    assert "Cookie" in response.headers["Vary"]


def test_current_user_is_loaded_once_per_request(site, users):
    calls = []
    site.user_loader(lambda user_id: calls.append(user_id) or users.get(user_id))

    @site.get("/twice")
    def twice():
        return f"{current_user.name} {current_user.name} {current_user.is_authenticated}"

    client = site.test_client()
    login(client)
    assert client.get("/twice").text == "ann ann True"
    assert calls == ["1"]
    assert client.get("/plain").status_code == 200
    assert calls == ["1"]


def test_current_user_outside_request_and_in_templates(site):
    assert current_user.is_authenticated is False
    assert current_user.is_anonymous is True
    with site.app_context():
        assert current_user.get_id() is None

    @site.get("/tpl")
    def tpl():
        return render_template_string(
            "{% if current_user.is_authenticated %}{{ current_user.name }}"
            "{% else %}guest{% endif %}"
        )

    client = site.test_client()
    assert client.get("/tpl").text == "guest"
    login(client)
    assert client.get("/tpl").text == "ann"


def test_app_context_around_requests_does_not_leak_user(site):
    client = site.test_client()
    with site.app_context():
        login(client)
        assert client.get("/whoami").text == "1"
        client.post("/auth/logout")
        assert client.get("/whoami").text == "anonymous"


def test_deleted_user_is_anonymous_and_forgotten(site, users):
    client = site.test_client()
    login(client)
    del users["1"]
    assert client.get("/whoami").text == "anonymous"
    with client.session_transaction() as sess:
        assert SESSION_KEY not in sess
    users["1"] = User("1", "new ann")
    assert client.get("/whoami").text == "anonymous"


def test_g_user_is_never_written(site):
    seen = {}

    @site.get("/g")
    def check_g():
        current_user.get_id()
        seen["user" in flask.g] = True
        return "ok"

    client = site.test_client()
    login(client)
    client.get("/g")
    assert seen == {False: True}


# -- login_user / logout_user ---------------------------------------------------------------


def test_login_rotates_session_and_csrf_secret(site):
    client = site.test_client()
    with client.session_transaction() as sess:
        sess["cart"] = ["planted"]
        sess["_batteries_csrf"] = "0" * 64
        sess["_flashes"] = [("info", "please log in")]
    login(client)
    with client.session_transaction() as sess:
        assert "cart" not in sess
        assert "_batteries_csrf" not in sess
        assert sess["_flashes"] == [("info", "please log in")]
        assert sess[SESSION_KEY] == "1"
        assert "_user_id" not in sess  # Flask-Login's key is not ours


def test_login_and_logout_invalidate_csrf_tokens_of_the_forms_battery(site):
    from batteries.forms import check_token, csrf_token

    @site.get("/token")
    def token():
        return csrf_token()

    @site.post("/check")
    def check():
        return check_token(request.form["token"]) or "valid"

    client = site.test_client()
    before = client.get("/token").text
    assert client.post("/check", data={"token": before}).text == "valid"
    login(client)
    assert client.post("/check", data={"token": before}).text != "valid"
    during = client.get("/token").text
    assert client.post("/check", data={"token": during}).text == "valid"
    client.post("/auth/logout")
    assert client.post("/check", data={"token": during}).text != "valid"


def test_logout_clears_user_and_remember_cookie(site):
    client = site.test_client()
    login(client, remember="1")
    assert client.get_cookie(REMEMBER) is not None
    response = client.post("/auth/logout")
    assert response.text == "bye"
    (deleted,) = set_cookies(response, REMEMBER)
    assert "Expires=Thu, 01 Jan 1970" in deleted
    assert client.get_cookie(REMEMBER) is None
    assert client.get("/whoami").text == "anonymous"
    with client.session_transaction() as sess:
        assert SESSION_KEY not in sess


def test_inactive_user_is_not_logged_in(site):
    client = site.test_client()
    assert login(client, "3").status_code == 403
    assert client.get("/whoami").text == "anonymous"


def test_login_without_loader_fails_early(app):
    @app.post("/login")
    def login_view():
        login_user(User("1", "ann"))
        return "ok"

    with pytest.raises(RuntimeError, match="user_loader"):
        app.test_client().post("/login")


def test_no_secret_key_is_a_clear_error(site):
    site.config["SECRET_KEY"] = None
    client = site.test_client()
    assert client.get("/whoami").text == "anonymous"  # reading works without a key
    with pytest.raises(MissingSecretKey, match="SECRET_KEY"):
        login(client)
    assert client.post("/auth/logout").text == "bye"  # nothing to forget


def test_signals(site, users):
    received = []

    def on_login(sender, user, **extra):
        received.append(("in", sender, user))

    def on_logout(sender, user, **extra):
        received.append(("out", sender, user))

    client = site.test_client()
    with user_logged_in.connected_to(on_login), user_logged_out.connected_to(on_logout):
        login(client)
        client.post("/auth/logout")
    assert received == [("in", site, users["1"]), ("out", site, users["1"])]


# -- the remember cookie --------------------------------------------------------------------


def test_remember_cookie_attributes(site):
    response = login(site.test_client(), remember="1")
    (cookie,) = set_cookies(response, REMEMBER)
    attrs = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in attrs
    assert "samesite=lax" in attrs
    assert "secure" not in attrs
    assert f"max-age={30 * 24 * 3600}" in attrs
    assert any(a.startswith("expires=") for a in attrs)

    site.config["SESSION_COOKIE_SECURE"] = True
    response = login(site.test_client(), remember="1")
    (cookie,) = set_cookies(response, REMEMBER)
    assert "secure" in [part.strip().lower() for part in cookie.split(";")]


def test_no_remember_cookie_without_remember(site):
    response = login(site.test_client())
    assert not set_cookies(response, REMEMBER)


def test_remember_cookie_restores_user_after_session_loss(site):
    client = site.test_client()
    login(client, remember="1")
    client.delete_cookie("session")
    response = client.get("/secret")
    assert response.status_code == 200
    assert response.text == "hi ann"
    assert set_cookies(response, "session")  # the user is back in the session
    client.delete_cookie(REMEMBER)
    assert client.get("/whoami").text == "1"


@pytest.mark.parametrize(
    "value",
    ["garbage", "MQ.Zz9Zz9.tampered-signature", "", "\u00e9t\u00e9"],
)
def test_tampered_remember_cookie_is_anonymous(site, value):
    client = site.test_client()
    client.set_cookie(REMEMBER, value)
    response = client.get("/secret")
    assert response.status_code == 302
    if value:
        assert set_cookies(response, REMEMBER)  # the bad cookie is deleted


def test_remember_cookie_signed_with_another_key_or_for_a_changed_payload(site):
    client = site.test_client()
    login(client, remember="1")
    token = client.get_cookie(REMEMBER).value
    client.delete_cookie("session")
    site.config["SECRET_KEY"] = "another key"
    assert client.get("/whoami").text == "anonymous"

    # the same token accepted again once the old key is a fallback
    site.config["SECRET_KEY_FALLBACKS"] = ["test secret key"]
    client.set_cookie(REMEMBER, token)
    client.delete_cookie("session")
    assert client.get("/whoami").text == "1"

    # a token for user 2 made from user 1's signature by editing the payload
    payload, rest = token.split(".", 1)
    assert payload == "IjEi"  # base64 of '"1"'
    client.set_cookie(REMEMBER, "IjIi." + rest)  # '"2"' with user 1's signature
    client.delete_cookie("session")
    assert client.get("/whoami").text == "anonymous"


class _PastSigner(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 3600


def test_expired_remember_cookie_is_anonymous(site):
    old = URLSafeTimedSerializer("test secret key", salt=REMEMBER_SALT, signer=_PastSigner).dumps(
        "1"
    )
    client = site.test_client()
    site.config["LOGIN_REMEMBER_DURATION"] = 60
    client.set_cookie(REMEMBER, old)
    response = client.get("/whoami")
    assert response.text == "anonymous"
    assert set_cookies(response, REMEMBER)
    # The same token inside its lifetime is accepted (so the refusal above was the expiry).
    site.config["LOGIN_REMEMBER_DURATION"] = 7200
    client.set_cookie(REMEMBER, old)
    assert client.get("/whoami").text == "1"


def test_someone_elses_remember_cookie_dies_at_login(site):
    client = site.test_client()
    login(client, "1", remember="1")
    response = login(client, "2")
    assert set_cookies(response, REMEMBER)
    client.delete_cookie("session")
    assert client.get("/whoami").text == "anonymous"


def test_bad_session_cookies_mean_logged_out(site):
    client = site.test_client()
    login(client)
    good = client.get_cookie("session").value
    client.set_cookie("session", good[:-3] + "AAA")  # tampered signature
    assert location(client.get("/secret")) == "/auth/login?next=/secret"

    site.config["SECRET_KEY"] = "a new key"  # the old one rotated out, not a fallback
    client.set_cookie("session", good)
    assert client.get("/secret").status_code == 302
    response = client.get("/secret", headers={"Accept": "application/json"})
    assert response.status_code == 401

    fresh = site.test_client()
    assert fresh.get("/secret", headers={"Cookie": "session=" + "x" * 5000}).status_code == 302


# -- safe_next ------------------------------------------------------------------------------

BAD_NEXT = [
    "//evil.example",
    "///evil.example",
    "////evil.example",
    "https://evil.example",
    "https://evil.example/x",
    "http:///evil.example",
    "http:\\/evil.example",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "/\\evil.example",
    "\\/evil.example",
    "\\\\evil.example",
    "/\r\nSet-Cookie: x=1",
    "/\nevil",
    "/\t/evil.example",
    "/\tevil",
    "\x08//evil.example",
    " /evil",
    "/evil example",
    "/x\x00y",
    "/\u202eevil",
    "/\u3000evil",
    "evil.example",
    "",
    "/" + "a" * 10_000,
]


@pytest.mark.parametrize("bad", BAD_NEXT)
def test_login_refuses_open_redirects(site, bad):
    client = site.test_client()
    response = login(client, next=bad)
    assert response.status_code == 302
    assert location(response) == "/"
    # next in the query string is read too
    response = client.post("/auth/login", query_string={"next": bad}, data={"id": "1"})
    assert location(response) == "/"


@pytest.mark.parametrize("good", ["/secret", "/profile?tab=1", "/a/b/?x=%2F%2Fy#top", "/"])
def test_login_follows_same_site_next(site, good):
    response = login(site.test_client(), next=good)
    assert location(response) == good


def test_safe_next_default(site):
    with site.test_request_context("/?next=//evil.example"):
        assert safe_next() == "/"
        assert safe_next("/home") == "/home"
    with site.test_request_context("/", method="POST", data={"next": "/ok"}):
        assert safe_next("/home") == "/ok"


_prefixes = st.sampled_from(
    ["", "/", "//", "/\\", "\\", "http:", "javascript:", " /", "/\t", "\r\n/", "/%2F"]
)


def _same_site_path(result: str) -> bool:
    parts = urlsplit(result)
    return (
        result.startswith("/")
        and not result.startswith("//")
        and "\\" not in result
        and not any(ch.isspace() or unicodedata.category(ch)[0] in "CZ" for ch in result)
        and parts.scheme == ""
        and parts.netloc == ""
    )


@settings(
    derandomize=True,
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.builds(
        lambda prefix, rest: prefix + rest,
        _prefixes,
        st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
    )
)
def test_safe_next_property(app, text):
    with app.test_request_context("/", query_string={"next": text}):
        result = safe_next("DEFAULT")
    assert result == "DEFAULT" or (result == text and _same_site_path(result))


@settings(
    derandomize=True,
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.builds(
        lambda prefix, rest: prefix + rest,
        _prefixes,
        st.text(st.characters(blacklist_categories=("Cs",)), max_size=30),
    )
)
def test_login_location_header_property(site, text):
    """The raw Location after login starts with exactly one "/" followed by neither / nor \\."""
    response = login(site.test_client(), next=text)
    assert response.status_code == 302
    raw = response.headers["Location"]
    assert raw.startswith("/")
    assert raw[1:2] not in ("/", "\\")
    assert "\\" not in raw and "\r" not in raw and "\n" not in raw


# -- passwords ------------------------------------------------------------------------------


def test_hash_and_check_password():
    pwhash = hash_password("correct horse")
    assert pwhash.startswith("scrypt:")
    assert check_password(pwhash, "correct horse")
    assert not check_password(pwhash, "wrong horse")
    assert hash_password("correct horse") != pwhash  # salted


@pytest.mark.parametrize(
    "stored",
    [
        "md5$abc$def",
        "scrypt:abc$salt$hash",
        "scrypt:3:8:1$salt$hash",
        "pbkdf2:nope$s$h",
        "plain",
        "",
    ],
)
def test_malformed_hash_is_a_failed_check(stored, caplog):
    with caplog.at_level(logging.ERROR, logger="batteries.auth"):
        assert check_password(stored, "pw") is False
    if "$" in stored:
        (record,) = caplog.records
        assert "malformed" in record.getMessage()
        assert stored.split("$", 1)[1] not in record.getMessage()  # salt and hash not logged


def test_malformed_hash_in_a_login_view_is_401(app):
    @app.post("/login")
    def login_view():
        if not check_password("md5$abc$def", request.form["password"]):
            return "bad credentials", 401
        return "ok"

    response = app.test_client().post("/login", data={"password": "pw"})
    assert response.status_code == 401


def test_unknown_user_and_long_passwords():
    assert check_password(None, "pw") is False
    assert check_password(hash_password("x"), "x" * 5000) is False
    with pytest.raises(PasswordTooLong) as info:
        hash_password("x" * 5000)
    assert isinstance(info.value, ValueError)
    assert info.value.code == 400


# -- the login_as fixture and Flask-Login side by side ---------------------------------------


def test_login_as_fixture(site, users, client, login_as):
    assert client.get("/whoami").text == "anonymous"
    login_as(users["2"])
    assert client.get("/whoami").text == "2"
    login_as("1")
    assert client.get("/secret").text == "hi ann"


def test_flask_login_side_by_side(site, users):
    import flask_login

    class FLUser(flask_login.UserMixin):
        def __init__(self, user_id):
            self.id = user_id

    manager = flask_login.LoginManager(site)
    manager.user_loader(lambda user_id: FLUser(user_id) if user_id == "9" else None)

    @site.post("/fl/login")
    def fl_login():
        flask_login.login_user(FLUser("9"), remember=True)
        return "ok"

    @site.get("/both")
    def both():
        fl = flask_login.current_user
        return f"{fl.get_id() if fl.is_authenticated else '-'} {current_user.get_id()}"

    client = site.test_client()
    client.post("/fl/login")
    assert client.get("/both").text == "9 None"
    login(client, remember="1")
    assert client.get("/both").text == "9 1"
    with client.session_transaction() as sess:
        assert sess["_user_id"] == "9"
        assert sess[SESSION_KEY] == "1"
    assert client.get_cookie("remember_token") is not None
    client.post("/auth/logout")
    assert client.get("/both").text == "9 None"
    with client.session_transaction() as sess:
        assert sess["_user_id"] == "9"
    assert client.get_cookie("remember_token") is not None


def test_exports():
    import batteries

    assert batteries.current_user is current_user
    assert batteries.login_required is login_required
    for setting in auth.CONFIG:
        assert Batteries.default_config[setting.key] == setting.default


# -- a login through the remember cookie (#13) ------------------------------------------------


def test_remember_cookie_login_rotates_the_session_like_login_user(site):
    from batteries.csrf import SESSION_KEY as CSRF_KEY

    client = site.test_client()
    login(client, remember="1")
    with client.session_transaction() as sess:
        sess.clear()  # the session is gone; someone planted values and a CSRF secret
        sess["cart"] = ["planted"]
        sess[CSRF_KEY] = "0" * 64
        sess["_flashes"] = [("info", "kept")]
    assert client.get("/whoami").text == "1"
    with client.session_transaction() as sess:
        assert "cart" not in sess
        assert CSRF_KEY not in sess
        assert sess["_flashes"] == [("info", "kept")]
        assert sess[SESSION_KEY] == "1"


# -- current_user in templates (#20) ----------------------------------------------------------

PROBE = "{{ current_user is defined }} {{ batteries_current_user is defined }}"


def test_current_user_is_undefined_in_templates_of_an_app_without_a_user_loader(app):
    # What Flask does: a template sees current_user only if an extension injects it.
    app.get("/probe")(lambda: render_template_string(PROBE))
    assert app.test_client().get("/probe").text == "False True"


def test_current_user_appears_with_a_user_loader(app, users):
    app.user_loader(users.get)
    app.get("/probe")(lambda: render_template_string(PROBE))
    assert app.test_client().get("/probe").text == "True True"


def test_flask_jwt_extended_like_app_has_no_current_user_in_templates(app):
    """Flask-JWT-Extended defines a current_user proxy but no context processor: its test
    ``test_no_add_context_processor`` expects the name undefined in templates (#20)."""
    pytest.importorskip("flask_jwt_extended")
    from flask_jwt_extended import JWTManager, create_access_token, jwt_required

    app.config["JWT_SECRET_KEY"] = "a-secret-of-at-least-32-bytes-for-hs256!"
    jwt = JWTManager(app)

    @jwt.user_lookup_loader
    def lookup(header, data):
        return {"name": data["sub"]}

    @app.get("/page")
    @jwt_required()
    def page():
        return render_template_string("{{ current_user is defined }} {{ current_user | string }}")

    with app.app_context():
        token = create_access_token("ann")
    response = app.test_client().get("/page", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.text == "False "


# -- porting from Flask-Login: UserMixin, PASSWORD_HASH_METHOD -------------------------------


def test_user_mixin_is_what_flask_login_users_have(app):
    from batteries.auth import UserMixin

    class Member(UserMixin):
        def __init__(self, id):
            self.id = id

    class Banned(Member):
        is_active = False

    members = {"7": Member(7), "8": Banned(8)}
    app.user_loader(members.get)

    @app.get("/who")
    def who():
        return {
            "id": current_user.get_id(),
            "authenticated": current_user.is_authenticated,
            "anonymous": current_user.is_anonymous,
            "active": current_user.is_active,
        }

    @app.post("/in/<id>")
    def log_in(id):
        return {"ok": login_user(members[id])}

    member = members["7"]
    assert (member.is_authenticated, member.is_active, member.is_anonymous) == (True, True, False)
    assert member.get_id() == "7"
    client = app.test_client()
    assert client.post("/in/8").json == {"ok": False}  # inactive: refused, as Flask-Login does
    assert client.get("/who").json["anonymous"] is True
    assert client.post("/in/7").json == {"ok": True}
    assert client.get("/who").json == {
        "id": "7",
        "authenticated": True,
        "anonymous": False,
        "active": True,
    }
    with pytest.raises(NotImplementedError, match="override get_id"):
        UserMixin().get_id()


def test_password_hash_method_setting(app):
    assert app.config["PASSWORD_HASH_METHOD"] == "scrypt"
    app.config["PASSWORD_HASH_METHOD"] = "pbkdf2:sha256:1000"
    with app.app_context():
        fast = hash_password("pw")
        assert fast.startswith("pbkdf2:sha256:1000$")
        assert check_password(fast, "pw") and not check_password(fast, "px")
        assert check_password(None, "pw") is False  # the unknown-user hash uses the method too
    slow = hash_password("pw")  # no app context: the default
    assert slow.startswith("scrypt:")
    with app.app_context():  # a hash is checked by the method stored in it
        assert check_password(slow, "pw")
    app.config["PASSWORD_HASH_METHOD"] = "md5"
    with app.app_context(), pytest.raises(ValueError, match="md5"):
        hash_password("pw")


@pytest.mark.parametrize(
    ("method", "weak"),
    [
        ("scrypt", None),
        ("scrypt:32768:8:1", None),
        ("scrypt:16384:8:1", None),
        ("scrypt:1024:8:1", "n=1024"),
        ("pbkdf2", None),
        ("pbkdf2:sha256", None),
        ("pbkdf2:sha256:1000000", None),
        ("pbkdf2:sha256:1000", "1000 pbkdf2 iterations"),
        ("pbkdf2:sha256:many", "not a method"),
        ("md5", "not a method"),
        (7, "not a method name"),
    ],
)
def test_deploy_check_reports_a_weak_password_hash_method(app, method, weak):
    from batteries import checks

    app.config["PASSWORD_HASH_METHOD"] = method
    from batteries import passwords

    found = checks.run(app, passwords.DEPLOY_CHECKS)
    if weak is None:
        assert found == []
    else:
        (problem,) = found
        assert (problem.id, problem.level, problem.key) == (
            "batteries.E040",
            "error",
            "PASSWORD_HASH_METHOD",
        )
        assert weak in problem.message and "tests" in problem.hint

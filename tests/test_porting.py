"""docs/porting.md, tried: an app written for Flask-SQLAlchemy + Flask-Login runs on Batteries
after the guide's edits, and behaves as it did.

``NOTES_APP`` is a small notes app in the Flask-SQLAlchemy/Flask-Login style (``Model.query``,
``UserMixin``, ``LoginManager``, ``paginate``, ``get_or_404``). ``EDITS`` are the guide's edits,
each applied exactly once; the same scenario runs on the original (with the real
Flask-SQLAlchemy and Flask-Login) and on the port.
"""

from __future__ import annotations

import importlib.util
import sys
import typing as t
import uuid
from pathlib import Path

import pytest

#: the ported app says redirect(url) as Flask apps do: 302, 303 on Flask 3.2
REDIRECT = (302, 303)

NOTES_APP = '''
from flask import Blueprint, Flask, abort, jsonify, redirect, request, url_for
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from flask_sqlalchemy import SQLAlchemy
from werkzeug.security import check_password_hash, generate_password_hash

db = SQLAlchemy()
login = LoginManager()
login.login_view = "notes.sign_in"
bp = Blueprint("notes", __name__)


class User(UserMixin, db.Model):
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(40), unique=True, nullable=False)
    password_hash = db.Column(db.String(200))
    notes = db.relationship("Note", backref="owner")

    def set_password(self, password):
        self.password_hash = generate_password_hash(password)

    def check_password(self, password):
        return check_password_hash(self.password_hash, password)


class Note(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    text = db.Column(db.String(200), nullable=False)
    owner_id = db.Column(db.Integer, db.ForeignKey("user.id"), nullable=False)


@login.user_loader
def load_user(user_id):
    return db.session.get(User, int(user_id))


@bp.post("/register")
def register():
    user = User(name=request.form["name"])
    user.set_password(request.form["password"])
    db.session.add(user)
    db.session.commit()
    return {"id": user.id}, 201


@bp.route("/login", methods=["GET", "POST"])
def sign_in():
    if request.method == "GET":
        return "the login form"
    user = User.query.filter_by(name=request.form["name"]).first()
    if user is None or not user.check_password(request.form["password"]):
        abort(401)
    login_user(user)
    return redirect(url_for("notes.index"))


@bp.get("/logout")
def sign_out():
    logout_user()
    return redirect(url_for("notes.sign_in"))


@bp.get("/me")
def me():
    return {"authenticated": current_user.is_authenticated, "id": current_user.get_id()}


@bp.get("/notes")
@login_required
def index():
    page = (
        Note.query.filter_by(owner_id=current_user.id)
        .order_by(Note.id)
        .paginate(page=request.args.get("page", 1, type=int), per_page=5, error_out=False)
    )
    return jsonify(
        texts=[n.text for n in page.items],
        page=page.page,
        pages=page.pages,
        total=page.total,
        has_next=page.has_next,
    )


@bp.post("/notes")
@login_required
def add_note():
    db.session.add(Note(text=request.form["text"], owner=current_user._get_current_object()))
    db.session.commit()
    return "", 201


@bp.get("/notes/<int:note_id>")
@login_required
def note(note_id):
    found = Note.query.get_or_404(note_id)
    if found.owner_id != current_user.id:
        abort(403)
    return {"text": found.text, "by": found.owner.name}


def create_app(config):
    app = Flask(__name__)
    app.config.from_mapping(config)
    db.init_app(app)
    login.init_app(app)
    app.register_blueprint(bp)
    with app.app_context():
        db.create_all()
    return app
'''

#: The guide's edits (docs/porting.md), as this app spells them: (before, after).
EDITS: list[tuple[str, str]] = [
    # 1. Flask -> Batteries
    ("from flask import Blueprint, Flask, abort,", "from batteries import Batteries, Blueprint\nfrom flask import abort,"),
    ("    app = Flask(__name__)", "    app = Batteries(__name__)"),
    # 2. Flask-SQLAlchemy -> batteries' SQLAlchemy (db = SQLAlchemy() and db.init_app(app) stay)
    ("from flask_sqlalchemy import SQLAlchemy", "from batteries.sqla import SQLAlchemy"),
    # 3. Flask-Login -> batteries (UserMixin keeps its name)
    (
        "from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user",
        "from batteries import current_user, login_required, login_user, logout_user\n"
        "from batteries.auth import UserMixin",
    ),
    # 4. the LoginManager goes: login_view is LOGIN_VIEW, the loader is registered on bp
    ('login = LoginManager()\nlogin.login_view = "notes.sign_in"\n', ""),
    ("@login.user_loader", "@bp.user_loader"),
    ("    app.config.from_mapping(config)\n", '    app.config.from_mapping(config, LOGIN_VIEW="notes.sign_in")\n'),
    ("    login.init_app(app)\n", ""),
    # 5. (optional) Batteries' hashing, so PASSWORD_HASH_METHOD can speed the tests up
    (
        "from werkzeug.security import check_password_hash, generate_password_hash",
        "from batteries.auth import check_password, hash_password",
    ),
    ("generate_password_hash(password)", "hash_password(password)"),
    ("check_password_hash(self.password_hash, password)", "check_password(self.password_hash, password)"),
]


def ported(source: str) -> str:
    for before, after in EDITS:
        assert source.count(before) == 1, f"the edit of {before!r} does not apply exactly once"
        source = source.replace(before, after)
    return source


def load(source: str, folder: Path) -> t.Any:
    """Import ``source`` as a module of its own (a new name each time: two apps, two ``db``s)."""
    name = f"notes_app_{uuid.uuid4().hex[:8]}"
    path = folder / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


@pytest.fixture
def loaded(tmp_path):
    names: list[str] = []

    def _load(source: str) -> t.Any:
        module = load(source, tmp_path)
        names.append(module.__name__)
        return module

    yield _load
    for name in names:
        sys.modules.pop(name, None)


CONFIG = {"TESTING": True, "SECRET_KEY": "porting", "SQLALCHEMY_DATABASE_URI": "sqlite://"}


def scenario(app: t.Any) -> dict[str, t.Any]:
    """What a user sees of the app; both versions must see the same."""
    client = app.test_client()
    seen: dict[str, t.Any] = {}
    for name in ("ann", "bob"):
        assert client.post("/register", data={"name": name, "password": "pw " + name}).status_code == 201
    anonymous = client.get("/notes")
    # a redirect, whatever its code: Flask-Login says redirect() (302, 303 on Flask 3.2),
    # Batteries says 302 on both
    redirected = anonymous.status_code in REDIRECT
    seen["anonymous"] = (redirected, anonymous.headers["Location"].split("?")[0])
    seen["me anonymous"] = client.get("/me").json
    seen["wrong password"] = client.post("/login", data={"name": "ann", "password": "x"}).status_code
    assert client.post("/login", data={"name": "ann", "password": "pw ann"}).status_code in REDIRECT
    seen["me"] = client.get("/me").json
    for i in range(12):
        client.post("/notes", data={"text": f"note {i}"})
    seen["page 1"] = client.get("/notes").json
    seen["page 3"] = client.get("/notes?page=3").json
    seen["page 9"] = client.get("/notes?page=9").json
    seen["note 1"] = client.get("/notes/1").json
    seen["note 99"] = client.get("/notes/99").status_code
    client.get("/logout")
    seen["after logout"] = client.get("/notes").status_code in REDIRECT
    client.post("/login", data={"name": "bob", "password": "pw bob"})
    seen["bob on ann's note"] = client.get("/notes/1").status_code
    seen["bob's notes"] = client.get("/notes").json
    return seen


EXPECTED = {
    "anonymous": (True, "/login"),
    "me anonymous": {"authenticated": False, "id": None},
    "wrong password": 401,
    "me": {"authenticated": True, "id": "1"},
    "page 1": {
        "texts": [f"note {i}" for i in range(5)],
        "page": 1,
        "pages": 3,
        "total": 12,
        "has_next": True,
    },
    "page 3": {"texts": ["note 10", "note 11"], "page": 3, "pages": 3, "total": 12, "has_next": False},
    "page 9": {"texts": [], "page": 9, "pages": 3, "total": 12, "has_next": False},
    "note 1": {"text": "note 0", "by": "ann"},
    "note 99": 404,
    "after logout": True,
    "bob on ann's note": 403,
    "bob's notes": {"texts": [], "page": 1, "pages": 0, "total": 0, "has_next": False},
}


# Flask-SQLAlchemy's Query.get_or_404 calls the legacy Query.get (Batteries' uses Session.get).
@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.LegacyAPIWarning")
def test_the_original_runs_on_flask_sqlalchemy_and_flask_login(loaded):
    pytest.importorskip("flask_sqlalchemy")
    pytest.importorskip("flask_login")
    original = loaded(NOTES_APP)
    assert scenario(original.create_app(CONFIG)) == EXPECTED


def test_the_port_runs_on_batteries_with_the_guide_s_edits(loaded):
    from batteries import Batteries

    source = ported(NOTES_APP)
    assert "flask_sqlalchemy" not in source and "flask_login" not in source
    port = loaded(source)
    app = port.create_app({**CONFIG, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    assert isinstance(app, Batteries)
    assert scenario(app) == EXPECTED
    with app.app_context():
        ann = port.User.query.filter_by(name="ann").one()
        assert ann.password_hash.startswith("pbkdf2:sha256:1000$")  # the fast test method
        assert port.User.__tablename__ == "user" and port.Note.__tablename__ == "note"


def test_the_port_hashes_with_scrypt_when_the_setting_is_left_alone(loaded):
    port = loaded(ported(NOTES_APP))
    app = port.create_app(CONFIG)
    client = app.test_client()
    client.post("/register", data={"name": "cat", "password": "pw"})
    with app.app_context():
        assert port.User.query.one().password_hash.startswith("scrypt:")
    assert client.post("/login", data={"name": "cat", "password": "pw"}).status_code in REDIRECT
    assert client.get("/me").json == {"authenticated": True, "id": "1"}

"""``batteries.mongo`` through mongomock (no MongoDB server runs here).

MongoEngine's ``mongo_client_class`` hook swaps pymongo's client for ``mongomock.MongoClient``;
everything else (connection registration, querysets, ValidationError for bad ids) is the real
MongoEngine. The outage case uses pymongo's real client against a dead port.
"""

from __future__ import annotations

import gc
import socket
import subprocess
import sys

import mongoengine as me
import mongomock
import pytest
from werkzeug.exceptions import NotFound

from batteries import Batteries, mongo


class Post(me.Document):
    title = me.StringField(required=True)
    meta = {"collection": "posts"}


@pytest.fixture
def settings():
    return {"db": "blog", "host": "mongodb://127.0.0.1", "mongo_client_class": mongomock.MongoClient}


@pytest.fixture
def mongo_app(tmp_path, settings):
    # Set before construction (as instance/config.py would): connects on the first context.
    app = Batteries("mongo_app", root_path=str(tmp_path), instance_path=str(tmp_path / "i"))
    app.config.update(TESTING=True, MONGODB_SETTINGS=settings)
    mongo.init_app(app)

    @app.get("/posts/<id>")
    def show(id):
        return {"title": mongo.get_or_404(Post, id=id).title}

    @app.get("/first/<title>")
    def first(title):
        return {"id": str(mongo.first_or_404(Post.objects(title=title)).id)}

    @app.get("/first-by-id/<id>")
    def first_by_id(id):
        return {"title": mongo.first_or_404(Post, id=id).title}

    @app.post("/posts/<title>")
    def create(title):
        return {"id": str(Post(title=title).save().id)}, 201

    yield app
    with app.app_context():
        Post.drop_collection()
    mongo.disconnect(app)


def test_import_does_not_import_mongoengine(tmp_path):
    code = (
        "import sys, batteries\n"
        f"app = batteries.Batteries('x', root_path={str(tmp_path)!r})\n"
        "app.config['MONGODB_SETTINGS'] = {'db': 'x'}\n"
        "assert 'mongoengine' not in sys.modules and 'pymongo' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_connects_on_first_app_context_and_queries(mongo_app):
    client = mongo_app.test_client()
    created = client.post("/posts/hello")
    assert created.status_code == 201
    post_id = created.json["id"]
    assert client.get(f"/posts/{post_id}").json == {"title": "hello"}
    assert client.get("/first/hello").json == {"id": post_id}
    assert client.get(f"/first-by-id/{post_id}").json == {"title": "hello"}
    with mongo_app.app_context():
        assert mongo.connect().name == "blog"
        assert Post.objects.count() == 1


@pytest.mark.parametrize("bad", ["zzz", "1234", "0" * 25, "%00", "5f1d7f3c9b1e8a0001a1b2c3"])
def test_missing_or_malformed_ids_are_404(mongo_app, bad):
    client = mongo_app.test_client()
    client.post("/posts/hello")
    r = client.get(f"/posts/{bad}", headers={"Accept": "application/json"})
    assert r.status_code == 404
    assert r.json["message"] == "No such Post."
    assert client.get(f"/first-by-id/{bad}").status_code == 404
    assert client.get("/first/nothing").status_code == 404


def test_settings_set_after_construction_connect_on_first_use(tmp_path, settings):
    app = Batteries("late", root_path=str(tmp_path), instance_path=str(tmp_path / "i"))
    app.config["MONGODB_SETTINGS"] = {**settings, "db": "late", "alias": "late"}

    class Note(me.Document):
        text = me.StringField()
        meta = {"db_alias": "late"}

    with app.app_context():
        with pytest.raises(NotFound):
            mongo.first_or_404(Note)
        Note(text="x").save()
        assert mongo.get_or_404(Note, text="x").text == "x"
        assert mongo.connect(app).name == "late"
    mongo.disconnect(app)


def test_missing_settings_is_a_clear_error(app):
    with app.app_context(), pytest.raises(RuntimeError, match="MONGODB_SETTINGS"):
        mongo.connect()
    app.config["MONGODB_SETTINGS"] = ["not a dict"]
    with app.app_context(), pytest.raises(RuntimeError, match="must be dicts"):
        mongo.connect()


def test_list_of_aliases_and_defaults(app, settings):
    app.config["MONGODB_SETTINGS"] = [
        {**settings, "alias": "one", "db": "first"},
        {**settings, "alias": "two", "db": "second"},
    ]
    entries = mongo.settings_of(app)
    assert [e["alias"] for e in entries] == ["one", "two"]
    assert entries[0]["uuidRepresentation"] == "standard"
    assert entries[0]["serverSelectionTimeoutMS"] == 3000
    with app.app_context():
        assert mongo.connect().name == "first"
        assert me.get_db("two").name == "second"
    mongo.disconnect(app)


def test_aliases_disconnected_when_the_app_is_freed(tmp_path, settings):
    app = Batteries("freed", root_path=str(tmp_path), instance_path=str(tmp_path / "i"))
    app.config["MONGODB_SETTINGS"] = {**settings, "alias": "freed"}
    with app.app_context():
        mongo.connect()
    assert "freed" in me.connection._connection_settings
    del app
    gc.collect()
    assert "freed" not in me.connection._connection_settings


def test_second_app_with_other_settings_takes_the_alias(tmp_path, settings):
    one = Batteries("one", root_path=str(tmp_path / "1"), instance_path=str(tmp_path / "1i"))
    two = Batteries("two", root_path=str(tmp_path / "2"), instance_path=str(tmp_path / "2i"))
    one.config["MONGODB_SETTINGS"] = {**settings, "alias": "shared", "db": "db_one"}
    two.config["MONGODB_SETTINGS"] = {**settings, "alias": "shared", "db": "db_two"}
    with one.app_context():
        assert mongo.connect().name == "db_one"
    with two.app_context():
        assert mongo.connect().name == "db_two"
    with one.app_context():
        assert mongo.connect().name == "db_one"
    mongo.disconnect(one)


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_down_is_503_naming_mongodb(tmp_path):
    app = Batteries("down", root_path=str(tmp_path), instance_path=str(tmp_path / "i"))
    app.config.update(
        TESTING=True,
        MONGODB_SETTINGS={
            "db": "x",
            "alias": "down",
            "host": f"mongodb://127.0.0.1:{_dead_port()}",
            "serverSelectionTimeoutMS": 200,
        },
    )

    class Thing(me.Document):
        meta = {"db_alias": "down"}

    @app.get("/things/<id>")
    def thing(id):
        return {"id": str(mongo.get_or_404(Thing, id=id).id)}

    r = app.test_client().get("/things/5f1d7f3c9b1e8a0001a1b2c3", headers={"Accept": "application/json"})
    assert r.status_code == 503
    assert "MongoDB" in r.json["message"] and "MONGODB_SETTINGS" in r.json["message"]
    assert r.headers["Retry-After"] == "5"
    mongo.disconnect(app)

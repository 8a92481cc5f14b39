"""Each touch of a dependency's non-public API (``batteries._compat``) tested on its own.

A test here fails loudly when Flask, Werkzeug, Celery, kombu or cachelib changes what the touch
relies on, so the break shows in this file rather than as a wrong behaviour somewhere else.
"""

from __future__ import annotations

import pytest
from werkzeug.routing import Map, Rule

from batteries import _compat

# -- Flask -----------------------------------------------------------------------------------


def test_update_template_context_fills_in_context_processors_on_this_flask():
    from flask import Flask, g

    app = Flask("seam")
    app.context_processor(lambda: {"from_processor": 1, "given": "processor"})
    with app.test_request_context("/"):
        g.x = 1
        context = {"given": "caller"}
        _compat.update_template_context(app, context)
    assert context["from_processor"] == 1
    assert context["given"] == "caller"  # what the caller passed wins, as in render_template
    assert "request" in context and "g" in context


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


def _rule_in_map(cls: type[Rule], rule: str = "/a/<int:id>") -> Rule:
    made = cls(rule, endpoint="a")
    Map([made])
    return made


def test_werkzeug_rule_compile_asks_compile_builder_for_both_builders():
    asked = []

    class Spy(Rule):
        def _compile_builder(self, append_unknown=True):
            asked.append(append_unknown)
            return super()._compile_builder(append_unknown)

    rule = _rule_in_map(Spy)
    assert sorted(asked) == [False, True]
    # stored where build() looks, as functions bound to the rule
    assert vars(rule)["_build"].__self__ is rule
    assert vars(rule)["_build_unknown"].__self__ is rule


def test_werkzeug_rule_build_calls_the_stored_builders():
    rule = _rule_in_map(Rule)
    rule._build = lambda **values: ("", "known")
    rule._build_unknown = lambda **values: ("", "unknown")
    assert rule.build({"id": 1}, append_unknown=False) == ("", "known")
    assert rule.build({"id": 1}) == ("", "unknown")


def test_compile_rule_builder_stores_werkzeugs_builder():
    rule = _rule_in_map(Rule)
    builder = _compat.compile_rule_builder(rule, True)
    assert vars(rule)["_build_unknown"] is builder and builder.__self__ is rule
    assert rule.build({"id": 3, "q": "x"}) == ("", "/a/3?q=x")
    assert _compat.compile_rule_builder(rule, False)(id=4) == ("", "/a/4")


def test_deferred_builder_rule_compiles_builders_on_first_build_only():
    rule = _rule_in_map(_compat.DeferredBuilderRule)
    stand_in = vars(rule)["_build_unknown"]
    assert stand_in.__func__.__module__ == "batteries._compat"
    assert rule.build({"id": 3, "q": "x"}) == ("", "/a/3?q=x")
    compiled = vars(rule)["_build_unknown"]
    assert compiled is not stand_in and compiled.__self__ is rule
    assert rule.build({"id": 4}) == ("", "/a/4")
    assert vars(rule)["_build_unknown"] is compiled
    assert rule.build({"id": 5}, append_unknown=False) == ("", "/a/5")
    # a URL variable called "self" still builds (the stand-in takes the rule positionally)
    odd = _rule_in_map(_compat.DeferredBuilderRule, "/s/<self>")
    assert odd.build({"self": "x"}) == ("", "/s/x")


# -- Celery and kombu ------------------------------------------------------------------------


def test_celery_thread_app_reads_what_set_current_writes():
    from celery import Celery

    from batteries import _compat

    before = _compat.celery_thread_app()
    mine = Celery("seam-read", set_as_current=False)
    try:
        mine.set_current()
        assert _compat.celery_thread_app() is mine
    finally:
        if before is None:
            _compat.clear_celery_thread_app()
        else:
            before.set_current()  # type: ignore[attr-defined]
    assert _compat.celery_thread_app() is before


def test_clear_celery_thread_app_falls_back_to_the_default_app():
    import threading

    from celery import Celery, current_app

    from batteries import _compat

    seen = {}

    def in_a_thread():  # a thread of its own: the test's thread state is left alone
        previous_default = current_app._get_current_object()  # a new thread: the default app
        default = Celery("seam-default", set_as_current=False)
        default.set_default()
        current = Celery("seam-current", set_as_current=False)
        current.set_current()
        seen["set"] = current_app.main
        _compat.clear_celery_thread_app()
        seen["cleared"] = _compat.celery_thread_app()
        seen["falls back"] = current_app.main
        previous_default.set_default()

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert seen == {"set": "seam-current", "cleared": None, "falls back": "seam-default"}


# -- cachelib, SQLite, others ----------------------------------------------------------------


def test_is_plain_select_sees_each_clause_sqlalchemy_keeps():
    from sqlalchemy import column, func, select, table

    t = table("t", column("a"), column("b"))
    base = select(t.c.a).where(t.c.b > 1).order_by(t.c.a)
    assert _compat.is_plain_select(base)
    assert _compat.is_plain_select(base.join(table("u", column("a")), t.c.a == column("a")))
    for changed in (
        base.distinct(),
        base.group_by(t.c.a),
        base.group_by(t.c.a).having(func.count() > 1),
        base.limit(3),
        base.offset(3),
    ):
        assert not _compat.is_plain_select(changed), changed


def test_cachelib_base_cache_builds_its_many_methods_on_get_set_delete() -> None:
    """``batteries.filecache.FileCache`` implements get/set/add/delete/has/clear only and relies
    on ``cachelib.BaseCache``'s public ``get_many``/``set_many``/``inc``/``dec`` calling them."""
    from cachelib import BaseCache

    calls: list[str] = []

    class Recording(BaseCache):
        store: dict[str, object] = {}

        def get(self, key):
            calls.append("get")
            return self.store.get(key)

        def set(self, key, value, timeout=None):
            calls.append("set")
            self.store[key] = value
            return True

    cache = Recording()
    assert cache.set_many({"a": 1}) == ["a"]
    assert cache.get_many("a", "b") == [1, None]
    assert cache.inc("a") == 2
    assert calls == ["set", "get", "get", "get", "set"]


def test_flat_globals_template_builds_the_context_jinja_builds():
    from jinja2 import DictLoader, Environment, Template

    env = Environment(loader=DictLoader({"p.html": "{{ g1 }} {{ x }} {% block b %}{{ late }}{% endblock %}"}))
    env.globals.update(g1="one", late="?")
    env.template_class = _compat.FlatGlobalsTemplate
    template = env.get_template("p.html")
    assert isinstance(template, _compat.FlatGlobalsTemplate)
    ours = template.new_context({"x": 2})
    theirs = Template.new_context(template, {"x": 2})
    assert type(ours) is type(theirs)
    assert ours.parent == theirs.parent and ours.vars == theirs.vars
    assert (ours.name, ours.environment, ours.globals_keys) == (
        theirs.name, theirs.environment, theirs.globals_keys
    )  # fmt: skip
    assert ours.blocks.keys() == theirs.blocks.keys()
    assert vars(ours.eval_ctx) == vars(theirs.eval_ctx)
    assert template.render(x=2) == "one 2 ?"
    env.globals["late"] = "added after loading"  # the environment's globals stay live
    assert template.render(x=3) == "one 3 added after loading"
    # a template with globals of its own, and shared/locals contexts, take Jinja's own path
    own = env.from_string("{{ g1 }} {{ mine }}", globals={"mine": "own"})
    assert own.render() == "one own"
    assert template.new_context({"x": 1}, shared=True).parent == {"x": 1}
    assert template.new_context({}, locals={"l_0_x": 5}).parent["l_0_x"] == 5


def test_result_needs_unique_sees_joined_eager_collections():
    from sqlalchemy import Column, ForeignKey, Integer, create_engine, select
    from sqlalchemy.orm import DeclarativeBase, Session, joinedload, relationship

    class Base(DeclarativeBase):
        pass

    class Kid(Base):
        __tablename__ = "kids"
        id = Column(Integer, primary_key=True)
        parent_id = Column(ForeignKey("parents.id"))

    class Parent(Base):
        __tablename__ = "parents"
        id = Column(Integer, primary_key=True)
        kids = relationship(Kid)

    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Parent(kids=[Kid(), Kid()]))
        session.commit()
        eager = session.execute(select(Parent).options(joinedload(Parent.kids)))
        assert _compat.result_needs_unique(eager)
        with pytest.raises(Exception, match="unique"):
            eager.scalars().all()  # what SQLAlchemy does without unique(): the flag is real
        assert not _compat.result_needs_unique(session.execute(select(Parent)))



class SharingBuilder:
    """A stand-in shaped as Werkzeug main's EnvironBuilder: ``_form``/``_files`` are class-level
    defaults; ``__init__`` sets ``input_stream`` (whose setter clears them) and adds files to
    ``files``; ``close`` (also run by ``__del__``) closes every file in ``files``."""

    def __init__(self, data=None):
        from werkzeug.datastructures import FileMultiDict, MultiDict

        cls = type(self)
        if "_files" not in cls.__dict__:
            cls._form, cls._files = MultiDict(), FileMultiDict()
        self.input_stream = None
        for key, (stream, name) in (data or {}).items():
            self.files.add_file(key, stream, name)

    @property
    def input_stream(self):
        return None

    @input_stream.setter
    def input_stream(self, value):
        self._form.clear()
        self._files.clear()

    @property
    def files(self):
        return self._files

    @property
    def form(self):
        return self._form

    def close(self):
        for values in self._files.listvalues():
            for value in values:
                value.close()


def test_builders_that_share_files_get_their_own():
    """Werkzeug 3.2.dev's builders share one dict of files, so one closes another's
    (reproduced on the stand-in); the shim gives each builder its own dicts, once."""
    import io

    class Builder(SharingBuilder):
        pass

    assert _compat.builders_share_files(Builder)
    old = Builder({"a": (io.BytesIO(b"old"), "a.txt")})
    fresh = io.BytesIO(b"fresh")
    new = Builder({"b": (fresh, "b.txt")})
    old.close()  # what the collector does with a builder nobody holds
    assert fresh.closed  # the bug

    class Fixed(SharingBuilder):
        pass

    assert _compat.give_builders_their_own_files(Fixed) is True
    assert not _compat.builders_share_files(Fixed)
    assert _compat.give_builders_their_own_files(Fixed) is False  # nothing left to do
    old = Fixed({"a": (io.BytesIO(b"old"), "a.txt")})
    fresh = io.BytesIO(b"fresh")
    new = Fixed({"b": (fresh, "b.txt")})
    old.close()
    assert not fresh.closed
    assert list(new.files) == ["b"] and list(old.files) == ["a"]


def test_this_werkzeugs_builders_do_not_share_files_once_the_plugin_ran():
    """The plugin ran before this session's tests (on Werkzeug 3.1 there was nothing to do; on
    3.2.dev it gave each builder its own dicts): no two builders share their files."""
    assert not _compat.builders_share_files()
    assert _compat.give_builders_their_own_files() is False

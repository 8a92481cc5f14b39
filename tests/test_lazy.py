"""Lazily loaded views (``app.lazy_url``, ``LazyView``) and the lazy URL map (``LazyRule``)."""

from __future__ import annotations

import logging
import sys
import textwrap

import flask
import pytest
from flask import url_for
from werkzeug.routing import BuildError, Rule

from batteries import Batteries, Blueprint, LazyView
from batteries.cli import cli
from batteries.lazy import LazyRule, LazyViewError, check_lazy_views, resolve_import_name


@pytest.fixture
def views_pkg(tmp_path, monkeypatch):
    """A package ``lazypkg`` with view modules, importable for the test, forgotten after."""
    pkg = tmp_path / "lazypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "views.py").write_text(
        textwrap.dedent(
            """
            from flask import request
            IMPORTS = []
            IMPORTS.append(1)

            def index():
                return "index view"

            def show(id):
                return f"show {id} {request.method}"

            async def slow():
                return "async view"

            not_callable = 42
            """
        )
    )
    (pkg / "broken.py").write_text("import does_not_exist_anywhere\n")
    (pkg / "shop.py").write_text("# the module that makes the shop blueprint\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield pkg
    for name in list(sys.modules):
        if name == "lazypkg" or name.startswith("lazypkg."):
            del sys.modules[name]


def test_lazy_view_is_imported_on_first_request_only(app, views_pkg):
    app.lazy_url("lazypkg.views.index", "/")
    app.lazy_url("lazypkg.views.show", ["/show/<int:id>", "/s/<int:id>"], methods=["GET", "POST"])
    assert "lazypkg.views" not in sys.modules
    with app.test_request_context():
        assert url_for("index") == "/"
        assert url_for("show", id=3) in ("/show/3", "/s/3")
    assert "lazypkg.views" not in sys.modules

    client = app.test_client()
    assert client.get("/").text == "index view"
    assert "lazypkg.views" in sys.modules
    assert client.post("/s/7").text == "show 7 POST"
    assert client.get("/show/8").text == "show 8 GET"
    assert client.put("/show/8").status_code == 405
    assert client.get("/show/x").status_code == 404
    assert sys.modules["lazypkg.views"].IMPORTS == [1]


def test_after_first_request_the_real_view_is_called_directly(app, views_pkg):
    view = app.lazy_url("lazypkg.views.index", "/")
    assert app.view_functions["index"] is view
    assert not view.loaded
    assert app.test_client().get("/").status_code == 200
    assert view.loaded
    assert app.view_functions["index"] is sys.modules["lazypkg.views"].index


def test_relative_import_name_uses_the_app_package(tmp_path, views_pkg):
    import lazypkg  # noqa: F401  (the app lives in this package)

    app = Batteries("lazypkg", root_path=str(tmp_path))
    app.lazy_url(".views.index", "/")
    app.lazy_url(".views.show", "/show/<int:id>", endpoint="detail")
    assert app.view_functions["index"] == LazyView("lazypkg.views.index")
    assert app.test_client().get("/").text == "index view"
    assert app.test_client().get("/show/5").text == "show 5 GET"


def test_relative_name_of_a_module_app_resolves_to_its_package(views_pkg):
    import lazypkg.views  # noqa: F401

    assert resolve_import_name(".views.index", "lazypkg.views") == "lazypkg.views.index"
    # a name that is not imported counts as a package
    assert resolve_import_name("..x.y", "lazypkg.sub.views") == "lazypkg.sub.x.y"


def test_relative_name_without_a_package_is_a_clear_error(monkeypatch):
    import types

    # A top-level module (a script): not in a package. ("__main__" itself is in the package
    # "pytest" under `python -m pytest`, so a module of our own stands for the script.)
    script = types.ModuleType("lonely_script")
    script.__package__ = ""
    monkeypatch.setitem(sys.modules, "lonely_script", script)
    with pytest.raises(ValueError, match="not in a package"):
        resolve_import_name(".views.index", "lonely_script")
    with pytest.raises(ValueError, match="needs package"):
        LazyView(".views.index")
    with pytest.raises(ValueError, match="pkg.views.index"):
        LazyView("index")
    with pytest.raises(ValueError):
        resolve_import_name("...", "x")


def test_blueprint_lazy_url(app, views_pkg):
    import lazypkg.shop  # noqa: F401  (the blueprint's module)

    bp = Blueprint("shop", "lazypkg.shop", url_prefix="/shop")
    bp.lazy_url("lazypkg.views.index", "/")
    bp.lazy_url(".views.show", "/item/<int:id>")
    app.register_blueprint(bp)
    with app.test_request_context():
        assert url_for("shop.index") == "/shop/"
        assert url_for("shop.show", id=2) == "/shop/item/2"
    client = app.test_client()
    assert client.get("/shop/").text == "index view"
    assert client.get("/shop/item/2").text == "show 2 GET"


def test_same_path_twice_is_not_a_collision(app, views_pkg):
    app.lazy_url("lazypkg.views.index", "/")
    app.lazy_url("lazypkg.views.index", "/home")
    assert LazyView("lazypkg.views.index") == LazyView("lazypkg.views.index")
    assert hash(LazyView("a.b")) == hash(LazyView("a.b"))
    assert LazyView("a.b") != LazyView("a.c")
    with pytest.raises(AssertionError, match="overwriting"):
        app.lazy_url("lazypkg.views.show", "/other", endpoint="index")


def test_colon_form_and_endpoint_option(app, views_pkg):
    app.lazy_url("lazypkg.views:index", "/", endpoint="home")
    assert "home" in app.view_functions
    assert app.test_client().get("/").text == "index view"


def test_adding_a_rule_does_not_probe_the_module(app, views_pkg):
    view = LazyView("lazypkg.views.index")
    # Flask probes methods/required_methods/provide_automatic_options: must not import.
    app.add_url_rule("/", view_func=view)
    assert "lazypkg.views" not in sys.modules
    assert not hasattr(view, "methods")


def test_async_lazy_view(app, views_pkg):
    pytest.importorskip("asgiref")
    app.lazy_url("lazypkg.views.slow", "/slow")
    assert app.test_client().get("/slow").text == "async view"
    assert app.test_client().get("/slow").text == "async view"


@pytest.mark.parametrize(
    ("import_name", "words"),
    [
        ("lazypkg.nothere.index", ["lazypkg.nothere.index", "lazypkg.nothere"]),
        ("lazypkg.views.missing", ["lazypkg.views.missing", "no attribute 'missing'"]),
        ("lazypkg.broken.index", ["lazypkg.broken.index", "does_not_exist_anywhere"]),
        ("lazypkg.views.not_callable", ["lazypkg.views.not_callable", "not callable"]),
    ],
)
def test_import_error_is_a_500_naming_the_path(app, views_pkg, caplog, import_name, words):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.lazy_url(import_name, "/x", endpoint="x")
    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/x")
    assert response.status_code == 500
    logged = "\n".join(
        str(r.exc_info[1]) if r.exc_info else r.getMessage() for r in caplog.records
    )
    for word in words:
        assert word in logged
    # JSON clients get a JSON 500, never a traceback
    response = app.test_client().get("/x", headers={"Accept": "application/json"})
    assert response.status_code == 500
    assert "Traceback" not in response.text


def test_import_error_propagates_in_testing_and_is_retried(app, views_pkg):
    app.lazy_url("lazypkg.later.index", "/", endpoint="index")
    with pytest.raises(LazyViewError, match="lazypkg.later.index"):
        app.test_client().get("/")
    (views_pkg / "later.py").write_text("def index():\n    return 'fixed'\n")
    import importlib

    importlib.invalidate_caches()
    assert app.test_client().get("/").text == "fixed"


def test_check_lazy_views(app, views_pkg):
    app.lazy_url("lazypkg.views.index", "/")
    app.lazy_url("lazypkg.views.typo", "/t")
    app.lazy_url("lazypkg.broken.index", "/b", endpoint="b")
    failures = check_lazy_views(app)
    assert [(f[0], f[1]) for f in failures] == [
        ("b", "lazypkg.broken.index"),
        ("typo", "lazypkg.views.typo"),
    ]


def _cli_app(tmp_path, body: str):
    (tmp_path / "cliapp.py").write_text(
        "from batteries import Batteries\napp = Batteries(__name__)\n" + body
    )
    return tmp_path


def test_routes_check_command(tmp_path, views_pkg, monkeypatch):
    from click.testing import CliRunner

    folder = _cli_app(
        tmp_path,
        "app.lazy_url('lazypkg.views.index', '/')\napp.lazy_url('lazypkg.views.typo', '/t')\n",
    )
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    runner = CliRunner()
    result = runner.invoke(cli, ["--app", "cliapp", "routes", "--check"])
    assert result.exit_code == 1, result.output
    assert "lazypkg.views.typo" in result.output
    assert "lazypkg.views.index" not in "".join(
        line for line in result.output.splitlines() if line.startswith("ERROR")
    )
    # without --check: the table, no import
    sys.modules.pop("cliapp", None)
    result = runner.invoke(cli, ["--app", "cliapp", "routes"])
    assert result.exit_code == 0, result.output
    assert "typo" in result.output


def test_routes_check_passes_when_all_import(tmp_path, views_pkg, monkeypatch):
    from click.testing import CliRunner

    folder = _cli_app(tmp_path, "app.lazy_url('lazypkg.views.index', '/')\n")
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    sys.modules.pop("cliapp", None)
    result = CliRunner().invoke(cli, ["--app", "cliapp", "routes", "--check"])
    assert result.exit_code == 0, result.output
    assert "1 lazy view checked" in result.output
    sys.modules.pop("cliapp", None)


# -- LazyRule --------------------------------------------------------------------------------


def test_batteries_uses_the_lazy_rule(app):
    # How the builders wait is tested with the Werkzeug touch (test_compat_seams.py).
    assert app.url_rule_class is LazyRule
    app.add_url_rule("/a/<int:id>", "a", lambda id: str(id))
    with app.test_request_context():
        assert url_for("a", id=3, q="x") == "/a/3?q=x"
        assert url_for("a", id=4) == "/a/4"


def test_lazy_rule_builds_like_werkzeugs(app):
    plain = flask.Flask("plain")
    def view(**kwargs):
        return ""

    for target in (app, plain):
        target.add_url_rule("/p/<path:rest>/<int(min=1):n>", "p", view)
        target.add_url_rule("/d/", "d", view, defaults={"page": 1})
        target.add_url_rule("/d/<int:page>", "d", view)
        target.add_url_rule("/<self>", "s", view)
    urls = []
    for target in (app, plain):
        with target.test_request_context():
            urls.append(
                (
                    url_for("p", rest="a/b c", n=2),
                    url_for("d"),
                    url_for("d", page=3),
                    url_for("s", self="me"),
                    url_for("p", rest="x", n=1, _external=True),
                )
            )
            with pytest.raises(BuildError):
                url_for("p", rest="x")
    assert urls[0] == urls[1]


def test_converter_errors_stay_at_add_url_rule(app):
    with pytest.raises(LookupError, match="nosuch"):
        app.add_url_rule("/x/<nosuch:a>", "x", lambda a: "")
    with pytest.raises(Exception):  # noqa: B017  (Werkzeug's own error type for bad arguments)
        app.add_url_rule("/y/<int(bad=:a>", "y", lambda a: "")


def test_lazy_rule_matches_and_redirects_like_a_rule(app):
    app.add_url_rule("/dir/", "dir", lambda: "dir")
    client = app.test_client()
    assert client.get("/dir/").text == "dir"
    response = client.get("/dir")
    assert response.status_code == 308
    assert response.headers["Location"].endswith("/dir/")
    assert issubclass(LazyRule, Rule)
    assert LazyRule("/a").empty().__class__ is LazyRule

"""The favicon and ``batteries.js``, served without a registered route (``batteries.assets``)."""

from __future__ import annotations

import pytest

from batteries import Batteries

ICON = b"\x00\x00\x01\x00\x01\x00\x10\x10"


def get(app, path, **kwargs):
    with app.test_client().get(path, **kwargs) as response:
        response.get_data()
        return response


@pytest.fixture
def icon(app, tmp_path):
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "favicon.ico").write_bytes(ICON)
    return app


def test_favicon_present(icon):
    response = get(icon, "/favicon.ico")
    assert response.status_code == 200
    assert response.mimetype == "image/vnd.microsoft.icon"
    assert response.get_data() == ICON


def test_favicon_head(icon):
    with icon.test_client().head("/favicon.ico") as response:
        assert response.status_code == 200
        assert response.get_data() == b""


def test_favicon_absent_is_404(app):
    assert get(app, "/favicon.ico").status_code == 404


def test_favicon_without_static_folder_is_404(tmp_path):
    app = Batteries("nostatic", root_path=str(tmp_path), static_folder=None)
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "favicon.ico").write_bytes(ICON)
    assert get(app, "/favicon.ico").status_code == 404


def test_favicon_config_off(icon):
    icon.config["FAVICON"] = False
    assert get(icon, "/favicon.ico").status_code == 404


def test_a_user_route_wins(icon):
    @icon.route("/favicon.ico")
    def mine():
        return "my icon"

    assert get(icon, "/favicon.ico").text == "my icon"


def test_no_endpoint_registered(icon):
    assert "favicon" not in icon.view_functions
    assert not any("favicon" in rule.rule for rule in icon.url_map.iter_rules())
    assert not any("_batteries" in rule.rule for rule in icon.url_map.iter_rules())


def test_works_under_script_name(icon):
    response = get(icon, "/favicon.ico", environ_overrides={"SCRIPT_NAME": "/mount"})
    assert response.status_code == 200
    assert response.get_data() == ICON


def test_post_is_not_served(icon):
    assert icon.test_client().post("/favicon.ico").status_code in (404, 405)


def test_batteries_js(app):
    response = get(app, "/_batteries/batteries.js")
    assert response.status_code == 200
    assert "javascript" in response.mimetype
    body = response.text
    for name in ("fetchJSON", "Batteries.replace", "Batteries.url", "X-CSRFToken"):
        assert name in body
    assert "max-age=3600" in response.headers["Cache-Control"]
    assert get(app, "/_batteries/batteries.js", environ_overrides={"SCRIPT_NAME": "/m"}).status_code == 200


def test_batteries_static_url_setting(app):
    app.config["BATTERIES_STATIC_URL"] = "/assets/b"
    assert get(app, "/assets/b/batteries.js").status_code == 200
    assert get(app, "/_batteries/batteries.js").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/_batteries/nothere.js",
        "/_batteries/",
        "/_batteries/../assets.py",
        "/_batteries/%2e%2e/assets.py",
        "/_batteries/..%2fassets.py",
    ],
)
def test_package_files_404_and_no_traversal(app, path):
    response = get(app, path)
    assert response.status_code == 404


# -- batteries.js behaviour (run under Node with a stubbed DOM and fetch) ---------------------

JS_HARNESS = r"""
const fs = require("fs");
global.window = globalThis;
const calls = [];
let answers = [];
const urls = {
  user: [{pattern: "/app/user/{id}", args: ["id"]}],
  files: [{pattern: "/files/{name}", args: ["name"], raw: ["name"]}],
  page: [{pattern: "/{lang_code}/page/{n}", args: ["lang_code", "n"]},
         {pattern: "/{lang_code}/page", args: ["lang_code"]}],
  home: [{pattern: "/{lang_code}/", args: ["lang_code"], defaults: {lang_code: "fr"}}],
};
const target = {innerHTML: "old"};
global.document = {
  querySelector(sel) {
    if (sel === 'meta[name="csrf-token"]') return {getAttribute: () => "TOKEN"};
    if (sel === "#box") return target;
    return null;
  },
  getElementById(id) { return id === "batteries-urls" ? {textContent: JSON.stringify(urls)} : null; },
};
global.location = {assigned: null, assign(u) { this.assigned = u; }};
global.fetch = async (url, init) => {
  calls.push({url, init});
  const a = answers.shift();
  const r = new Response(a.body, {status: a.status || 200, headers: a.headers || {}});
  if (a.redirected) {
    Object.defineProperty(r, "redirected", {value: true});
    Object.defineProperty(r, "url", {value: a.url});
  }
  return r;
};
eval(fs.readFileSync(process.argv[2], "utf8"));
const B = window.Batteries;
const out = {};
(async () => {
  out.url1 = B.url("user", {id: 3, tab: "a b"});
  out.url2 = B.url("files", {name: "a b/c d"});
  out.url3 = B.url("page", {lang_code: "de", n: 2});
  out.url4 = B.url("page", {lang_code: "de"});
  out.url5 = B.url("home");
  try { B.url("nope"); } catch (e) { out.unknown = e.message; }
  try { B.url("user", {}); } catch (e) { out.missing = e.message; }

  answers.push({body: JSON.stringify({ok: 1}), headers: {"Content-Type": "application/json"}});
  out.post = await B.fetchJSON("/api/x", {data: {a: 1}});
  out.postInit = calls[0].init;

  answers.push({body: JSON.stringify({error: "Bad Request", message: "name is missing", status: 400}),
                status: 400, headers: {"Content-Type": "application/json"}});
  try { await B.fetchJSON("/api/x", {method: "put", data: {}}); }
  catch (e) { out.err = {message: e.message, status: e.status, body: e.body}; }

  answers.push({body: "<html>page</html>", headers: {"Content-Type": "text/html"},
                redirected: true, url: "http://x/next"});
  out.redirect = await B.fetchJSON("/login", {data: {u: 1}});
  out.assigned = location.assigned;

  answers.push({body: JSON.stringify([1]), headers: {"Content-Type": "application/json"}});
  out.get = await B.fetchJSON("/api/list");
  out.getInit = calls[3].init;

  answers.push({body: "<p>new</p>", headers: {"Content-Type": "text/html"}});
  await B.replace("#box", "/fragment");
  out.replaced = target.innerHTML;
  answers.push({body: "nope", status: 500});
  try { await B.replace("#box", "/fragment"); } catch (e) { out.replaceErr = e.status; }
  out.after = target.innerHTML;
  try { await B.replace("#none", "/x"); } catch (e) { out.noTarget = e.message; }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
"""


def test_batteries_js_behaviour(tmp_path):
    import json
    import shutil
    import subprocess

    from batteries.assets import PACKAGE_STATIC

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = tmp_path / "harness.js"
    script.write_text(JS_HARNESS)
    done = subprocess.run(
        [node, str(script), f"{PACKAGE_STATIC}/batteries.js"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["url1"] == "/app/user/3?tab=a%20b"
    assert out["url2"] == "/files/a%20b/c%20d"
    assert out["url3"] == "/de/page/2"
    assert out["url4"] == "/de/page"
    assert out["url5"] == "/fr/"
    assert "nope" in out["unknown"]
    assert "id" in out["missing"]
    assert out["post"] == {"ok": 1}
    init = out["postInit"]
    assert init["method"] == "POST"
    assert init["headers"]["X-CSRFToken"] == "TOKEN"
    assert init["headers"]["Content-Type"] == "application/json"
    assert init["headers"]["Accept"] == "application/json"
    assert json.loads(init["body"]) == {"a": 1}
    assert out["err"] == {
        "message": "name is missing",
        "status": 400,
        "body": {"error": "Bad Request", "message": "name is missing", "status": 400},
    }
    assert out["redirect"]["redirected"] is True
    assert out["redirect"]["location"] == "http://x/next"
    assert out["assigned"] == "http://x/next"
    assert out["get"] == [1]
    assert "X-CSRFToken" not in out["getInit"]["headers"]
    assert "body" not in out["getInit"]
    assert out["replaced"] == "<p>new</p>"
    assert out["replaceErr"] == 500
    assert out["after"] == "<p>new</p>"
    assert "#none" in out["noTarget"]

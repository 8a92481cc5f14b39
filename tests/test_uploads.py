"""batteries.uploads: save_upload, send_upload, limits, failures that leave nothing behind."""

from __future__ import annotations

import base64
import errno
import hashlib
import io
import json
import logging
import os
import re

import pytest
from flask import request
from werkzeug.datastructures import FileStorage
from werkzeug.test import EnvironBuilder, run_wsgi_app

from batteries import uploads
from batteries.signals import upload_saved
from batteries.uploads import UploadNotAllowed, save_upload, send_upload, split_name

NAME = re.compile(r"^[0-9a-f]{32}-[A-Za-z0-9_.-]+\.[a-z0-9]+$")


@pytest.fixture
def app(app):
    @app.post("/upload")
    def upload():
        kwargs = {}
        if request.args.get("folder"):
            kwargs["folder"] = request.args["folder"]
        if request.args.get("allowed"):
            kwargs["allowed"] = request.args["allowed"].split(",")
        return {"name": save_upload(request.files.get("file"), **kwargs)}

    @app.get("/uploads/<path:name>")
    def download(name):
        return send_upload(name)

    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def folder(app):
    return os.path.join(app.instance_path, "uploads")


def post(client, content: bytes, filename: str, url: str = "/upload", **kwargs):
    return client.post(url, data={"file": (io.BytesIO(content), filename)}, **kwargs)


def stored(folder: str) -> list[str]:
    if not os.path.isdir(folder):
        return []
    return sorted(os.listdir(folder))


def test_save_and_send(app, client, folder):
    assert not os.path.exists(folder)  # created on demand
    seen = []
    with upload_saved.connected_to(lambda sender, **extra: seen.append((sender, extra))):
        name = post(client, b"hello", "report.TXT").json["name"]
    assert NAME.match(name) and name.endswith("-report.txt")
    with open(os.path.join(folder, name), "rb") as f:
        assert f.read() == b"hello"
    assert seen == [(app, {"name": name, "path": os.path.join(folder, name)})]

    with client.get(f"/uploads/{name}") as response:
        assert response.data == b"hello"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Disposition"].startswith("attachment")


def test_images_are_inline(client):
    name = post(client, b"\x89PNG fake", "pic.png").json["name"]
    with client.get(f"/uploads/{name}") as response:
        assert response.headers["Content-Disposition"].startswith("inline")
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_names_never_collide(client, folder):
    names = {post(client, str(i).encode(), "same.txt").json["name"] for i in range(3)}
    assert len(names) == 3 and stored(folder) == sorted(names)


@pytest.mark.parametrize(
    "filename, suffix",
    [
        ("../../x.txt", "-x.txt"),
        ("..\\..\\windows.txt", "-windows.txt"),
        ("/etc/passwd.txt", "-passwd.txt"),
        ("中文.txt", "-file.txt"),
        ("ｒｅｐｏｒｔ．ＰＤＦ", "-report.pdf"),  # full-width: NFKC makes it report.PDF
        ("...hidden.txt", "-hidden.txt"),
        ("a" * 300 + ".gif", "-" + "a" * 100 + ".gif"),
    ],
)
def test_names_are_made_safe(client, folder, tmp_path, filename, suffix):
    response = post(client, b"data", filename)
    assert response.status_code == 200, response.data
    name = response.json["name"]
    assert NAME.match(name) and name.endswith(suffix)
    assert stored(folder) == [name]
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and "uploads" not in p.parts]
    assert outside == []


@pytest.mark.parametrize(
    "filename",
    ["..", "...", ".", "x.jpg\x00.php", ".htaccess", "noextension", "x.html", "x.", "中文"],
)
def test_refused_names(client, folder, filename):
    response = post(client, b"<script>", filename, headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert "allowed" in response.json["message"]
    assert stored(folder) == []


def test_missing_file_is_400(client):
    response = client.post("/upload", data={"other": "x"})
    assert response.status_code == 400 and "No file" in response.text
    response = client.post("/upload", data={"file": (io.BytesIO(b""), "")})
    assert response.status_code == 400


def test_allowed_and_folder_arguments(app, client, folder):
    response = post(client, b"x", "data.csv", url="/upload?allowed=.CSV,tsv")
    assert response.status_code == 200
    assert post(client, b"x", "data.txt", url="/upload?allowed=csv").status_code == 400
    app.config["UPLOAD_ALLOWED_EXTENSIONS"] = ["md"]
    assert post(client, b"x", "notes.md").status_code == 200
    name = post(client, b"avatar", "me.md", url="/upload?folder=avatars").json["name"]
    assert name.startswith("avatars/") and os.path.isfile(os.path.join(folder, name))
    with client.get(f"/uploads/{name}") as response:
        assert response.data == b"avatar"


def test_upload_folder_config(app, client, tmp_path):
    target = tmp_path / "elsewhere"
    app.config["UPLOAD_FOLDER"] = str(target)
    name = post(client, b"x", "a.txt").json["name"]
    assert (target / name).read_bytes() == b"x"


def test_relative_upload_folder_is_in_the_instance_folder(app, client):
    app.config["UPLOAD_FOLDER"] = "files"
    name = post(client, b"x", "a.txt").json["name"]
    assert os.path.isfile(os.path.join(app.instance_path, "files", name))


def test_send_upload_refuses_escapes(client, folder, tmp_path):
    (tmp_path / "secret.txt").write_text("secret")
    post(client, b"x", "a.txt")
    assert client.get("/uploads/..%2Fsecret.txt").status_code == 404
    assert client.get("/uploads/../secret.txt").status_code == 404
    assert client.get("/uploads/missing.txt").status_code == 404


def test_17_mib_upload_is_413_and_nothing_kept(app, folder):
    builder = EnvironBuilder(
        path="/upload",
        method="POST",
        data={"file": (io.BytesIO(b"x" * (17 * 1024 * 1024)), "big.txt")},
        headers={"Accept": "application/json"},
    )
    environ = builder.get_environ()
    try:
        body, status, _ = run_wsgi_app(app, environ, buffered=True)
    finally:
        environ["wsgi.input"].close()  # the test client would leave this temp file open
        builder.close()
    assert status.startswith("413")
    assert "MAX_CONTENT_LENGTH" in json.loads(b"".join(body))["message"]
    assert stored(folder) == []


def test_client_disconnect_mid_upload_keeps_nothing(app, folder):
    builder = EnvironBuilder(
        path="/upload", method="POST", data={"file": (io.BytesIO(b"x" * 200_000), "cut.txt")}
    )
    environ = builder.get_environ()
    body = environ["wsgi.input"].read()
    environ["wsgi.input"].close()
    builder.close()
    environ["wsgi.input"] = io.BytesIO(body[: len(body) // 2])  # the client went away
    _, status, _ = run_wsgi_app(app, environ, buffered=True)
    assert status.startswith("400")
    assert stored(folder) == []


def test_bad_digest_upload_is_not_kept(client, folder):
    data = {"file": (io.BytesIO(b"content"), "a.txt")}
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    response = client.post("/upload", data=data, headers={"Content-Digest": f"sha-256=:{wrong}:"})
    assert response.status_code == 400
    assert stored(folder) == []


class Breaking(io.RawIOBase):
    """A file stream that gives some bytes, then fails with ``error``."""

    def __init__(self, error: OSError) -> None:
        self.sent = 0
        self.error = error

    def readable(self) -> bool:
        return True

    def readinto(self, buffer):
        if self.sent >= 200_000:
            raise self.error
        n = min(len(buffer), 65536)
        buffer[:n] = b"x" * n
        self.sent += n
        return n


@pytest.mark.parametrize(
    "code, status, word",
    [
        (errno.ENOSPC, 507, "no room"),
        (errno.EROFS, 500, "not writable"),
        (errno.EIO, 500, "not writable"),
    ],
)
def test_failed_writes_leave_nothing(app, folder, caplog, code, status, word):
    storage = FileStorage(Breaking(OSError(code, os.strerror(code))), filename="a.txt")
    with app.test_request_context("/"), caplog.at_level(logging.ERROR):
        with pytest.raises(Exception) as info:
            save_upload(storage)
    assert info.value.code == status and word in info.value.description
    assert stored(folder) == []
    assert [r.exc_info for r in caplog.records] == [None]
    assert "UPLOAD_FOLDER" in caplog.records[0].getMessage()


def test_unwritable_folder_is_a_clear_error(app, client, monkeypatch, caplog):
    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(uploads.os, "open", refuse)
    with caplog.at_level(logging.ERROR):
        response = post(client, b"x", "a.txt", headers={"Accept": "application/json"})
    assert response.status_code == 500
    assert "not writable" in response.json["message"]
    assert "Traceback" not in response.text
    assert caplog.records and caplog.records[0].exc_info is None


def test_interrupted_write_removes_the_file(app, folder):
    class Stop(BaseException):
        pass

    class Interrupting(Breaking):
        def readinto(self, buffer):
            if self.sent:
                raise Stop
            return super().readinto(buffer)

    with app.test_request_context("/"), pytest.raises(Stop):
        save_upload(FileStorage(Interrupting(OSError()), filename="a.txt"))
    assert stored(folder) == []


def test_rewinds_a_read_stream(app, folder):
    stream = io.BytesIO(b"whole content")
    stream.read()
    with app.test_request_context("/"):
        name = save_upload(FileStorage(stream, filename="a.txt"))
    with open(os.path.join(folder, name), "rb") as f:
        assert f.read() == b"whole content"


def test_split_name():
    assert split_name("a/b\\c.tar.GZ") == ("c.tar", "gz")
    assert split_name("..") == (".", "")
    assert split_name("x.jpg\x00.php")[1] == "php"
    with pytest.raises(UploadNotAllowed):
        raise UploadNotAllowed()


# -- batteries.js in a real browser -------------------------------------------------------

PAGE = """<!doctype html><html><head>
<meta name="csrf-token" content="tok123">
<script src="/_batteries/batteries.js"></script></head><body>
<form id="f" action="/upload" method="post" enctype="multipart/form-data">
<input type="file" name="file"></form>
<progress id="bar" max="1" value="0"></progress>
<script>
window.seen = [];
window.send = function () {
  return Batteries.uploadForm("#f", {
    progress: "#bar",
    onProgress: function (fraction, loaded, total) { seen.push([fraction, loaded, total]); }
  }).then(function (body) { return {ok: body}; },
          function (e) { return {status: e.status, message: e.message}; });
};
</script></body></html>"""


@pytest.mark.browser
def test_upload_progress_in_chromium(app, folder, tmp_path):
    import shutil
    import threading

    from werkzeug.serving import make_server

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(chromium):
        pytest.fail("Debian's chromium is missing: run scripts/install-chromium.sh")
    from playwright.sync_api import sync_playwright

    headers_seen = []

    @app.get("/page")
    def page_view():
        return PAGE

    @app.before_request
    def remember_headers():
        if request.path == "/upload":
            headers_seen.append(dict(request.headers))

    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * (3 * 1024 * 1024))
    huge = tmp_path / "huge.txt"
    huge.write_bytes(b"x" * (17 * 1024 * 1024))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=chromium,
                headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            try:
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{server.server_port}/page")
                page.set_input_files("input[name=file]", str(big))
                result = page.evaluate("send()")
                assert NAME.match(result["ok"]["name"])
                seen = page.evaluate("seen")
                assert seen[-1][0] == 1 and seen[-1][1] >= 3 * 1024 * 1024
                assert all(0 <= s[0] <= 1 for s in seen if s[0] is not None)
                assert page.evaluate("document.getElementById('bar').value") == 1
                assert headers_seen[-1]["X-Csrftoken"] == "tok123"

                page.set_input_files("input[name=file]", str(huge))
                result = page.evaluate("send()")
                assert result["status"] == 413 and "MAX_CONTENT_LENGTH" in result["message"]
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()
    assert len(stored(folder)) == 1


def test_uploads_are_private_to_the_user(client, folder):
    """Uploads are user data: the folder is 0700 and each file 0600, whatever the umask (#13)."""
    import stat

    old = os.umask(0)
    try:
        response = post(client, b"secret", "private.txt")
    finally:
        os.umask(old)
    assert response.status_code == 200
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    path = os.path.join(folder, response.json["name"])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600

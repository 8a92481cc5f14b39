"""File uploads stored safely: ``save_upload()`` and ``send_upload()``.

Replaces Flask's "Uploading Files" pattern (``secure_filename`` + ``file.save``), whose pitfalls
are all handled here: ``secure_filename("..")`` is empty, non-ASCII names lose their extension
(``"中文.txt"`` → ``"txt"``), names collide and overwrite each other, the extension is checked on
one name and saved under another, and a failed write leaves half a file behind. ::

    from batteries.uploads import save_upload, send_upload

    @app.post("/upload")
    def upload():
        name = save_upload(request.files.get("file"))   # 400 when missing or not allowed
        return redirect(url_for("download", name=name))

    @app.get("/uploads/<path:name>")
    def download(name):
        return send_upload(name)

- The stored name is ``<32 hex chars>-<safe stem>.<ext>``: unique (opened with ``O_EXCL``, never
  overwrites), never hidden, never outside the folder.
- The extension is taken from the NFKC-normalised original name (``x.jpg\\x00.php`` is ``php``),
  lower-cased, and must be in ``allowed`` (default ``UPLOAD_ALLOWED_EXTENSIONS``), else
  :class:`UploadNotAllowed`, a 400.
- A write that fails (client gone, disk full, read-only disk) leaves no file behind: a full disk
  answers 507 and an unwritable folder 500, each with a message and one log line (no traceback).
- ``MAX_CONTENT_LENGTH`` (16 MiB by default) limits the whole body: 413 above it.
- The ``upload_saved`` signal is sent with ``name`` and ``path``.
- ``send_upload(name)`` serves a stored file with ``X-Content-Type-Options: nosniff``, as an
  attachment unless it is an image type browsers show safely.

Progress bars: ``batteries.js`` has ``Batteries.upload(url, formData, {onProgress})``.

Config: ``UPLOAD_FOLDER`` (``<instance>/uploads``), ``UPLOAD_ALLOWED_EXTENSIONS``
({txt, pdf, png, jpg, jpeg, gif}), ``MAX_CONTENT_LENGTH``.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import typing as t
import unicodedata
import uuid

from flask import current_app, send_from_directory
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError
from werkzeug.utils import secure_filename

from . import signals
from .checks import STATIC_HINT, Check, Found, static_exposure
from .config import Setting

if t.TYPE_CHECKING:  # pragma: no cover
    from flask import Flask
    from flask.wrappers import Response
    from werkzeug.datastructures import FileStorage


def _default_folder(app: Flask) -> str:
    return os.path.join(app.instance_path, "uploads")


UPLOAD_FOLDER = Setting(
    "UPLOAD_FOLDER",
    _default_folder,
    (str, os.PathLike, type(None)),
    "folder where save_upload() stores files (created on demand; relative: in the instance folder)",
    shown="<instance>/uploads",
)
UPLOAD_ALLOWED_EXTENSIONS = Setting(
    "UPLOAD_ALLOWED_EXTENSIONS",
    frozenset({"txt", "pdf", "png", "jpg", "jpeg", "gif"}),
    (set, frozenset, list, tuple),
    "file extensions save_upload() accepts by default",
)
CONFIG = (UPLOAD_FOLDER, UPLOAD_ALLOWED_EXTENSIONS)

#: types ``send_upload`` shows inline; everything else is downloaded as an attachment
INLINE_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "gif", "webp"})
_EXTENSION = re.compile(r"[a-z0-9]{1,16}\Z")
_STEM_LIMIT = 100


def init_app(app: Flask) -> None:
    """Nothing to set up: the folder is created on the first ``save_upload``."""


class UploadNotAllowed(BadRequest):
    """The uploaded file is missing or its extension is not allowed (400)."""


class UploadStorageError(InternalServerError):
    """The upload folder cannot be written (500); the message names ``UPLOAD_FOLDER``."""


class UploadStorageFull(HTTPException):
    """The disk holding the upload folder is full (507 Insufficient Storage)."""

    code = 507
    description = "The server has no room left to store this file."


def upload_folder(app: Flask | None = None) -> str:
    """The absolute upload folder of ``app`` (default: the current app)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    folder = UPLOAD_FOLDER.get(app)
    if folder is None:
        folder = _default_folder(app)
    # a relative UPLOAD_FOLDER is inside the instance folder, whatever the current directory
    return os.path.abspath(os.path.join(app.instance_path, os.fspath(folder)))


def _uploads_in_static(app: Flask) -> Found:
    return static_exposure(app, upload_folder(app))


DEPLOY_CHECKS = (
    Check("batteries.E015", "error", "UPLOAD_FOLDER", STATIC_HINT, _uploads_in_static),
)


def split_name(filename: str) -> tuple[str, str]:
    """``(stem, extension)`` of an uploaded file's name, read the way it will be stored.

    The name is NFKC-normalised and cut to its last path segment; the extension is what follows
    the last dot, lower-cased (``""`` when there is none, or the name is only dots).
    """
    name = unicodedata.normalize("NFKC", filename)
    name = re.split(r"[/\\]", name)[-1].strip()
    stem, dot, extension = name.rpartition(".")
    if not dot:
        return name, ""
    return stem, extension.strip().lower()


def _normalise(extensions: t.Iterable[str]) -> set[str]:
    return {str(e).strip().lstrip(".").lower() for e in extensions}


def save_upload(
    file: FileStorage | None,
    folder: str | os.PathLike[str] | None = None,
    allowed: t.Iterable[str] | None = None,
) -> str:
    """Store an uploaded file under a safe, unique name and return that name.

    ``folder``: where to store it; relative folders are inside ``UPLOAD_FOLDER`` and the name
    returned then includes them (``"avatars/3f…-me.png"``), so it can be passed to
    :func:`send_upload` as is. ``allowed``: extensions accepted (default
    ``UPLOAD_ALLOWED_EXTENSIONS``).

    Raises :class:`UploadNotAllowed` (400) when ``file`` is missing or empty-named or its
    extension is not allowed, 507/500 when the disk is full or the folder not writable. No
    partial file is ever left behind.
    """
    if file is None or not getattr(file, "filename", None):
        raise UploadNotAllowed(
            "No file was uploaded (the form field is missing or no file was chosen)."
        )
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    _check_request_body()
    stem, extension = split_name(file.filename)  # type: ignore[arg-type]
    accepted = _normalise(
        allowed if allowed is not None else UPLOAD_ALLOWED_EXTENSIONS.get(app) or ()
    )
    if not extension or extension not in accepted or not _EXTENSION.match(extension):
        shown = extension or "(none)"
        raise UploadNotAllowed(
            f"Files of type {shown[:20]!r} are not accepted here; allowed: "
            f"{', '.join(sorted(accepted)) or 'none'}."
        )
    base = upload_folder(app)
    target = base if folder is None else os.path.abspath(os.path.join(base, os.fspath(folder)))
    safe_stem = secure_filename(stem).lstrip("._")[:_STEM_LIMIT] or "file"
    name = f"{uuid.uuid4().hex}-{safe_stem}.{extension}"
    path = os.path.join(target, name)
    if os.path.dirname(os.path.realpath(path)) != os.path.realpath(target):
        raise UploadNotAllowed("The file name is not acceptable.")  # defence in depth
    _write(app, file, target, path)
    if target == base or target.startswith(base + os.sep):
        stored = os.path.relpath(path, base).replace(os.sep, "/")
    else:
        stored = name
    signals.upload_saved.send(app, name=stored, path=path)
    return stored


def _check_request_body() -> None:
    """Refuse to store anything from a body whose checksum failed."""
    from flask import has_request_context, request

    from .wrappers import check_body

    if has_request_context():
        check_body(request)


def _write(app: Flask, file: FileStorage, folder: str, path: str) -> None:
    try:
        # private to the process's user: uploads are user data (#13)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    except OSError as e:
        raise _storage_error(app, e, folder) from None
    try:
        stream = file.stream
        if hasattr(stream, "seek") and getattr(stream, "seekable", lambda: True)():
            stream.seek(0)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(stream, out, 64 * 1024)
    except BaseException as e:
        try:
            os.unlink(path)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise _storage_error(app, e, folder) from None
        raise


def _storage_error(app: Flask, error: OSError, folder: str) -> Exception:
    if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        app.logger.error("Upload not stored: no space left in %s (UPLOAD_FOLDER).", folder)
        return UploadStorageFull(
            "The server has no room left to store this file. Nothing was kept; try again later."
        )
    app.logger.error(
        "Upload not stored: %s cannot be written (%s). Check UPLOAD_FOLDER.",
        folder,
        error.strerror or error,
    )
    return UploadStorageError(
        "The server could not store this file (its upload folder is not writable). "
        "Nothing was kept."
    )


def send_upload(
    name: str, folder: str | os.PathLike[str] | None = None, **kwargs: t.Any
) -> Response:
    """Serve a file stored by :func:`save_upload` (404 when missing or outside the folder).

    Images (png, jpg, jpeg, gif, webp) are shown inline; anything else is sent as an
    attachment. Every answer carries ``X-Content-Type-Options: nosniff``. Extra keyword
    arguments go to :func:`flask.send_from_directory`.
    """
    base = upload_folder()
    directory = base if folder is None else os.path.join(base, os.fspath(folder))
    _, extension = split_name(name)
    kwargs.setdefault("as_attachment", extension not in INLINE_EXTENSIONS)
    response = send_from_directory(directory, name, **kwargs)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response

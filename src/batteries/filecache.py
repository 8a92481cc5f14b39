"""The filesystem cache behind ``CACHE_TYPE = "filesystem"`` (the default), on public API only.

A :class:`cachelib.BaseCache` of Batteries' own: one file per key in a folder private to the
process's user (0700, files 0600), each written to a temporary file and moved into place
(``os.replace``), so a reader sees a whole entry or none, across threads and processes alike.

Why not cachelib's ``FileSystemCache``: it keeps its entry count in a file that every ``set``
reads and rewrites, and past the threshold every ``set`` reads every entry to delete one (a
miss on a full cache cost ~100 ms); making it cheaper meant overriding its private methods.
Here the count comes from listing the folder, at most once a second per process, and a cache
over its threshold drops expired entries, then those expiring soonest, down to 80% of it in
one pass.

Each file holds a 4-byte magic, the expiry time (8 bytes, 0: never) and the pickled value.
A file that is not of that shape (corrupt, or from another program) is a miss and is removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import struct
import tempfile
import threading
import time
import typing as t
from datetime import timedelta

from cachelib import BaseCache

_MAGIC = b"BTC1"
_HEADER = struct.Struct(">4sd")
_TMP_PREFIX = ".tmp-"
_TMP_MAX_AGE = 300.0  # seconds after which a temporary file is a crashed writer's leftover
_RECOUNT_AFTER = 1.0


class FileCache(BaseCache):
    """A cache of files in ``cache_dir`` (see the module docstring).

    ``threshold`` is the number of entries above which the cache prunes (0: no limit);
    ``mode`` the files' permission bits (0600); ``hash_method`` turns a key into a file name.
    """

    def __init__(
        self,
        cache_dir: str,
        threshold: int = 500,
        default_timeout: int | timedelta = 300,
        mode: int | None = None,
        hash_method: t.Callable[..., t.Any] = hashlib.sha256,
        ignore_delete_many_errors: bool = True,
    ) -> None:
        if isinstance(default_timeout, timedelta):
            default_timeout = int(default_timeout.total_seconds())
        super().__init__(default_timeout)
        self.default_timeout = default_timeout
        self.folder = os.path.abspath(cache_dir)
        self.threshold = threshold
        self.mode = 0o600 if mode is None else mode
        self.hash_method = hash_method
        self.ignore_delete_many_errors = ignore_delete_many_errors
        self._count = 0
        self._counted_at = float("-inf")
        self._lock = threading.Lock()
        make_private_folder(self.folder)

    def __repr__(self) -> str:
        return f"<FileCache {self.folder}>"

    # -- files ----------------------------------------------------------------------------

    def path_for(self, key: str) -> str:
        """The file that holds ``key``."""
        return os.path.join(self.folder, self.hash_method(key.encode("utf-8")).hexdigest())

    def _entries(self) -> t.Iterator[os.DirEntry[str]]:
        try:
            with os.scandir(self.folder) as found:
                for entry in found:
                    if not entry.name.startswith(".") and entry.is_file(follow_symlinks=False):
                        yield entry
        except FileNotFoundError:
            return

    def _expires(self, timeout: int | timedelta | None) -> float:
        if timeout is None:
            timeout = self.default_timeout
        if isinstance(timeout, timedelta):
            timeout = int(timeout.total_seconds())
        return 0.0 if timeout == 0 else time.time() + timeout

    def _read(self, path: str, header_only: bool = False) -> tuple[bool, t.Any]:
        """(found, value) of the entry in ``path``; expired and malformed entries are removed."""
        try:
            with open(path, "rb") as f:
                magic, expires = _HEADER.unpack(f.read(_HEADER.size))
                if magic != _MAGIC:
                    raise ValueError("not a cache entry")
                if expires and expires < time.time():
                    _remove(path)
                    return False, None
                return True, (None if header_only else pickle.load(f))
        except FileNotFoundError:
            return False, None
        except Exception:  # corrupt, truncated, foreign: a miss, and rewritten by the next set
            _remove(path)
            return False, None

    def _write(self, value: t.Any, timeout: int | timedelta | None) -> str:
        """A temporary file in the folder holding the entry; the caller moves it into place."""
        data = _HEADER.pack(_MAGIC, self._expires(timeout)) + pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        try:
            fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=self.folder)
        except FileNotFoundError:  # the folder was removed (cache clear by hand): make it again
            make_private_folder(self.folder)
            fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            if self.mode != 0o600:
                os.chmod(tmp, self.mode)
        except BaseException:
            _remove(tmp)
            raise
        return tmp

    # -- the BaseCache API ------------------------------------------------------------------

    def get(self, key: str) -> t.Any:
        return self._read(self.path_for(key))[1]

    def has(self, key: str) -> bool:
        return self._read(self.path_for(key), header_only=True)[0]

    def set(self, key: str, value: t.Any, timeout: int | timedelta | None = None) -> bool:
        path = self.path_for(key)
        try:
            tmp = self._write(value, timeout)
            existed = os.path.exists(path)
            os.replace(tmp, path)
        except OSError:
            return False
        if not existed:
            self._counted(1)
        return True

    def add(self, key: str, value: t.Any, timeout: int | timedelta | None = None) -> bool:
        """Store ``value`` only if ``key`` has no live entry (atomic: a hard link never
        replaces an existing file)."""
        path = self.path_for(key)
        try:
            tmp = self._write(value, timeout)
        except OSError:
            return False
        try:
            for _ in range(2):
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    if self.has(key):
                        return False
                    continue  # it was expired (and is removed now): try once more
                except OSError:  # no hard links on this filesystem
                    if self.has(key):
                        return False
                    os.replace(tmp, path)
                    self._counted(1)
                    return True
                self._counted(1)
                return True
            return False
        finally:
            _remove(tmp)

    def delete(self, key: str) -> bool:
        try:
            os.remove(self.path_for(key))
        except FileNotFoundError:
            return False
        except OSError:
            return False
        self._counted(-1)
        return True

    def delete_many(self, *keys: str) -> list[t.Any]:
        deleted = []
        for key in keys:
            if self.delete(key) or self.ignore_delete_many_errors:
                deleted.append(key)
            else:
                break
        return deleted

    def clear(self) -> bool:
        ok = True
        for entry in list(self._entries()):
            try:
                os.remove(entry.path)
            except FileNotFoundError:
                pass
            except OSError:
                ok = False
        with self._lock:
            self._count, self._counted_at = 0, time.monotonic()
        return ok

    # -- the threshold ----------------------------------------------------------------------

    def _counted(self, delta: int) -> None:
        """Keep the entry count; recount from the folder at most once a second, prune when
        over the threshold."""
        if not self.threshold:
            return
        with self._lock:
            now = time.monotonic()
            if now - self._counted_at >= _RECOUNT_AFTER:
                self._count = sum(1 for _ in self._entries())
                self._counted_at = now
            else:
                self._count = max(0, self._count + delta)
            over = self._count > self.threshold
        if over:
            self.prune()

    def prune(self) -> int:
        """Remove expired entries, then those expiring soonest, down to 80% of the threshold;
        also temporary files a crashed writer left. Returns the number of entries left."""
        now = time.time()
        entries: list[tuple[float, str]] = []
        for entry in self._entries():
            try:
                with open(entry.path, "rb") as f:
                    magic, expires = _HEADER.unpack(f.read(_HEADER.size))
                if magic != _MAGIC:
                    expires = 1.0  # not ours or corrupt: the first to go
            except FileNotFoundError:
                continue
            except (OSError, struct.error):
                expires = 1.0
            entries.append((expires, entry.path))
        # expired first, then soonest to expire; entries that never expire last
        entries.sort(key=lambda item: (item[0] == 0, item[0]))
        keep = int(self.threshold * 0.8)
        remaining = len(entries)
        for expires, path in entries:
            if remaining <= keep and not (expires and expires < now):
                break
            if _remove(path):
                remaining -= 1
        self._drop_leftovers(now)
        with self._lock:
            self._count, self._counted_at = remaining, time.monotonic()
        return remaining

    def _drop_leftovers(self, now: float) -> None:
        try:
            with os.scandir(self.folder) as found:
                for entry in found:
                    if entry.name.startswith(_TMP_PREFIX):
                        with contextlib.suppress(OSError):
                            if now - entry.stat().st_mtime > _TMP_MAX_AGE:
                                os.remove(entry.path)
        except FileNotFoundError:
            pass


def _remove(path: str) -> bool:
    try:
        os.remove(path)
    except FileNotFoundError:
        return False
    except OSError:
        return False
    return True


def make_private_folder(folder: str) -> None:
    """Create ``folder`` (and its parents) readable by this user only (0700, whatever the
    umask). A folder that exists already is left as it is (it may be one you chose)."""
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        return
    except FileNotFoundError:
        os.makedirs(os.path.dirname(folder), exist_ok=True)
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            return
    os.chmod(folder, 0o700)  # mkdir's mode is narrowed by the umask, never widened: be exact

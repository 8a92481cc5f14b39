"""Blinker signals sent by Batteries.

Connect to them like Flask's own signals; each is sent with the Flask app as sender::

    from batteries.signals import upload_saved

    @upload_saved.connect
    def log_upload(app, name, path, **extra):
        app.logger.info("stored %s", name)

===================== ============================================== ==========================
signal                sent when                                      keyword arguments
===================== ============================================== ==========================
``checksum_mismatch`` a request body does not match its digest header ``header``, ``algorithm``
``user_logged_in``    ``login_user()`` succeeded                     ``user``
``user_logged_out``   ``logout_user()`` ran                          ``user``
``upload_saved``      ``save_upload()`` stored a file                ``name``, ``path``
``cache_hit``         ``@cached`` answered from the cache            ``key``
``cache_miss``        ``@cached`` ran the view                       ``key``
``task_enqueued``     a task was sent to the broker                  ``task_id``, ``task_name``
===================== ============================================== ==========================
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

checksum_mismatch = _signals.signal("checksum-mismatch")
user_logged_in = _signals.signal("user-logged-in")
user_logged_out = _signals.signal("user-logged-out")
upload_saved = _signals.signal("upload-saved")
cache_hit = _signals.signal("cache-hit")
cache_miss = _signals.signal("cache-miss")
task_enqueued = _signals.signal("task-enqueued")

__all__ = [
    "cache_hit",
    "cache_miss",
    "checksum_mismatch",
    "task_enqueued",
    "upload_saved",
    "user_logged_in",
    "user_logged_out",
]

"""The blog example in production config under load: gunicorn + wrk on loopback, 60 s a path.

``examples/blog`` with ``batteries.security.PRODUCTION`` (security headers, CSRF on every unsafe
request, secure cookies), a strong ``SECRET_KEY`` and ``TRUSTED_HOSTS``, its database and files
in a temporary folder, seeded with 30 posts. :mod:`load` (bench/load.py) runs gunicorn (2 sync
workers) and wrk on ``127.0.0.1`` for each path and reports requests/s, p50/p99, socket errors,
non-2xx/3xx responses and the workers' resident memory before and after.

Usage::

    python bench/blog_load.py [--duration 60] [--paths /en/,/en/posts/1,/api/posts]

Goal: 0 errors, 0 non-2xx/3xx, RSS growth of a few MiB at most.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import typing as t

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common

BLOG_DIR = os.path.join(common.REPO_DIR, "examples", "blog")
KEY = "b1f4e2c9a7d05e83f6c1a9b2d4e7f0a3c5b8d1e6f9a2c4b7d0e3f5a8c1b4d7e0"


def create_app() -> t.Any:
    """The blog, production config, data under ``$BLOG_LOAD_DIR`` (gunicorn's target)."""
    if BLOG_DIR not in sys.path:
        sys.path.insert(0, BLOG_DIR)
    import blog
    from blog import models

    import batteries.security
    from batteries import db

    folder = os.environ.get("BLOG_LOAD_DIR") or tempfile.mkdtemp(prefix="blog-load-")
    app = blog.create_app(
        {
            **batteries.security.PRODUCTION,
            "SECRET_KEY": KEY,
            "TRUSTED_HOSTS": ["127.0.0.1", "localhost"],
            "DATABASE_URL": f"sqlite:///{os.path.join(folder, 'blog.sqlite')}",
            "CACHE_URL": os.path.join(folder, "cache"),
            "UPLOAD_FOLDER": os.path.join(folder, "uploads"),
        }
    )
    with app.app_context():
        db.create_all()
        if db.session.scalar(db.select(db.func.count()).select_from(models.Post)) == 0:
            from batteries.auth import hash_password

            user = models.User(username="load", password_hash=hash_password("load-password"))
            db.session.add(user)
            db.session.flush()
            for i in range(30):
                db.session.add(models.Post(title=f"Post {i}", body="text " * 50, author_id=user.id))
            db.session.commit()
    return app


def main(argv: list[str] | None = None) -> dict[str, t.Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--paths", default="/en/,/en/posts/1,/api/posts")
    parser.add_argument("--quick", action="store_true", help="5 s per path")
    args = parser.parse_args(argv)
    import load

    duration = 5.0 if args.quick else args.duration
    with tempfile.TemporaryDirectory(prefix="blog-load-") as folder:
        os.environ["BLOG_LOAD_DIR"] = folder
        try:
            result = load.main(
                [
                    "--app",
                    "blog=blog_load:create_app()",
                    "--paths",
                    args.paths,
                    "--duration",
                    str(duration),
                    "--chdir",
                    common.BENCH_DIR,
                ]
            )
        finally:
            os.environ.pop("BLOG_LOAD_DIR", None)
    result["name"] = "blog_load"
    load.report(result)
    return result


if __name__ == "__main__":
    main()

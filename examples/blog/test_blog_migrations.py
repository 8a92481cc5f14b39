"""The blog's migrations (blog/migrations) build the schema its models describe.

Run as a user would, in a process of its own: the test session's ``db.Model`` also holds the
models of every other test module.
"""

from __future__ import annotations

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def batteries(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "batteries", "--app", "blog", *args],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
    )


def test_migrations_match_the_models(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BATTERIES_", "FLASK_"))}
    env["BATTERIES_DATABASE_URL"] = f"sqlite:///{tmp_path / 'migrated.sqlite'}"
    upgrade = batteries("db", "upgrade", env=env)
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    check = batteries("db", "check", env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "agree" in check.stdout

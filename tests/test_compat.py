"""Flask's own test suite, tutorial and javascript example, run against Batteries.

The runner (tests/compat/run_flask_suite.py) downloads the sdist of the installed Flask, builds a
venv for it (pytest 8.4 and Flask's test dependencies) and runs each suite twice in the same
run: against plain Flask and with ``flask.Flask`` replaced by ``batteries.Batteries``. The two
must agree test by test. (A Flask checkout, such as ``main``, runs through
``scripts/test-upstream`` instead.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

RUNNER = Path(__file__).parent / "compat" / "run_flask_suite.py"


@pytest.mark.slow
def test_flask_suite_passes_against_batteries(tmp_path):
    if ".dev" in metadata.version("flask"):
        pytest.skip("a Flask checkout has no sdist to download: scripts/test-upstream runs it")
    out = tmp_path / "compat.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "BATTERIES_"))}
    if "BATTERIES_COMPAT_WORKDIR" in os.environ:
        env["BATTERIES_COMPAT_WORKDIR"] = os.environ["BATTERIES_COMPAT_WORKDIR"]
    proc = subprocess.run(
        [sys.executable, str(RUNNER), "--json", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    results = json.loads(out.read_text())
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    for name in ("flask-tests", "tutorial", "javascript"):
        ours, plain = results[name], results[name]["plain"]
        assert "flask.Flask is batteries.Batteries" in ours["header"]
        assert "flask.Flask is flask.Flask" in plain["header"]
        assert ours["passed"] > 0
        assert (ours["passed"], ours["failed"]) == (plain["passed"], plain["failed"]), name
        assert ours["failures"] == plain["failures"], name

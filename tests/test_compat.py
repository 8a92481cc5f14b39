"""Flask's own test suite, tutorial and javascript example, run against Batteries.

The runner (tests/compat/run_flask_suite.py) downloads the sdist of the installed Flask, builds a
venv for it (pytest 8.4 and Flask's test dependencies) and runs each suite with ``flask.Flask``
replaced by ``batteries.Batteries``. The counts must equal plain Flask's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RUNNER = Path(__file__).parent / "compat" / "run_flask_suite.py"


@pytest.mark.slow
def test_flask_suite_passes_against_batteries(tmp_path):
    out = tmp_path / "compat.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "BATTERIES_"))}
    if "BATTERIES_COMPAT_WORKDIR" in os.environ:
        env["BATTERIES_COMPAT_WORKDIR"] = os.environ["BATTERIES_COMPAT_WORKDIR"]
    proc = subprocess.run(
        [sys.executable, str(RUNNER), "--json", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    results = json.loads(out.read_text())
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert results["flask-tests"]["passed"] == 489
    assert results["flask-tests"]["failures"] == [
        "tests/test_reqctx.py::test_bad_environ_raises_bad_request"
    ]
    assert (results["tutorial"]["passed"], results["tutorial"]["failed"]) == (24, 0)
    assert (results["javascript"]["passed"], results["javascript"]["failed"]) == (8, 0)
    assert "flask.Flask is batteries.Batteries" in results["flask-tests"]["header"]

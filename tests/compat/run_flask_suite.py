"""Run Flask's own test suite, and its tutorial and javascript examples, against Batteries.

Each suite runs twice in the same run: once against plain Flask (the baseline) and once with
``-p batteries_compat_plugin``, a plugin that sets ``flask.Flask = batteries.Batteries`` before
anything is collected. The two must give the same counts and the same failing tests; the
deliberate differences, if any, are listed in the README's "Differences from Flask" section.

By default the runner downloads the sdist of the installed Flask version
(``pip download --no-binary=:all:``), unpacks it into a work folder and builds a venv of its
own there (Flask 3.1.3's ``tests/test_cli.py`` imports a name pytest 9 removed, so that suite
runs under pytest 8.4, with Flask's own test dependencies: asgiref, greenlet, python-dotenv).
``--flask-source DIR --python PY`` instead runs the suites of a Flask checkout with an
interpreter that already has that Flask, its Werkzeug and Batteries installed (what
``scripts/test-upstream`` does for Flask's ``main`` branch).

Usage::

    python tests/compat/run_flask_suite.py [--json OUT] [--workdir DIR]
                                           [--flask-source DIR --python PY]

The script prints one line per suite, ``<suite>: N passed, N failed (plain Flask: N, N)``, and
exits 0 when every suite matches its baseline.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import venv
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent.parent

PLUGIN = '''
"""Loaded with -p before conftest.py: every Flask app of the suite is a Batteries app."""
import os

import flask

if os.environ.get("BATTERIES_COMPAT_PLAIN") != "1":
    import batteries

    flask.Flask = batteries.Batteries


def pytest_report_header(config):
    import flask

    return "flask.Flask is " + flask.Flask.__module__.split(".")[0] + "." + flask.Flask.__name__
'''


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, text=True, **kwargs)  # type: ignore[call-overload,no-any-return]


def prepare(workdir: Path) -> tuple[Path, Path]:
    """Download and unpack the sdist and build the suite's venv; return (source, python)."""
    version = metadata.version("flask")
    source = workdir / f"flask-{version}"
    if not source.is_dir():
        downloads = workdir / "downloads"
        downloads.mkdir(parents=True, exist_ok=True)
        run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--no-binary=:all:", f"flask=={version}", "-d", str(downloads)]
        )
        archive = next(downloads.glob(f"flask-{version}.tar.gz"))
        with tarfile.open(archive) as tar:
            tar.extractall(workdir, filter="data")
    env_dir = workdir / "venv"
    python = env_dir / "bin" / "python"
    marker = env_dir / ".batteries-ready"
    # Rebuild when the project moves (a CI clone elsewhere) or its dependencies change.
    stamp = (
        f"{PROJECT}|{version}|{metadata.version('werkzeug')}|"
        f"{hashlib.sha256((PROJECT / 'pyproject.toml').read_bytes()).hexdigest()}"
    )
    if not marker.exists() or marker.read_text() != stamp:
        if env_dir.exists():
            shutil.rmtree(env_dir)
        venv.create(env_dir, with_pip=True)
        # The suite's own venv: the same Flask, Werkzeug and Batteries as the project's, and
        # Flask's test dependencies at versions the 3.1.3 suite was written for.
        run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "pytest>=8.4,<8.5", "asgiref", "greenlet", "python-dotenv",
             f"flask=={version}", f"werkzeug=={metadata.version('werkzeug')}",
             "-e", str(PROJECT),
             "-e", str(source / "examples" / "tutorial"),
             "-e", str(source / "examples" / "javascript")])
        marker.write_text(stamp)
    return source, python


def write_plugin(workdir: Path) -> None:
    (workdir / "plugin").mkdir(parents=True, exist_ok=True)
    (workdir / "plugin" / "batteries_compat_plugin.py").write_text(PLUGIN)


_SUMMARY = re.compile(r"(\d+) (passed|failed|error|errors|skipped|xfailed|xpassed)")


def run_suite(python: Path, workdir: Path, cwd: Path, plain: bool) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "BATTERIES_"))}
    env["PYTHONPATH"] = str(workdir / "plugin")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if plain:
        env["BATTERIES_COMPAT_PLAIN"] = "1"
    proc = subprocess.run(
        [str(python), "-m", "pytest", "-p", "batteries_compat_plugin", "-rfE",
         # Batteries' own pytest plugin isolates instance folders (it replaces
         # auto_find_instance_path for the session): not for Flask's tests of that very method
         "-p", "no:batteries",
         "-p", "no:cacheprovider", "--continue-on-collection-errors", "tests"],
        cwd=cwd, env=env, text=True, capture_output=True,
    )
    last = [line for line in proc.stdout.splitlines() if line.strip()][-1:] or [""]
    counts = {word: int(n) for n, word in _SUMMARY.findall(last[0])}
    failed = sorted(
        line.split(" ", 2)[1]
        for line in proc.stdout.splitlines()
        if line.startswith(("FAILED ", "ERROR "))
    )
    header = next((line for line in proc.stdout.splitlines() if "flask.Flask is" in line), "")
    return {
        "header": header,
        "passed": counts.get("passed", 0),
        "failed": counts.get("failed", 0) + counts.get("error", 0) + counts.get("errors", 0),
        "failures": failed,
        "summary": last[0],
        "output": proc.stdout[-20000:] + proc.stderr[-5000:],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument(
        "--workdir",
        default=os.environ.get(
            "BATTERIES_COMPAT_WORKDIR", os.path.join(tempfile.gettempdir(), "batteries-compat")
        ),
    )
    parser.add_argument("--flask-source", help="a Flask checkout whose suites to run")
    parser.add_argument("--python", help="with --flask-source: the interpreter to run them with")
    parser.add_argument("--verbose", action="store_true", help="print the failures' output")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if args.flask_source:
        source, python = Path(args.flask_source).resolve(), Path(args.python or sys.executable)
    else:
        source, python = prepare(workdir)
    write_plugin(workdir)
    suites = {
        "flask-tests": source,
        "tutorial": source / "examples" / "tutorial",
        "javascript": source / "examples" / "javascript",
    }
    results: dict[str, dict[str, object]] = {}
    ok = True
    for name, cwd in suites.items():
        plain = run_suite(python, workdir, cwd, plain=True)
        result = run_suite(python, workdir, cwd, plain=False)
        result["plain"] = {k: plain[k] for k in ("passed", "failed", "failures", "header")}
        results[name] = result
        good = (
            (result["passed"], result["failed"], result["failures"])
            == (plain["passed"], plain["failed"], plain["failures"])
            # something ran (on Flask main with Werkzeug main, plain Flask may fail a suite)
            and int(plain["passed"]) + int(plain["failed"]) > 0  # type: ignore[call-overload]
            and "batteries.Batteries" in str(result["header"])
        )
        ok = ok and good
        print(f"{name}: {result['passed']} passed, {result['failed']} failed"
              f"  (plain Flask: {plain['passed']} passed, {plain['failed']} failed)"
              + ("" if good else "  <-- DIFFERS"))
        for failure in result["failures"]:  # type: ignore[attr-defined]
            print(f"    FAILED {failure}")
        for failure in plain["failures"]:  # type: ignore[attr-defined]
            print(f"    FAILED with plain Flask: {failure}")
        if not good and args.verbose:
            print(result["output"])
    if args.json:
        Path(args.json).write_text(json.dumps(
            {k: {kk: vv for kk, vv in v.items() if kk != "output"} for k, v in results.items()},
            indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""From ``batteries new`` to a green test run, following only what the command prints.

The project is made by the real CLI (a subprocess); the printed commands then run as written in
a shell: a fresh venv, ``pip install -e '.[test]'`` (which installs this Batteries through the
requirement ``batteries new`` wrote, the others from the package index, through pip's cache),
``db upgrade``, the server (started on a free port, asked for ``/``, stopped) and the project's
own ``pytest``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def clean_env() -> dict[str, str]:
    """The environment of a new shell: no venv of ours, no Batteries/Flask settings."""
    drop = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "FLASK_", "BATTERIES_", "PYTEST_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    ours = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != ours)
    return env


def shell(script: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-ec", script],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_home(port: int, deadline: float) -> tuple[int, str]:
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                return answer.status, answer.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_a_new_project_installs_and_passes_its_tests_as_printed(tmp_path):
    batteries_cli = Path(sys.executable).parent / "batteries"
    made = subprocess.run(
        [str(batteries_cli), "new", "notebook"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    lines = made.stdout.splitlines()
    assert "Next:" in lines, made.stdout
    commands = [line.strip() for line in lines[lines.index("Next:") + 1 :] if line.strip()]
    assert commands[0].startswith("cd ") and any("run --debug" in c for c in commands)
    requirement = next(line for line in lines if line.startswith("It requires "))
    assert "file://" in requirement  # this checkout (an editable install) is what it requires

    run_at = next(i for i, c in enumerate(commands) if " run --debug" in c)
    before, run, after = commands[:run_at], commands[run_at], commands[run_at + 1 :]
    cd = commands[0]

    installed = shell("\n".join(before), tmp_path, timeout=200)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    project = tmp_path / "notebook"
    assert (project / ".venv" / "bin" / "batteries").is_file()
    assert (project / "instance").is_dir()  # db upgrade made the SQLite database there

    # The server, as printed but on a free port: it answers the home page, then stops.
    port = free_port()
    server = subprocess.Popen(
        ["bash", "-ec", f"{cd}\nexec {run} --port {port}"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        status, page = get_home(port, time.monotonic() + 60)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert status == 200, output
    assert 'class="bt-nav"' in page and "notebook" in page

    tested = shell("\n".join([cd, *after]), tmp_path, timeout=200)
    assert tested.returncode == 0, tested.stdout[-4000:] + tested.stderr[-2000:]
    assert " passed" in tested.stdout and "failed" not in tested.stdout

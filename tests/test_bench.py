"""Smoke tests of the benchmark suite (bench/): each module runs in a tiny mode and returns
well-formed results. No timing is asserted — performance is measured in bench/, never here."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")


def load(name: str):
    spec = importlib.util.spec_from_file_location(
        f"bench_test_{name}", os.path.join(BENCH, f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def common():
    return load("common")


def run_suite(tmp_path, only: str) -> dict:
    out = tmp_path / "results.json"
    plot = tmp_path / "ratios.png"
    env = dict(os.environ, BENCH_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(BENCH, "run.py"),
            "--tiny",
            "--only",
            only,
            "--out",
            str(out),
            "--plot",
            str(plot),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "Summary" in proc.stdout
    document = json.loads(out.read_text())
    return document, plot, proc.stdout


def check_rows(result: dict) -> None:
    assert result["rows"], result
    for row in result["rows"]:
        assert isinstance(row["case"], str) and isinstance(row["impl"], str)
        assert isinstance(row["median"], float) and row["median"] > 0
    for key, value in result["ratios"].items():
        assert "/" in key
        assert isinstance(value, float) and value > 0


def test_loopback_guard(common):
    for host in ("127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost"):
        assert common.require_loopback(host) == host
    for host in ("10.0.0.1", "0.0.0.0", "example.com", "192.168.1.5", "::"):
        with pytest.raises(ValueError, match="loopback"):
            common.require_loopback(host)


def test_paired_ratio_and_table(common):
    assert common.paired_ratio([2.0, 4.0, 9.0], [1.0, 2.0, 3.0]) == 2.0
    assert common.paired_ratio([], []) is None
    assert common.fmt_ratio(0.954) == "0.95×"
    assert common.goal_met(0.96, "<=", 0.97) is True
    assert common.goal_met(0.8, ">=", 0.9) is False
    text = common.table(["case", "a"], [["hello", "1.0 µs"]])
    assert text.splitlines()[0].startswith("case")


def test_call_wsgi_and_peak_rss(common):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode()]

    environ = common.make_environ("/x")
    assert common.call_wsgi(app, environ) == ("200 OK", b"/x")
    call = common.wsgi_caller(app, environ)
    call()
    samples = common.interleave({"a": call, "b": call}, rounds=3, calls=5)
    assert {k: len(v) for k, v in samples.items()} == {"a": 3, "b": 3}
    status, seconds, peak = common.run_peak_rss(
        [sys.executable, "-c", "x = bytearray(64 * 1024 * 1024)"]
    )
    assert status == 0 and seconds > 0
    assert peak > 64 * 1024  # KiB


def test_busy_core_burns_a_process_while_open(common):
    with common.busy_core(True) as busy:
        process = busy.process
        assert process is not None and process.poll() is None
    assert process.poll() is not None
    with common.busy_core(False) as idle:
        assert idle.process is None


def test_goal_operators(common):
    assert common.goal_met(0.12, "<", 0.15) is True
    assert common.goal_met(0.15, "<", 0.15) is False
    assert common.goal_met(0.15, "<=", 0.15) is True
    assert common.goal_met(0.96, ">=", 0.95) is True
    assert common.goal_met(0.94, ">", 0.95) is False
    assert common.goal_met(None, "<", 1.0) is None
    with pytest.raises(ValueError):
        common.goal_met(1.0, "=<", 1.0)


def test_wrong_status_is_refused(common):
    def app(environ, start_response):
        start_response("500 INTERNAL SERVER ERROR", [])
        return [b"boom"]

    with pytest.raises(RuntimeError, match="500"):
        common.wsgi_caller(app, common.make_environ("/"))


@pytest.mark.slow
def test_suite_wsgi_tiny(tmp_path):
    """run.py → wsgi.py (all five apps, Django included) → one JSON file and a plot."""
    document, plot, stdout = run_suite(tmp_path, "wsgi")
    result = document["benchmarks"]["wsgi"]
    check_rows(result)
    impls = {row["impl"] for row in result["rows"]}
    assert impls == {"bare", "flask", "batteries", "stack", "django"}
    assert {row["case"] for row in result["rows"]} == {
        "hello",
        "json",
        "template",
        "db",
        "hello-nokey",
        "template-same",
    }
    assert "hello batteries/flask" in result["ratios"]
    assert "template-same batteries/flask" in result["ratios"]
    assert {g["ratio"] for g in document["goals"]} >= {
        "hello batteries/flask",
        "template-same batteries/flask",
    }
    assert plot.read_bytes().startswith(b"\x89PNG")
    assert document["machine"]["cpus"]


def test_suite_skips_missing_module(tmp_path, monkeypatch):
    run = load("run")
    result = run.run_benchmark("no_such_benchmark_module", quick=True)
    assert "skipped" in result
    table = run.summary_table({"x": result, "y": {"a": {"b": 1.5}, "ratios": {"a b/c": 0.5}}})
    assert "not there yet" in table and "0.50×" in table


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)"
)
def test_load_tiny(tmp_path):
    """gunicorn on loopback under wrk for a second, one app: well-formed figures, no errors."""
    document, _plot, _ = run_suite(tmp_path, "load")
    result = document["benchmarks"]["load"]
    check_rows(result)
    for row in result["rows"]:
        assert row["unit"] == "req/s"
        assert row["errors"] == 0 and row["non_2xx_3xx"] == 0
        assert row["rss_start_kib"] > 0 and row["rss_end_kib"] > 0


def test_load_refuses_other_hosts():
    load_module = load("load")
    with pytest.raises(ValueError, match="loopback"):
        load_module.main(["--tiny", "--host", "192.0.2.1"])


# -- the hot paths made faster for the benchmark keep Flask's behaviour ----------------------


def _session_app(cls, tmp_path):
    from flask import session

    app = cls("bench_session_app", root_path=str(tmp_path))
    app.config.update(SECRET_KEY="k", TESTING=True)

    @app.route("/untouched")
    def untouched():
        return "x"

    @app.route("/read")
    def read():
        return str(session.get("n"))

    @app.route("/write")
    def write():
        session["n"] = session.get("n", 0) + 1
        return "w"

    @app.route("/permanent")
    def permanent():
        session.permanent = True
        session["p"] = 1
        return "p"

    @app.route("/clear")
    def clear():
        session.clear()
        return "c"

    return app


def _outcome(response):
    return (
        response.status_code,
        response.get_data(as_text=True),
        sorted(response.headers.getlist("Vary")),
        [
            c.split(";")[0].split("=")[0] + ("=" if "=;" not in c and "=" in c else "")
            for c in response.headers.getlist("Set-Cookie")
        ],
    )


@pytest.mark.parametrize(
    "steps",
    [
        ["/untouched"],
        ["/read"],
        ["/write", "/untouched", "/read"],
        ["/write", "/clear", "/untouched"],
        ["/permanent", "/untouched", "/read"],
    ],
)
def test_session_fast_paths_answer_as_flask(tmp_path, steps):
    """No Cookie header → no cookie parsing; untouched empty session → no save. Same outcome
    (status, body, Vary, Set-Cookie) as Flask's own session interface, step by step."""
    from flask import Flask

    from batteries import Batteries

    outcomes = {}
    for cls in (Flask, Batteries):
        client = _session_app(cls, tmp_path / cls.__name__).test_client()
        outcomes[cls.__name__] = [_outcome(client.get(step)) for step in steps]
    assert outcomes["Batteries"] == outcomes["Flask"]


def test_session_without_secret_key_answers_as_flask(tmp_path):
    """Without SECRET_KEY (and not in debug) both give the null session: reads work, nothing
    is set; a write fails with Flask's words."""
    from flask import Flask

    from batteries import Batteries

    outcomes = {}
    for cls in (Flask, Batteries):
        app = _session_app(cls, tmp_path / cls.__name__)
        app.config["SECRET_KEY"] = None
        client = app.test_client()
        outcomes[cls.__name__] = [_outcome(client.get(step)) for step in ("/untouched", "/read")]
        with pytest.raises(RuntimeError, match="session is unavailable"):
            client.get("/write")
    assert outcomes["Batteries"] == outcomes["Flask"]


HEAVY = ("celery", "kombu", "sqlalchemy", "wtforms", "redis", "mongoengine")


def test_a_request_that_uses_no_battery_imports_no_heavy_library(tmp_path):
    """Rule 2 after a request, not only at import: an app that uses no battery pays nothing."""
    code = (
        "import sys\n"
        "from batteries import Batteries\n"
        f"app = Batteries('light', root_path={str(tmp_path)!r})\n"
        "app.config['SECRET_KEY'] = 'k'\n"
        "app.add_url_rule('/', 'index', lambda: 'hello')\n"
        "for path in ('/', '/', '/missing'):\n"
        "    app.test_client().get(path)\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_i18n_tiny():
    """bench/i18n.py: the three contenders answer in German, rows and the gettext figure."""
    result = load("i18n").main(["--tiny"])
    check_rows(result)
    assert {(r["case"], r["impl"]) for r in result["rows"]} == {
        ("gettext", "stdlib"),
        ("gettext", "flask-babel"),
        ("gettext", "batteries"),
        ("page", "flask-babel"),
        ("page", "batteries"),
    }
    assert result["gettext_us"] > 0 and result["gettext_goal_us"] == 2.0

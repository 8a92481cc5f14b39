"""Case 6: over loopback, gunicorn (2 sync workers) under wrk: requests/s, p50/p99, errors, RSS.

For each app (Batteries, plain Flask, the extension stack, Django — see :mod:`apps`), a gunicorn
server is started on ``127.0.0.1`` (all of them up front), then wrk loads each (app, path) pair
for ``--duration`` seconds, in a shuffled order per round. The workers' resident memory (master
plus workers) is read before and after the load. Only loopback addresses are accepted: this is
not a tool for loading someone else's server.

Usage::

    python bench/load.py [--quick] [--duration 10] [--paths /hello,/items]
    python bench/load.py --app 'myblog:create_app()' --paths / --duration 60   # any app

Needs ``wrk`` (Debian: ``apt-get install wrk``) and gunicorn; without them it reports a skip.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import typing as t
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common

APPS = {
    "flask": "apps.flask_app:create_app()",
    "batteries": "apps.batteries_app:create_app()",
    "stack": "apps.stack_app:create_app()",
    "django": "apps.django_app:create_app()",
}
PATH_NAMES = {"/hello": "hello", "/items": "db"}
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 s per run")
    parser.add_argument("--tiny", action="store_true", help="smoke-test size (1 s, one app)")
    parser.add_argument("--duration", type=float, default=None, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=None, help="runs per pair (full: 2)")
    parser.add_argument("--impls", default=",".join(APPS), help="apps from bench/apps")
    parser.add_argument(
        "--app", action="append", default=[], help="NAME=IMPORT or IMPORT (gunicorn)"
    )
    parser.add_argument("--paths", default="/hello,/items")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8, help="wrk -c")
    parser.add_argument("--threads", type=int, default=1, help="wrk -t")
    parser.add_argument("--chdir", default=common.REPO_DIR, help="gunicorn --chdir")
    parser.add_argument("--baseline", default="flask")
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = 1.0 if args.tiny else 2.0 if args.quick else 10.0
    if args.rounds is None:
        args.rounds = 1 if (args.tiny or args.quick) else 2
    if args.tiny and not args.app:
        args.impls = "batteries"
    return args


def parse_wrk(output: str) -> dict[str, t.Any]:
    """Requests/s, p50/p99 latency (ms), errors and non-2xx/3xx counts from wrk's output."""

    def latency(pct: str) -> float | None:
        m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        return float(m.group(1)) * UNITS[m.group(2)] if m else None

    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "requests_per_s": float(rps.group(1)) if rps else None,
        "requests": int(total.group(1)) if total else None,
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "socket_errors": sum(int(x) for x in socket.groups()) if socket else 0,
        "non_2xx_3xx": int(non2xx.group(1)) if non2xx else 0,
    }


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (from ``/proc``)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def tree_rss_kib(pid: int) -> int:
    """RSS of ``pid`` plus its direct children (a gunicorn master and its workers), KiB."""
    return sum(common.rss_kib(p) or 0 for p in [pid, *children(pid)])


class Server:
    """A gunicorn server of our own on a loopback port; stopped by its own pid."""

    def __init__(self, name: str, target: str, args: argparse.Namespace) -> None:
        self.name, self.target = name, target
        self.host = common.require_loopback(args.host)
        self.port = common.free_port(self.host)
        self.url = f"http://{self.host}:{self.port}"
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join([common.BENCH_DIR, common.REPO_DIR]),
        )
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"{self.host}:{self.port}",
            "--workers",
            str(args.workers),
            "--chdir",
            args.chdir,
            "--log-level",
            "warning",
            "--graceful-timeout",
            "5",
            target,
        ]
        self.proc = subprocess.Popen(cmd, env=env, start_new_session=True)

    def wait_ready(self, path: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn for {self.name} exited ({self.proc.returncode})")
            try:
                with urllib.request.urlopen(self.url + path, timeout=2) as response:
                    if response.status < 500:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn for {self.name} did not answer within {timeout} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the master stops its workers
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def prepare(target: str, chdir: str) -> None:
    """Build the app once before the workers start (creates and fills its database)."""
    module, _, call = target.partition(":")
    code = f"import {module} as m; m.{call}" if call.endswith(")") else f"import {module}"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([common.BENCH_DIR, common.REPO_DIR]))
    subprocess.run([sys.executable, "-c", code], cwd=chdir, env=env, check=True, timeout=120)


def run_wrk(url: str, args: argparse.Namespace, duration: float) -> dict[str, t.Any]:
    cmd = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        "--timeout",
        "5s",
        url,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return parse_wrk(proc.stdout)


def _stop_servers_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so ``finally`` stops the servers we started."""
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def targets(args: argparse.Namespace) -> dict[str, str]:
    if args.app:
        named = {}
        for i, spec in enumerate(args.app):
            name, sep, target = spec.partition("=")
            named[name if sep else f"app{i + 1}"] = target if sep else spec
        return named
    return {impl: APPS[impl] for impl in args.impls.split(",") if impl}


def main(argv: list[str] | None = None) -> dict[str, t.Any]:
    args = parse_args(argv)
    common.require_loopback(args.host)
    missing = [tool for tool in ("wrk",) if shutil.which(tool) is None]
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        missing.append("gunicorn")
    if missing:
        return {"name": "load", "skipped": f"{' and '.join(missing)} not installed"}
    apps = targets(args)
    paths = [p for p in args.paths.split(",") if p]
    _stop_servers_on_sigterm()
    servers: dict[str, Server] = {}
    samples: dict[tuple[str, str], list[dict[str, t.Any]]] = {}
    rss: dict[str, dict[str, int]] = {}
    try:
        for name, target in apps.items():
            prepare(target, args.chdir)
            servers[name] = Server(name, target, args)
        for name, server in servers.items():
            server.wait_ready(paths[0])
            run_wrk(server.url + paths[0], args, 1)  # warm-up: imports, first requests
            rss[name] = {"start_kib": tree_rss_kib(server.proc.pid)}
        pairs = [(name, path) for name in servers for path in paths]
        rng = random.Random(0)
        for _ in range(args.rounds):
            rng.shuffle(pairs)
            for name, path in pairs:
                figures = run_wrk(servers[name].url + path, args, args.duration)
                samples.setdefault((PATH_NAMES.get(path, path), name), []).append(figures)
        for name, server in servers.items():
            rss[name]["end_kib"] = tree_rss_kib(server.proc.pid)
    finally:
        for server in servers.values():
            server.stop()
    rows = []
    order = {name: i for i, name in enumerate(apps)}
    case_order = {PATH_NAMES.get(p, p): i for i, p in enumerate(paths)}
    for (case, impl), runs in sorted(
        samples.items(), key=lambda kv: (case_order[kv[0][0]], order[kv[0][1]])
    ):
        rps = [r["requests_per_s"] for r in runs if r["requests_per_s"] is not None]
        rows.append(
            {
                "case": case,
                "impl": impl,
                "median": common.median(rps) if rps else None,
                "unit": "req/s",
                "p50_ms": common.median(
                    [r["p50_ms"] for r in runs if r["p50_ms"] is not None] or [0]
                ),
                "p99_ms": common.median(
                    [r["p99_ms"] for r in runs if r["p99_ms"] is not None] or [0]
                ),
                "errors": sum(r["socket_errors"] for r in runs),
                "non_2xx_3xx": sum(r["non_2xx_3xx"] for r in runs),
                "requests": sum(r["requests"] or 0 for r in runs),
                "rss_start_kib": rss.get(impl, {}).get("start_kib"),
                "rss_end_kib": rss.get(impl, {}).get("end_kib"),
            }
        )
    medians = {(r["case"], r["impl"]): r["median"] for r in rows}
    ratios: dict[str, float] = {}
    for case, impl in medians:
        for other in (args.baseline, "stack", "django"):
            if impl == "batteries" or (impl != args.baseline and other == args.baseline):
                if other != impl:
                    value = common.ratio(medians[case, impl], medians.get((case, other)))
                    if value is not None:
                        ratios[f"{case} {impl}/{other}"] = value
    return {
        "name": "load",
        "unit": "req/s",
        "higher_is_better": True,
        "rows": rows,
        "ratios": ratios,
        "settings": {
            "duration_s": args.duration,
            "rounds": args.rounds,
            "workers": args.workers,
            "wrk": f"-t{args.threads} -c{args.connections}",
            "host": args.host,
        },
    }


def report(result: dict[str, t.Any]) -> None:
    if "skipped" in result:
        print("load: skipped:", result["skipped"])
        return
    s = result["settings"]
    print(
        f"Case 6 — gunicorn ({s['workers']} workers) under wrk {s['wrk']}, "
        f"{s['duration_s']:g} s per run, {s['host']}"
    )
    headers = ["case", "app", "req/s", "p50", "p99", "errors", "non-2xx", "RSS start", "RSS end"]
    lines = []
    for r in result["rows"]:
        lines.append(
            [
                r["case"],
                r["impl"],
                f"{r['median']:,.0f}" if r["median"] else "—",
                f"{r['p50_ms']:.2f} ms",
                f"{r['p99_ms']:.2f} ms",
                str(r["errors"]),
                str(r["non_2xx_3xx"]),
                f"{(r['rss_start_kib'] or 0) / 1024:.1f} MiB",
                f"{(r['rss_end_kib'] or 0) / 1024:.1f} MiB",
            ]
        )
    print(common.table(headers, lines))
    for key, value in result["ratios"].items():
        print(f"{key}: {common.fmt_ratio(value)} (requests/s; higher is better)")


if __name__ == "__main__":
    report(main())

"""Shared helpers of the benchmark suite: in-process WSGI calls, interleaved rounds, medians.

Every benchmark module in ``bench/`` is runnable alone and exposes ``main(argv=None) -> dict``.
The dict it returns should have this shape (``bench/run.py`` prints and plots it; other keys are
kept in the JSON file as they are)::

    {
        "name": "wsgi",
        "unit": "us",                       # unit of "median" in rows
        "rows": [{"case": "hello", "impl": "batteries", "median": 41.2, ...}, ...],
        "ratios": {"hello batteries/flask": 0.95, ...},
        "goals": [{"ratio": "hello batteries/flask", "op": "<=", "target": 0.97}, ...],
    }

Measuring in process, side by side: :func:`interleave` runs each contender a batch of calls per
round, in a shuffled order each round, so a burst of load from another process on the (shared)
machine hits every contender alike; the figure kept is the median over rounds of the per-call
time of a batch. :func:`wsgi_caller` calls a WSGI app directly with a prepared environ (no test
client, whose own overhead is larger than a hello request).
"""

from __future__ import annotations

import gc
import io
import ipaddress
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import typing as t

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)

if BENCH_DIR not in sys.path:  # so ``import apps`` works however a module was started
    sys.path.insert(0, BENCH_DIR)

WSGIApp = t.Callable[[dict, t.Callable[..., t.Any]], t.Iterable[bytes]]


# -- WSGI calls ---------------------------------------------------------------------------------


def make_environ(
    path: str = "/",
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    content_type: str | None = None,
) -> dict[str, t.Any]:
    """A WSGI environ as a browser on localhost would send it (built once, copied per call)."""
    from werkzeug.test import EnvironBuilder

    default_headers = {
        "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "User-Agent": "batteries-bench/1.0",
        "Accept-Encoding": "gzip, deflate",
    }
    default_headers.update(headers or {})
    builder = EnvironBuilder(
        path=path,
        method=method,
        headers=default_headers,
        data=body or None,
        content_type=content_type,
        base_url="http://localhost/",
    )
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    environ.pop("wsgi.input", None)
    return environ


class _StartResponse:
    __slots__ = ("status", "headers")

    def __init__(self) -> None:
        self.status = ""
        self.headers: list[tuple[str, str]] = []

    def __call__(
        self, status: str, headers: list[tuple[str, str]], exc_info: t.Any = None
    ) -> t.Any:
        self.status = status
        self.headers = headers
        return None


def call_wsgi(app: WSGIApp, environ: dict[str, t.Any], body: bytes = b"") -> tuple[str, bytes]:
    """Call ``app`` once with a copy of ``environ``; return the status line and the body."""
    env = dict(environ)
    env["wsgi.input"] = io.BytesIO(body)
    start = _StartResponse()
    result = app(env, start)
    try:
        data = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return start.status, data


def wsgi_caller(
    app: WSGIApp,
    environ: dict[str, t.Any],
    body: bytes = b"",
    expect: str = "200",
) -> t.Callable[[], None]:
    """A no-argument function that calls ``app`` once (checked once here: status ``expect``)."""
    status, data = call_wsgi(app, environ, body)
    if not status.startswith(expect):
        raise RuntimeError(
            f"{environ.get('PATH_INFO')} answered {status!r}, expected {expect}: {data[:300]!r}"
        )
    new_input = io.BytesIO
    start = _StartResponse()

    def call() -> None:
        env = environ.copy()
        env["wsgi.input"] = new_input(body)
        result = app(env, start)
        for _chunk in result:
            pass
        close = getattr(result, "close", None)
        if close is not None:
            close()

    return call


# -- command line -------------------------------------------------------------------------------


def size_args(
    description: str,
    argv: list[str] | None,
    rounds: int,
    calls: int,
    quick: tuple[int, int],
    tiny: tuple[int, int] = (1, 10),
) -> t.Any:
    """A benchmark's ``--rounds``/``--calls``/``--quick``/``--tiny`` arguments, parsed;
    ``quick`` and ``tiny`` are the (rounds, calls) those flags set."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--calls", type=int, default=calls)
    parser.add_argument(
        "--quick", action="store_true", help=f"{quick[0]} rounds of {quick[1]:,} calls"
    )
    parser.add_argument("--tiny", action="store_true", help="smoke-test size (no figures)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.calls = quick
    if args.tiny:
        args.rounds, args.calls = tiny
    return args


# -- timing -------------------------------------------------------------------------------------


#: The clock of in-process measurements: CPU time of this process. On a shared machine, wall time
#: also counts the time other processes hold the CPU; CPU time does not (set ``BENCH_CLOCK=wall``
#: to measure wall time instead).
CLOCK = time.perf_counter if os.environ.get("BENCH_CLOCK") == "wall" else time.process_time
CLOCK_NAME = "wall" if CLOCK is time.perf_counter else "process CPU"


def time_batch(fn: t.Callable[[], t.Any], calls: int) -> float:
    """Seconds per call of ``calls`` back-to-back calls of ``fn`` (by :data:`CLOCK`)."""
    perf = CLOCK
    start = perf()
    for _ in range(calls):
        fn()
    return (perf() - start) / calls


def interleave(
    contenders: dict[str, t.Callable[[], t.Any]],
    rounds: int,
    calls: int,
    warmup: int = 1,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Per-call seconds of each contender, one figure per round, in shuffled order each round.

    The garbage collector is collected between batches and left enabled during them (apps
    allocate; a contender that makes more garbage pays for it).
    """
    rng = random.Random(seed)
    names = list(contenders)
    for _ in range(warmup):
        for name in names:
            time_batch(contenders[name], max(1, calls // 4))
    samples: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        rng.shuffle(names)
        for name in names:
            gc.collect()
            samples[name].append(time_batch(contenders[name], calls))
    return samples


def median(values: t.Iterable[float]) -> float:
    return statistics.median(list(values))


def paired_ratio(a: list[float], b: list[float]) -> float | None:
    """Median over rounds of ``a[i] / b[i]``: each round's two batches ran close in time, so
    a burst of load that slows one round cancels out of that round's ratio."""
    pairs = [x / y for x, y in zip(a, b, strict=False) if y]
    return median(pairs) if pairs else None


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, or None when either is missing or ``b`` is zero."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def fmt_value(value: float | None, unit: str = "us") -> str:
    if value is None:
        return "—"
    if unit == "us":
        return f"{value:,.1f} µs" if value < 1000 else f"{value / 1000:,.2f} ms"
    if unit == "s":
        return f"{value:.3f} s"
    if unit in ("×", "x"):
        return f"{value:.2f}×"
    if value >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:,.2f} {unit}"


_COMPARE: dict[str, t.Callable[[float, float], bool]] = {
    "<=": lambda value, target: value <= target,
    "<": lambda value, target: value < target,
    ">=": lambda value, target: value >= target,
    ">": lambda value, target: value > target,
}


def goal_met(value: float | None, op: str, target: float) -> bool | None:
    """Whether ``value op target`` holds (None when there is no value)."""
    if value is None:
        return None
    try:
        compare = _COMPARE[op]
    except KeyError:
        raise ValueError(f"unknown goal operator {op!r}; use one of {sorted(_COMPARE)}") from None
    return compare(value, target)


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain-text table (left column left-aligned, the rest right-aligned)."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: list[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            out.append(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]))
        return "  ".join(out)

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def matrix_result(
    name: str,
    samples: dict[tuple[str, str], list[float]],
    baseline: str,
    unit: str = "us",
    scale: float = 1e6,
) -> dict[str, t.Any]:
    """Rows and ratios (each impl over ``baseline``) from samples keyed by (case, impl).

    A row's ``median`` is the median per-call time over rounds; a ratio is the median of the
    per-round ratios (:func:`paired_ratio`), which a noisy machine disturbs less.
    """
    rows = []
    medians: dict[tuple[str, str], float] = {}
    for (case, impl), values in samples.items():
        med = median(values) * scale
        medians[case, impl] = med
        rows.append(
            {
                "case": case,
                "impl": impl,
                "median": med,
                "min": min(values) * scale,
                "max": max(values) * scale,
                "rounds": len(values),
            }
        )
    ratios: dict[str, float] = {}
    for case, impl in medians:
        if impl != baseline and (case, baseline) in samples:
            value = paired_ratio(samples[case, impl], samples[case, baseline])
            if value is not None:
                ratios[f"{case} {impl}/{baseline}"] = value
    return {"name": name, "unit": unit, "clock": CLOCK_NAME, "rows": rows, "ratios": ratios}


def print_matrix(result: dict[str, t.Any], impls: list[str], baseline: str) -> None:
    """Print a case × impl table of medians, then each impl's ratio to ``baseline``."""
    unit = result.get("unit", "us")
    cases: list[str] = []
    medians: dict[tuple[str, str], float] = {}
    for row in result["rows"]:
        if row["case"] not in cases:
            cases.append(row["case"])
        medians[row["case"], row["impl"]] = row["median"]
    present = [i for i in impls if any((c, i) in medians for c in cases)]
    headers = ["case", *present, *(f"{i}/{baseline}" for i in present if i != baseline)]
    rows = []
    for case in cases:
        cells = [case]
        cells += [fmt_value(medians.get((case, i)), unit) for i in present]
        cells += [
            fmt_ratio(result["ratios"].get(f"{case} {i}/{baseline}"))
            for i in present
            if i != baseline
        ]
        rows.append(cells)
    print(table(headers, rows))
    for goal in result.get("goals", []):
        value = result["ratios"].get(goal["ratio"])
        met = goal_met(value, goal["op"], goal["target"])
        verdict = "n/a" if met is None else ("met" if met else "MISSED")
        print(f"goal {goal['ratio']} {goal['op']} {goal['target']}: {fmt_ratio(value)} {verdict}")


# -- processes ----------------------------------------------------------------------------------


def run_peak_rss(cmd: list[str], timeout: float = 120, **popen: t.Any) -> tuple[int, float, int]:
    """Run ``cmd``; return (exit status, wall seconds, peak RSS of that process in KiB).

    The peak comes from ``wait4``'s resource usage of that one child (Linux reports KiB).
    """
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, **popen)
    deadline = start + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.002)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.perf_counter() - start, int(usage.ru_maxrss)


def rss_kib(pid: int) -> int | None:
    """Current resident set size of ``pid`` in KiB (Linux ``/proc``), None if it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


def require_loopback(host: str) -> str:
    """Return ``host`` if it is a loopback address; refuse anything else (load tests stay local)."""
    candidate = host.strip("[]")
    if candidate == "localhost":
        return host
    try:
        if ipaddress.ip_address(candidate).is_loopback:
            return host
    except ValueError:
        pass
    raise ValueError(
        f"refusing to load-test {host!r}: benchmarks only target loopback "
        "(127.0.0.1, ::1 or localhost)"
    )


def free_port(host: str = "127.0.0.1") -> int:
    require_loopback(host)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def machine() -> dict[str, t.Any]:
    """A short description of the machine and the versions measured."""
    import platform

    info: dict[str, t.Any] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = os.getloadavg()
        info["loadavg"] = [round(x, 2) for x in load]
    except OSError:
        pass
    from importlib import metadata

    versions = {}
    for dist in ("flask", "werkzeug", "batteries", "django", "sqlalchemy", "gunicorn"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    info["versions"] = versions
    return info


# -- a busy machine ---------------------------------------------------------------------------


#: the burner: a tight integer loop in a process of its own
_BURN = "x = 0\nwhile True:\n    x = (x * 1103515245 + 12345) & 0xFFFFFFFF\n"


class busy_core:
    """A second process burning one core while the ``with`` block runs.

    A trick that only pays while a core is idle (a helper thread, a parallel parse) shows up as a
    loss here: servers are measured busy as well as idle. ``BENCH_BUSY=1`` in the environment
    (set by ``bench/run.py --busy``) makes every benchmark that uses it burn a core.
    """

    def __init__(self, enabled: bool | None = None) -> None:
        if enabled is None:
            enabled = os.environ.get("BENCH_BUSY") == "1"
        self.enabled = enabled
        self.process: t.Any = None

    def __enter__(self) -> busy_core:
        if self.enabled:
            self.process = subprocess.Popen([sys.executable, "-c", _BURN])
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(5)
            self.process = None

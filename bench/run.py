"""Run the whole benchmark suite: one command, one table, one JSON file, one plot.

Usage::

    python bench/run.py                 # every benchmark, full size (several minutes)
    python bench/run.py --quick         # a short run: rough figures, same shape
    python bench/run.py --only wsgi,db  # some of them
    python bench/run.py --out results.json --plot ratios.png
    python bench/run.py --busy          # the same with a second process burning one core

Each benchmark module (``bench/<name>.py``, see :data:`BENCHMARKS`) runs in a process of its own
(so one cannot disturb another's imports or memory figures) through its ``main(argv)``; a module
that is not there yet is skipped with a note. The harness prints one table — every median, each
contender's ratio to its baseline, and each goal with its verdict — writes everything to
``bench/results/results.json`` (``--out``) and plots the ratios to ``bench/results/ratios.png``
(``--plot``; ``docs/bench-ratios.png`` is a copy of a final full run's plot).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import typing as t

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)
for _path in (REPO_DIR, BENCH_DIR):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import common  # noqa: E402

#: Benchmark modules in the order they run, with what each measures.
BENCHMARKS: dict[str, str] = {
    "wsgi": "case 1: hello, JSON, template, DB page in process (vs Flask, stack, Django, bare)",
    "db": "case 2: DB list page, SQLite and PostgreSQL (vs stack and hand-written)",
    "forms": "case 2: CSRF form POST (vs stack)",
    "checksum": "case 3: 8 MiB / 512 MiB bodies with checksum (throughput, peak memory)",
    "startup": "case 4: start-up of a 2,000-view app, eager vs lazy_url",
    "cache_tasks": "case 5: cached page hit vs miss; Celery round trip per broker",
    "auth": "login_required / current_user per request (vs Flask-Login, tutorial pattern)",
    "load": "case 6: gunicorn (2 workers) under wrk over loopback",
}

#: Files in bench/ that are not benchmarks.
NOT_BENCHMARKS = {"common", "run", "__init__", "conftest"}


def discover() -> list[str]:
    """The known benchmarks in order, then any other ``bench/*.py`` with a ``main``."""
    names = list(BENCHMARKS)
    for entry in sorted(os.listdir(BENCH_DIR)):
        name, ext = os.path.splitext(entry)
        if ext != ".py" or name in NOT_BENCHMARKS or name in names or name.startswith("_"):
            continue
        with open(os.path.join(BENCH_DIR, entry), encoding="utf-8") as f:
            if "\ndef main(" in f.read():
                names.append(name)
    return names


#: Seconds a benchmark may take before it is stopped (quick, full).
TIMEOUTS = (900, 3600)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run Batteries' benchmark suite.")
    parser.add_argument("--quick", action="store_true", help="short runs (rough figures)")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument(
        "--tiny", action="store_true", help="smoke-test size (no meaningful figures)"
    )
    parser.add_argument(
        "--out", default=os.path.join(BENCH_DIR, "results", "results.json"), help="JSON file"
    )
    parser.add_argument(
        "--plot", default=os.path.join(BENCH_DIR, "results", "ratios.png"), help="PNG of ratios"
    )
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument(
        "--busy",
        action="store_true",
        help="burn one core in a second process during every benchmark (a loaded server)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    parser.add_argument("--child-args", default="", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def module_path(name: str) -> str:
    return os.path.join(BENCH_DIR, f"{name}.py")


def load_module(name: str) -> t.Any:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", module_path(name))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def module_argv(name: str, quick: bool, tiny: bool = False) -> list[str]:
    """``--tiny`` or ``--quick`` for a module that understands it (older modules may not)."""
    if not (quick or tiny):
        return []
    with open(module_path(name), encoding="utf-8") as f:
        source = f.read()
    if tiny and "--tiny" in source:
        return ["--tiny"]
    return ["--quick"] if "--quick" in source else []


def run_child(name: str, out: str, argv: list[str]) -> None:
    """In the child process: run one benchmark, print its own report, write its dict as JSON."""
    module = load_module(name)
    result = module.main(argv)
    report = getattr(module, "report", None)
    if callable(report):
        report(result)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f, default=str)


def run_benchmark(
    name: str, quick: bool, tiny: bool = False, busy: bool = False
) -> dict[str, t.Any]:
    """Run ``bench/<name>.py``'s ``main`` in a child process; its dict, or an error/skip note."""
    if not os.path.isfile(module_path(name)):
        return {"skipped": f"bench/{name}.py is not there yet"}
    argv = module_argv(name, quick, tiny)
    fd, out = tempfile.mkstemp(prefix=f"bench-{name}-", suffix=".json")
    os.close(fd)
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        name,
        "--child-out",
        out,
        "--child-args",
        json.dumps(argv),
    ]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO_DIR, BENCH_DIR]))
    if busy:
        env["BENCH_BUSY"] = "1"
    start = time.perf_counter()
    try:
        with common.busy_core(busy):
            proc = subprocess.run(
                cmd, env=env, timeout=TIMEOUTS[0 if quick else 1], check=False
            )
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            return {"error": f"exited with status {proc.returncode}", "seconds": elapsed}
        with open(out, encoding="utf-8") as f:
            result = json.load(f)
        if not isinstance(result, dict):
            return {"error": f"main() returned {type(result).__name__}, not a dict"}
        result.setdefault("seconds", round(elapsed, 1))
        return result
    except subprocess.TimeoutExpired:
        return {"error": f"stopped after {TIMEOUTS[0 if quick else 1]} s"}
    except (OSError, ValueError) as exc:
        return {"error": f"no result: {exc}"}
    finally:
        try:
            os.unlink(out)
        except OSError:
            pass


# -- reading results of any shape -----------------------------------------------------------


def _flatten(prefix: str, value: t.Any, out: list[tuple[str, float]]) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        out.append((prefix, float(value)))
    elif isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out)


def rows_of(result: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    """The result's rows; for a result without ``rows``, its numeric leaves named ``*ratio*``
    (the rest stays in the JSON file)."""
    rows = result.get("rows")
    if isinstance(rows, list) and all(isinstance(r, dict) for r in rows):
        return rows
    flat: list[tuple[str, float]] = []
    for key, value in result.items():
        if key not in ("ratios", "goals", "settings", "seconds", "machine", "notes"):
            _flatten(key, value, flat)
    return [
        {"case": k, "impl": "", "median": v, "unit": "×"} for k, v in flat if "ratio" in k.lower()
    ]


def ratios_of(result: dict[str, t.Any]) -> dict[str, float]:
    ratios = result.get("ratios")
    if not isinstance(ratios, dict):
        return {}
    return {str(k): float(v) for k, v in ratios.items() if isinstance(v, (int, float))}


def goals_of(result: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    goals = result.get("goals")
    if not isinstance(goals, list):
        return []
    return [g for g in goals if isinstance(g, dict) and "ratio" in g and "target" in g]


def summary_table(results: dict[str, dict[str, t.Any]]) -> str:
    """One table: each median, the contender's ratios, and goals with their verdicts."""
    lines: list[list[str]] = []
    for name, result in results.items():
        if "skipped" in result or "error" in result:
            lines.append([name, result.get("skipped") or f"ERROR: {result['error']}", "", "", ""])
            continue
        unit = result.get("unit", "us")
        ratios = ratios_of(result)
        goals = {g["ratio"]: g for g in goals_of(result)}
        shown: set[str] = set()
        for row in rows_of(result):
            case, impl = str(row.get("case", "")), str(row.get("impl", ""))
            label = f"{case} · {impl}" if impl else case
            prefix = f"{case} {impl}/"
            mine = {
                k: v
                for k, v in ratios.items()
                if impl and k.startswith(prefix) and "/" not in k[len(prefix) :]
            }
            shown.update(mine)
            ratio_text = ", ".join(
                f"{common.fmt_ratio(v)} {k[len(prefix) :]}" for k, v in mine.items()
            )
            goal_text = ", ".join(_goal_text(goals[k], v) for k, v in mine.items() if k in goals)
            median = row.get("median")
            value = (
                common.fmt_value(float(median), str(row.get("unit", unit)))
                if isinstance(median, (int, float))
                else str(median)
            )
            lines.append([name, label, value, ratio_text, goal_text])
        for key, value in ratios.items():
            if key not in shown:
                goal_text = _goal_text(goals[key], value) if key in goals else ""
                lines.append([name, key, "", common.fmt_ratio(value), goal_text])
    return common.table(["benchmark", "case · contender", "median", "ratios", "goal"], lines)


def _goal_text(goal: dict[str, t.Any], value: float | None) -> str:
    met = common.goal_met(value, goal.get("op", "<="), float(goal["target"]))
    verdict = "n/a" if met is None else ("met" if met else "MISSED")
    against = str(goal["ratio"]).rsplit("/", 1)[-1]
    return f"{against} {goal.get('op', '<=')} {goal['target']} {verdict}"


def goal_verdicts(results: dict[str, dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    verdicts = []
    for name, result in results.items():
        ratios = ratios_of(result)
        for goal in goals_of(result):
            value = ratios.get(goal["ratio"])
            verdicts.append(
                {
                    "benchmark": name,
                    **goal,
                    "value": value,
                    "met": common.goal_met(value, goal.get("op", "<="), float(goal["target"])),
                }
            )
    return verdicts


def plot(results: dict[str, dict[str, t.Any]], path: str, title: str) -> str | None:
    """Horizontal bars of every Batteries ratio and every ratio with a goal; goals marked."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install 'batteries[bench]')")
        return None
    bars: list[tuple[str, float, dict[str, t.Any] | None]] = []
    for name, result in results.items():
        goals = {g["ratio"]: g for g in goals_of(result)}
        for key, value in ratios_of(result).items():
            if key in goals or key.split(" ")[-1].startswith("batteries/"):
                bars.append((f"{name}: {key}", value, goals.get(key)))
    if not bars:
        return None
    bars.reverse()
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(bars) + 1.6))
    colors = []
    for _, value, goal in bars:
        met = common.goal_met(value, goal["op"], float(goal["target"])) if goal else None
        colors.append("#4c956c" if met else "#d1495b" if met is False else "#8d99ae")
    ys = range(len(bars))
    ax.barh(list(ys), [b[1] for b in bars], color=colors)
    for y, (_, value, goal) in zip(ys, bars, strict=True):
        ax.text(value, y, f" {value:.2f}×", va="center", fontsize=7)
        if goal:
            target = float(goal["target"])
            ax.plot([target, target], [y - 0.4, y + 0.4], color="black", linewidth=1.5)
    ax.set_yticks(list(ys))
    ax.set_yticklabels([b[0] for b in bars], fontsize=7)
    ax.axvline(1.0, color="#555555", linewidth=0.8, linestyle="--")
    ax.set_xlabel("ratio (time: lower is better; throughput: higher is better) — | goal")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def markdown(document: dict[str, t.Any]) -> str:
    """The results as Markdown: the machine, one table per benchmark, the goals."""
    m = document["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items())
    out = [
        f"Run {document['started']} ({'quick' if document.get('quick') else 'full'}), "
        f"{m.get('cpus')} CPUs ({m.get('cpu', '?')}), Python {m.get('python')}, {versions}; "
        f"load average at the end {m.get('loadavg')}.",
        "",
    ]
    for name, result in document["benchmarks"].items():
        out.append(f"**{name}** — {BENCHMARKS.get(name, '')}")
        out.append("")
        if "skipped" in result or "error" in result:
            out += [f"_{result.get('skipped') or 'error: ' + str(result.get('error'))}_", ""]
            continue
        unit = result.get("unit", "us")
        ratios = ratios_of(result)
        out += ["| case | contender | median | ratios |", "| --- | --- | ---: | --- |"]
        shown: set[str] = set()
        for row in rows_of(result):
            case, impl = str(row.get("case", "")), str(row.get("impl", ""))
            prefix = f"{case} {impl}/"
            mine = {
                k: v
                for k, v in ratios.items()
                if impl and k.startswith(prefix) and "/" not in k[len(prefix) :]
            }
            shown.update(mine)
            median = row.get("median")
            value = (
                common.fmt_value(float(median), str(row.get("unit", unit)))
                if isinstance(median, (int, float))
                else str(median)
            )
            text = ", ".join(f"{common.fmt_ratio(v)} {k[len(prefix) :]}" for k, v in mine.items())
            out.append(f"| {case} | {impl} | {value} | {text} |")
        for key, value in ratios.items():
            if key not in shown:
                out.append(f"| {key} | | | {common.fmt_ratio(value)} |")
        out.append("")
    goals = document.get("goals") or []
    if goals:
        out += ["| goal | measured | verdict |", "| --- | ---: | --- |"]
        for g in goals:
            verdict = "—" if g["met"] is None else ("met" if g["met"] else "**missed**")
            out.append(
                f"| {g['benchmark']}: {g['ratio']} {g.get('op', '<=')} {g['target']} "
                f"| {common.fmt_ratio(g['value'])} | {verdict} |"
            )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> dict[str, t.Any]:
    args = parse_args(argv)
    if args.child:
        run_child(args.child, args.child_out, json.loads(args.child_args))
        return {}
    names = [n for n in args.only.split(",") if n] if args.only else discover()
    unknown = [n for n in names if n not in BENCHMARKS and not os.path.isfile(module_path(n))]
    if unknown:
        raise SystemExit(
            f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}"
        )
    started = dt.datetime.now(dt.timezone.utc)
    results: dict[str, dict[str, t.Any]] = {}
    for name in names:
        print(f"\n=== {name}: {BENCHMARKS.get(name, '')}", flush=True)
        results[name] = run_benchmark(name, args.quick or args.tiny, args.tiny, args.busy)
        if "skipped" in results[name]:
            print(f"skipped: {results[name]['skipped']}")
        elif "error" in results[name]:
            print(f"ERROR: {results[name]['error']}")
    machine = common.machine()
    document = {
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "tiny": args.tiny,
        "busy": args.busy,
        "machine": machine,
        "benchmarks": results,
        "goals": goal_verdicts(results),
    }
    print("\n=== Summary (medians; ratios are medians of per-round ratios)")
    print(summary_table(results))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(document, f, indent=2, default=str)
    md_path = os.path.splitext(args.out)[0] + ".md"
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(markdown(document))
    print(f"\nresults: {args.out} (Markdown: {md_path})")
    if not args.no_plot:
        title = (
            f"Batteries benchmark ratios — {machine.get('cpus')} CPUs, Python {machine['python']}"
            + (" (quick run)" if args.quick else "")
            + (" (one core kept busy)" if args.busy else "")
        )
        written = plot(results, args.plot, title)
        if written:
            print(f"plot: {written}")
    return document


if __name__ == "__main__":
    main()

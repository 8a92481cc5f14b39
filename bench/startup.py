"""Start-up of a 2,000-view app: eager routes vs ``app.lazy_url`` vs an empty app.

Each measurement runs in a fresh interpreter (``python -c``) on a generated package of view
modules (100 modules x 20 views by default; their ``.pyc`` files are written before measuring,
as on a deployed app). A run reports:

- ``startup``: importing the app module, i.e. building the app and adding every rule (and, for
  the eager apps, importing the view modules). ``flask`` and ``batteries`` are imported before
  the clock starts: they are the same for every variant, and their import time is the noisiest
  part of a process start on a loaded machine;
- ``first``: the first request to one view (the lazy app imports its module then; both apps
  build the matcher then).

Variants, interleaved round by round:

- ``empty``: ``Batteries(__name__)`` and one route (the request target);
- ``eager``: a Batteries app importing every view module and calling ``add_url_rule``;
- ``lazy``: a Batteries app calling ``app.lazy_url("pkg.viewsN.view_i", rule)`` for each;
- ``flask_eager``: the eager app on plain Flask (Werkzeug compiles URL builders per rule);
- ``flask_docs_lazy``: Flask's docs ``LazyView`` + ``add_url_rule`` on plain Flask.

The goals (issue 4): ``(lazy - empty) <= 20%`` of ``(eager - empty)`` for start-up, where eager
is the conventional app, Flask's (``flask_eager`` - ``flask_empty``; Batteries' own eager app is
reported beside it, and is already cheap: its URL builders compile on first ``url_for``), first
request of the lazy app <= 2x the eager app's, and the per-request cost of a lazy view after its
first load equal to a normal view's (measured in-process, interleaved, over the WSGI callable).

Usage: ``python bench/startup.py [--views 2000] [--rounds 7] [--requests 20000]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import typing as t

PER_MODULE = 20

APP_TEMPLATE = {
    "empty": """
from batteries import Batteries
app = Batteries(__name__)
app.add_url_rule("/section0/item0/<int:id>", "target", lambda id: "ok")
""",
    "flask_empty": """
from flask import Flask
app = Flask(__name__)
app.add_url_rule("/section0/item0/<int:id>", "target", lambda id: "ok")
""",
    "eager": """
import importlib
from batteries import Batteries
app = Batteries(__name__)
for m in range({modules}):
    mod = importlib.import_module(f"benchpkg.views{{m}}")
    for i in range({per_module}):
        app.add_url_rule(f"/section{{m}}/item{{i}}/<int:id>", view_func=getattr(mod, f"view_{{m}}_{{i}}"))
""",
    "flask_eager": """
import importlib
from flask import Flask
app = Flask(__name__)
for m in range({modules}):
    mod = importlib.import_module(f"benchpkg.views{{m}}")
    for i in range({per_module}):
        app.add_url_rule(f"/section{{m}}/item{{i}}/<int:id>", view_func=getattr(mod, f"view_{{m}}_{{i}}"))
""",
    "lazy": """
from batteries import Batteries
app = Batteries(__name__)
for m in range({modules}):
    for i in range({per_module}):
        app.lazy_url(f"benchpkg.views{{m}}.view_{{m}}_{{i}}", f"/section{{m}}/item{{i}}/<int:id>")
""",
    "flask_docs_lazy": """
from flask import Flask
from werkzeug.utils import import_string, cached_property
class LazyView:
    def __init__(self, import_name):
        self.__module__, self.__name__ = import_name.rsplit(".", 1)
        self.import_name = import_name
    @cached_property
    def view(self):
        return import_string(self.import_name)
    def __call__(self, *args, **kwargs):
        return self.view(*args, **kwargs)
app = Flask(__name__)
for m in range({modules}):
    for i in range({per_module}):
        app.add_url_rule(f"/section{{m}}/item{{i}}/<int:id>",
                         view_func=LazyView(f"benchpkg.views{{m}}.view_{{m}}_{{i}}"))
""",
}

RUNNER = """
import time, sys
import flask, batteries, werkzeug.utils  # shared by every variant: not what the routes add
t0 = time.perf_counter()
from benchpkg.app_{variant} import app
t1 = time.perf_counter()
client = app.test_client()
r = client.get("/section0/item0/7")
t2 = time.perf_counter()
assert r.status_code == 200, r.status_code
print(t1 - t0, t2 - t1)
"""


def make_package(root: str, views: int) -> None:
    pkg = os.path.join(root, "benchpkg")
    os.makedirs(pkg)
    modules = max(1, views // PER_MODULE)
    with open(os.path.join(pkg, "__init__.py"), "w") as f:
        f.write("")
    for m in range(modules):
        with open(os.path.join(pkg, f"views{m}.py"), "w") as f:
            f.write("from flask import request\n\n")
            for i in range(PER_MODULE):
                f.write(f"def view_{m}_{i}(id):\n    return f'view {m}.{i}: {{id}}'\n\n")
    for variant, template in APP_TEMPLATE.items():
        with open(os.path.join(pkg, f"app_{variant}.py"), "w") as f:
            f.write(textwrap.dedent(template.format(modules=modules, per_module=PER_MODULE)))
    # write every .pyc up front (a deployed app has them)
    subprocess.run([sys.executable, "-m", "compileall", "-q", pkg], check=True)


def run_once(root: str, variant: str) -> tuple[float, float]:
    env = dict(os.environ, PYTHONPATH=root, PYTHONDONTWRITEBYTECODE="1")
    env = {k: v for k, v in env.items() if not k.startswith(("FLASK_", "BATTERIES_"))}
    out = subprocess.run(
        [sys.executable, "-c", RUNNER.format(variant=variant)],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[0]), float(out[1])


def per_request(requests: int, rounds: int) -> dict[str, float]:
    """Seconds per request of a normal view and of a lazy view after its first load."""
    from werkzeug.test import EnvironBuilder

    from batteries import Batteries
    from batteries.lazy import LazyView

    with tempfile.TemporaryDirectory() as root:
        with open(os.path.join(root, "bench_lazy_views.py"), "w") as f:
            f.write("def lazy_view(id):\n    return 'hello'\n")
        sys.path.insert(0, root)
        try:
            app = Batteries("bench_app", root_path=root)

            @app.route("/normal/<int:id>")
            def normal_view(id: int) -> str:
                return "hello"

            app.lazy_url("bench_lazy_views.lazy_view", "/lazy/<int:id>")
            environs = {
                name: EnvironBuilder(path=f"/{name}/3").get_environ() for name in ("normal", "lazy")
            }

            def start_response(status: str, headers: t.Any, exc_info: t.Any = None) -> None:
                pass

            def call(name: str) -> None:
                for _chunk in app.wsgi_app(dict(environs[name]), start_response):
                    pass

            call("lazy")  # the first load
            assert not isinstance(app.view_functions["lazy_view"], LazyView)
            results: dict[str, list[float]] = {"normal": [], "lazy": []}
            for _ in range(rounds):
                for name in ("normal", "lazy"):
                    start = time.perf_counter()
                    for _ in range(requests):
                        call(name)
                    results[name].append((time.perf_counter() - start) / requests)
        finally:
            sys.path.remove(root)
            sys.modules.pop("bench_lazy_views", None)
    return {name: statistics.median(values) for name, values in results.items()}


def main(argv: list[str] | None = None) -> dict[str, t.Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=20000)
    args = parser.parse_args(argv)

    variants = list(APP_TEMPLATE)
    samples: dict[str, dict[str, list[float]]] = {v: {"startup": [], "first": []} for v in variants}
    with tempfile.TemporaryDirectory() as root:
        make_package(root, args.views)
        for variant in variants:  # warm-up round (file cache), not counted
            run_once(root, variant)
        for _ in range(args.rounds):
            for variant in variants:
                startup, first = run_once(root, variant)
                samples[variant]["startup"].append(startup)
                samples[variant]["first"].append(first)
    med = {v: {k: statistics.median(values) for k, values in s.items()} for v, s in samples.items()}
    low = {v: {k: min(values) for k, values in s.items()} for v, s in samples.items()}
    low_added = {
        v: low[v]["startup"] - low["flask_empty" if v.startswith("flask") else "empty"]["startup"]
        for v in variants
    }
    added = {v: med[v]["startup"] - med["empty"]["startup"] for v in ("eager", "lazy")}
    added["flask_eager"] = med["flask_eager"]["startup"] - med["flask_empty"]["startup"]
    added["flask_docs_lazy"] = med["flask_docs_lazy"]["startup"] - med["flask_empty"]["startup"]
    req = per_request(max(1, args.requests // args.rounds), args.rounds)
    result: dict[str, t.Any] = {
        "views": args.views,
        "rounds": args.rounds,
        "median_seconds": med,
        "min_seconds": low,
        "ratio_lazy_vs_batteries_eager_of_minimums": low_added["lazy"] / low_added["eager"],
        "ratio_lazy_vs_flask_eager_of_minimums": low_added["lazy"] / low_added["flask_eager"],
        "added_startup_seconds": added,
        "ratio_lazy_vs_batteries_eager": added["lazy"] / added["eager"],
        "ratio_lazy_vs_flask_eager": added["lazy"] / added["flask_eager"],
        "ratio_flask_docs_lazy_vs_flask_eager": added["flask_docs_lazy"] / added["flask_eager"],
        "ratio_first_request_lazy_vs_eager": med["lazy"]["first"] / med["eager"]["first"],
        "per_request_seconds": req,
        "ratio_per_request_lazy_vs_normal": req["lazy"] / req["normal"],
    }

    print(f"start-up of a {args.views}-view app, medians of {args.rounds} fresh processes")
    print(
        f"{'variant':<18}{'startup ms':>12}{'added ms':>12}{'first req ms':>14}"
        f"{'min added ms':>14}"
    )
    for v in variants:
        base = "flask_empty" if v.startswith("flask") else "empty"
        add = med[v]["startup"] - med[base]["startup"]
        print(
            f"{v:<18}{med[v]['startup'] * 1e3:>12.1f}{add * 1e3:>12.1f}"
            f"{med[v]['first'] * 1e3:>14.1f}{low_added[v] * 1e3:>14.1f}"
        )
    print()
    print(f"lazy added / Batteries eager added: {result['ratio_lazy_vs_batteries_eager']:.3f}")
    print(
        f"lazy added / Flask eager added:     {result['ratio_lazy_vs_flask_eager']:.3f}  (goal <= 0.20)"
    )
    print(
        f"Flask docs LazyView / Flask eager:  {result['ratio_flask_docs_lazy_vs_flask_eager']:.3f}"
    )
    print(
        f"first request lazy / eager:         {result['ratio_first_request_lazy_vs_eager']:.2f}  (goal <= 2)"
    )
    print(
        f"per request: normal {req['normal'] * 1e6:.1f} us, lazy after load "
        f"{req['lazy'] * 1e6:.1f} us, ratio {result['ratio_per_request_lazy_vs_normal']:.3f}"
    )
    return result


if __name__ == "__main__":
    main()

"""Case 1: hello, JSON, template page (and the DB page) in process, through the whole WSGI stack.

Contenders (see :mod:`apps`): a bare WSGI callable (the floor), plain Flask, Batteries at its
defaults, the Flask extension stack, and Django with its default middleware. Flask and Batteries
both have ``SECRET_KEY`` set. Each request is a direct call of the WSGI app with a copied environ
(no test client), in interleaved rounds; the figure is the median per-request time.

Goals (Batteries / Flask, issue 19): hello <= 0.80, JSON <= 0.80, the template page <= 0.90
(``template-same``: the same page and layout on both; ``template``: Batteries' page extends
``batteries/base.html``, which also sets the language, a translated skip link, the favicon and
Batteries' stylesheet and script); Batteries ahead of Django with its middleware (hello and DB
page). For context, ``hello-nokey`` is the hello route of Flask and Batteries apps without
``SECRET_KEY`` (Flask then skips the serializer too).

Usage: ``python bench/wsgi.py [--quick] [--rounds N] [--calls N] [--cases hello,json]``
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import typing as t

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common

IMPLS = ["bare", "flask", "batteries", "stack", "django"]
MODULES = {
    "bare": "apps.bare",
    "flask": "apps.flask_app",
    "batteries": "apps.batteries_app",
    "stack": "apps.stack_app",
    "django": "apps.django_app",
}
CASES = {"hello": "/hello", "json": "/json", "template": "/page", "db": "/items"}
#: extra cases: the same route on apps built differently, for these contenders only
VARIANTS = {
    "hello-nokey": ("/hello", {"secret_key": None}, ("flask", "batteries")),
    # the same page through Flask's own layout (the bench's layout.html) on both
    "template-same": ("/page", {"layout": "flask"}, ("flask", "batteries")),
}
#: the bare WSGI callable only answers these
BARE_CASES = {"hello", "json"}
#: slower cases run smaller batches, so every batch lasts about as long
CALLS_SCALE = {"template": 0.5, "template-same": 0.5, "db": 0.15}

GOALS = [
    {"ratio": "hello batteries/flask", "op": "<=", "target": 0.80},
    {"ratio": "json batteries/flask", "op": "<=", "target": 0.80},
    {"ratio": "template-same batteries/flask", "op": "<=", "target": 0.90},
    {"ratio": "template batteries/flask", "op": "<=", "target": 0.90},
    {"ratio": "hello batteries/django", "op": "<=", "target": 1.00},
    {"ratio": "db batteries/django", "op": "<=", "target": 1.00},
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (rough figures)")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--calls", type=int, default=None, help="requests per batch")
    parser.add_argument(
        "--cases", default=",".join([*CASES, *VARIANTS]), help="comma-separated cases"
    )
    parser.add_argument("--impls", default=",".join(IMPLS), help="comma-separated contenders")
    parser.add_argument("--tiny", action="store_true", help="smoke-test size (no real figures)")
    args = parser.parse_args(argv)
    if args.tiny:
        default_rounds, default_calls = 2, 3
    elif args.quick:
        default_rounds, default_calls = 7, 150
    else:
        default_rounds, default_calls = 31, 300
    args.rounds = args.rounds or default_rounds
    args.calls = args.calls or default_calls
    return args


def build_apps(impls: list[str]) -> dict[str, t.Any]:
    return {impl: importlib.import_module(MODULES[impl]).create_app() for impl in impls}


def main(argv: list[str] | None = None) -> dict[str, t.Any]:
    args = parse_args(argv)
    impls = [i for i in args.impls.split(",") if i]
    cases = [c for c in args.cases.split(",") if c]
    apps = build_apps(impls)
    samples: dict[tuple[str, str], list[float]] = {}
    for case in cases:
        if case in VARIANTS:
            path, options, only = VARIANTS[case]
            environ = common.make_environ(path)
            contenders = {
                impl: common.wsgi_caller(
                    importlib.import_module(MODULES[impl]).create_app(**options), environ
                )
                for impl in impls
                if impl in only
            }
        else:
            environ = common.make_environ(CASES[case])
            contenders = {
                impl: common.wsgi_caller(apps[impl], environ)
                for impl in impls
                if impl != "bare" or case in BARE_CASES
            }
        calls = max(1, round(args.calls * CALLS_SCALE.get(case, 1.0)))
        measured = common.interleave(contenders, rounds=args.rounds, calls=calls)
        for impl, values in measured.items():
            samples[case, impl] = values
    result = common.matrix_result("wsgi", samples, baseline="flask")
    medians = {(r["case"], r["impl"]): r["median"] for r in result["rows"]}
    for case in cases:
        for other in ("django", "stack"):
            value = common.ratio(medians.get((case, "batteries")), medians.get((case, other)))
            if value is not None:
                result["ratios"][f"{case} batteries/{other}"] = value
    result["goals"] = [g for g in GOALS if g["ratio"].split()[0] in cases]
    result["settings"] = {"rounds": args.rounds, "calls": args.calls, "quick": args.quick}
    if "batteries" in apps:
        result["notes"] = [f"Batteries DB page: {apps['batteries'].extensions.get('bench_db')}"]
    return result


def report(result: dict[str, t.Any]) -> None:
    print("Case 1 — in-process WSGI, median per request")
    common.print_matrix(result, IMPLS, baseline="flask")
    for note in result.get("notes", []):
        print("note:", note)


if __name__ == "__main__":
    report(main())

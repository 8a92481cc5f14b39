"""Security headers: what ``SECURITY_HEADERS`` costs per request, off and on.

A "hello" view, called in process (direct WSGI calls, interleaved rounds, CPU clock), side by
side:

- ``flask``: plain Flask with a ``SECRET_KEY``, as a deployed app has one (the baseline, as
  in ``bench/wsgi.py``); ``flask-nokey``: plain Flask without one (it then skips building the
  session serializer on every request), for context;
- ``batteries``: Batteries with ``SECURITY_HEADERS`` off (the default: one ``dict.get`` per
  response in ``make_response``);
- ``batteries+headers``: Batteries with ``SECURITY_HEADERS = True`` (six headers, HTTP);
- ``batteries+production``: Batteries with ``app.config.update(PRODUCTION)`` (headers, CSRF on
  every unsafe request, secure cookies), the configuration the docs tell you to deploy;
- ``batteries+nonce``: the production configuration, with a view that uses ``csp_nonce()`` (a
  new nonce per request).

Goals (issue 19): production / defaults <= 1.05 (the secure configuration costs at most 5%)
and production / flask <= 0.85.

Usage: ``python bench/security.py [--rounds 9] [--calls 2000] [--quick]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import typing as t

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common

SECRET_KEY = "bench secret key, long enough to be taken seriously"


def make_apps(root: str) -> dict[str, t.Any]:
    from flask import Flask

    from batteries import Batteries
    from batteries.security import csp_nonce

    def hello() -> str:
        return "Hello, World!"

    def nonce_page() -> str:
        return f'<script nonce="{csp_nonce()}">x()</script>'

    apps: dict[str, t.Any] = {}
    for name, key in (("flask", SECRET_KEY), ("flask-nokey", None)):
        flask_app = Flask(f"bench_{name}", root_path=root)
        flask_app.config["SECRET_KEY"] = key
        flask_app.add_url_rule("/", "hello", hello)
        apps[name] = flask_app
    from batteries.security import PRODUCTION

    for name, config, view in (
        ("batteries", {}, hello),
        ("batteries+headers", {"SECURITY_HEADERS": True}, hello),
        ("batteries+production", PRODUCTION, hello),
        ("batteries+nonce", PRODUCTION, nonce_page),
    ):
        app = Batteries(f"bench_{name}", root_path=root, instance_path=os.path.join(root, "i"))
        app.config.update(config, SECRET_KEY=SECRET_KEY)
        app.add_url_rule("/", "hello", view)
        apps[name] = app
    return apps


def main(argv: list[str] | None = None) -> dict[str, t.Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.calls = 3, 300
    with tempfile.TemporaryDirectory() as root:
        apps = make_apps(root)
        environ = common.make_environ("/")
        callers = {name: common.wsgi_caller(app, environ) for name, app in apps.items()}
        samples = common.interleave(callers, rounds=args.rounds, calls=args.calls)
    medians = {name: common.median(values) for name, values in samples.items()}
    ratios = {name: common.paired_ratio(samples[name], samples["flask"]) for name in samples}
    extra = {
        "headers on / off": common.paired_ratio(samples["batteries+headers"], samples["batteries"]),
        "production / defaults (goal <= 1.05)": common.paired_ratio(
            samples["batteries+production"], samples["batteries"]
        ),
        "production / flask (goal <= 0.85)": ratios["batteries+production"],
        "nonce page / production hello": common.paired_ratio(
            samples["batteries+nonce"], samples["batteries+production"]
        ),
    }
    rows = [
        [name, common.fmt_value(medians[name] * 1e6), common.fmt_ratio(ratios[name])]
        for name in apps
    ]
    print(
        f"security headers: hello view, {args.rounds} rounds x {args.calls} calls "
        f"({common.CLOCK_NAME} clock)"
    )
    print(common.table(["app", "median per request", "vs flask"], rows))
    for label, value in extra.items():
        print(f"{label}: {common.fmt_ratio(value)}")
    return {
        "name": "security",
        "unit": "us",
        "rows": [
            {"case": "hello", "impl": name, "median": medians[name] * 1e6} for name in apps
        ],
        "ratios": {
            **{f"hello {name}/flask": value for name, value in ratios.items() if name != "flask"},
            "hello batteries+production/batteries": extra["production / defaults (goal <= 1.05)"],
            "hello batteries+headers/batteries": extra["headers on / off"],
            "hello batteries+nonce/batteries+production": extra["nonce page / production hello"],
        },
        "goals": [
            {"ratio": "hello batteries+production/batteries", "op": "<=", "target": 1.05},
            {"ratio": "hello batteries+production/flask", "op": "<=", "target": 0.85},
        ],
        "medians_us": {k: v * 1e6 for k, v in medians.items()},
        "ratios_vs_flask": ratios,
        "headers_on_over_off": extra["headers on / off"],
        "production_over_defaults": extra["production / defaults (goal <= 1.05)"],
        "production_over_flask": ratios["batteries+production"],
        "rounds": args.rounds,
        "calls": args.calls,
    }


if __name__ == "__main__":
    main()

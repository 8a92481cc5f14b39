"""Cache and tasks: a cached page (hit, miss) against the uncached one, and task round trips.

Part 1, in process (WSGI calls, interleaved rounds, wall time since a cache does I/O): one page
that renders a 300-row table,

- ``uncached``: the view with no cache;
- ``hit <backend>``: ``@cached`` answering from the cache (filesystem — the default —, simple,
  Redis on 127.0.0.1:6379 when it answers), and Flask + Flask-Caching's ``@cache.cached`` on its
  filesystem cache for contrast;
- ``miss filesystem``: ``@cached`` with a new query string on every call (lookup, view, store).

Part 2, real worker processes (``batteries worker -c 1``): the median time from ``delay()`` to
the value returned by ``AsyncResult.get()`` with Batteries' defaults, per broker — the embedded
SQLite broker (Batteries' own kombu transport and ``QuickResult`` polling), stock kombu's
SQLAlchemy transport on SQLite (``sqla+sqlite://``, with Celery's stock database backend) for
contrast, Redis, and RabbitMQ (results in Redis). Brokers that do not answer are skipped. Goal:
embedded ≤ 150 ms.

Usage: ``python bench/cache_tasks.py [--rounds N] [--calls N] [--trips N] [--quick]
[--no-tasks]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import typing as t
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common

REDIS = "redis://127.0.0.1:6379/0"
AMQP = "amqp://guest:guest@127.0.0.1:5672//"

PAGE = """<table>{% for i in rows %}<tr><td>{{ i }}</td><td>row {{ i * 7 }}</td></tr>{% endfor %}
</table>"""


def up(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


# -- part 1: the page cache ---------------------------------------------------------------------


def batteries_app(folder: str, cache_type: str | None, prefix: str) -> t.Any:
    from flask import render_template_string

    from batteries import Batteries, cached

    app = Batteries("bench_cache", root_path=folder, instance_path=os.path.join(folder, "inst"))
    if cache_type:
        app.config["CACHE_TYPE"] = cache_type
    app.config["CACHE_KEY_PREFIX"] = prefix
    if cache_type == "redis":
        app.config["CACHE_URL"] = REDIS

    @app.get("/page")
    def page():
        return render_template_string(PAGE, rows=range(300))

    @app.get("/cached")
    @cached(timeout=600)
    def cached_page():
        return render_template_string(PAGE, rows=range(300))

    return app


def flask_caching_app(folder: str) -> t.Any:
    from flask import Flask, render_template_string
    from flask_caching import Cache

    app = Flask("bench_fc")
    cache = Cache(
        app,
        config={"CACHE_TYPE": "FileSystemCache", "CACHE_DIR": os.path.join(folder, "fc")},
    )

    @app.get("/cached")
    @cache.cached(timeout=600)
    def cached_page():
        return render_template_string(PAGE, rows=range(300))

    return app


def miss_caller(app: t.Any) -> t.Callable[[], None]:
    environ = common.make_environ("/cached")
    counter = iter(range(10**9))

    def call() -> None:
        env = environ.copy()
        env["QUERY_STRING"] = f"n={next(counter)}"
        env["wsgi.input"] = None
        result = app(env, lambda status, headers, exc_info=None: None)
        for _chunk in result:
            pass
        close = getattr(result, "close", None)
        if close is not None:
            close()

    return call


def wall_interleave(
    contenders: dict[str, t.Callable[[], t.Any]], rounds: int, calls: int
) -> dict[str, list[float]]:
    names = list(contenders)
    rng = random.Random(0)
    for name in names:
        for _ in range(max(1, calls // 4)):
            contenders[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        rng.shuffle(names)
        for name in names:
            fn = contenders[name]
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            samples[name].append((time.perf_counter() - start) / calls)
    return samples


def page_cache(rounds: int, calls: int) -> dict[str, t.Any]:
    folder = tempfile.mkdtemp(prefix="bench-cache-")
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    fs = batteries_app(folder, None, prefix)
    contenders = {
        "uncached": common.wsgi_caller(fs, common.make_environ("/page")),
        "hit filesystem": common.wsgi_caller(fs, common.make_environ("/cached")),
        "miss filesystem": miss_caller(fs),
        "hit simple": common.wsgi_caller(
            batteries_app(folder, "simple", prefix), common.make_environ("/cached")
        ),
        "flask-caching hit filesystem": common.wsgi_caller(
            flask_caching_app(folder), common.make_environ("/cached")
        ),
    }
    redis_app = None
    if up(6379):
        redis_app = batteries_app(folder, "redis", prefix)
        contenders["hit redis"] = common.wsgi_caller(redis_app, common.make_environ("/cached"))
    try:
        samples = wall_interleave(contenders, rounds, calls)
    finally:
        if redis_app is not None:
            with redis_app.app_context():
                from batteries import cache

                cache.clear()
    medians = {name: statistics.median(v) * 1e6 for name, v in samples.items()}
    ratios = {
        f"{name}/uncached": common.paired_ratio(samples[name], samples["uncached"])
        for name in samples
        if name != "uncached"
    }
    return {"medians_us": medians, "ratios": ratios}


# -- part 2: task round trips ---------------------------------------------------------------------

WORKER_APP = """
import json, os
from batteries import Batteries

app = Batteries(__name__, instance_path=os.environ["BENCH_INSTANCE"])
app.config["CELERY"] = json.loads(os.environ["BENCH_CELERY"])


@app.celery.task
def add(a, b):
    return a + b
"""


def broker_settings(folder: str) -> dict[str, dict[str, t.Any]]:
    stock_db = os.path.join(folder, "stock")
    os.makedirs(stock_db, exist_ok=True)
    brokers: dict[str, dict[str, t.Any]] = {
        "embedded sqlite": {},
        "stock kombu sqla": {
            "broker_url": f"sqla+sqlite:///{stock_db}/broker.sqlite",
            "result_backend": f"db+sqlite:///{stock_db}/results.sqlite",
        },
    }
    if up(6379):
        brokers["redis"] = {"broker_url": REDIS, "result_backend": REDIS}
    if up(5672):
        brokers["rabbitmq"] = {"broker_url": AMQP, "result_backend": REDIS if up(6379) else None}
        if brokers["rabbitmq"]["result_backend"] is None:
            del brokers["rabbitmq"]["result_backend"]
    return brokers


class Worker:
    def __init__(self, folder: str, name: str, settings: dict[str, t.Any]) -> None:
        self.name = name
        self.folder = os.path.join(folder, name.replace(" ", "-"))
        os.makedirs(self.folder)
        self.queue = f"bench-{uuid.uuid4().hex[:10]}"
        self.module = f"benchtasks_{uuid.uuid4().hex[:8]}"
        with open(os.path.join(self.folder, self.module + ".py"), "w") as f:
            f.write(WORKER_APP)
        celery = {"task_default_queue": self.queue, **settings}
        if "broker_url" in settings and settings["broker_url"].startswith("redis"):
            celery["broker_transport_options"] = {"global_keyprefix": self.queue + ":"}
        self.env = {
            **os.environ,
            "BENCH_INSTANCE": os.path.join(self.folder, "instance"),
            "BENCH_CELERY": json.dumps(celery),
        }
        self.log = os.path.join(self.folder, "worker.log")
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable, "-m", "batteries", "--app", self.module, "worker",
                    "-c", "1", "--without-mingle", "--without-gossip", "--without-heartbeat",
                    "-Q", self.queue, "--loglevel", "WARNING",
                ],  # fmt: skip
                cwd=self.folder,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        # The client side: the same module, imported here with the same settings.
        os.environ["BENCH_INSTANCE"] = self.env["BENCH_INSTANCE"]
        os.environ["BENCH_CELERY"] = self.env["BENCH_CELERY"]
        sys.path.insert(0, self.folder)
        import importlib

        self.tasks = importlib.import_module(self.module)

    def trip(self) -> float:
        app = self.tasks.app
        with app.app_context():
            start = time.perf_counter()
            value = self.tasks.add.delay(2, 3).get(timeout=30)
            elapsed = time.perf_counter() - start
        assert value == 5, value
        return elapsed

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def round_trips(trips: int) -> dict[str, t.Any]:
    folder = tempfile.mkdtemp(prefix="bench-tasks-")
    workers = [Worker(folder, name, s) for name, s in broker_settings(folder).items()]
    try:
        for worker in workers:  # the first trip waits for the worker to be ready
            worker.trip()
        samples: dict[str, list[float]] = {w.name: [] for w in workers}
        rng = random.Random(1)
        for i in range(trips):
            order = list(workers)
            rng.shuffle(order)
            for worker in order:
                if worker.name == "stock kombu sqla" and i >= max(5, trips // 3):
                    continue  # ~1 s a trip: a few are enough
                samples[worker.name].append(worker.trip())
    finally:
        for worker in workers:
            worker.stop()
    medians = {name: statistics.median(v) * 1e3 for name, v in samples.items() if v}
    return {"medians_ms": medians, "trips": {k: len(v) for k, v in samples.items()}}


def main(argv: list[str] | None = None) -> dict[str, t.Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--trips", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 50 calls, 6 trips")
    parser.add_argument("--no-tasks", action="store_true", help="only the page cache")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.calls, args.trips = 3, 50, 6

    pages = page_cache(args.rounds, args.calls)
    rows = [
        {"case": f"page {name}", "impl": "batteries", "median": value}
        for name, value in pages["medians_us"].items()
    ]
    result: dict[str, t.Any] = {
        "name": "cache_tasks",
        "unit": "us",
        "clock": "wall",
        "rows": rows,
        "ratios": {k: v for k, v in pages["ratios"].items() if v is not None},
        "goals": [{"ratio": "hit filesystem/uncached", "op": "<=", "target": 0.5}],
    }
    print(f"cache_tasks: page, median per request (wall time), {args.rounds} rounds x {args.calls}")
    print(
        common.table(
            ["case", "median", "ratio to uncached"],
            [
                [
                    name,
                    common.fmt_value(value),
                    common.fmt_ratio(pages["ratios"].get(f"{name}/uncached")),
                ]
                for name, value in pages["medians_us"].items()
            ],
        )
    )
    if not args.no_tasks:
        tasks = round_trips(args.trips)
        result["task_round_trip_ms"] = tasks["medians_ms"]
        for name, value in tasks["medians_ms"].items():
            rows.append({"case": f"task round trip {name}", "impl": "batteries",
                         "median": value * 1000})  # fmt: skip
        embedded = tasks["medians_ms"].get("embedded sqlite")
        stock = tasks["medians_ms"].get("stock kombu sqla")
        if embedded is not None:
            # the goal (<= 150 ms) as a ratio, the form bench/run.py reads
            result["ratios"]["task round trip embedded/150 ms"] = embedded / 150
            result["goals"].append(
                {"ratio": "task round trip embedded/150 ms", "op": "<=", "target": 1.0}
            )
            if stock:
                result["ratios"]["task round trip embedded/stock kombu sqla"] = embedded / stock
        print(f"\ntask round trip, delay() -> get(), median of {args.trips} (stock: fewer)")
        print(
            common.table(
                ["broker", "median", "trips"],
                [
                    [name, f"{value:.1f} ms", str(tasks["trips"][name])]
                    for name, value in tasks["medians_ms"].items()
                ],
            )
        )
    result["machine"] = common.machine()
    return result


if __name__ == "__main__":
    main()

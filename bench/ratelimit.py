"""Rate limits: the per-request cost of a ``@rate_limit`` check, by store, vs a hello request.

One Batteries app with a hello view and the same view under ``@rate_limit`` on each store
(a limit high enough never to be reached, one client address), called in process through its
WSGI callable in interleaved rounds (see :mod:`common`). The cost of a check is the median of
(limited − hello) per round. It is compared with two hello requests:

- ``hello`` in process (the WSGI call alone: the strictest yardstick);
- ``hello-http``: the same app served by gunicorn (one sync worker) on loopback, one request
  per connection, as a client sees it (the yardstick the goal is set on).

Both clocks are reported: process CPU time (what the check costs the server's cores; a Redis
round trip's wait is not in it) and wall time (what a client waits, but on a shared machine
also other processes' turns). The goals are set on wall time against ``hello-http``. Redis is
skipped when it does not answer on 6379.

An exact count shared by many machines costs one round trip to Redis per request, so the
floor of a Redis check is that round trip: ``redis-ping`` times a bare ``PING`` on an open
socket (no client library, nothing else), and ``redis-script`` the store's own counting script
(``EVALSHA``, one key) sent and read the same way, in the same rounds. A round trip made in
the middle of a request costs more than one made alone (the request's own code runs again on
caches the switch to the Redis server cooled), so ``ping-in-request`` is a hello view that
sends one bare ``PING`` first, its cost taken over hello as for the checks.

Usage: ``python bench/ratelimit.py [--rounds N] [--calls N] [--quick] [--tiny]``
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
import typing as t
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common

REDIS = "redis://127.0.0.1:6379/0"
LIMIT = "100000000/minute"

APP = """
import os
from batteries import Batteries

app = Batteries("bench_ratelimit_http", instance_path=os.environ["BENCH_INSTANCE"])

@app.get("/")
def hello():
    return "Hello, World!"
"""


def redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def redis_bare(script: bool) -> t.Callable[[], None]:
    """One round trip to Redis on an open socket, no client library: a bare ``PING``, or
    (``script``) the rate-limit store's counting script on one key, as the store sends it."""
    from batteries.counters import RedisStore, _command

    sock = socket.create_connection(("127.0.0.1", 6379), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if script:
        source = RedisStore.SCRIPT.encode()
        sock.sendall(_command(b"SCRIPT", b"LOAD", source))
        sha = sock.recv(256).split(b"\r\n")[1]
        key = f"{RedisStore.KEY_PREFIX}bench-{uuid.uuid4().hex}".encode()
        payload = _command(b"EVALSHA", sha, b"1", key, b"60")
        ends = 3  # *2, :count, :ttl
    else:
        payload, ends = _command(b"PING"), 1

    def round_trip() -> None:
        sock.sendall(payload)
        reply = sock.recv(256)
        while reply.count(b"\r\n") < ends:
            reply += sock.recv(256)

    return round_trip


def make_app(instance: str, store: str) -> t.Any:
    from batteries import Batteries
    from batteries.ratelimit import rate_limit

    app = Batteries(f"bench_ratelimit_{store}", instance_path=os.path.join(instance, store))
    if store == "redis":
        app.config["RATELIMIT_URL"] = REDIS
    elif store == "memory":
        app.config["RATELIMIT_URL"] = "memory:"

    @app.get("/")
    def hello() -> str:
        return "Hello, World!"

    if store == "redis":
        ping = redis_bare(script=False)

        @app.get("/pinged")
        def pinged() -> str:
            ping()
            return "Hello, World!"

    @app.get("/limited")
    @rate_limit(LIMIT, scope=f"bench-{uuid.uuid4().hex}")
    def limited() -> str:
        return "Hello, World!"

    return app


def http_hello(instance: str, rounds: int, calls: int) -> list[float]:
    """Seconds per hello request over loopback HTTP to gunicorn, one figure per round."""
    port = common.free_port()
    app_dir = tempfile.mkdtemp(prefix="bench-rl-")
    with open(os.path.join(app_dir, "rl_hello.py"), "w") as f:
        f.write(APP)
    env = {**os.environ, "BENCH_INSTANCE": os.path.join(instance, "http")}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}", "rl_hello:app"],
        cwd=app_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.1)

        def get() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/")
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.status != 200:
                raise RuntimeError(f"hello over HTTP answered {response.status}")

        for _ in range(max(1, calls // 4)):
            get()
        samples = []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(calls):
                get()
            samples.append((time.perf_counter() - start) / calls)
        return samples
    finally:
        server.terminate()
        server.wait(30)


def main(argv: list[str] | None = None) -> dict[str, t.Any]:
    args = common.size_args(
        __doc__.split("\n\n")[0], argv, rounds=15, calls=1000, quick=(3, 200)
    )
    stores = ["memory", "sqlite"] + (["redis"] if redis_up() else [])
    instance = tempfile.mkdtemp(prefix="bench-rl-instance-")
    contenders: dict[str, t.Callable[[], None]] = {}
    for store in stores:
        app = make_app(instance, store)
        contenders[f"hello|{store}"] = common.wsgi_caller(app, common.make_environ("/"))
        contenders[f"limited|{store}"] = common.wsgi_caller(app, common.make_environ("/limited"))
        if store == "redis":
            contenders["ping-in-request|redis"] = common.wsgi_caller(
                app, common.make_environ("/pinged")
            )
    if "redis" in stores:
        contenders["redis-ping"] = redis_bare(script=False)
        contenders["redis-script"] = redis_bare(script=True)
    by_clock = {}
    for clock_name, clock in (("cpu", time.process_time), ("wall", time.perf_counter)):
        common.CLOCK = clock
        by_clock[clock_name] = common.interleave(contenders, rounds=args.rounds, calls=args.calls)
    hello_http = common.median(http_hello(instance, args.rounds, max(1, args.calls // 4)))

    rows: list[dict[str, t.Any]] = [
        {"case": "hello", "impl": "http (wall)", "median": hello_http * 1e6}
    ]
    ratios: dict[str, float] = {}
    goals = []
    for clock_name, samples in by_clock.items():
        hello = common.median(samples["hello|sqlite"])
        rows.append({"case": "hello", "impl": f"in-process ({clock_name})", "median": hello * 1e6})
        for store in stores:
            pairs = zip(samples[f"limited|{store}"], samples[f"hello|{store}"], strict=True)
            cost = common.median([lim - hel for lim, hel in pairs])
            rows.append({"case": "check", "impl": f"{store} ({clock_name})", "median": cost * 1e6})
            ratios[f"check {store}/hello ({clock_name})"] = cost / hello
            ratios[f"check {store}/hello-http ({clock_name})"] = cost / hello_http
            if store == "redis":
                for bare in ("redis-ping", "redis-script"):
                    floor = common.median(samples[bare])
                    rows.append(
                        {"case": "floor", "impl": f"{bare} ({clock_name})", "median": floor * 1e6}
                    )
                    ratios[f"{bare}/hello-http ({clock_name})"] = floor / hello_http
                pairs = zip(samples["ping-in-request|redis"], samples["hello|redis"], strict=True)
                floor = common.median([pin - hel for pin, hel in pairs])
                rows.append(
                    {"case": "floor", "impl": f"ping-in-request ({clock_name})",
                     "median": floor * 1e6}
                )  # fmt: skip
                ratios[f"ping-in-request/hello-http ({clock_name})"] = floor / hello_http
            if store != "memory" and clock_name == "wall":
                goals.append(
                    {"ratio": f"check {store}/hello-http (wall)", "op": "<", "target": 0.15}
                )
    result = {
        "name": "ratelimit",
        "unit": "us",
        "rows": rows,
        "ratios": ratios,
        "goals": goals,
        "machine": common.machine(),
    }
    print(f"ratelimit: median per request, {args.rounds} rounds x {args.calls}")
    print(common.table(
        ["case", "store", "median"],
        [[r["case"], r["impl"], common.fmt_value(r["median"])] for r in rows],
    ))  # fmt: skip
    for name, value in ratios.items():
        print(f"{name}: {common.fmt_ratio(value)}")
    return result


if __name__ == "__main__":
    main()

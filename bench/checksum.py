"""Request content checksums: what hashing every body as it is read costs.

Flask's "Request Content Checksums" pattern reads the body and hashes it in the view. Batteries
hashes the body inside the request's input stream, in the request's thread, whatever reads it,
and verifies a ``Content-Digest`` header at the end. Measured in process (direct WSGI calls,
interleaved rounds), side by side, each batch timed with two clocks: process CPU time (all
threads) and wall time (``time.perf_counter``), plus the CPU time of the request's own thread:

- ``read+hash``: a raw body read whole. ``flask``: plain Flask, ``request.get_data()`` then
  ``hashlib.sha256(data).hexdigest()``. ``batteries``: ``request.get_data()`` then
  ``request.content_digest()``. ``batteries+verify``: the same request carrying a
  ``Content-Digest`` header, verified. Goal: batteries+verify / flask <= 1.05 (time).
- ``upload``: a multipart upload of one file. ``flask``: plain Flask parsing ``request.files``,
  no hashing. ``flask+hash-after``: plain Flask parsing it, then hashing the stored file (the
  floor for a server that hashes what it received). ``flask+hash``: plain Flask with the
  pattern's own stream wrapper hashing while parsing. ``batteries+verify``: Batteries parsing
  it with a ``Content-Digest`` header, verified. Reported as throughput (MiB/s); goal:
  batteries+verify >= 0.95 x flask+hash-after in wall time, on an idle and on a busy machine.
- ``--busy``: the timings are taken a second time while another process burns a core (on a
  2-core server, the state in which a helper thread would have no core of its own).
- ``--json``: the ``JSON_MAX_DEPTH`` check (``batteries.wrappers.json_too_deep``) against
  ``json.loads`` of the same 16 MiB body (brackets and commas: wide, wide at depth 512, groups
  100 deep; and UTF-16), medians and ratios; goal: check / loads <= 2. Also the longest time
  the check kept another thread waiting for the GIL (a thread ticking every millisecond).
- Peak memory (``VmHWM`` of a child process) while a multipart upload of N MiB streams
  through Batteries with verification (and, for reference, through plain Flask) (the file part
  spools to a temporary file): the body is generated on the fly, never held in memory. Goal:
  flat (the peak grows by far less than the body; reported as the growth over a 1 MiB upload).

Usage: ``python bench/checksum.py [--size-mib 8] [--rounds 7] [--big] [--busy] [--json] [--quick]``
(``--big`` adds the 512 MiB upload; the default run takes well under a minute).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
import time
import typing as t

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common

MIB = 1024 * 1024
BOUNDARY = "benchboundary0123456789"
PATTERN = bytes(range(256)) * 256  # 64 KiB
GOALS = [
    {"ratio": "read+hash batteries+verify/flask", "op": "<=", "target": 1.05},
    {"ratio": "upload wall throughput batteries+verify/flask+hash-after", "op": ">=",
     "target": 0.95},
]
UPLOADS = ["flask", "flask+hash-after", "flask+hash", "batteries+verify"]
BASES = ("flask", "flask+hash-after", "flask+hash")


# -- bodies ---------------------------------------------------------------------------------


def multipart_head() -> bytes:
    return (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="f"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


def multipart_tail() -> bytes:
    return f"\r\n--{BOUNDARY}--\r\n".encode()


class GeneratedBody:
    """A WSGI input of ``size`` payload bytes (a repeated pattern) between ``head`` and ``tail``,
    produced as it is read, so a 512 MiB body never sits in memory."""

    def __init__(self, size: int, head: bytes = b"", tail: bytes = b"") -> None:
        self.head, self.tail, self.size = head, tail, size
        self.length = len(head) + size + len(tail)
        self.pos = 0

    def _byte_source(self, start: int, n: int) -> bytes:
        out = bytearray()
        head, size = len(self.head), self.size
        while n > 0:
            if start < head:
                piece = self.head[start : start + n]
            elif start < head + size:
                offset = (start - head) % len(PATTERN)
                piece = PATTERN[offset : offset + min(n, head + size - start)]
            else:
                t0 = start - head - size
                piece = self.tail[t0 : t0 + n]
            if not piece:
                break
            out += piece
            start += len(piece)
            n -= len(piece)
        return bytes(out)

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.length - self.pos
        data = self._byte_source(self.pos, min(n, self.length - self.pos))
        self.pos += len(data)
        return data

    def readinto(self, buffer: t.Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, n: int = -1) -> bytes:  # not used by Werkzeug's parsers
        return self.read(n if n and n > 0 else 65536)

    def sha256(self) -> bytes:
        digest = hashlib.sha256()
        for start in range(0, self.length, MIB):
            digest.update(self._byte_source(start, min(MIB, self.length - start)))
        return digest.digest()


def digest_header(raw: bytes) -> str:
    return f"sha-256=:{base64.b64encode(raw).decode()}:"


# -- apps -----------------------------------------------------------------------------------


def flask_app() -> t.Any:
    from flask import Flask, request

    app = Flask("bench_checksum_flask")
    app.config["MAX_CONTENT_LENGTH"] = None

    @app.post("/read")
    def read() -> str:
        return hashlib.sha256(request.get_data()).hexdigest()

    @app.post("/upload")
    def upload() -> str:
        f = request.files["f"]
        f.stream.seek(0, os.SEEK_END)
        return str(f.stream.tell())

    @app.post("/upload-hash-after")
    def upload_hash_after() -> str:
        f = request.files["f"]
        f.stream.seek(0)
        digest = hashlib.sha256()
        while chunk := f.stream.read(64 * 1024):
            digest.update(chunk)
        return f"{f.stream.tell()} {digest.hexdigest()}"

    @app.post("/upload-hashed")
    def upload_hashed() -> str:
        # Flask's "Request Content Checksums" pattern: hash the input as the form parser reads it
        hashing = _HashingInput(request.environ["wsgi.input"])
        request.environ["wsgi.input"] = hashing
        f = request.files["f"]
        f.stream.seek(0, os.SEEK_END)
        return f"{f.stream.tell()} {hashing.digest.hexdigest()}"

    return app


class _HashingInput:
    """The stream wrapper of Flask's checksum pattern (written for this benchmark)."""

    def __init__(self, stream: t.Any) -> None:
        self.stream = stream
        self.digest = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        self.digest.update(data)
        return data  # type: ignore[no-any-return]

    def readline(self, n: int = -1) -> bytes:
        data = self.stream.readline(n)
        self.digest.update(data)
        return data  # type: ignore[no-any-return]


def batteries_app() -> t.Any:
    from flask import request

    from batteries import Batteries

    app = Batteries("bench_checksum_batteries")
    app.config.update(MAX_CONTENT_LENGTH=None, SECRET_KEY="bench")

    @app.post("/read")
    def read() -> str:
        request.get_data()
        return request.content_digest()

    @app.post("/upload")
    def upload() -> str:
        f = request.files["f"]
        f.stream.seek(0, os.SEEK_END)
        return str(f.stream.tell())

    return app


# -- in-process timings ---------------------------------------------------------------------


def timings(size: int, rounds: int, calls: int) -> dict[str, t.Any]:
    raw = GeneratedBody(size).read()
    raw_digest = digest_header(hashlib.sha256(raw).digest())
    upload_body = GeneratedBody(size, multipart_head(), multipart_tail()).read()
    upload_digest = digest_header(hashlib.sha256(upload_body).digest())
    upload_type = f"multipart/form-data; boundary={BOUNDARY}"
    flask, batteries = flask_app(), batteries_app()

    def env(path: str, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> dict:
        environ = common.make_environ(path, "POST", headers=headers)
        environ["CONTENT_TYPE"] = ctype  # set here: the builder would pick its own boundary
        environ["CONTENT_LENGTH"] = str(len(body))
        return environ

    octet = "application/octet-stream"
    contenders = {
        ("read+hash", "flask"): common.wsgi_caller(flask, env("/read", raw, octet), raw),
        ("read+hash", "batteries"): common.wsgi_caller(batteries, env("/read", raw, octet), raw),
        ("read+hash", "batteries+verify"): common.wsgi_caller(
            batteries, env("/read", raw, octet, {"Content-Digest": raw_digest}), raw
        ),
        ("upload", "flask"): common.wsgi_caller(
            flask, env("/upload", upload_body, upload_type), upload_body
        ),
        ("upload", "flask+hash-after"): common.wsgi_caller(
            flask, env("/upload-hash-after", upload_body, upload_type), upload_body
        ),
        ("upload", "flask+hash"): common.wsgi_caller(
            flask, env("/upload-hashed", upload_body, upload_type), upload_body
        ),
        ("upload", "batteries+verify"): common.wsgi_caller(
            batteries,
            env("/upload", upload_body, upload_type, {"Content-Digest": upload_digest}),
            upload_body,
        ),
    }
    # a wrong digest must be refused, or the figures above measure nothing
    bad = env("/read", raw, octet, {"Content-Digest": digest_header(b"\0" * 32)})
    status, _ = common.call_wsgi(batteries, bad, raw)
    assert status.startswith("400"), status

    clocks = interleave_clocks(
        {f"{c}|{i}": fn for (c, i), fn in contenders.items()}, rounds=rounds, calls=calls
    )
    by_clock = {
        clock: {tuple(k.split("|")): v for k, v in samples.items()}
        for clock, samples in clocks.items()
    }
    main_clock = "wall" if common.CLOCK_NAME == "wall" else "cpu"
    keyed = by_clock[main_clock]
    result = common.matrix_result("checksum", keyed, baseline="flask", unit="ms", scale=1e3)
    mib = len(upload_body) / MIB
    result["throughput_mib_s"] = {}
    result["upload"] = {}
    for clock, samples in by_clock.items():
        up = {impl: samples["upload", impl] for impl in UPLOADS}
        result["upload"][clock] = {impl: common.median(v) * 1e3 for impl, v in up.items()}
        result["upload"][f"{clock} best round"] = {impl: min(v) * 1e3 for impl, v in up.items()}
        for impl, values in up.items():
            result["throughput_mib_s"][f"upload {clock} {impl}"] = mib / common.median(values)
        for impl in UPLOADS[1:]:
            for base in BASES:
                if impl != base:
                    # throughput ratio = time ratio inverted, paired per round
                    value = common.paired_ratio(up[base], up[impl])
                    result["ratios"][f"upload {clock} throughput {impl}/{base}"] = value
    return result


class Busy:
    """Another process burning one core while the block runs (``with Busy(): ...``)."""

    def __enter__(self) -> Busy:
        import subprocess

        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.5)
        return self

    def __exit__(self, *exc: t.Any) -> None:
        self.proc.kill()
        self.proc.wait()


def interleave_clocks(
    contenders: dict[str, t.Callable[[], t.Any]], rounds: int, calls: int, seed: int = 0
) -> dict[str, dict[str, list[float]]]:
    """:func:`common.interleave`, each batch timed with three clocks: ``cpu`` (the process, all
    threads), ``wall`` and ``thread`` (the CPU time of the calling thread only)."""
    import gc
    import random

    rng = random.Random(seed)
    names = list(contenders)
    for name in names:
        for _ in range(max(1, calls // 4)):
            contenders[name]()
    out: dict[str, dict[str, list[float]]] = {
        c: {n: [] for n in names} for c in ("cpu", "wall", "thread")
    }
    cpu, wall, thread = time.process_time, time.perf_counter, time.thread_time
    for _ in range(rounds):
        rng.shuffle(names)
        for name in names:
            fn = contenders[name]
            gc.collect()
            c0, w0, t0 = cpu(), wall(), thread()
            for _ in range(calls):
                fn()
            w1, c1, t1 = wall(), cpu(), thread()
            out["cpu"][name].append((c1 - c0) / calls)
            out["wall"][name].append((w1 - w0) / calls)
            out["thread"][name].append((t1 - t0) / calls)
    return out


# -- peak memory in a child process ---------------------------------------------------------


def child(size: int, impl: str) -> None:
    """Stream one multipart upload of ``size`` payload bytes through ``impl``; print a summary.

    A 1-byte upload goes first, so that first-request work (lazy imports, app context hooks)
    is not counted in the time of the big one (it still counts in the peak RSS)."""
    app = batteries_app() if impl == "batteries" else flask_app()

    def upload(n: int) -> tuple[str, bytes, float]:
        body = GeneratedBody(n, multipart_head(), multipart_tail())
        headers = {}
        if impl == "batteries":
            headers["Content-Digest"] = digest_header(body.sha256())
        environ = common.make_environ("/upload", "POST", headers=headers)
        environ["CONTENT_TYPE"] = f"multipart/form-data; boundary={BOUNDARY}"
        environ["CONTENT_LENGTH"] = str(body.length)
        environ["wsgi.input"] = body
        start = common._StartResponse()
        t0 = time.perf_counter()
        result = app(environ, start)
        data = b"".join(result)
        getattr(result, "close", lambda: None)()
        return start.status, data, time.perf_counter() - t0

    upload(1)
    status, data, seconds = upload(size)
    print(json.dumps({"status": status, "body": data.decode()[:80],
                      "seconds": seconds, "hwm_kib": _high_water_kib()}))


def _high_water_kib() -> int:
    """This process's peak RSS (``VmHWM``: per address space, so it starts afresh at exec,
    unlike ``ru_maxrss``, which keeps the forking parent's size)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def peak_rss(size: int, impl: str) -> dict[str, t.Any]:
    import tempfile

    cmd = [sys.executable, os.path.abspath(__file__), "--child", impl, "--child-size", str(size)]
    with tempfile.TemporaryFile("w+") as out:
        code, seconds, kib = common.run_peak_rss(cmd, timeout=900, stdout=out)
        out.seek(0)
        text = out.read().strip()
    summary = json.loads(text) if code == 0 and text else {}
    ok = summary.get("status", "").startswith("200") and summary.get("body") == str(size)
    peak = summary.get("hwm_kib") or kib
    request_seconds = summary.get("seconds") or seconds
    return {"impl": impl, "size_mib": size / MIB, "exit": code, "ok": ok,
            "peak_rss_mib": peak / 1024, "seconds": seconds, "request_seconds": request_seconds,
            "mib_s": size / MIB / request_seconds}


def memory(sizes: list[int]) -> dict[str, t.Any]:
    rows = []
    for impl in ("flask", "batteries"):
        impl_rows = [peak_rss(size, impl) for size in sizes]
        for row in impl_rows:
            row["growth_mib"] = row["peak_rss_mib"] - impl_rows[0]["peak_rss_mib"]
        rows += impl_rows
    return {"rows": rows}


# -- the JSON depth check -------------------------------------------------------------------


def json_bodies(size: int) -> dict[str, bytes]:
    wide = b"[" + b"[]," * (size // 3 - 1) + b"[]]"
    at_limit = b"[" * 511 + b"[1]," * (size // 4 - 300) + b"[1]" + b"]" * 511
    group = b"[" * 100 + b"]" * 100
    groups = b"[" + b",".join([group] * (size // 201)) + b"]"
    return {
        "wide": wide,
        "wide at depth 512": at_limit,
        "groups 100 deep": groups,
        "wide, UTF-16": (b"[" + b"[]," * (size // 6 - 1) + b"[]]").decode().encode("utf-16"),
    }


def _tick(stop: t.Any, ticks: list[float]) -> None:
    """Note the time every millisecond until ``stop`` is set (each tick needs the GIL)."""
    while not stop.is_set():
        ticks.append(time.perf_counter())
        time.sleep(0.001)


def json_depth(size: int, rounds: int) -> dict[str, t.Any]:
    import gc
    import threading

    from batteries.wrappers import json_too_deep

    rows = {}
    for name, body in json_bodies(size).items():
        assert json_too_deep(body, 512) is None, name
        loads, check, gaps = [], [], []
        for _ in range(rounds):
            gc.collect()
            t0 = time.perf_counter()
            json.loads(body)
            loads.append(time.perf_counter() - t0)
            gc.collect()
            stop = threading.Event()
            ticks: list[float] = []

            ticker = threading.Thread(target=_tick, args=(stop, ticks))
            ticker.start()
            time.sleep(0.01)
            t0 = time.perf_counter()
            json_too_deep(body, 512)
            check.append(time.perf_counter() - t0)
            stop.set()
            ticker.join()
            gaps.append(max(b - a for a, b in zip(ticks, ticks[1:], strict=False)))
        rows[name] = {
            "loads_ms": common.median(loads) * 1e3,
            "check_ms": common.median(check) * 1e3,
            "ratio": common.paired_ratio(check, loads),
            "longest_gil_wait_ms": max(gaps) * 1e3,
        }
    return rows


# -- main -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, t.Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--big", action="store_true", help="add the 512 MiB upload (memory)")
    parser.add_argument("--json", action="store_true", help="time the JSON depth check")
    parser.add_argument("--busy", action="store_true",
                        help="time again with another process burning a core")
    parser.add_argument("--quick", action="store_true", help="1 MiB, 3 rounds (smoke test)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child_size, args.child)
        return {}
    if args.quick:
        args.size_mib, args.rounds = 1, 3
    size = int(args.size_mib * MIB)
    result = timings(size, args.rounds, args.calls)
    result["load_average"] = os.getloadavg()[0]
    if args.busy:
        with Busy():
            busy = timings(size, args.rounds, args.calls)
            busy["load_average"] = os.getloadavg()[0]
        result["busy"] = {key: busy[key] for key in ("ratios", "upload", "load_average")}
        for key, value in busy["ratios"].items():
            result["ratios"][f"busy {key}"] = value
        GOALS.append({"ratio": "busy upload wall throughput batteries+verify/flask+hash-after",
                      "op": ">=", "target": 0.95})
    result["goals"] = GOALS
    result["size_mib"] = args.size_mib
    if args.json:
        result["json_depth"] = json_depth(MIB if args.quick else 16 * MIB, args.rounds)
        for name, row in result["json_depth"].items():
            result["ratios"][f"json depth check/loads {name}"] = row["ratio"]
    sizes = [1 * MIB, 64 * MIB] + ([512 * MIB] if args.big else [])
    if args.quick:
        sizes = [1 * MIB, 8 * MIB]
    result["memory"] = memory(sizes)
    result["machine"] = common.machine()

    print(f"Request checksums, {args.size_mib:g} MiB bodies, {result['clock']} clock, "
          f"median of {args.rounds} rounds")
    common.print_matrix(result, ["flask", "flask+hash", "batteries", "batteries+verify"], "flask")
    passes = [("idle", result)] + ([("busy", result["busy"])] if args.busy else [])
    for label, figures in passes:
        print()
        print(f"multipart upload of {args.size_mib:g} MiB, {label}, median of {args.rounds} "
              f"rounds (load average {figures['load_average']:.1f} on {os.cpu_count()} CPUs)")
        rows = []
        for impl in UPLOADS:
            cells = [impl]
            for clock in ("wall", "cpu", "thread"):
                ms = figures["upload"][clock][impl]
                cells.append(f"{ms:.2f} ms ({size / MIB / ms * 1e3:,.0f} MiB/s)")
            for base in BASES:
                value = figures["ratios"].get(f"upload wall throughput {impl}/{base}")
                cells.append(common.fmt_ratio(value))
            rows.append(cells)
        print(common.table(
            ["impl", "wall", "process CPU", "request thread CPU",
             *(f"wall ×{base}" for base in BASES)],
            rows,
        ))
        print("read+hash batteries+verify/flask (time): "
              + common.fmt_ratio(figures["ratios"].get("read+hash batteries+verify/flask")))
    if args.json:
        print()
        print(common.table(
            ["JSON body (16 MiB)", "json.loads", "depth check", "check/loads",
             "longest GIL wait"],
            [[name, f"{row['loads_ms']:.0f} ms", f"{row['check_ms']:.0f} ms",
              common.fmt_ratio(row["ratio"]), f"{row['longest_gil_wait_ms']:.0f} ms"]
             for name, row in result["json_depth"].items()],
        ))
    print()
    print(common.table(
        ["streamed multipart upload", "peak RSS", "growth over 1 MiB", "wall time", "throughput"],
        [[f"{r['impl']}{'+verify' if r['impl'] == 'batteries' else ''} {r['size_mib']:g} MiB"
          + ("" if r["ok"] else f" (FAILED, exit {r['exit']})"),
          f"{r['peak_rss_mib']:.1f} MiB", f"{r['growth_mib']:+.1f} MiB",
          f"{r['request_seconds']:.3f} s", f"{r['mib_s']:,.0f} MiB/s"]
         for r in result["memory"]["rows"]],
    ))
    return result


if __name__ == "__main__":
    main()

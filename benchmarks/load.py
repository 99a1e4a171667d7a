"""Load benchmark: a real uvicorn on 127.0.0.1 under closed-loop and open-loop (fixed arrival rate) load.

Usage: .venv/bin/python -m benchmarks.load [--soak-seconds 300] [--step-seconds 20] [--json]

One `python -m app serve` (one worker, the prebuilt index of the default article, rate limit off so the limit
under test is capacity, not policy). The load generator is an asyncio aiohttp client in this process (aiohttp,
not httpx: it spends about 0.9 ms of CPU per request where httpx spends 2.7, and the generator shares the two
cores with the server, so a heavy client would lower the capacity it measures and delay its own sends):
  1. single-request latency: 200 sequential POST /ask (the reference p50);
  2. closed loop at concurrency 1, 8 and 32 (each client sends its next request when the last returns):
     throughput and latency percentiles; the concurrency-8 throughput is taken as the capacity;
  3. open loop at 50%, 100% and 150% of capacity: requests are *sent on a fixed schedule* whether or not
     earlier ones returned, and latency is measured from the scheduled send time, so queueing shows in the
     tail (no coordinated omission). Past capacity the server should shed load (503 from uvicorn's
     --limit-concurrency, 429) quickly rather than queue until timeouts;
  4. soak: open loop at 50% of capacity for --soak-seconds; resident memory (VmRSS) at start and end;
  5. attacks: the 50%-of-capacity open loop again while one client (a) hoards 150 idle connections, (b) keeps
     20 connections sending their headers a byte every 0.5 s (slowloris), (c) streams adds of 60-sentence
     briefs through POST /documents one after another; each row counts refusals that are not JSON.
  6. writes side by side: two fresh servers from the same index, one with the writer process (the default)
     and one writing on a thread of its own (NEWSQA_WRITE_PROCESS=false), each given the 50% open loop at
     rest and then while adds stream, in turns for --write-rounds rounds: /ask's p99 ratio (median), adds done,
     resident memory of server and writer.
Targets: no errors below capacity; p99 at 50% of capacity ≤ 3× the single-request p50; RSS flat over the soak;
under each attack, /ask p99 ≤ 3× its p99 at rest (the 50% row) and no non-JSON refusal.
A measurement, not a test: a missed target is reported, never a failure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import numpy as np

from app.config import get_settings
from app.embed.reference import Embedder
from app.index.encoders import Encoders
from app.service import QAService
from benchmarks import harness
from benchmarks.harness import ARTICLE, QUESTIONS

TIMEOUT_S = 10.0


@dataclass
class Run:
    name: str
    offered: str
    seconds: float
    sent: int = 0
    ok: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    error_seconds: set[int] = field(default_factory=set)  # which seconds of the run saw errors (one burst or many)
    send_lag_ms: float = 0.0  # open loop: how far behind its schedule the generator sent a request, at worst

    def row(self) -> dict[str, object]:
        lat = np.asarray(self.latencies_ms or [float("nan")])
        errors = {k: v for k, v in self.statuses.items() if k != "200"}
        return {
            "run": self.name,
            "offered": self.offered,
            "throughput_rps": round(self.ok / self.seconds, 1),
            "p50_ms": round(float(np.percentile(lat, 50)), 2),
            "p95_ms": round(float(np.percentile(lat, 95)), 2),
            "p99_ms": round(float(np.percentile(lat, 99)), 2),
            "sent": self.sent,
            "errors": sum(errors.values()),
            "error_kinds": dict(errors),
            "max_send_lag_ms": round(self.send_lag_ms, 1),
            "error_seconds": sorted(self.error_seconds),
        }


async def one(session: aiohttp.ClientSession, url: str, n: int, run: Run, scheduled: float) -> None:
    run.sent += 1
    try:
        async with session.post(f"{url}/ask", json={"question": QUESTIONS[n % len(QUESTIONS)]}) as response:
            await response.read()
            status = str(response.status)
            if status != "200" and not response.headers.get("content-type", "").startswith("application/json"):
                status += " (not JSON)"
    except TimeoutError:
        status = "timeout"
    except aiohttp.ClientError as exc:
        status = type(exc).__name__
    run.statuses[status] += 1
    if status == "200":
        run.ok += 1
        run.latencies_ms.append((time.perf_counter() - scheduled) * 1000)
    else:
        run.error_seconds.add(int(time.perf_counter() - run.started))


def client(connections: int) -> aiohttp.ClientSession:
    """At most `connections` open at once (more requests wait in the client, and that wait counts as latency)."""
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=TIMEOUT_S), trust_env=False)


async def closed_loop(url: str, concurrency: int, seconds: float) -> Run:
    run = Run(f"closed loop, {concurrency} client{'s' if concurrency > 1 else ''}", f"c={concurrency}", seconds)
    deadline = time.perf_counter() + seconds
    async with client(concurrency) as http:

        async def worker(offset: int) -> None:
            n = offset
            while time.perf_counter() < deadline:
                await one(http, url, n, run, time.perf_counter())
                n += concurrency

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return run


async def open_loop(url: str, rate: float, seconds: float, name: str) -> Run:
    """Requests sent at fixed times (every 1/rate s) regardless of completion; latency from the scheduled time."""
    run = Run(name, f"{rate:.0f} req/s", seconds)
    interval = 1.0 / rate
    with generator_without_gc_pauses():
        async with client(512) as http:
            start = time.perf_counter()
            pending: set[asyncio.Task[None]] = set()  # finished requests are let go, not kept for the whole soak
            for n in range(int(rate * seconds)):
                scheduled = start + n * interval
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                # a generator that falls behind (it shares the cores) sends what it owes in a burst: worth seeing
                run.send_lag_ms = max(run.send_lag_ms, (time.perf_counter() - scheduled) * 1000)
                task = asyncio.create_task(one(http, url, n, run, scheduled))
                pending.add(task)
                task.add_done_callback(pending.discard)
            await asyncio.gather(*pending)
    return run


@contextlib.contextmanager
def generator_without_gc_pauses() -> Iterator[None]:
    """No garbage collection in the load generator while it sends on a schedule.

    With tens of thousands of requests' worth of objects alive, one full collection stopped the generator for
    about 350 ms; it then sent the ~85 requests it owed at once, and the server rightly shed what passed its
    in-flight limit: errors "below capacity" that measured the generator, not the service. Collected between
    runs instead.
    """
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from any of its threads: the writer process is spawned by one)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
    return out


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def measure(url: str, pid: int, step: float, soak: float) -> dict[str, object]:
    single = Run("single requests, sequential", "1 at a time", 1.0)
    async with client(1) as http:
        for n in range(220):
            began = time.perf_counter()
            await one(http, url, n, single, began)
    single.latencies_ms = single.latencies_ms[20:]  # the first 20 warm up
    single_p50 = statistics.median(single.latencies_ms)
    runs = [await closed_loop(url, c, step / 2) for c in (1, 8, 32)]
    capacity = runs[1].ok / runs[1].seconds
    for share in (0.5, 1.0, 1.5):
        runs.append(await open_loop(url, capacity * share, step, f"open loop, {share:.0%} of capacity"))
    rss_start = rss_mb(pid)
    soak_run = await open_loop(url, capacity * 0.5, soak, f"soak, 50% of capacity, {soak:.0f} s")
    rss_end = rss_mb(pid)
    runs.append(soak_run)
    attacks = await under_attack(url, capacity * 0.5, step)
    runs += attacks
    half = next(r for r in runs if r.name == "open loop, 50% of capacity")
    p99_half = float(np.percentile(half.latencies_ms, 99))
    # below capacity: half load and the soak; the closed loops never offer more than is served. At exactly 100 %
    # an open loop has no slack, its queue wanders, and shedding what passes the in-flight limit is by design
    below = [r for r in runs if r.name.startswith(("open loop, 50%", "soak", "closed"))]
    at = next(r for r in runs if r.name == "open loop, 100% of capacity")
    return {
        "single_p50_ms": round(single_p50, 2),
        "capacity_rps": round(capacity, 1),
        "runs": [r.row() for r in runs],
        "p99_at_half_over_single_p50": round(p99_half / single_p50, 2),
        "errors_below_capacity": sum(int(r.row()["errors"]) for r in below),  # type: ignore[call-overload]
        "shed_at_capacity": int(at.row()["errors"]),  # type: ignore[call-overload]
        "rss_mb": {"soak_start": round(rss_start), "soak_end": round(rss_end)},
        "attacks": [
            {
                "attack": r.name,
                "p99_over_rest": round(float(np.percentile(r.latencies_ms or [float("nan")], 99)) / p99_half, 2),
                "not_json": sum(v for k, v in r.statuses.items() if "not JSON" in k),
            }
            for r in attacks
        ],
    }


ADMIN_KEY = "load-benchmark-admin"


async def hoard(url: str, stop: asyncio.Event, count: int = 150) -> None:
    """Keep `count` idle connections open (reopened when the server closes them)."""
    host, port = url.removeprefix("http://").split(":")
    held: list[asyncio.StreamWriter] = []
    while not stop.is_set():
        held = [w for w in held if not w.is_closing()]
        while len(held) < count:
            with contextlib.suppress(OSError):
                held.append((await asyncio.open_connection(host, int(port)))[1])
        await asyncio.sleep(0.2)
    for writer in held:
        writer.close()


async def slow_headers(url: str, stop: asyncio.Event, count: int = 20) -> None:
    """`count` connections each sending a request head a byte every 0.5 s (a new one when one is cut off)."""
    host, port = url.removeprefix("http://").split(":")
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 4000

    async def one_slow() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection(host, int(port))
                for byte in head:
                    if stop.is_set() or writer.is_closing():
                        break
                    writer.write(bytes([byte]))
                    with contextlib.suppress(OSError):
                        await writer.drain()
                    await asyncio.sleep(0.5)
                writer.close()

    await asyncio.gather(*(one_slow() for _ in range(count)))


async def stream_adds(url: str, stop: asyncio.Event, done: list[int] | None = None) -> None:
    """Adds of 60-sentence briefs, one after another, for as long as the run lasts (`done` collects the status
    of each)."""
    n = 0
    async with client(2) as http:
        while not stop.is_set():
            text = f"Council Minutes {n}\n\n" + " ".join(
                f"The council met on day {i} of session {n} and approved item {i * 3}." for i in range(60)
            )
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.post(f"{url}/documents", json={"doc_id": f"minutes-{n % 5}", "text": text},
                                     headers={"X-API-Key": ADMIN_KEY}, timeout=aiohttp.ClientTimeout(total=120)) as r:
                    await r.read()
                    if done is not None:
                        done.append(r.status)
            n += 1


async def under_attack(url: str, rate: float, seconds: float) -> list[Run]:
    """The half-capacity open loop while each attack runs."""
    runs = []
    for name, attack in (("hoarded connections (150 idle)", hoard), ("slow headers (20 slowloris)", slow_headers),
                         ("writes during reads (adds streamed)", stream_adds)):
        stop = asyncio.Event()
        attacker = asyncio.create_task(attack(url, stop))
        await asyncio.sleep(1.0)
        runs.append(await open_loop(url, rate, seconds, f"attack: {name}"))
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(attacker, 30)
    return runs


async def writes_pair(url: str, pid: int, rate: float, seconds: float) -> dict[str, object]:
    """/ask at `rate` at rest, then while adds stream, back to back on one server: its p99 ratio, the adds done,
    and the resident memory of the server and of its writer process (if it has one)."""
    warm = Run("warm-up", "1 at a time", 1.0)
    async with client(1) as http:  # a fresh server: its first questions fill caches
        for n in range(200):
            await one(http, url, n, warm, time.perf_counter())
    await open_loop(url, rate, seconds / 2, "warm-up")
    rest = await open_loop(url, rate, seconds, "rest")
    statuses: list[int] = []
    stop = asyncio.Event()
    attacker = asyncio.create_task(stream_adds(url, stop, statuses))
    await asyncio.sleep(1.0)
    during = await open_loop(url, rate, seconds, "adds streamed")
    stop.set()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(attacker, 30)
    children = child_pids(pid)
    p99_rest = float(np.percentile(rest.latencies_ms, 99))
    p99_during = float(np.percentile(during.latencies_ms or [float("nan")], 99))
    return {
        "p99_rest_ms": round(p99_rest, 2), "p99_during_ms": round(p99_during, 2),
        "p95_during_ms": round(float(np.percentile(during.latencies_ms or [float("nan")], 95)), 2),
        "ratio": round(p99_during / p99_rest, 2), "adds": sum(1 for x in statuses if x in (200, 201)),
        "errors": int(during.row()["errors"]),  # type: ignore[call-overload]
        # the writer is the largest child (the other is multiprocessing's resource tracker, ~13 MB)
        "rss_server_mb": round(rss_mb(pid)), "rss_writer_mb": round(max((rss_mb(c) for c in children), default=0)),
    }


def median_pair(results: list[dict[str, object]]) -> dict[str, object]:
    """The median of each figure over the rounds (adds and errors summed), so one noisy round does not decide."""
    out: dict[str, object] = {"rounds": len(results), "each_ratio": [r["ratio"] for r in results]}
    for key in results[0]:
        values = [float(r[key]) for r in results]  # type: ignore[arg-type]
        out[key] = int(sum(values)) if key in ("adds", "errors") else round(statistics.median(values), 2)
    return out


def render(report: dict[str, object]) -> str:
    lines = [
        "| run | offered | throughput req/s | p50 ms | p95 ms | p99 ms | sent | errors | generator late, max ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:  # type: ignore[attr-defined]
        kinds = ", ".join(f"{k}: {v}" for k, v in r["error_kinds"].items())
        lines.append(
            f"| {r['run']} | {r['offered']} | {r['throughput_rps']} | {r['p50_ms']} | {r['p95_ms']} | "
            f"{r['p99_ms']} | {r['sent']} | {r['errors']}{f' ({kinds})' if kinds else ''} | "
            f"{r['max_send_lag_ms'] if r['offered'].endswith('req/s') else '—'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--step-seconds", type=float, default=20.0, help="seconds per open-loop step (20)")
    parser.add_argument("--soak-seconds", type=float, default=300.0, help="soak length (300)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--write-rounds", type=int, default=3, help="rounds of the writes side by side (3)")
    parser.add_argument("--writes-only", action="store_true",
                        help="only the writes side by side (capacity from a closed loop of 8 on the first server)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="newsqa-load-") as tmp:
        scratch = Path(tmp)
        corpus_dir, index_dir, log = scratch / "corpus", scratch / "index", scratch / "server.log"
        corpus_dir.mkdir()
        shutil.copy2(ARTICLE, corpus_dir / ARTICLE.name)
        QAService.load(get_settings(corpus_dir=corpus_dir, index_dir=index_dir), encoders=Encoders(Embedder.load()))
        pristine = scratch / "pristine"  # the same start for each server of the writes comparison
        shutil.copytree(corpus_dir, pristine / "corpus")
        shutil.copytree(index_dir, pristine / "index")
        env = {"NEWSQA_RATE_LIMIT": "off", "NEWSQA_RELOAD_SECONDS": "0", "NEWSQA_LOG_LEVEL": "warning",
               "NEWSQA_ADMIN_API_KEY": ADMIN_KEY}
        with harness.running_server(corpus_dir, index_dir, log, env) as (process, url):
            harness.wait_ready(process, url, log)
            if args.writes_only:
                capacity = asyncio.run(closed_loop(url, 8, args.step_seconds)).ok / args.step_seconds
                report: dict[str, object] = {"capacity_rps": round(capacity, 1), "single_p50_ms": "—"}
            else:
                report = asyncio.run(measure(url, process.pid, args.step_seconds, args.soak_seconds))
        # writes side by side: the same rest/adds pair on a server with the writer process and on one without
        rate = float(report["capacity_rps"]) * 0.5  # type: ignore[arg-type]
        pairs: dict[str, dict[str, object]] = {}
        with contextlib.ExitStack() as stack:  # both servers up at once; measured in turns, one round after another
            servers = {}
            for where, flag in (("the writer process (default)", "true"), ("a thread of the server", "false")):
                folder = scratch / f"writes-{flag}"
                shutil.copytree(pristine, folder)
                process, url = stack.enter_context(harness.running_server(
                    folder / "corpus", folder / "index", log, {**env, "NEWSQA_WRITE_PROCESS": flag}))
                harness.wait_ready(process, url, log)
                for _ in range(600):  # the writer process starts once the server is ready (at most 60 s)
                    if flag == "false" or len(child_pids(process.pid)) >= 2:
                        break
                    time.sleep(0.1)
                servers[where] = (process.pid, url)
            time.sleep(2.0)  # the writer process loads the index
            rounds: dict[str, list[dict[str, object]]] = {where: [] for where in servers}
            for _ in range(args.write_rounds):
                for where, (pid, url) in servers.items():
                    rounds[where].append(asyncio.run(writes_pair(url, pid, rate, args.step_seconds)))
            pairs = {where: median_pair(results) for where, results in rounds.items()}
        report["writes"] = pairs
    if args.json:
        print(json.dumps(report))
        return 0
    print(
        f"one uvicorn worker, {os.cpu_count()} CPUs shared with the load generator; single-request p50 "
        f"{report['single_p50_ms']} ms; capacity (closed loop, 8 clients) {report['capacity_rps']} req/s\n"
    )
    if not args.writes_only:
        print_full(report)
    print_writes(report, args.step_seconds)
    return 0


def print_full(report: dict[str, object]) -> None:
    print(render(report))
    rss = report["rss_mb"]
    print(
        f"\np99 at 50% of capacity = {report['p99_at_half_over_single_p50']}× the single-request p50 (target ≤ 3×); "
        f"errors below capacity: {report['errors_below_capacity']} (target 0); "
        f"shed at 100%: {report['shed_at_capacity']}; "
        f"RSS over the soak: {rss['soak_start']} → {rss['soak_end']} MB"  # type: ignore[index]
    )
    for a in report["attacks"]:  # type: ignore[attr-defined]
        print(f"{a['attack']}: /ask p99 = {a['p99_over_rest']}× its p99 at rest (target ≤ 3×); "
              f"non-JSON refusals: {a['not_json']} (target 0)")
    for r in report["runs"]:  # type: ignore[attr-defined]
        if r["errors"] and not r["run"].startswith(("open loop, 100%", "open loop, 150%")):  # past capacity: expected
            print(f"{r['run']}: errors in second(s) {r['error_seconds']} of the run")


def print_writes(report: dict[str, object], step: float) -> None:
    rounds = next(iter(report["writes"].values()))["rounds"]  # type: ignore[attr-defined]
    print(f"\nwrites side by side (/ask at {float(report['capacity_rps']) * 0.5:.0f} req/s, "  # type: ignore[arg-type]
          f"{step:.0f} s at rest, then {step:.0f} s while 60-sentence adds stream; the two servers in turns, "
          f"median of {rounds} rounds, adds and errors summed):\n")
    print("| writes run in | /ask p99 at rest, ms | p95 / p99 during adds, ms | p99 ratio | adds done | errors | "
          "RSS server / writer process, MB |\n|---|---|---|---|---|---|---|")
    for where, w in report["writes"].items():  # type: ignore[attr-defined]
        print(f"| {where} | {w['p99_rest_ms']} | {w['p95_during_ms']} / {w['p99_during_ms']} | {w['ratio']}× | "
              f"{w['adds']} | {w['errors']} | {w['rss_server_mb']} / {w['rss_writer_mb'] or '—'} |")
    for where, w in report["writes"].items():  # type: ignore[attr-defined]
        print(f"{where}: p99 ratio of each round {w['each_ratio']}")


if __name__ == "__main__":
    sys.exit(main())

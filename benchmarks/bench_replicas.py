"""Two replicas behind the front proxy against one, side by side in one run.

Usage: .venv/bin/python -m benchmarks.bench_replicas [--step-seconds 10] [--rounds 2] [--backend builtin|milvus]
    [--unshared]

Debian's nginx runs the shipped site (docs/deploy/nginx-newsqa.conf) with two changes: its upstream lists one
or two `python -m app serve` replicas, and its per-address request and connection limits are left out (the
load generator is one address; those limits are what tests/test_front_proxy.py checks). The replicas share one
corpus and index folder and one redis-server (NEWSQA_REDIS_URL: rate limits, chat de-duplication, jobs and the
writers' lock), each on its own free loopback port. With the upstream of one replica and then of two (nginx
reloaded in between, the same processes up throughout), in turns for --rounds rounds: the closed loop of 8
clients (throughput: the capacity), then the open loop at 50 % and 100 % of the one-replica capacity (p50 and
p99 from the scheduled send time, load.py's generator). Prints the medians and the ratios two / one.

With --backend milvus the replicas take their candidates from one `milvus-lite server` on a loopback port
(NEWSQA_SEARCH_BACKEND=milvus). Then, for either backend, --adds briefs are added one at a time through the
first replica and the second is asked about each until it quotes it: the seconds from the add's 201 to the
other replica's first answer from the brief (--reload-seconds, default 0.5 as docs/deployment.md sets it).
With --unshared (Milvus only) each replica has a corpus and index folder of its own, and the second learns of
the first's adds from Milvus alone (the head generation, then the brief's text and vectors: app/index/lifecycle.py
`synced_index`).

Two cores are shared by the load generator, nginx and the replicas: a second replica can use the core the first
one's GIL leaves idle, but no more than the machine has. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from app.config import get_settings
from app.embed.reference import Embedder
from app.index.encoders import Encoders
from app.service import QAService
from benchmarks import harness
from benchmarks.harness import ARTICLE, ROOT, free_port
from benchmarks.load import closed_loop, open_loop
from tests.briefs_generator import generate_briefs
from tests.support import REDIS_SERVER, MilvusLiteServer, RedisServer

NGINX = Path("/usr/sbin/nginx")
SITE = ROOT / "docs" / "deploy" / "nginx-newsqa.conf"


def site_for(upstreams: list[int], port: int) -> str:
    """The shipped site with these upstream ports, this listening port, and no per-address limits."""
    site = SITE.read_text(encoding="utf-8")
    servers = "\n".join(f"    server 127.0.0.1:{u};" for u in upstreams)
    site = site.replace("    server 127.0.0.1:8000;", servers)
    site = site.replace("listen 127.0.0.1:8080;", f"listen 127.0.0.1:{port};")
    kept = [line for line in site.splitlines() if not line.strip().startswith(("limit_req ", "limit_conn "))]
    return "\n".join(kept) + "\n"


@contextlib.contextmanager
def nginx(folder: Path, upstreams: list[int]) -> Iterator[tuple[subprocess.Popen[bytes], str, int]]:
    port = free_port()
    for name in ("logs", "temp"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    (folder / "site.conf").write_text(site_for(upstreams, port), encoding="utf-8")
    (folder / "nginx.conf").write_text(
        f"daemon off;\nworker_processes 1;\nerror_log {folder}/logs/error.log warn;\npid {folder}/nginx.pid;\n"
        f"events {{ worker_connections 1024; }}\nhttp {{\n    access_log off;\n"
        f"    client_body_temp_path {folder}/temp/body;\n    proxy_temp_path {folder}/temp/proxy;\n"
        f"    fastcgi_temp_path {folder}/temp/fastcgi;\n    uwsgi_temp_path {folder}/temp/uwsgi;\n"
        f"    scgi_temp_path {folder}/temp/scgi;\n    include {folder}/site.conf;\n}}\n",
        encoding="utf-8",
    )
    process = subprocess.Popen([str(NGINX), "-p", str(folder), "-c", str(folder / "nginx.conf")])
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.05)
        yield process, f"http://127.0.0.1:{port}", port
    finally:
        process.terminate()
        process.wait(30)


def point_at(folder: Path, process: subprocess.Popen[bytes], upstreams: list[int], port: int) -> None:
    """Rewrite the upstream and reload nginx (SIGHUP); wait for the new worker."""
    (folder / "site.conf").write_text(site_for(upstreams, port), encoding="utf-8")
    process.send_signal(signal.SIGHUP)
    time.sleep(1.5)


async def measure(url: str, step: float, reference: float | None) -> dict[str, float]:
    capacity_run = await closed_loop(url, 8, step)
    capacity = capacity_run.ok / capacity_run.seconds
    base = reference or capacity
    out = {"capacity": capacity}
    for share in (0.5, 1.0):
        run = await open_loop(url, base * share, step, f"open {share:.0%}")
        latencies = run.latencies_ms or [float("nan")]
        out[f"p50_{share:.0%}"] = float(np.percentile(latencies, 50))
        out[f"p99_{share:.0%}"] = float(np.percentile(latencies, 99))
        out[f"errors_{share:.0%}"] = float(sum(v for k, v in run.statuses.items() if k != "200"))
    return out


ADMIN_KEY = "bench-admin-key"


def seconds_to_visible(first: str, second: str, adds: int) -> list[float]:
    """Add briefs through `first`, one at a time; for each, the seconds until `second` quotes it."""
    waits: list[float] = []
    with harness.local_client(120.0) as client:
        for brief in generate_briefs(adds, seed=77):
            body = {"doc_id": f"visible-{brief.doc_id}", "text": brief.text}
            added = client.post(f"{first}/documents", json=body, headers={"X-API-Key": ADMIN_KEY})
            if added.status_code != 201:
                raise RuntimeError(f"add: {added.status_code} {added.text[:300]}")
            acknowledged = time.perf_counter()
            question = brief.text.split("\n", 1)[0].lower()  # its title, as a reader would type it
            while time.perf_counter() - acknowledged < 60:
                answer = client.post(f"{second}/ask", json={"question": question, "doc_ids": [body["doc_id"]]})
                if answer.status_code == 200 and answer.json()["quotes"]:
                    break
                time.sleep(0.01)
            waits.append(time.perf_counter() - acknowledged)
    return waits


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--step-seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--backend", choices=("builtin", "milvus"), default="builtin")
    parser.add_argument("--adds", type=int, default=10, help="briefs added to time their visibility (10)")
    parser.add_argument("--unshared", action="store_true", help="a folder per replica (Milvus only)")
    parser.add_argument("--reload-seconds", type=float, default=0.5, help="NEWSQA_RELOAD_SECONDS (0.5)")
    args = parser.parse_args()
    if args.unshared and args.backend != "milvus":
        parser.error("--unshared needs --backend milvus: the built-in backend's replicas share their folder")
    if not REDIS_SERVER.exists() or not NGINX.exists():
        print("needs redis-server and nginx (make redis proxy)")
        return 1
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="newsqa-replicas-") as tmp, contextlib.ExitStack() as stack:
        scratch = Path(tmp)
        corpus_dir, index_dir, log = scratch / "corpus", scratch / "index", scratch / "server.log"
        corpus_dir.mkdir()
        shutil.copy2(ARTICLE, corpus_dir / ARTICLE.name)
        QAService.load(get_settings(corpus_dir=corpus_dir, index_dir=index_dir), encoders=Encoders(Embedder.load()))
        redis_server = RedisServer(scratch)
        redis_server.start()
        stack.callback(redis_server.stop)
        env = {"NEWSQA_RATE_LIMIT": "off", "NEWSQA_LOG_LEVEL": "warning",
               "NEWSQA_RELOAD_SECONDS": str(args.reload_seconds), "NEWSQA_REDIS_URL": redis_server.url,
               "NEWSQA_ADMIN_API_KEY": ADMIN_KEY}
        if args.backend == "milvus":
            milvus = MilvusLiteServer(scratch / "milvus")
            milvus.start()
            stack.callback(milvus.stop)
            env |= {"NEWSQA_SEARCH_BACKEND": "milvus", "NEWSQA_MILVUS_URI": milvus.uri}
        ports = []
        for n in range(2):
            corpus, index = corpus_dir, index_dir
            if args.unshared:
                own = scratch / f"replica-{n}"
                corpus, index = own / "corpus", own / "index"
                shutil.copytree(corpus_dir, corpus)
                shutil.copytree(index_dir, index)
            process, url = stack.enter_context(harness.running_server(corpus, index, log, env))
            harness.wait_ready(process, url, log)
            ports.append(int(url.rsplit(":", 1)[1]))
        front_folder = scratch / "nginx"
        proxy, front, front_port = stack.enter_context(nginx(front_folder, ports[:1]))
        results: dict[int, list[dict[str, float]]] = {1: [], 2: []}
        reference: float | None = None
        for _ in range(args.rounds):
            for count in (1, 2):
                point_at(front_folder, proxy, ports[:count], front_port)
                measured = asyncio.run(measure(front, args.step_seconds, reference))
                if count == 1 and reference is None:
                    reference = measured["capacity"]
                results[count].append(measured)
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        visible = seconds_to_visible(urls[0], urls[1], args.adds)
    medians = {count: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for count, runs in results.items()}
    one, two = medians[1], medians[2]
    shared = "a folder per replica" if args.unshared else "one shared folder"
    print(f"backend {args.backend}, {shared}; behind nginx, one redis-server, 2 CPUs shared"
          f" with the load generator; median of {args.rounds} rounds; "
          f"open loops at shares of the first one-replica capacity ({reference:.1f} req/s)\n")
    print("| replicas | capacity req/s (closed loop, 8) | p50 / p99 at 50 %, ms | p50 / p99 at 100 %, ms | "
          "errors at 100 % |\n|---|---|---|---|---|")
    for count, m in ((1, one), (2, two)):
        print(f"| {count} | {m['capacity']:.1f} | {m['p50_50%']:.2f} / {m['p99_50%']:.2f} | "
              f"{m['p50_100%']:.2f} / {m['p99_100%']:.2f} | {m['errors_100%']:.0f} |")
    print(f"\ntwo / one: capacity {two['capacity'] / one['capacity']:.2f}×, p99 at 50 % "
          f"{two['p99_50%'] / one['p99_50%']:.2f}×, p99 at 100 % {two['p99_100%'] / one['p99_100%']:.2f}×")
    print(f"\nadded through one replica, quoted by the other after (s, {len(visible)} briefs, NEWSQA_RELOAD_SECONDS="
          f"{args.reload_seconds}): median "
          f"{statistics.median(visible):.2f}, max {max(visible):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Speed benchmark: the encoder floor next to QAService.ask, POST /ask over a real uvicorn, and cold start.

Usage: .venv/bin/python benchmarks/bench_ask.py [--quick] [--samples N] [--json]

One run on the default article (corpus/pakistan-afghanistan-talks.txt, copied into a temporary corpus folder):
  1. the floor: `embedder.embed_query` on one short question, in-process;
  2. `QAService.ask` in-process over a rotating set of short questions (one of them out of scope);
  3. `POST /ask` against `python -m app serve` on 127.0.0.1 (prebuilt index, one keep-alive http.client connection,
     sequential requests), same questions;
  4. cold start: subprocess start to the first 200 from GET /readyz, with the prebuilt index and with an empty
     index folder (the server builds it), 3 times each, median reported.
Rows 1-3 (plus an informational row: embed_query over the same question set as ask) are sampled in small
interleaved blocks, the order rotated each round, so drift on a shared machine hits all of them alike.
Rows 1-3 use the encoder the settings choose (NEWSQA_ENCODER, default onnx-int8). Then, on the same index,
`bench_encoders.py` puts sentence-transformers, onnx and onnx-int8 side by side (see its docstring).
This is a measurement, not a test: a missed target is reported, never a failure.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from json import dumps
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.config import get_settings  # noqa: E402
from app.embed import Embedder  # noqa: E402
from app.service import QAService  # noqa: E402

ARTICLE = ROOT / "corpus" / "pakistan-afghanistan-talks.txt"
HOST = "127.0.0.1"
FLOOR_QUESTION = "What did Pakistan demand?"
QUESTIONS = (
    "What did Pakistan demand?",
    "Who mediated the talks?",
    "Where did the first round of talks happen?",
    "When was the ceasefire agreed?",
    "Are the Taliban willing to cooperate?",
    "What did the Istanbul round focus on?",
    "Why did the talks hit a deadlock?",
    "Who warned of open war?",
    "What happened to border trade?",
    "What is the capital of France?",  # out of scope: the service abstains
)
BLOCK = 4  # timed samples per row per round: small, so noise on a shared machine hits every row alike
COLD_REPEATS = 3
QUICK_SAMPLES, QUICK_COLD_REPEATS = 100, 1
READY_POLL_S = 0.02
READY_TIMEOUT_S = 180.0
NS_PER_MS = 1e6


@dataclass(frozen=True)
class Row:
    measurement: str
    unit: str  # "ms" or "s"
    p50: float
    p99: float | None
    samples: int
    ratio: float | None  # p50 / floor p50
    target: str
    met: bool | None


# ---------------------------------------------------------------- server subprocess


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def server_env(corpus_dir: Path, index_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        NEWSQA_RATE_LIMIT="off",  # the benchmark's one client would hit the per-client limit at once
        NEWSQA_CORPUS_DIR=str(corpus_dir),
        NEWSQA_INDEX_DIR=str(index_dir),
    )
    env.update(extra or {})
    return env


@contextmanager
def running_server(
    corpus_dir: Path, index_dir: Path, log_path: Path, env: Mapping[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`python -m app serve` on a free loopback port (`env`: extra variables); terminated (then killed) on exit."""
    port = free_port()
    command = [sys.executable, "-m", "app", "serve", "--host", HOST, "--port", str(port)]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=server_env(corpus_dir, index_dir, env), stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield process, f"http://{HOST}:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class LoopbackResponse:
    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}: {self.text[:300]}")


class LoopbackClient:
    """Keep-alive HTTP/1.1 to 127.0.0.1 over the standard library's http.client, one connection per host:port.

    Not httpx: on this 2-core machine httpx spends about 0.9 ms of CPU per request (measured side by side on
    the same server: POST /ask p50 8.85 ms with httpx, 7.98 ms with http.client), time that is the client's,
    not the server's, and that it takes from the two cores the server needs.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.connections: dict[str, http.client.HTTPConnection] = {}

    def request(
        self, method: str, url: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> LoopbackResponse:
        parts = urlsplit(url)
        connection = self.connections.get(parts.netloc)
        if connection is None:
            connection = http.client.HTTPConnection(parts.hostname or HOST, parts.port, timeout=self.timeout)
            self.connections[parts.netloc] = connection
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request(method, path, body=body, headers=dict(headers or {}))
            response = connection.getresponse()
            return LoopbackResponse(response.status, response.read())
        except (OSError, http.client.HTTPException):
            connection.close()  # reconnect on the next request
            del self.connections[parts.netloc]
            raise

    def get(self, url: str) -> LoopbackResponse:
        return self.request("GET", url)

    def post(
        self, url: str, json: Any = None, content: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> LoopbackResponse:
        if json is not None:
            content = dumps(json).encode("utf-8")
            headers = {"Content-Type": "application/json", **(headers or {})}
        return self.request("POST", url, content, headers)

    def close(self) -> None:
        for connection in self.connections.values():
            connection.close()
        self.connections.clear()

    def __enter__(self) -> LoopbackClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def local_client(timeout: float) -> LoopbackClient:
    return LoopbackClient(timeout)


def wait_ready(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    """Poll GET /readyz every READY_POLL_S until it answers 200."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    with local_client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"server exited with {process.returncode} before ready:\n{tail}")
            try:
                if client.get(f"{base_url}/readyz").status_code == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass  # not listening yet
            time.sleep(READY_POLL_S)
    raise RuntimeError(f"server not ready after {READY_TIMEOUT_S:.0f} s")


def cold_start_s(corpus_dir: Path, index_dir: Path, log_path: Path, env: Mapping[str, str] | None = None) -> float:
    started = time.perf_counter_ns()
    with running_server(corpus_dir, index_dir, log_path, env) as (process, base_url):
        wait_ready(process, base_url, log_path)
        return (time.perf_counter_ns() - started) / 1e9


# ---------------------------------------------------------------- sampling


def interleaved(
    rows: Mapping[str, Callable[[int], object]], samples: int, block: int | None = None, settle_s: float = 0.0
) -> dict[str, list[int]]:
    """`samples` timings per row, taken in blocks of BLOCK per row; the row order rotates every round.

    Sample n of every row uses question n (mod the set), so the rows see the same questions in the same order.
    Each block starts with one untimed call: the benchmark and the server share 2 cores and their caches, and
    without it the first call after a switch of process (about +1 ms) lands mostly on the HTTP row.
    """
    names = list(rows)
    size = block or BLOCK
    timings: dict[str, list[int]] = {name: [] for name in names}
    for round_no in range((samples + size - 1) // size):
        shift = round_no % len(names)
        first = round_no * size
        for name in names[shift:] + names[:shift]:
            call = rows[name]
            if settle_s:
                time.sleep(settle_s)  # let the previous row's spinning worker threads go to sleep
            call(first)  # lead-in, untimed
            for n in range(first, min(first + size, samples)):
                started = time.perf_counter_ns()
                call(n)
                timings[name].append(time.perf_counter_ns() - started)
    return timings


def percentiles_ms(timings_ns: list[int]) -> tuple[float, float]:
    values = np.asarray(timings_ns, dtype=np.float64) / NS_PER_MS
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def post_ask(client: LoopbackClient, base_url: str, question: str) -> None:
    response = client.post(f"{base_url}/ask", json={"question": question})
    if response.status_code != 200:
        raise RuntimeError(f"POST /ask {question!r}: {response.status_code} {response.text[:300]}")


# ---------------------------------------------------------------- the benchmark


def latency_rows(service: QAService, corpus_dir: Path, index_dir: Path, log_path: Path, samples: int) -> list[Row]:
    embedder = service.embedder
    with running_server(corpus_dir, index_dir, log_path) as (process, base_url), local_client(30.0) as client:
        wait_ready(process, base_url, log_path)
        for _ in range(3):  # warm-up: allocator, tokenizer caches, uvicorn/FastAPI first-request paths
            for q in QUESTIONS:
                embedder.embed_query(q)
                service.ask(q)
                post_ask(client, base_url, q)
        rows: dict[str, Callable[[int], object]] = {
            "floor": lambda _n: embedder.embed_query(FLOOR_QUESTION),
            "embed_set": lambda n: embedder.embed_query(QUESTIONS[n % len(QUESTIONS)]),
            "ask": lambda n: service.ask(QUESTIONS[n % len(QUESTIONS)]),
            "http": lambda n: post_ask(client, base_url, QUESTIONS[n % len(QUESTIONS)]),
        }
        timings = interleaved(rows, samples)
    floor_p50, floor_p99 = percentiles_ms(timings["floor"])

    def row(key: str, label: str, limit: float | None) -> Row:
        p50, p99 = percentiles_ms(timings[key])
        ratio = p50 / floor_p50
        target = f"≤ {limit:g}×" if limit else "—"
        return Row(label, "ms", p50, p99, len(timings[key]), ratio, target, ratio <= limit if limit else None)

    floor = f"embed_query (floor, {service.settings.encoder}: {FLOOR_QUESTION!r})"
    return [
        Row(floor, "ms", floor_p50, floor_p99, samples, 1.0, "—", None),
        row("embed_set", "embed_query, same question set (info)", None),
        row("ask", "QAService.ask in-process", 1.5),
        row("http", "POST /ask over HTTP (uvicorn, keep-alive)", 2.0),
    ]


def cold_rows(corpus_dir: Path, prebuilt: Path, scratch: Path, log_path: Path, repeats: int) -> list[Row]:
    with_index: list[float] = []
    without_index: list[float] = []
    for attempt in range(repeats):  # alternate the two cases so drift affects both
        with_index.append(cold_start_s(corpus_dir, prebuilt, log_path))
        empty = scratch / f"empty-index-{attempt}"
        empty.mkdir()
        without_index.append(cold_start_s(corpus_dir, empty, log_path))
        shutil.rmtree(empty)
    load_s, build_s = statistics.median(with_index), statistics.median(without_index)
    label = "cold start to /readyz 200"
    return [
        Row(f"{label}, prebuilt index", "s", load_s, None, repeats, None, "≤ 8 s", load_s <= 8.0),
        Row(f"{label}, empty index dir (builds)", "s", build_s, None, repeats, None, "—", None),
    ]


def machine_info() -> dict[str, object]:
    import torch

    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }


def render_table(rows: list[Row]) -> str:
    lines = [
        "| measurement | p50 ms | p99 ms | ratio p50 / floor | target | met? |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.unit == "s":
            p50, p99 = f"{r.p50:.2f} s (median of {r.samples})", "—"
        else:
            p50, p99 = f"{r.p50:.2f}", f"{r.p99:.2f}" if r.p99 is not None else "—"
        ratio = f"{r.ratio:.2f}×" if r.ratio is not None else "—"
        met = "—" if r.met is None else "yes" if r.met else "NO"
        lines.append(f"| {r.measurement} | {p50} | {p99} | {ratio} | {r.target} | {met} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import bench_encoders  # here, not at the top: it imports this module's helpers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_SAMPLES} samples per row, 1 cold start, smaller encoder runs"
    )
    parser.add_argument("--samples", type=int, metavar="N", help="timings per latency row (400; --quick: 100)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    args = parser.parse_args(argv)
    samples: int = args.samples if args.samples is not None else QUICK_SAMPLES if args.quick else 400
    if samples < 1:
        parser.error("--samples must be at least 1")
    repeats = QUICK_COLD_REPEATS if args.quick else COLD_REPEATS
    plan = bench_encoders.QUICK if args.quick else bench_encoders.Plan()
    plan = replace(plan, encode_samples=samples, http_samples=samples)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

    started, load_before = time.perf_counter(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="newsqa-bench-") as tmp:
        scratch = Path(tmp)
        corpus_dir, prebuilt, log_path = scratch / "corpus", scratch / "index", scratch / "server.log"
        corpus_dir.mkdir()
        shutil.copy2(ARTICLE, corpus_dir / ARTICLE.name)
        embedder = Embedder.load()  # the reference encoder, also used to build the index
        # builds the index (both ONNX graphs) into the temporary folder; the servers below load it from there
        service = QAService.load(get_settings(corpus_dir=corpus_dir, index_dir=prebuilt), embedder=embedder)
        rows = latency_rows(service, corpus_dir, prebuilt, log_path, samples)
        rows += cold_rows(corpus_dir, prebuilt, scratch, log_path, repeats)
        encoders = bench_encoders.compare(embedder, corpus_dir, prebuilt, log_path, plan)
    load_after = os.getloadavg()[0]
    info = {
        **machine_info(),
        "samples_per_row": samples,
        "questions": len(QUESTIONS),
        "block": BLOCK,
        "cold_start_repeats": repeats,
        "elapsed_s": round(time.perf_counter() - started, 1),
        "load_avg_1min": [round(load_before, 2), round(load_after, 2)],
    }

    if args.json:
        report = {"machine": info, "rows": [asdict(r) for r in rows], "encoders": bench_encoders.report_json(encoders)}
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(
            f"machine: {info['cpu_count']} CPUs, torch threads {info['torch_threads']}, Python {info['python']}, "
            f"torch {info['torch']} ({info['platform']}); 1-min load average before/after "
            f"{load_before:.2f}/{load_after:.2f}"
        )
        print(
            f"samples: {samples} per latency row (interleaved blocks of {BLOCK}, each after 1 untimed call; "
            f"{len(QUESTIONS)} questions rotating); cold start: median of {repeats}; total {info['elapsed_s']} s\n"
        )
        print(render_table(rows))
        print()
        print(bench_encoders.render(encoders))
    return 0


if __name__ == "__main__":
    # run as the module `bench_ask`, the one bench_encoders imports, not as a second copy named __main__
    import bench_ask

    sys.exit(bench_ask.main())

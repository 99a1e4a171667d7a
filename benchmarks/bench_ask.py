"""Speed benchmark: the encoder floor next to QAService.ask, POST /ask over a real uvicorn, and cold start.

Usage: .venv/bin/python -m benchmarks.bench_ask [--quick] [--samples N] [--json]

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
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from app.config import get_settings
from app.embed.reference import Embedder
from app.index.encoders import Encoders
from app.service import QAService
from benchmarks import bench_encoders
from benchmarks.harness import (
    ARTICLE,
    BLOCK,
    FLOOR_QUESTION,
    QUESTIONS,
    cold_start_s,
    interleaved,
    local_client,
    machine_info,
    percentiles_ms,
    post_ask,
    running_server,
    wait_ready,
)

COLD_REPEATS = 3
QUICK_SAMPLES, QUICK_COLD_REPEATS = 100, 1


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


# ---------------------------------------------------------------- sampling


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
        service = QAService.load(get_settings(corpus_dir=corpus_dir, index_dir=prebuilt), encoders=Encoders(embedder))
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
    sys.exit(main())

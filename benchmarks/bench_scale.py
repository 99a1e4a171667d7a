"""Scale benchmark: ingest, index size, memory and query latency at 1k, 10k and 100k passages.

Usage: .venv/bin/python -m benchmarks.bench_scale [--sizes 1000,10000,100000] [--questions N] [--cache DIR] [--json]

For each size, a corpus of the default article plus seeded synthetic briefs (tests/briefs_generator.py:
realistic sentence lengths, six everyday news beats) is built from nothing the way `newsqa index` builds it
(sentence-transformers in batches, with its progress bar; FAISS flat or HNSW by the vector-count threshold;
BM25; the ONNX query encoders exported), timed end to end. Then:
  - index size on disk (the build folder; the two ONNX graphs, the same at every size, reported apart);
  - `python -m app serve` on 127.0.0.1 over that index: resident memory (VmRSS) after the questions below, and
    POST /ask p50/p99 over a rotating mix of questions about the briefs and about the article;
  - one incremental update: 10 more briefs added through QAService.add_documents (only they are embedded).
The query target: p50 at the largest size ≤ 2× p50 at the smallest (the floor being the query embedding).
With --cache DIR each size's corpus and index are kept and reused by the next run (building 100k passages takes
most of an hour on 2 cores): the query, memory and update figures are measured again, the ingest figures are
those of the build. This is a measurement, not a test: a missed target is reported, never a failure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from app.config import get_settings
from app.embed.export import FP32_FILE, INT8_FILE, TOKENIZER_FILE
from app.embed.reference import Embedder
from app.index.encoders import Encoders
from app.index.lifecycle import load_or_build_index
from app.ingest.blocks import make_document
from app.ingest.chunk import parse_document
from app.ingest.sources import BriefMetadata, make_brief
from app.service import QAService
from benchmarks import harness
from tests.briefs_generator import SyntheticBrief, generate_briefs

QUESTIONS = (
    "What did Pakistan demand?",
    "Who mediated the talks?",
    "What did the council decide about the library?",
    "How much did quarterly revenue rise?",
    "When will the new bridge open to traffic?",
    "Which team won the final?",
    "What did the forecasters warn about?",
    "Why were trains cancelled?",
    "What did the researchers discover?",
    "What is the capital of France?",
)
ONNX_FILES = (FP32_FILE, INT8_FILE, TOKENIZER_FILE)  # the same at every size: reported apart


@dataclass(frozen=True)
class SizeRow:
    target_passages: int
    passages: int
    sentences: int
    documents: int
    vector_index: str
    ingest_s: float
    passages_per_s: float
    index_mb: float
    encoders_mb: float
    rss_mb: float
    ask_p50_ms: float
    ask_p99_ms: float
    ratio_p50: float
    add_10_briefs_s: float
    build_cached: bool


def briefs_for(target: int, seed: int) -> list[SyntheticBrief]:
    """Synthetic briefs whose passages (with the article's) reach `target`; counted by the real chunker."""
    article_passages = len(parse_document(make_document("a", harness.ARTICLE.read_text(encoding="utf-8"))).passages)
    out: list[SyntheticBrief] = []
    total = article_passages
    batch = 0
    while total < target:
        for brief in generate_briefs(200, seed=seed * 1000 + batch):
            if total >= target:
                break
            brief = replace(brief, doc_id=f"{brief.doc_id}-{batch}")  # unique across batches
            total += len(parse_document(make_document(brief.doc_id, brief.text)).passages)
            out.append(brief)
        batch += 1
    return out


def write_corpus(folder: Path, briefs: list[SyntheticBrief]) -> None:
    folder.mkdir(parents=True)
    shutil.copy2(harness.ARTICLE, folder / harness.ARTICLE.name)
    for brief in briefs:
        (folder / f"{brief.doc_id}.txt").write_text(brief.text, encoding="utf-8")
        meta = {"source": brief.source, "published": brief.published, "title": brief.title}
        (folder / f"{brief.doc_id}.meta.json").write_text(json.dumps(meta), encoding="utf-8")


def meta(brief: SyntheticBrief) -> BriefMetadata:
    return BriefMetadata.model_validate({"source": brief.source, "published": brief.published})


def folder_mb(folder: Path, exclude: tuple[str, ...] = ()) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and p.name not in exclude) / 2**20


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def build_index(target: int, folder: Path, embedder: Embedder) -> dict[str, object]:
    """The corpus and index for one size, built from nothing and timed (the ingest figures)."""
    briefs = briefs_for(target, seed=target)
    corpus_dir, index_dir = folder / "corpus", folder / "index"
    write_corpus(corpus_dir, briefs)
    settings = get_settings(corpus_dir=corpus_dir, index_dir=index_dir)
    print(f"\n== {target} passages: {len(briefs) + 1} documents; building ==", file=sys.stderr, flush=True)
    started = time.perf_counter()
    loaded = load_or_build_index(
        settings, Encoders(embedder), progress=lambda stage, n: print(f"  {stage} ({n})", file=sys.stderr, flush=True)
    )
    ingest_s = time.perf_counter() - started
    counts = loaded.manifest.counts
    return {
        "ingest_s": ingest_s,
        "passages_per_s": counts["passages"] / ingest_s,
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def cached_build(target: int, folder: Path, embedder: Embedder) -> dict[str, object]:
    """Build once per cache folder; a later run reuses the index (and reports the ingest figures it measured).

    `build.json` is written only after a complete build, so an interrupted build is started over.
    """
    record = folder / "build.json"
    if record.exists():
        print(f"\n== {target} passages: reusing the build in {folder} ==", file=sys.stderr, flush=True)
        return {**json.loads(record.read_text(encoding="utf-8")), "cached": True}
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    built = build_index(target, folder, embedder)
    record.write_text(json.dumps(built), encoding="utf-8")
    return {**built, "cached": False}


def measure_size(target: int, folder: Path, embedder: Embedder, questions: int, log: Path) -> dict[str, object]:
    built = cached_build(target, folder, embedder)
    corpus_dir, index_dir = folder / "corpus", folder / "index"
    settings = get_settings(corpus_dir=corpus_dir, index_dir=index_dir)
    loaded = load_or_build_index(settings, Encoders(embedder))  # loads the build (nothing changed since)
    counts = loaded.manifest.counts
    build = index_dir / loaded.manifest.build_dir
    index_mb = folder_mb(build, exclude=ONNX_FILES)
    encoders_mb = folder_mb(build) - index_mb
    timings: list[int] = []
    with harness.running_server(corpus_dir, index_dir, log, {"NEWSQA_RELOAD_SECONDS": "0"}) as (process, url):
        harness.wait_ready(process, url, log)
        with harness.local_client(60.0) as client:
            for n in range(questions + 20):
                begun = time.perf_counter_ns()
                harness.post_ask(client, url, QUESTIONS[n % len(QUESTIONS)])
                if n >= 20:  # the first 20 warm up the caches
                    timings.append(time.perf_counter_ns() - begun)
        rss = rss_mb(process.pid)
    p50, p99 = harness.percentiles_ms(timings)
    # the incremental update runs on a hard-linked copy: a build never rewrites a file in place (new build
    # folder, manifest replaced by rename), so the cached build stays as it was for the next run
    scratch_corpus, scratch_index = folder / "add-corpus", folder / "add-index"
    for source, copy in ((corpus_dir, scratch_corpus), (index_dir, scratch_index)):
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(source, copy, copy_function=os.link)
    service = QAService.load(
        get_settings(corpus_dir=scratch_corpus, index_dir=scratch_index),
        encoders=Encoders(embedder)
    )
    extra = [
        make_brief(b.text, "text", meta(b), f"extra-{b.doc_id}", b.doc_id, dt.datetime.now(dt.UTC))
        for b in generate_briefs(10, seed=target + 7)
    ]
    started = time.perf_counter()
    service.add_documents(extra)
    add_s = time.perf_counter() - started
    del service
    shutil.rmtree(scratch_corpus)
    shutil.rmtree(scratch_index)
    return {
        "target_passages": target,
        "passages": counts["passages"],
        "sentences": counts["sentences"],
        "documents": counts["documents"],
        "vector_index": "/".join(sorted(set(loaded.manifest.vector_index.values()))),
        "ingest_s": built["ingest_s"],
        "passages_per_s": built["passages_per_s"],
        "build_cached": built["cached"],
        "index_mb": index_mb,
        "encoders_mb": encoders_mb,
        "rss_mb": rss,
        "ask_p50_ms": p50,
        "ask_p99_ms": p99,
        "add_10_briefs_s": add_s,
    }


def render(rows: list[SizeRow]) -> str:
    lines = [
        "| passages (target) | passages | sentences | docs | vector index | ingest s | passages/s | index MB | "
        "RSS MB | ask p50 ms | ask p99 ms | p50 / p50 at smallest | add 10 briefs s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.target_passages:,} | {r.passages:,} | {r.sentences:,} | {r.documents:,} | {r.vector_index} | "
            f"{r.ingest_s:.1f} | {r.passages_per_s:.0f} | {r.index_mb:.1f} | {r.rss_mb:.0f} | {r.ask_p50_ms:.2f} | "
            f"{r.ask_p99_ms:.2f} | {r.ratio_p50:.2f}× | {r.add_10_briefs_s:.2f} |"
        )
    cached = [f"{r.target_passages:,}" for r in rows if r.build_cached]
    if cached:
        lines.append(f"\ningest figures of {', '.join(cached)}: those of the cached build (--cache), not this run")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,10000,100000", help="passage counts (1000,10000,100000)")
    parser.add_argument("--questions", type=int, default=300, help="timed POST /ask per size (300)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        help="keep each size's corpus and index in DIR and reuse them on the next run (query figures re-measured, "
        "ingest figures those of the original build); default: a temporary folder, built afresh",
    )
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    embedder = Embedder.load()
    raw: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="newsqa-bench-scale-") as tmp:
        root = args.cache or Path(tmp)
        for size in sizes:
            raw.append(measure_size(size, root / f"size-{size}", embedder, args.questions, Path(tmp) / "server.log"))
    smallest = float(raw[0]["ask_p50_ms"])  # type: ignore[arg-type]
    rows = [SizeRow(**r, ratio_p50=float(r["ask_p50_ms"]) / smallest) for r in raw]  # type: ignore[arg-type]
    target_met = rows[-1].ratio_p50 <= 2.0
    if args.json:
        print(json.dumps({"rows": [asdict(r) for r in rows], "p50_target_met": target_met}))
        return 0
    encoders = statistics.mean(r.encoders_mb for r in rows)
    print(
        f"one run, {args.questions} timed POST /ask per size over one keep-alive connection to a fresh "
        f"`python -m app serve`; ONNX encoder graphs {encoders:.0f} MB per build, not in 'index MB'; "
        f"{os.cpu_count()} CPUs; total {time.perf_counter() - started:.0f} s\n"
    )
    print(render(rows))
    print(
        f"\nquery p50 at {rows[-1].passages:,} passages = {rows[-1].ratio_p50:.2f}× the p50 at "
        f"{rows[0].passages:,} (target ≤ 2×): {'met' if target_met else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

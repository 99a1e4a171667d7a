"""Scale benchmark: ingest, index size, memory and query latency at 1k, 10k and 100k passages, built-in and Milvus.

Usage: .venv/bin/python -m benchmarks.bench_scale [--sizes 1000,10000,100000] [--questions N] [--cache DIR]
       [--backends builtin,milvus] [--json]

For each size, a corpus of the default article plus seeded synthetic briefs (tests/briefs_generator.py:
realistic sentence lengths, six everyday news beats) is built from nothing the way `newsqa index` builds it
(sentence-transformers in batches, with its progress bar; FAISS flat or HNSW by the vector-count threshold;
BM25; the ONNX query encoders exported), timed end to end. Then:
  - index size on disk (the build folder; the two ONNX graphs, the same at every size, reported apart);
  - `python -m app serve` on 127.0.0.1 over that index: resident memory (VmRSS) after the questions below, and
    POST /ask p50/p99 over a rotating mix of questions about the briefs and about the article;
  - one incremental update: 10 more briefs added through QAService.add_documents (only they are embedded).
The query target: p50 at the largest size ≤ 2× p50 at the smallest (the floor being the query embedding).

With the milvus backend (the default --backends), each size's build is also published to a `milvus-lite server`
on a loopback port (its own process, as replicas reach Milvus Standalone; the rows, the BM25 function and the
version markers as a deployment writes them), timed: the ingest rate of the backend beside the build's. Then a
built-in and a Milvus replica over the same build run side by side and the questions alternate between them in
blocks of four, so a noisy neighbour slows both alike: p50/p99, each replica's RSS, the Milvus server's RSS and
data folder (the per-row costs docs/deployment.md sizes from), and the Milvus / built-in ratios.
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

from app.config import Settings, get_settings
from app.embed.export import FP32_FILE, INT8_FILE, TOKENIZER_FILE
from app.embed.reference import Embedder
from app.index.encoders import Encoders
from app.index.lifecycle import load_or_build_index
from app.index.milvus import MilvusSearch
from app.ingest.blocks import make_document
from app.ingest.chunk import parse_document
from app.ingest.sources import BriefMetadata, make_brief
from app.service import QAService
from benchmarks import harness
from tests.briefs_generator import SyntheticBrief, generate_briefs
from tests.support import MilvusLiteServer

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


@dataclass(frozen=True)
class MilvusRow:
    """One size served by a Milvus replica beside a built-in one over the same build (side by side, one run)."""

    passages: int
    rows: int  # sentence + passage rows written to Milvus
    publish_s: float
    rows_per_s: float
    ingest_passages_per_s: float  # embedding (the build) and publishing together
    publish_cached: bool
    milvus_rss_mb: float
    milvus_disk_mb: float
    builtin_rss_mb: float
    replica_rss_mb: float
    builtin_p50_ms: float
    builtin_p99_ms: float
    milvus_p50_ms: float
    milvus_p99_ms: float
    builtin_add_10_s: float
    milvus_add_10_s: float


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


def measure_size(
    target: int, folder: Path, embedder: Embedder, questions: int, log: Path, built: dict[str, object]
) -> dict[str, object]:
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
    add_s = add_ten_briefs(folder, settings, embedder, seed=target + 7)
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


@dataclass(frozen=True)
class Published:
    publish_s: float
    rows: int
    passages: int
    cached: bool = False


def publish_to_milvus(folder: Path, settings: Settings, embedder: Embedder) -> Published:
    """Publish the size's build to the running Milvus (timed) unless `milvus.json` says a complete publish of
    this build is already in its data folder; a publish is idempotent, so an interrupted one is finished."""
    record = folder / "milvus.json"
    if record.exists():
        return replace(Published(**json.loads(record.read_text(encoding="utf-8"))), cached=True)
    search = MilvusSearch.from_settings(settings)
    try:
        started = time.perf_counter()
        loaded = load_or_build_index(settings, Encoders(embedder), search=search)  # writes every version's rows
        publish_s = time.perf_counter() - started
        rows = search.count("sentence") + search.count("passage")
    finally:
        search.close()
    done = Published(publish_s, rows, loaded.manifest.counts["passages"])
    record.write_text(json.dumps(asdict(done)), encoding="utf-8")
    return done


def add_ten_briefs(folder: Path, settings: Settings, embedder: Embedder, seed: int) -> float:
    """Ten more briefs through QAService.add_documents on a hard-linked copy of the build (timed).

    A build never rewrites a file in place (new build folder, manifest replaced by rename), so the cached build
    stays as it was for the next run; on Milvus the ten briefs' rows are deleted again by the next load of the
    cached build (a version no build holds).
    """
    scratch_corpus, scratch_index = folder / "add-corpus", folder / "add-index"
    for source, copy in ((settings.corpus_dir, scratch_corpus), (settings.index_dir, scratch_index)):
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(source, copy, copy_function=os.link)
    service = QAService.load(
        settings.model_copy(update={"corpus_dir": scratch_corpus, "index_dir": scratch_index}),
        encoders=Encoders(embedder),
    )
    extra = [
        make_brief(b.text, "text", meta(b), f"extra-{b.doc_id}", b.doc_id, dt.datetime.now(dt.UTC))
        for b in generate_briefs(10, seed=seed)
    ]
    try:
        started = time.perf_counter()
        service.add_documents(extra)
        return time.perf_counter() - started
    finally:
        service.search.close()
        del service
        shutil.rmtree(scratch_corpus)
        shutil.rmtree(scratch_index)


def measure_milvus(
    target: int, folder: Path, embedder: Embedder, questions: int, log: Path, built: dict[str, object],
    builtin_add: float,
) -> MilvusRow:
    """The size's build on Milvus beside the built-in backend: a built-in and a Milvus replica side by side
    (`builtin_add`: the built-in backend's add of the same ten briefs, measured by `measure_size` this run)."""
    corpus_dir, index_dir = folder / "corpus", folder / "index"
    server = MilvusLiteServer(folder / "milvus-data")
    server.start()
    try:
        settings = server.settings(get_settings(corpus_dir=corpus_dir, index_dir=index_dir), prefix="bench")
        print(f"\n== {target} passages: publishing to Milvus ==", file=sys.stderr, flush=True)
        published = publish_to_milvus(folder, settings, embedder)
        milvus_env = {
            "NEWSQA_RELOAD_SECONDS": "0",
            "NEWSQA_SEARCH_BACKEND": "milvus",
            "NEWSQA_MILVUS_URI": server.uri,
            "NEWSQA_MILVUS_COLLECTION_PREFIX": "bench",
        }
        timings: dict[str, list[int]] = {"builtin": [], "milvus": []}
        with (
            harness.running_server(corpus_dir, index_dir, log, {"NEWSQA_RELOAD_SECONDS": "0"}) as (builtin, b_url),
            harness.running_server(corpus_dir, index_dir, log, milvus_env) as (replica, m_url),
        ):
            harness.wait_ready(builtin, b_url, log)
            harness.wait_ready(replica, m_url, log)
            with harness.local_client(60.0) as client:
                order = (("builtin", b_url), ("milvus", m_url))
                for n in range(questions + 20):
                    for name, url in order if (n // 4) % 2 else order[::-1]:  # who goes first, in blocks of four
                        begun = time.perf_counter_ns()
                        harness.post_ask(client, url, QUESTIONS[n % len(QUESTIONS)])
                        if n >= 20:  # the first 20 warm up the caches
                            timings[name].append(time.perf_counter_ns() - begun)
            builtin_rss, replica_rss = rss_mb(builtin.pid), rss_mb(replica.pid)
        assert server.process is not None
        milvus_rss = rss_mb(server.process.pid)
        milvus_add = add_ten_briefs(folder, settings, embedder, seed=target + 7)
    finally:
        server.stop()
    b50, b99 = harness.percentiles_ms(timings["builtin"])
    m50, m99 = harness.percentiles_ms(timings["milvus"])
    ingest_s = float(built["ingest_s"])  # type: ignore[arg-type]
    return MilvusRow(
        passages=published.passages,
        rows=published.rows,
        publish_s=published.publish_s,
        rows_per_s=published.rows / published.publish_s,
        ingest_passages_per_s=published.passages / (ingest_s + published.publish_s),
        publish_cached=published.cached,
        milvus_rss_mb=milvus_rss,
        milvus_disk_mb=folder_mb(folder / "milvus-data"),
        builtin_rss_mb=builtin_rss,
        replica_rss_mb=replica_rss,
        builtin_p50_ms=b50,
        builtin_p99_ms=b99,
        milvus_p50_ms=m50,
        milvus_p99_ms=m99,
        builtin_add_10_s=builtin_add,
        milvus_add_10_s=milvus_add,
    )


def table(columns: list[str], cells: list[list[str]], note: str = "") -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines) + (f"\n\n{note}" if note else "")


def cached_note(what: str, sizes: list[str]) -> str:
    return f"{what} figures of {', '.join(sizes)}: those of the cached {what} (--cache), not this run" if sizes else ""


def render_milvus(rows: list[MilvusRow]) -> str:
    columns = [
        "passages", "Milvus rows", "publish s", "rows/s", "ingest passages/s (embed + publish)", "Milvus RSS MB",
        "Milvus disk MB", "replica RSS MB: built-in / Milvus", "ask p50 ms: built-in / Milvus",
        "ask p99 ms: built-in / Milvus", "p50 ratio", "p99 ratio", "add 10 briefs s: built-in / Milvus",
    ]
    cells = [
        [
            f"{r.passages:,}", f"{r.rows:,}", f"{r.publish_s:.1f}", f"{r.rows_per_s:.0f}",
            f"{r.ingest_passages_per_s:.0f}", f"{r.milvus_rss_mb:.0f}", f"{r.milvus_disk_mb:.0f}",
            f"{r.builtin_rss_mb:.0f} / {r.replica_rss_mb:.0f}", f"{r.builtin_p50_ms:.2f} / {r.milvus_p50_ms:.2f}",
            f"{r.builtin_p99_ms:.2f} / {r.milvus_p99_ms:.2f}", f"{r.milvus_p50_ms / r.builtin_p50_ms:.2f}×",
            f"{r.milvus_p99_ms / r.builtin_p99_ms:.2f}×", f"{r.builtin_add_10_s:.2f} / {r.milvus_add_10_s:.2f}",
        ]
        for r in rows
    ]
    return table(columns, cells, cached_note("publish", [f"{r.passages:,}" for r in rows if r.publish_cached]))


def render(rows: list[SizeRow]) -> str:
    columns = [
        "passages (target)", "passages", "sentences", "docs", "vector index", "ingest s", "passages/s", "index MB",
        "RSS MB", "ask p50 ms", "ask p99 ms", "p50 / p50 at smallest", "add 10 briefs s",
    ]
    cells = [
        [
            f"{r.target_passages:,}", f"{r.passages:,}", f"{r.sentences:,}", f"{r.documents:,}", r.vector_index,
            f"{r.ingest_s:.1f}", f"{r.passages_per_s:.0f}", f"{r.index_mb:.1f}", f"{r.rss_mb:.0f}",
            f"{r.ask_p50_ms:.2f}", f"{r.ask_p99_ms:.2f}", f"{r.ratio_p50:.2f}×", f"{r.add_10_briefs_s:.2f}",
        ]
        for r in rows
    ]
    return table(columns, cells, cached_note("build", [f"{r.target_passages:,}" for r in rows if r.build_cached]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,10000,100000", help="passage counts (1000,10000,100000)")
    parser.add_argument("--questions", type=int, default=300, help="timed POST /ask per size (300)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument(
        "--backends", default="builtin,milvus", help="builtin, or builtin,milvus (side by side) (builtin,milvus)"
    )
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
    on_milvus: list[MilvusRow] = []
    with tempfile.TemporaryDirectory(prefix="newsqa-bench-scale-") as tmp:
        root = args.cache or Path(tmp)
        for size in sizes:
            folder, log = root / f"size-{size}", Path(tmp) / "server.log"
            built = cached_build(size, folder, embedder)
            raw.append(measure_size(size, folder, embedder, args.questions, log, built))
            if "milvus" in args.backends.split(","):
                builtin_add = float(raw[-1]["add_10_briefs_s"])  # type: ignore[arg-type]
                on_milvus.append(measure_milvus(size, folder, embedder, args.questions, log, built, builtin_add))
    smallest = float(raw[0]["ask_p50_ms"])  # type: ignore[arg-type]
    rows = [SizeRow(**r, ratio_p50=float(r["ask_p50_ms"]) / smallest) for r in raw]  # type: ignore[arg-type]
    target_met = rows[-1].ratio_p50 <= 2.0
    if args.json:
        print(json.dumps({
            "rows": [asdict(r) for r in rows], "milvus": [asdict(r) for r in on_milvus], "p50_target_met": target_met
        }))
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
    if on_milvus:
        print(
            f"\nMilvus (milvus-lite server on loopback) beside the built-in backend over the same build: "
            f"{args.questions} POST /ask per replica, alternating in blocks of four\n"
        )
        print(render_milvus(on_milvus))
    return 0


if __name__ == "__main__":
    sys.exit(main())

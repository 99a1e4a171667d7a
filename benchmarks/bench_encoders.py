"""Encoder comparison: sentence-transformers, ONNX fp32 and ONNX int8, in-process and behind a real uvicorn.

Usage: .venv/bin/python -m benchmarks.bench_encoders [--quick] [--json]
(`benchmarks/bench_ask.py` runs this too, after its own table, on the index it has already built.)

One index is built with the default settings in a temporary folder (it holds both ONNX graphs); every server
below loads it, started as `python -m app serve` with NEWSQA_ENCODER=<variant> on 127.0.0.1:
  1. the reference: sentence-transformers `Embedder.embed_query` of one short question, in-process. Every
     ratio is against its p50. Next to it the same call on OnnxEncoder fp32 and int8, each with 1 and with 2
     intra-op threads (the served rows use the service's default for that graph); each in a process of its own,
     rounds alternating;
  2. cold start: subprocess start to the first 200 from GET /readyz, median of 3, the variants alternating;
  3. one server per variant, all three up at once: POST /ask p50/p99 (one keep-alive http.client connection, warm-up,
     the servers interleaved in blocks), the dev set (tests/data/dev.jsonl, top_k 10, scored by
     app.answer.evaluate), then more questions until each server has answered 1,000; then its VmRSS, and whether
     libtorch is mapped in its /proc/<pid>/maps;
  4. ONNX intra-op threads 1 vs 2, per graph, under load: 8 client threads, each with its own keep-alive
     connection, sending POST /ask to one server per (graph, threads); rounds alternate between the servers;
  5. index-build throughput: embed_documents of ~2,000 passage-like texts in batches of 64.
A missed target is reported, never a failure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from app.answer.evaluate import EvalReport, GoldRow, evaluate, parse_gold
from app.api.schemas import AskResponse
from app.config import get_settings
from app.embed.onnx import OnnxEncoder
from app.embed.reference import Embedder, Encoder
from app.index.encoders import Encoders
from app.index.store import encoder_files, read_manifest
from app.ingest.chunk import parse_document
from app.ingest.corpus import read_corpus
from app.models import Answer, CitedPassage, Quote
from app.service import QAService
from benchmarks.harness import (
    ARTICLE,
    FLOOR_QUESTION,
    QUESTIONS,
    ROOT,
    LoopbackClient,
    LoopbackResponse,
    cold_start_s,
    interleaved,
    local_client,
    machine_info,
    percentiles_ms,
    post_ask,
    running_server,
    wait_ready,
)

VARIANTS = ("sentence-transformers", "onnx", "onnx-int8")
ONNX_VARIANTS = ("onnx", "onnx-int8")
DEV_SET = ROOT / "tests" / "data" / "dev.jsonl"
DEV_TOP_K = 10
WARMUP_ROUNDS = 3  # passes over QUESTIONS before anything is timed
BATCH_SIZE = 64
HTTP_RATIO_LIMIT = 0.5  # onnx POST /ask p50 over the reference p50
COLD_LIMIT_S = 1.5
RSS_LIMIT_MB = 300.0
# the rates and counts of EvalReport; "identical" means every one of them is equal
DEV_METRICS = (
    ("recall_at_1", "R@1"),
    ("recall_at_3", "R@3"),
    ("recall_at_5", "R@5"),
    ("mrr_at_10", "MRR@10"),
    ("quote_accuracy", "quote accuracy"),
    ("false_abstention", "false abstention"),
    ("oos_abstention", "out-of-scope abstention"),
    ("not_verbatim", "not_verbatim"),
)


@dataclass(frozen=True)
class Plan:
    """How much each part measures; `--quick` uses QUICK."""

    encode_samples: int = 400
    http_samples: int = 400
    requests_before_rss: int = 1000
    cold_repeats: int = 3
    clients: int = 8
    requests_per_client: int = 50  # per thread setting, split over `rounds`
    rounds: int = 2
    batch_texts: int = 2000


QUICK = Plan(
    encode_samples=100, http_samples=100, requests_before_rss=300, cold_repeats=1, requests_per_client=20,
    batch_texts=500,
)  # fmt: skip


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p99_ms: float
    samples: int


@dataclass(frozen=True)
class VariantResult:
    variant: str
    encode: Latency
    http: Latency
    cold_start_s: float
    rss_mb: float
    requests_before_rss: int
    torch_libraries: tuple[str, ...]  # libtorch files mapped into the server process
    dev: dict[str, float]  # EvalReport field → value, for the DEV_METRICS


@dataclass(frozen=True)
class ThreadsResult:
    variant: str
    threads: int
    served: bool  # the service's default thread count for this graph
    encode: Latency  # in-process, one question
    requests_per_s: float  # `clients` concurrent clients against the server
    http: Latency  # per-request latency seen by those clients


@dataclass(frozen=True)
class BatchResult:
    encoder: str
    threads: int
    texts: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.texts / self.seconds


@dataclass(frozen=True)
class EncoderReport:
    plan: Plan
    reference_ms: float
    variants: list[VariantResult]
    threads: list[ThreadsResult]
    batches: list[BatchResult]
    load_avg_1min: tuple[float, float]  # before/after this comparison
    elapsed_s: float


def latency(timings_ns: Sequence[int]) -> Latency:
    p50, p99 = percentiles_ms(list(timings_ns))
    return Latency(p50, p99, len(timings_ns))


def encoder_env(variant: str, threads: int | None = None) -> dict[str, str]:
    """Server environment for one variant; threads None keeps the service's default (NEWSQA_ENCODER_THREADS)."""
    env = {"NEWSQA_ENCODER": variant}
    if threads is not None:
        env["NEWSQA_ENCODER_THREADS"] = str(threads)
    return env


def onnx_encoder(index_dir: Path, variant: str, threads: int) -> OnnxEncoder:
    """The ONNX encoder exactly as a server opens it: the verified graph of the built index."""
    manifest = read_manifest(index_dir)
    assert manifest is not None, "the index is built before the comparison"
    graph, tokenizer = encoder_files(index_dir, manifest, variant)
    return OnnxEncoder.load(graph, tokenizer, variant, threads)


# ---------------------------------------------------------------- servers


@dataclass
class Server:
    """One running `python -m app serve` and how many POST /ask it has been sent."""

    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    asked: int = 0

    def ask(self, client: LoopbackClient, question: str, top_k: int = 3) -> LoopbackResponse:
        self.asked += 1
        return client.post(f"{self.base_url}/ask", json={"question": question, "top_k": top_k})

    def ask_ok(self, client: LoopbackClient, question: str) -> None:
        response = self.ask(client, question)
        if response.status_code != 200:
            raise RuntimeError(f"{self.name}: POST /ask {question!r}: {response.status_code} {response.text[:300]}")


@contextmanager
def running_servers(
    corpus_dir: Path, index_dir: Path, log_path: Path, envs: Mapping[str, Mapping[str, str]]
) -> Iterator[dict[str, Server]]:
    """One ready server per entry of `envs`, started together (they load in parallel); all stopped on exit."""
    with ExitStack() as stack:
        servers = {
            name: Server(name, *stack.enter_context(running_server(corpus_dir, index_dir, log_path, env)))
            for name, env in envs.items()
        }
        for server in servers.values():
            wait_ready(server.process, server.base_url, log_path)
        yield servers


def warm_up(client: LoopbackClient, servers: Sequence[Server]) -> None:
    for _ in range(WARMUP_ROUNDS):
        for server in servers:
            for question in QUESTIONS:
                server.ask_ok(client, question)


def rss_mb(pid: int) -> float:
    """Resident set size in MB (10^6 bytes), from VmRSS (in KiB) of /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no VmRSS for process {pid}")


def torch_libraries(pid: int) -> tuple[str, ...]:
    """The libtorch* shared objects mapped into a process (empty: torch was never imported)."""
    lines = Path(f"/proc/{pid}/maps").read_text().splitlines()
    return tuple(sorted({Path(line.split()[-1]).name for line in lines if "/libtorch" in line}))


# ---------------------------------------------------------------- dev set


def to_answer(body: AskResponse) -> Answer:
    """The domain Answer behind a POST /ask body (the wire fields are the Answer's, one to one)."""
    return Answer(
        question=body.question,
        answered=body.answered,
        confidence=body.confidence,
        message=body.message,
        quotes=tuple(Quote(**q.model_dump()) for q in body.quotes),
        passages=tuple(CitedPassage(**p.model_dump()) for p in body.passages),
    )


def dev_report(
    client: LoopbackClient, server: Server, gold: Sequence[GoldRow], documents: Mapping[str, str]
) -> EvalReport:
    answers: list[Answer | None] = []
    for row in gold:
        response = server.ask(client, row.question, DEV_TOP_K)
        if response.status_code == 422:  # rejected question: evaluate() counts it as missing
            answers.append(None)
            continue
        response.raise_for_status()
        answers.append(to_answer(AskResponse.model_validate_json(response.content)))
    return evaluate(gold, answers, documents)


# ---------------------------------------------------------------- the parts


ENCODE_ROUNDS = 3
SWITCH_BLOCK = 50  # HTTP samples per variant before switching servers
SWITCH_SETTLE_S = 0.3  # pause at a switch: torch's OpenMP threads spin for a while after each call


def encode_worker(variant: str, index_dir: Path, samples: int) -> list[int]:
    """Timings (ns) of `samples` encodes of the floor question, in this process, by one encoder alone."""
    encoder: Encoder
    if variant == "sentence-transformers":
        encoder = Embedder.load()
    else:
        name, _, threads = variant.partition("@")
        encoder = onnx_encoder(index_dir, name, int(threads) if threads else get_settings().onnx_threads(name))
    for question in QUESTIONS * 3:
        encoder.embed_query(question)
    timings = []
    for _ in range(samples):
        started = time.perf_counter_ns()
        encoder.embed_query(FLOOR_QUESTION)
        timings.append(time.perf_counter_ns() - started)
    return timings


def encode_latencies(index_dir: Path, samples: int) -> dict[str, Latency]:
    """Part 1: one short question per encoder, each measured in a process of its own, rounds alternating.

    Measuring torch and ONNX Runtime in one process interleaved inflates both (torch's OpenMP threads keep
    spinning after a call and compete with ONNX Runtime's): about 3.2 → 6.4 ms for onnx, 8 → 10 ms for torch.
    "onnx@2" is the fp32 graph with 2 intra-op threads; "onnx" and "onnx-int8" (the service's default thread
    count for each) are copied from the matching row, not measured twice.
    """
    names = ["sentence-transformers", *(f"{variant}@{threads}" for variant in ONNX_VARIANTS for threads in (1, 2))]
    timings: dict[str, list[int]] = {name: [] for name in names}
    per_round = max(1, samples // ENCODE_ROUNDS)
    for _ in range(ENCODE_ROUNDS):
        for name in names:
            command = [sys.executable, "-m", "benchmarks.bench_encoders", "--encode-worker", name,
                       "--index-dir", str(index_dir), "--samples", str(per_round)]
            out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
            timings[name].extend(json.loads(out.stdout.strip().splitlines()[-1]))
    measured = {name: latency(values) for name, values in timings.items()}
    defaults = {variant: measured[f"{variant}@{get_settings().onnx_threads(variant)}"] for variant in ONNX_VARIANTS}
    return {**measured, **defaults}


def cold_starts(corpus_dir: Path, index_dir: Path, log_path: Path, repeats: int) -> dict[str, float]:
    """Part 2: median seconds from subprocess start to the first 200 from /readyz, per variant."""
    times: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for _ in range(repeats):
        for variant in VARIANTS:
            times[variant].append(cold_start_s(corpus_dir, index_dir, log_path, encoder_env(variant)))
    return {variant: statistics.median(values) for variant, values in times.items()}


@dataclass(frozen=True)
class Served:
    http: Latency
    dev: EvalReport
    rss_mb: float
    requests: int
    torch_libraries: tuple[str, ...]


def serve_variants(corpus_dir: Path, index_dir: Path, log_path: Path, plan: Plan) -> dict[str, Served]:
    """Part 3: latency, dev score, then memory and torch after `plan.requests_before_rss` questions."""
    gold = parse_gold(DEV_SET.read_text(encoding="utf-8").splitlines(), str(DEV_SET))
    documents = {d.doc_id: d.text for d in read_corpus(corpus_dir)}
    rotation = [*QUESTIONS, *(row.question for row in gold)]
    envs = {variant: encoder_env(variant) for variant in VARIANTS}
    with running_servers(corpus_dir, index_dir, log_path, envs) as servers, local_client(30.0) as client:
        warm_up(client, list(servers.values()))

        def ask(server: Server) -> Callable[[int], object]:
            return lambda n: server.ask_ok(client, QUESTIONS[n % len(QUESTIONS)])

        rows = {name: ask(server) for name, server in servers.items()}
        timed = interleaved(rows, plan.http_samples, block=SWITCH_BLOCK, settle_s=SWITCH_SETTLE_S)
        http = {name: latency(timings) for name, timings in timed.items()}
        dev = {name: dev_report(client, server, gold, documents) for name, server in servers.items()}
        turn = 0
        while any(s.asked < plan.requests_before_rss for s in servers.values()):
            for server in servers.values():
                if server.asked < plan.requests_before_rss:
                    server.ask_ok(client, rotation[turn % len(rotation)])
            turn += 1
        return {
            name: Served(http[name], dev[name], rss_mb(s.process.pid), s.asked, torch_libraries(s.process.pid))
            for name, s in servers.items()
        }


def load_test(server: Server, clients: int, per_client: int) -> tuple[list[int], float]:
    """`clients` threads, each with its own keep-alive client, send `per_client` POST /ask at once.

    Returns every request's latency (ns) and the wall time (s) from the common start to the last answer.
    """
    barrier = threading.Barrier(clients + 1)
    timings: list[list[int]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []

    def worker(slot: int) -> None:
        try:
            with local_client(60.0) as client:
                post_ask(client, server.base_url, QUESTIONS[slot % len(QUESTIONS)])  # connect, untimed
                barrier.wait()
                for n in range(per_client):
                    started = time.perf_counter_ns()
                    post_ask(client, server.base_url, QUESTIONS[(slot + n) % len(QUESTIONS)])
                    timings[slot].append(time.perf_counter_ns() - started)
        except BaseException as exc:  # reported by the caller, after every thread has ended
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(slot,), daemon=True) for slot in range(clients)]
    for thread in threads:
        thread.start()
    try:
        barrier.wait(timeout=120)
        started = time.perf_counter()
    finally:
        for thread in threads:
            thread.join()
    if errors:
        raise RuntimeError(f"load test against {server.name} failed") from errors[0]
    return [t for per_thread in timings for t in per_thread], time.perf_counter() - started


def thread_results(
    corpus_dir: Path, index_dir: Path, log_path: Path, plan: Plan, encode: Mapping[str, Latency]
) -> list[ThreadsResult]:
    """Part 4: each ONNX graph with 1 and 2 intra-op threads, in-process and under concurrent load."""
    configurations = [(variant, threads) for variant in ONNX_VARIANTS for threads in (1, 2)]
    envs = {f"{variant}@{threads}": encoder_env(variant, threads) for variant, threads in configurations}
    timings: dict[str, list[int]] = {name: [] for name in envs}
    wall: dict[str, float] = dict.fromkeys(envs, 0.0)
    per_round = max(1, plan.requests_per_client // plan.rounds)
    with running_servers(corpus_dir, index_dir, log_path, envs) as servers:
        with local_client(30.0) as client:
            warm_up(client, list(servers.values()))
        for round_no in range(plan.rounds):
            for name in envs if round_no % 2 == 0 else list(envs)[::-1]:
                times, seconds = load_test(servers[name], plan.clients, per_round)
                timings[name] += times
                wall[name] += seconds
    served = get_settings()
    results = []
    for variant, threads in configurations:
        name = f"{variant}@{threads}"
        results.append(
            ThreadsResult(
                variant, threads, threads == served.onnx_threads(variant), encode[name],
                len(timings[name]) / wall[name], latency(timings[name]),
            )
        )  # fmt: skip
    return results


def passage_texts(corpus_dir: Path, count: int) -> list[str]:
    """`count` passage-like texts: the corpus passages over and over, copy k without its k-th word."""
    passages = [p.text for d in read_corpus(corpus_dir) for p in parse_document(d).passages]
    texts: list[str] = []
    copy = 0
    while len(texts) < count:
        for text in passages:
            words = text.split()
            drop = copy % len(words)
            texts.append(" ".join(words[:drop] + words[drop + 1 :]) + f" ({copy})")
        copy += 1
    return texts[:count]


def batch_results(embedder: Embedder, corpus_dir: Path, index_dir: Path, count: int) -> list[BatchResult]:
    """Part 5: embed_documents throughput, ONNX with as many intra-op threads as torch uses."""
    import torch  # already loaded by the Embedder

    threads = torch.get_num_threads()
    texts = passage_texts(corpus_dir, count)
    encoders: dict[str, Encoder] = {
        "sentence-transformers": embedder,
        "onnx (fp32)": onnx_encoder(index_dir, "onnx", threads),
    }
    results: list[BatchResult] = []
    for name, encoder in encoders.items():
        encoder.embed_documents(texts[:BATCH_SIZE], batch_size=BATCH_SIZE)  # warm-up
        started = time.perf_counter()
        encoder.embed_documents(texts, batch_size=BATCH_SIZE)
        results.append(BatchResult(name, threads, len(texts), time.perf_counter() - started))
    return results


def compare(embedder: Embedder, corpus_dir: Path, index_dir: Path, log_path: Path, plan: Plan) -> EncoderReport:
    """All five parts, on an index already built in `index_dir` for the corpus in `corpus_dir`."""
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    encode = encode_latencies(index_dir, plan.encode_samples)
    cold = cold_starts(corpus_dir, index_dir, log_path, plan.cold_repeats)
    served = serve_variants(corpus_dir, index_dir, log_path, plan)
    threads = thread_results(corpus_dir, index_dir, log_path, plan, encode)
    batches = batch_results(embedder, corpus_dir, index_dir, plan.batch_texts)
    variants = [
        VariantResult(
            variant=v,
            encode=encode[v],
            http=served[v].http,
            cold_start_s=cold[v],
            rss_mb=served[v].rss_mb,
            requests_before_rss=served[v].requests,
            torch_libraries=served[v].torch_libraries,
            dev={field: float(getattr(served[v].dev, field)) for field, _ in DEV_METRICS},
        )
        for v in VARIANTS
    ]
    return EncoderReport(
        plan=plan,
        reference_ms=encode["sentence-transformers"].p50_ms,
        variants=variants,
        threads=threads,
        batches=batches,
        load_avg_1min=(round(load_before, 2), round(os.getloadavg()[0], 2)),
        elapsed_s=round(time.perf_counter() - started, 1),
    )


# ---------------------------------------------------------------- output


def _met(flags: Sequence[bool | None]) -> str:
    return " / ".join("—" if f is None else "yes" if f else "NO" for f in flags)


TableRow = tuple[str, list[str], str, list[bool | None]]  # measurement, cell per variant, target, met per variant


def _variant_rows(report: EncoderReport) -> list[TableRow]:
    """The side-by-side rows; every target except not_verbatim binds the ONNX variants only."""
    ref, variants = report.reference_ms, report.variants
    st = next(r for r in variants if r.variant == "sentence-transformers")

    def onnx(check: Callable[[VariantResult], bool]) -> list[bool | None]:
        return [None if r is st else check(r) for r in variants]

    def timing(lat: Latency) -> str:
        return f"{lat.p50_ms:.2f} / {lat.p99_ms:.2f} ({lat.p50_ms / ref:.2f}×)"

    rows: list[TableRow] = [
        (f"reference: sentence-transformers embed_query({FLOOR_QUESTION!r}) in-process, p50 ms",
         [f"{ref:.2f}", "—", "—"], "ratios: p50 / this", [None] * 3),
        (f"encode in-process, same question: p50 / p99 ms (ratio; {variants[0].encode.samples} samples)",
         [timing(r.encode) for r in variants], "—", [None] * 3),
        (f"POST /ask over HTTP: p50 / p99 ms (ratio; {variants[0].http.samples} samples)",
         [timing(r.http) for r in variants], f"p50 ≤ {HTTP_RATIO_LIMIT:g}×",
         onnx(lambda r: r.http.p50_ms <= HTTP_RATIO_LIMIT * ref)),
        (f"cold start to /readyz 200, prebuilt index (median of {report.plan.cold_repeats})",
         [f"{r.cold_start_s:.2f} s" for r in variants], f"≤ {COLD_LIMIT_S:g} s",
         onnx(lambda r: r.cold_start_s <= COLD_LIMIT_S)),
        (f"server RSS (VmRSS) after {variants[0].requests_before_rss} POST /ask",
         [f"{r.rss_mb:.0f} MB" for r in variants], f"≤ {RSS_LIMIT_MB:g} MB",
         onnx(lambda r: r.rss_mb <= RSS_LIMIT_MB)),
        ("libtorch mapped in the server (/proc/<pid>/maps)",
         [", ".join(r.torch_libraries) or "no" for r in variants], "no",
         onnx(lambda r: not r.torch_libraries)),
    ]  # fmt: skip
    for field, label in DEV_METRICS:
        values = [r.dev[field] for r in variants]
        if field == "not_verbatim":
            rows.append((f"dev {label}", [f"{v:.0f}" for v in values], "= 0", [v == 0 for v in values]))
        else:
            same_as_st = [None if r is st else v == st.dev[field] for r, v in zip(variants, values, strict=True)]
            rows.append((f"dev {label}", [f"{v:.3f}" for v in values], "= sentence-transformers", same_as_st))
    same = onnx(lambda r: r.dev == st.dev)
    cells = ["—", *("yes" if s else "NO" for s in same[1:])]
    rows.append(("dev: all of the above identical to sentence-transformers", cells, "identical", same))
    return rows


def render(report: EncoderReport) -> str:
    """The three tables as Markdown, with a header line saying how they were measured."""
    plan = report.plan
    lines = [
        f"encoders: {plan.encode_samples} in-process and {plan.http_samples} HTTP samples per variant (interleaved "
        f"blocks); dev set {DEV_SET.name} via POST /ask top_k {DEV_TOP_K}; 1-min load average before/after "
        f"{report.load_avg_1min[0]}/{report.load_avg_1min[1]}; {report.elapsed_s} s",
        "",
        f"| measurement | {' | '.join(r.variant for r in report.variants)} | target | met? (per column) |",
        "|---|---|---|---|---|---|",
    ]
    for measurement, cells, target, met in _variant_rows(report):
        lines.append(f"| {measurement} | {' | '.join(cells)} | {target} | {_met(met)} |")
    requests = plan.clients * max(1, plan.requests_per_client // plan.rounds) * plan.rounds
    lines += [
        "",
        f"| encoder | intra-op threads | in-process encode p50 / p99 ms | {plan.clients} clients × "
        f"{requests // plan.clients} POST /ask: requests/s | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for t in report.threads:
        lines.append(
            f"| {t.variant} | {t.threads}{' (default)' if t.served else ''} | "
            f"{t.encode.p50_ms:.2f} / {t.encode.p99_ms:.2f} | {t.requests_per_s:.0f} | "
            f"{t.http.p50_ms:.2f} | {t.http.p99_ms:.2f} |"
        )
    base = report.batches[0].per_second
    lines += [
        "",
        f"| embed_documents, batch {BATCH_SIZE} | intra-op threads | texts | seconds | passages/s | vs first row |",
        "|---|---|---|---|---|---|",
    ]
    for b in report.batches:
        lines.append(
            f"| {b.encoder} | {b.threads} | {b.texts} | {b.seconds:.1f} | {b.per_second:.0f} | "
            f"{b.per_second / base:.2f}× |"
        )
    return "\n".join(lines)


def report_json(report: EncoderReport) -> dict[str, object]:
    data = asdict(report)
    for batch, result in zip(data["batches"], report.batches, strict=True):
        batch["per_second"] = round(result.per_second, 1)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer samples and requests (about 1 minute instead of 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    parser.add_argument("--encode-worker", metavar="ENCODER", help=argparse.SUPPRESS)
    parser.add_argument("--index-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--samples", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.encode_worker:
        print(json.dumps(encode_worker(args.encode_worker, args.index_dir, args.samples)))
        return 0
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    plan = QUICK if args.quick else Plan()
    with tempfile.TemporaryDirectory(prefix="newsqa-bench-") as tmp:
        scratch = Path(tmp)
        corpus_dir, index_dir, log_path = scratch / "corpus", scratch / "index", scratch / "server.log"
        corpus_dir.mkdir()
        shutil.copy2(ARTICLE, corpus_dir / ARTICLE.name)
        embedder = Embedder.load()
        # builds the index (both ONNX graphs) with the default settings; every server loads it
        QAService.load(get_settings(corpus_dir=corpus_dir, index_dir=index_dir), encoders=Encoders(embedder))
        report = compare(embedder, corpus_dir, index_dir, log_path, plan)
    if args.json:
        print(json.dumps({"machine": machine_info(), "encoders": report_json(report)}, ensure_ascii=False))
    else:
        print(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

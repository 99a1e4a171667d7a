"""What the who-says-what step costs a question: `QAService.ask` with it and without it, side by side.

Usage: .venv/bin/python -m benchmarks.bench_versions [--samples N] [--json]

One run on the default article (copied into a temporary corpus folder and indexed there), in-process, with the
shipped settings. Two rows, sampled in interleaved blocks with the order rotated every round (`harness.interleaved`),
so drift on the shared machine hits both alike:
  1. `QAService.ask` as shipped (the versions step reads the values of the asked type from the best passages'
     sentences, weighs rivals and groups versions);
  2. the same call with `app.answer.quotes.answer_versions` swapped for one that returns no versions: everything
     else (retrieval, the ranker, abstention, quote choice) is the same.
The questions are the harness's set plus typed ones (when / how many / who / where), the only questions the step
reads values for. This is a measurement, not a test: it prints figures and never fails on them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import app.answer.quotes as quotes_module
from app.config import get_settings
from app.models import Version
from app.service import QAService
from benchmarks.harness import ARTICLE, QUESTIONS, interleaved, percentiles_ms

TYPED_QUESTIONS = (
    "When was the ceasefire agreed?",
    "how many points of the first round were implemented",
    "who led pakistan's delegation",
    "where was the second round held",
    "When did the Taliban return to power?",
)


@contextmanager
def versions_step_off() -> Iterator[None]:
    """The answer step without who-says-what: `answer_versions` returns no versions while this is open."""
    shipped = quotes_module.answer_versions

    def none(*_: object, **__: object) -> tuple[Version, ...]:
        return ()

    quotes_module.answer_versions = none
    try:
        yield
    finally:
        quotes_module.answer_versions = shipped


def measure(service: QAService, samples: int) -> dict[str, tuple[float, float]]:
    questions = QUESTIONS + TYPED_QUESTIONS

    def shipped(n: int) -> object:
        return service.ask(questions[n % len(questions)])

    def without(n: int) -> object:
        with versions_step_off():
            return service.ask(questions[n % len(questions)])

    rows: dict[str, Callable[[int], object]] = {"ask, as shipped": shipped, "ask, versions step off": without}
    timings = interleaved(rows, samples)
    return {name: percentiles_ms(values) for name, values in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=600)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="newsqa-bench-versions-"))
    try:
        (folder / "corpus").mkdir()
        shutil.copy(ARTICLE, folder / "corpus" / ARTICLE.name)
        service = QAService.load(get_settings(corpus_dir=folder / "corpus", index_dir=folder / "index"))
        figures = measure(service, args.samples)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps({name: {"p50_ms": p50, "p99_ms": p99} for name, (p50, p99) in figures.items()}))
        return
    reference = figures["ask, versions step off"][0]
    print(f"QAService.ask in-process, default article, {args.samples} samples per row, interleaved blocks")
    print()
    print("| row | p50 ms | p99 ms | p50 / p50 without the step |")
    print("|---|---|---|---|")
    for name, (p50, p99) in figures.items():
        print(f"| {name} | {p50:.2f} | {p99:.2f} | {p50 / reference:.2f}× |")


if __name__ == "__main__":
    main()

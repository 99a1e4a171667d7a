"""What a replica with no shared folder pays to copy the briefs from Milvus, beside loading them from its folder.

Usage: .venv/bin/python -m benchmarks.bench_copy [--briefs 1000] [--rounds 3]

Builds one index of the default article plus --briefs generated briefs (tests/briefs_generator.py) with the
reference model, publishes it to a `milvus-lite server` on a loopback port and commits it as the head (what
the first replica of a cluster does). Then, in turns for --rounds rounds, three ways a replica comes up to the
head, each timed around `QAService.load` or `refresh` in this process:

- **restart**: a replica on its own copy of that build (it reads and verifies the folder, reads the head and
  its listing, and finds nothing to fetch);
- **new replica**: a replica whose folder holds only the default article's build, as a replica's first start
  leaves it: it fetches every other brief's text, metadata and vectors, parses them, embeds the lexicon's new
  words (fp32 ONNX graph), builds and saves;
- **after an add**: a replica at the head while another adds one brief: its `refresh` (read the head, the
  listing, fetch one brief, build, save, swap).

Prints the medians, the briefs and rows copied a second, and the ratio of a new replica to a restart. One
machine (2 shared cores) runs Milvus Lite and the replica: a measurement, not a test.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from app.config import Settings, get_settings
from app.embed.reference import Embedder
from app.index.encoders import Encoders
from app.ingest.sources import BriefMetadata, make_brief
from app.service import QAService
from benchmarks.harness import ARTICLE
from tests.briefs_generator import generate_briefs
from tests.support import ADDED, MilvusLiteServer


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--briefs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("newsqa.index").setLevel(logging.INFO)  # what each copy fetched
    embedder = Embedder.load()
    with tempfile.TemporaryDirectory(prefix="newsqa-copy-") as tmp:
        scratch = Path(tmp)
        milvus = MilvusLiteServer(scratch / "milvus")
        milvus.start()
        try:
            def settings_of(folder: Path) -> Settings:
                plain = get_settings(corpus_dir=folder / "corpus", index_dir=folder / "index")
                return milvus.settings(plain, "copy")

            base, full = scratch / "base", scratch / "full"
            (base / "corpus").mkdir(parents=True)
            shutil.copy2(ARTICLE, base / "corpus" / ARTICLE.name)
            # the default article's build alone, made before Milvus has a head: built without the backend
            article = QAService.load(get_settings(corpus_dir=base / "corpus", index_dir=base / "index"),
                                     encoders=Encoders(embedder)).bundle
            article_rows = len(article.sentences) + len(article.passages)  # a new replica has these already
            shutil.copytree(base / "corpus", full / "corpus")
            for brief in generate_briefs(args.briefs, seed=5):
                (full / "corpus" / f"{brief.doc_id}.txt").write_text(brief.text, encoding="utf-8")
            started = time.perf_counter()
            writer = QAService.load(settings_of(full), encoders=Encoders(embedder))
            build_s = time.perf_counter() - started
            bundle = writer.bundle
            rows = len(bundle.sentences) + len(bundle.passages)
            timings: dict[str, list[float]] = {"restart": [], "new replica": [], "after an add": []}
            copied: list[tuple[int, int]] = []  # briefs and rows a new replica fetched, per round
            extra = generate_briefs(args.rounds, seed=99)
            for n in range(args.rounds):
                own = scratch / f"restart-{n}"
                shutil.copytree(full, own)
                started = time.perf_counter()
                QAService.load(settings_of(own))
                timings["restart"].append(time.perf_counter() - started)
                fresh = scratch / f"new-{n}"
                shutil.copytree(base, fresh)
                started = time.perf_counter()
                replica = QAService.load(settings_of(fresh))
                timings["new replica"].append(time.perf_counter() - started)
                held = replica.bundle
                assert list(held.documents) == list(writer.bundle.documents)
                copied.append((len(held.documents) - 1, len(held.sentences) + len(held.passages) - article_rows))
                brief = extra[n]
                writer.add_documents([make_brief(brief.text, "text", BriefMetadata(doc_id=f"added-{n}"),
                                                 f"added-{n}", f"added-{n}.txt", ADDED)])
                timings["after an add"].append(timed(replica.refresh))
                assert f"added-{n}" in replica.bundle.documents
        finally:
            milvus.stop()
    medians = {name: statistics.median(values) for name, values in timings.items()}
    briefs_per_s = statistics.median(b / t for (b, _), t in zip(copied, timings["new replica"], strict=True))
    rows_per_s = statistics.median(r / t for (_, r), t in zip(copied, timings["new replica"], strict=True))
    print(f"{len(bundle.documents)} briefs, {len(bundle.sentences)} sentences + {len(bundle.passages)} passages "
          f"= {rows} rows; built and published in {build_s:.1f} s; median of {args.rounds} rounds, "
          "Milvus Lite and the replica on 2 shared cores\n")
    print("| how the replica comes up to the head | seconds | briefs/s | rows/s |\n|---|---|---|---|")
    print(f"| restart (its own folder, nothing to fetch) | {medians['restart']:.2f} | — | — |")
    print(f"| new replica (fetches every brief but the article) | {medians['new replica']:.2f} | "
          f"{briefs_per_s:.0f} | {rows_per_s:.0f} |")
    print(f"| after another replica's add of one brief (`refresh`) | {medians['after an add']:.2f} | — | — |")
    print(f"\nnew replica / restart: {medians['new replica'] / medians['restart']:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Shared fixtures: the real model and a real index, built once per test session in a temporary folder."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from app.bundle import IndexBundle
from app.config import PROJECT_ROOT, Settings, get_settings
from app.embed import Embedder, Encoder, Vectors
from app.service import QAService


def pytest_configure(config: pytest.Config) -> None:
    """Tests fire hundreds of requests from one address in seconds: the per-client rate limit (on by default,
    20/second) is off for the suite, and the tests about rate limiting turn it on for their own app."""
    os.environ["NEWSQA_RATE_LIMIT"] = "off"


ARTICLE = PROJECT_ROOT / "corpus" / "pakistan-afghanistan-talks.txt"
DOC_ID = "pakistan-afghanistan-talks"


@pytest.fixture(scope="session")
def article_text() -> str:
    return ARTICLE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("newsqa")


@pytest.fixture(scope="session")
def settings(session_dir: Path) -> Settings:
    """Settings serving a private copy of the default corpus with a private index folder."""
    corpus = session_dir / "corpus"
    corpus.mkdir()
    shutil.copy(ARTICLE, corpus / ARTICLE.name)
    return get_settings(corpus_dir=corpus, index_dir=session_dir / "index")


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder.load()


@pytest.fixture(scope="session")
def service(settings: Settings, embedder: Embedder) -> Iterator[QAService]:
    yield QAService.load(settings, embedder=embedder)


@contextlib.contextmanager
def running_uvicorn(app: FastAPI, config: uvicorn.Config | None = None) -> Iterator[str]:
    """A real uvicorn on 127.0.0.1, on a socket bound here first (port 0), so no port can be taken meanwhile.

    With `config` (e.g. `app.server.server_config`, what `newsqa serve` runs), that configuration; else
    uvicorn's defaults."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(config or uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(600):  # until uvicorn accepts connections (at most 30 s): a bounded wait, not a race
        if server.started or not thread.is_alive():
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
    assert not thread.is_alive(), "uvicorn did not shut down"


def indexed_article(root: Path, embedder: Embedder) -> Path:
    """`root/corpus` holding the default article and `root/index` built for it (for module-scoped fixtures)."""
    (root / "corpus").mkdir()
    shutil.copy(ARTICLE, root / "corpus" / ARTICLE.name)
    QAService.load(get_settings(corpus_dir=root / "corpus", index_dir=root / "index"), embedder=embedder)
    return root


def copy_folders(source: Path, target: Path) -> Path:
    """A test's own copy of a corpus and index pair (so it may change or damage them)."""
    for folder in ("corpus", "index"):
        shutil.copytree(source / folder, target / folder)
    return target


def same_vectors(before: IndexBundle, after: IndexBundle, doc_id: str) -> bool:
    """True when a document's sentence and passage rows are byte-identical in both bundles (not re-embedded)."""
    old, new = before.doc_rows[doc_id], after.doc_rows[doc_id]
    return (
        before.sentence_matrix[old.sentence_start : old.sentence_end].tobytes()
        == after.sentence_matrix[new.sentence_start : new.sentence_end].tobytes()
        and before.passage_matrix[old.passage_start : old.passage_end].tobytes()
        == after.passage_matrix[new.passage_start : new.passage_end].tobytes()
    )


class CountingEncoder:
    """A spy, not a mock: it delegates every call to the real encoder and records the texts it embedded."""

    def __init__(self, inner: Encoder) -> None:
        self.inner = inner
        self.name = inner.name
        self.texts: list[str] = []

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed_documents(self, texts: list[str], batch_size: int = 64, show_progress: bool = False) -> Vectors:
        self.texts.extend(texts)
        return self.inner.embed_documents(texts, batch_size=batch_size, show_progress=show_progress)

    def embed_query(self, text: str) -> Vectors:
        self.texts.append(text)
        return self.inner.embed_query(text)

"""Shared fixtures: the real model and a real index, built once per test session in a temporary folder."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import PROJECT_ROOT, Settings, get_settings
from app.embed import Embedder
from app.service import QAService

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

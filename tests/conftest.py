"""Shared fixtures: the real model and a real index, built once per test session in a temporary folder."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from app.config import Settings, get_settings
from app.embed.reference import Embedder
from app.index.encoders import Encoders
from app.service import QAService
from tests.fake_slack import FakeSlack
from tests.support import ARTICLE, CHROMIUM, CHROMIUM_ARGS, CLAIMS, MilvusLiteServer, RedisServer, add_claims_briefs


def pytest_configure(config: pytest.Config) -> None:
    """Tests fire hundreds of requests from one address in seconds: the per-client rate limit (on by default,
    20/second) is off for the suite, and the tests about rate limiting turn it on for their own app."""
    os.environ["NEWSQA_RATE_LIMIT"] = "off"


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
    yield QAService.load(settings, encoders=Encoders(embedder))


@pytest.fixture(scope="session")
def article_index(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """`corpus/` holding the default article and `index/` built for it, once per run: never served or changed;
    tests take their own copy (`copy_folders(article_index, tmp_path)`)."""
    root = tmp_path_factory.mktemp("article")
    (root / "corpus").mkdir()
    shutil.copy(ARTICLE, root / "corpus" / ARTICLE.name)
    QAService.load(get_settings(corpus_dir=root / "corpus", index_dir=root / "index"), encoders=Encoders(embedder))
    return root


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless; Playwright never downloads a browser here."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"the browser tests need Debian's chromium at {CHROMIUM}, which is missing: run `make test` "
            "(its `browser` target installs it with apt-get), or `apt-get install chromium`",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def two_sources(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> QAService:
    """The default article (no source or date) plus a newer wire brief that dates the ceasefire differently."""
    root = tmp_path_factory.mktemp("versions")
    (root / "corpus").mkdir()
    shutil.copy(ARTICLE, root / "corpus" / ARTICLE.name)
    service = QAService.load(
        get_settings(corpus_dir=root / "corpus", index_dir=root / "index"),
        encoders=Encoders(embedder)
    )
    add_claims_briefs(service, CLAIMS / "ceasefire", skip={"pakistan-afghanistan-talks"})
    return service


@pytest.fixture(scope="module")
def milvus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusLiteServer]:
    """A Milvus Lite server on a free 127.0.0.1 port, one per test module that asks for it."""
    server = MilvusLiteServer(tmp_path_factory.mktemp("milvus") / "data")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server of the test's own on a free loopback port (make redis installs Debian's)."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    slack = FakeSlack()
    yield slack
    slack.close()

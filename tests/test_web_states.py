"""The staff page's states, each distinct at a glance, photographed at 1280 px and 390 px into test-artifacts/.

Real chromium (Debian's, through Playwright) against a real uvicorn serving the default article and a newer wire
brief that dates the ceasefire differently (tests/data/claims/ceasefire). The states: an answer, a list answer,
two disagreeing briefs, not covered, and the citation view (reached from an answer, with its way back).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from app.api.app import create_app
from app.api.routes.pages import STRONG_MATCH, citations, match_strength
from app.models import Answer, Quote
from app.service import QAService
from tests.support import ARTICLE, ARTIFACTS, DESKTOP, PHONE, running_uvicorn

WIDTHS: dict[str, ViewportSize] = {"1280": DESKTOP, "390": PHONE}
QUESTIONS = {
    "answer": "Who mediated the talks in Istanbul?",
    "list-answer": "What did Pakistan's proposed framework include?",
    "disagree": "When was the ceasefire agreed?",
    "not-covered": "What is the capital of France?",
}


@pytest.fixture(scope="module")
def states_url(two_sources: QAService) -> Iterator[str]:
    with running_uvicorn(create_app(two_sources.settings, service=two_sources)) as url:
        yield url


@pytest.fixture(params=sorted(WIDTHS))
def sized_page(request: pytest.FixtureRequest, browser: Browser) -> Iterator[tuple[str, Page]]:
    context = browser.new_context(viewport=WIDTHS[request.param])
    try:
        yield request.param, context.new_page()
    finally:
        context.close()


def shoot(page: Page, state: str, width: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"web-state-{state}-{width}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def ask(page: Page, base: str, question: str) -> None:
    page.goto(f"{base}/")
    page.get_by_label("Ask the briefs a question").fill(question)
    page.get_by_role("button", name="Ask").click()
    expect(page.locator("#answer-heading")).to_be_visible()


@pytest.mark.e2e
def test_every_state_is_distinct_and_photographed(sized_page: tuple[str, Page], states_url: str) -> None:
    width, page = sized_page
    shots: dict[str, Path] = {}

    ask(page, states_url, QUESTIONS["answer"])
    expect(page.locator(".status.answered")).to_be_visible()
    expect(page.locator("p.strength")).to_contain_text("match")
    assert page.locator("article.cite mark").count() >= 1 and page.locator("article.closest").count() == 0
    shots["answer"] = shoot(page, "answer", width)

    ask(page, states_url, QUESTIONS["list-answer"])
    assert page.locator("article.cite li mark").count() >= 2  # the items of the list, each marked
    shots["list-answer"] = shoot(page, "list-answer", width)

    ask(page, states_url, QUESTIONS["disagree"])
    expect(page.get_by_role("heading", name="The briefs disagree")).to_be_visible()
    assert page.locator("article.version").count() >= 2
    shots["disagree"] = shoot(page, "disagree", width)

    ask(page, states_url, QUESTIONS["not-covered"])
    expect(page.get_by_role("heading", name="Not covered by the briefs")).to_be_visible()
    expect(page.locator(".status.abstained")).to_contain_text("The briefs don't say.")
    assert page.locator("article.closest").count() >= 1
    assert page.locator("mark").count() == 0 and page.locator("article.cite").count() == 0
    shots["not-covered"] = shoot(page, "not-covered", width)

    ask(page, states_url, QUESTIONS["answer"])
    page.get_by_role("link", name="Open in the brief").first.click()
    expect(page.locator("mark#passage")).to_be_in_viewport()
    shots["citation"] = shoot(page, "citation", width)

    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in shots.values()}
    assert len(digests) == len(shots)  # five different pictures


@pytest.mark.e2e
def test_back_to_search_keeps_the_question_and_the_filters(browser: Browser, states_url: str) -> None:
    context = browser.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        page.goto(f"{states_url}/")
        page.get_by_label("Ask the briefs a question").fill(QUESTIONS["disagree"])
        page.locator("#from").fill("2025-01-01")
        page.get_by_role("button", name="Ask").click()
        page.get_by_role("link", name="Open in the brief").first.click()
        expect(page.locator("mark#passage")).to_be_visible()
        page.get_by_role("link", name="← Back to search").click()
        query = parse_qs(urlsplit(page.url).query)
        assert query["q"] == [QUESTIONS["disagree"]] and query["from"] == ["2025-01-01"]
        expect(page.get_by_label("Ask the briefs a question")).to_have_value(QUESTIONS["disagree"])
        expect(page.locator("#from")).to_have_value("2025-01-01")
        expect(page.locator("#answer-heading")).to_be_visible()  # the results are back, not an empty form
    finally:
        context.close()


def test_match_strength_words_follow_the_calibrated_confidence() -> None:
    assert match_strength(STRONG_MATCH) == "strong"
    assert match_strength(0.5) == "fair"
    assert match_strength(0.4) == "weak"


def test_two_quotes_from_one_paragraph_are_one_item_with_both_marked(two_sources: QAService) -> None:
    """Built by hand (a unit test of the page's grouping): two sentences of one paragraph of the article."""
    bundle = two_sources.bundle
    parsed = bundle.documents[ARTICLE.stem]
    first, second = next(
        (a, b) for a, b in zip(parsed.sentences, parsed.sentences[1:], strict=False)
        if any(blk.start <= a.start and b.end <= blk.end for blk in parsed.blocks if blk.kind == "paragraph")
    )
    quotes = tuple(
        Quote(s.doc_id, parsed.title, s.section, s.start, s.end, s.text, parsed.document.sha256)
        for s in (first, second)
    )
    shown = citations(two_sources, Answer("q", True, 0.9, None, quotes, ()))
    assert len(shown) == 1
    marked = [seg for block in shown[0].blocks for seg in block.segments if seg.marked]
    assert [seg.text for seg in marked] == [first.text, second.text]
    assert [seg.span for seg in marked] == [f"{first.start}-{first.end}", f"{second.start}-{second.end}"]

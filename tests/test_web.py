"""The staff web page: a real chromium (Debian's, driven by Playwright) against a real uvicorn, plus its HTML.

The browser tests (marked e2e) use the keyboard and mouse the way a reader would; the HTML tests at the end use
FastAPI's TestClient. Both serve a private corpus: the Pakistan article and three short briefs from two sources
("City Desk", "Wire") with publication dates, one of them full of HTML-special characters.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Locator, Page, expect

from app.api.app import create_app
from app.config import get_settings
from app.embed.reference import Embedder
from app.index.encoders import Encoders
from app.ingest.sources import BriefMetadata, make_brief
from app.service import QAService
from tests.support import ARTICLE, ARTIFACTS, DESKTOP, DOC_ID, PHONE, running_uvicorn

expect.set_options(timeout=20_000)  # generous: answering takes CPU, and the test machine may be busy

CITY_DESK, WIRE = "City Desk", "Wire"
BRIDGE_ID, STORM_ID, NOTICE_ID = "harbour-bridge", "coastal-storm", "council-notice"
UNSAFE = "<script>alert(1)</script>"
BRIEFS = (
    (
        BRIDGE_ID,
        CITY_DESK,
        dt.date(2026, 3, 2),
        "Harbour Bridge to reopen on 10 March\n"
        "The Harbour Bridge will reopen to traffic on 10 March after six weeks of repairs to its deck, "
        "the city's transport office said. Buses return to the bridge the same morning.\n",
    ),
    (
        STORM_ID,
        WIRE,
        dt.date(2026, 3, 4),
        "Storm closes coastal roads\n"
        "A winter storm closed coastal roads and cut power to 12,000 homes on Tuesday, the weather service said. "
        "Crews expect to restore power by Thursday.\n",
    ),
    (
        NOTICE_ID,
        WIRE,
        dt.date(2026, 3, 5),
        "Council notice & markup\n"
        f"The council's web notice showed {UNSAFE} & other raw tags to readers for an hour on Monday.\n",
    ),
)
INGESTED = dt.datetime(2026, 3, 12, 9, 0, tzinfo=dt.UTC)

ANSWERED = "What did Pakistan demand?"
NOT_COVERED = "What is the capital of France?"
BRIDGE = "When will the bridge reopen?"

# Between two <mark>s of one quote: the line break between its blocks, and a list item's bullet marker, which the
# page shows as a list item rather than as text (the marker is not part of the bullet's block).
BETWEEN_BLOCKS = re.compile(r"\s*(?:(?:[-*\u2022\u25aa\u2013]|\d{1,3}[.)])[ \t]+)?")
# What the focused element is, for a readable focus trail: its id, else its class, else its text.
ACTIVE = "() => { const e = document.activeElement; return e.id || e.className || e.textContent.trim() || e.tagName; }"
# Whether the focused element shows the page's focus ring (:focus-visible outline). A date input's calendar button
# is focused inside the input's own shadow tree (the input itself then does not match :focus): chromium draws that
# ring itself, out of the page's reach, so it is not checked here.
FOCUS_RING = """() => {
  const e = document.activeElement;
  if (!e.matches(':focus')) return true;
  const style = getComputedStyle(e);
  return e.matches(':focus-visible') && style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
}"""


# ---------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def web_service(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> QAService:
    """A service over a private corpus: the article, then three briefs added the way `newsqa add` adds them."""
    root = tmp_path_factory.mktemp("web")
    corpus = root / "corpus"
    corpus.mkdir()
    shutil.copy(ARTICLE, corpus / ARTICLE.name)
    service = QAService.load(get_settings(corpus_dir=corpus, index_dir=root / "index"), encoders=Encoders(embedder))
    briefs = [
        make_brief(text, "text", BriefMetadata(source=source, published=published), doc_id, f"{doc_id}.txt", INGESTED)
        for doc_id, source, published, text in BRIEFS
    ]
    changes = service.add_documents(briefs)
    assert [(c.doc_id, c.status) for c in changes] == [(b.doc_id, "added") for b in briefs]
    return service


@pytest.fixture(scope="module")
def live_url(web_service: QAService) -> Iterator[str]:
    with running_uvicorn(create_app(web_service.settings, service=web_service)) as url:
        yield url


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page (in its own context: no shared history or cookies) at a desktop size."""
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(30_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(30_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="module")
def web_client(web_service: QAService) -> Iterator[TestClient]:
    with TestClient(create_app(web_service.settings, service=web_service)) as client:
        yield client


# ---------------------------------------------------------------------------------------------------- helpers


def search_box(page: Page) -> Locator:
    return page.get_by_role("searchbox", name="Ask the briefs a question")


def ask(page: Page, base: str, question: str, source: str | None = None) -> None:
    """Open the search page, optionally pick a source, type the question and press Enter; wait for the answer."""
    page.goto(f"{base}/")
    if source is not None:
        page.locator("#source").select_option(label=source)
        search_box(page).focus()
    expect(search_box(page)).to_be_focused()  # autofocus on arrival (and back there after choosing a source)
    page.keyboard.type(question)
    with page.expect_navigation() as navigation:
        page.keyboard.press("Enter")
    response = navigation.value
    assert response is not None
    assert response.status == 200
    expect(page.locator("#answer-heading")).to_be_visible()


def span_of(href: str | None) -> tuple[str, int, int]:
    """(doc_id, start, end) of a citation link `/documents/{id}/view?span=START-END#passage`."""
    assert href is not None
    parts = urlsplit(href)
    assert parts.fragment == "passage"
    match = re.fullmatch(r"/documents/([^/]+)/view", parts.path)
    assert match, href
    start, end = parse_qs(parts.query)["span"][0].split("-")
    return match.group(1), int(start), int(end)


def assert_marks_quote(marks: list[str], quoted: str) -> None:
    """The <mark>s of one quote, in order, are the quoted text itself, cut only between its blocks.

    textContent (not innerText) is read, so the text is exactly what the server sent: no whitespace collapsing.
    A quote over several blocks (a list) has one <mark> per block; what lies between them is the line break and,
    for a list item, its bullet marker, which the page renders as a list item instead.
    """
    assert marks, "the quote has no <mark>"
    position = 0
    for i, mark in enumerate(marks):
        assert mark.strip(), f"an empty <mark> in {marks!r}"
        found = quoted.find(mark, position)
        assert found >= 0, f"<mark> {mark!r} is not in the quoted span {quoted!r}"
        gap = quoted[position:found]
        assert (gap == "") if i == 0 else BETWEEN_BLOCKS.fullmatch(gap), f"unmarked text {gap!r} inside the quote"
        position = found + len(mark)
    assert quoted[position:] == "", f"the end of the quote {quoted[position:]!r} is not marked"


def cited(page: Page) -> list[tuple[str, int, int, list[str], str]]:
    """Every quote on a results page: doc_id, start, end, its marks, its 'where' line. Quotes from one paragraph
    share an item (its link opens the first); each <mark> names the quote it belongs to (data-quote)."""
    out = []
    for article in page.locator("article.cite").all():
        doc_id, _, _ = span_of(article.locator("a.citation").get_attribute("href"))
        where = article.locator("p.where").inner_text()
        by_quote: dict[str, list[str]] = {}
        for mark in article.locator("blockquote mark").all():
            by_quote.setdefault(mark.get_attribute("data-quote") or "", []).append(mark.text_content() or "")
        for span, marks in by_quote.items():
            start, end = (int(n) for n in span.split("-"))
            out.append((doc_id, start, end, marks, where))
    return out


def closest(page: Page) -> list[tuple[str, int, int, str, int, str]]:
    """Every closest passage of an abstention: doc_id, start, end, its shown text, its number of <mark>s, and
    its 'where' line."""
    out = []
    for article in page.locator("article.closest").all():
        doc_id, start, end = span_of(article.locator("a.citation").get_attribute("href"))
        shown = article.locator(".passage").text_content() or ""
        where = article.locator("p.where").inner_text()
        out.append((doc_id, start, end, shown, article.locator("mark").count(), where))
    return out


def without_layout(text: str) -> str:
    """Text with its white space and bullet markers dropped: what a passage shown as paragraphs and list items
    must still equal, character for character."""
    return re.sub(r"\s", "", re.sub(r"(?m)^\s*[-*\u2022]\s+", "", text))


def assert_no_horizontal_scroll(page: Page) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[1] == PHONE["width"], f"the page was zoomed out to fit: innerWidth {widths[1]}"
    assert widths[0] <= widths[1], f"horizontal scroll on {page.url}: scrollWidth {widths[0]} > {widths[1]}"


def focus_trail(page: Page, key: str, until: str, limit: int = 20) -> list[str]:
    """Press `key` until the focused element is `until`; the elements focused on the way (each once)."""
    trail: list[str] = []
    for _ in range(limit):
        page.keyboard.press(key)
        active = page.evaluate(ACTIVE)
        assert page.evaluate(FOCUS_RING), f"no visible focus ring on {active!r}"
        if not trail or trail[-1] != active:  # a date input takes one Tab per field (month, day, year)
            trail.append(active)
        if active == until:
            return trail
    raise AssertionError(f"{key} never reached {until!r}: {trail}")


def save_screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return path


# ---------------------------------------------------------------------------------------------------- browser


@pytest.mark.e2e
def test_typed_question_shows_marks_verbatim_at_their_offsets(page: Page, live_url: str, article_text: str) -> None:
    ask(page, live_url, ANSWERED)
    expect(page.get_by_role("heading", name="From the briefs, word for word")).to_be_visible()
    assert parse_qs(urlsplit(page.url).query)["q"] == [ANSWERED]  # a shareable URL
    expect(search_box(page)).to_have_value(ANSWERED)
    quotes = cited(page)
    assert quotes, "no quote on the page"
    for doc_id, start, end, marks, where in quotes:
        assert doc_id == DOC_ID
        assert "Pakistan" in where  # the article's title
        assert_marks_quote(marks, article_text[start:end])
    # at least one quote within a single paragraph: its one <mark> is exactly the article at the link's offsets
    assert any(marks == [article_text[start:end]] for _, start, end, marks, _ in quotes)


@pytest.mark.e2e
def test_citation_link_opens_the_brief_scrolled_to_the_highlighted_passage(
    page: Page, live_url: str, article_text: str
) -> None:
    ask(page, live_url, ANSWERED)
    link = page.get_by_role("link", name="Open in the brief").first
    doc_id, start, end = span_of(link.get_attribute("href"))
    link.click()
    expect(page).to_have_url(re.compile(rf"/documents/{re.escape(doc_id)}/view\?span={start}-{end}&q=[^#]+#passage$"))
    passage = page.locator("#passage")
    expect(passage).to_be_visible()
    assert passage.evaluate("e => e.tagName") == "MARK"
    expect(passage).to_be_in_viewport()
    box, viewport = passage.bounding_box(), page.viewport_size
    assert box is not None
    assert viewport is not None
    assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"], (box, viewport)
    # the quote sits below the first screen of the article: it is in view because the page scrolled to it
    assert page.evaluate("window.scrollY") > 0
    quoted = article_text[start:end]
    text = passage.text_content()
    assert text
    assert quoted.startswith(text)
    assert_marks_quote(page.locator("article.doc mark").all_text_contents(), quoted)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Pakistan")


@pytest.mark.e2e
def test_question_the_briefs_do_not_answer_abstains_with_closest_passages(
    page: Page, live_url: str, web_service: QAService
) -> None:
    ask(page, live_url, NOT_COVERED)
    expect(page.get_by_role("heading", name="Not covered by the briefs")).to_be_visible()
    expect(page.get_by_role("heading", name="Closest passages, not an answer")).to_be_visible()
    expect(page.get_by_role("heading", name="From the briefs, word for word")).to_have_count(0)
    passages = closest(page)
    assert passages
    assert page.locator("article.cite").count() == 0  # no answer frame anywhere
    for doc_id, start, end, shown, marks, _ in passages:
        assert marks == 0  # not an answer: nothing highlighted
        assert re.sub(r"\s", "", shown) == without_layout(web_service.document(doc_id).document.text[start:end])
    for i, (doc_a, start_a, end_a, *_) in enumerate(passages):  # never the same text twice
        for doc_b, start_b, end_b, *_ in passages[i + 1 :]:
            assert doc_a != doc_b or end_a <= start_b or end_b <= start_a
    style = page.locator("article.closest").first.evaluate("e => getComputedStyle(e).borderTopStyle")
    assert style == "dashed"


@pytest.mark.e2e
def test_source_and_date_filters_limit_the_briefs_asked(page: Page, live_url: str) -> None:
    ask(page, live_url, BRIDGE, source=CITY_DESK)
    assert parse_qs(urlsplit(page.url).query)["source"] == [CITY_DESK]
    expect(page.locator("#source option:checked")).to_have_text(CITY_DESK)  # the choice stays on the results page
    quotes = cited(page)
    assert quotes
    for doc_id, _, _, _, where in quotes:
        assert doc_id == BRIDGE_ID
        assert f" · {CITY_DESK} · " in where

    # the other source, from the results page: its question is still in the box
    expect(search_box(page)).to_have_value(BRIDGE)
    page.locator("#source").select_option(label=WIRE)
    page.get_by_role("button", name="Ask").click()
    expect(page).to_have_url(re.compile(r"source=Wire"))
    expect(page.locator("#answer-heading")).to_be_visible()
    others = [(c[0], c[-1]) for c in cited(page)] + [(c[0], c[-1]) for c in closest(page)]
    assert others, "no quote or closest passage from the Wire briefs"
    for doc_id, where in others:
        assert doc_id != BRIDGE_ID
        assert CITY_DESK not in where
        assert f" · {WIRE} · " in where

    # all sources, but only briefs published from 3 March on: the bridge brief (2 March) is left out,
    # and so is the article (it has no date)
    page.locator("#source").select_option(label="All sources")
    page.locator("#from").fill("2026-03-03")
    page.get_by_role("button", name="Ask").click()
    expect(page).to_have_url(re.compile(r"from=2026-03-03"))
    expect(page.locator("#answer-heading")).to_be_visible()
    dated = [c[0] for c in cited(page)] + [c[0] for c in closest(page)]
    assert dated
    assert set(dated) <= {STORM_ID, NOTICE_ID}


@pytest.mark.e2e
def test_keyboard_only(page: Page, live_url: str) -> None:
    page.goto(f"{live_url}/")
    expect(search_box(page)).to_be_focused()
    # from the autofocused box back to the top of the page: the home link, then the skip link, which shows itself
    assert focus_trail(page, "Shift+Tab", until="skip") == ["home", "skip"]
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_in_viewport()
    # forward through the whole form: every control is reachable, each with a visible focus ring
    assert focus_trail(page, "Tab", until="to") == ["home", "q", "Ask", "source", "from", "to"]

    # the skip link lands on the main content: the next Tab is the search box
    focus_trail(page, "Shift+Tab", until="skip")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#main$"))
    page.keyboard.press("Tab")
    expect(search_box(page)).to_be_focused()

    # ask, submit with the Ask button, and open a citation: all from the keyboard
    page.keyboard.type(ANSWERED)
    assert focus_trail(page, "Tab", until="Ask") == ["Ask"]
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="From the briefs, word for word")).to_be_visible()
    assert focus_trail(page, "Tab", until="citation")[-1] == "citation"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#passage$"))
    expect(page.locator("#passage")).to_be_in_viewport()


@pytest.mark.e2e
def test_phone_viewport_has_no_horizontal_scroll(phone: Page, live_url: str) -> None:
    ask(phone, live_url, ANSWERED)
    assert_no_horizontal_scroll(phone)
    save_screenshot(phone, "web-results-phone.png")
    phone.get_by_role("link", name="Open in the brief").first.click()
    expect(phone).to_have_url(re.compile(r"#passage$"))
    expect(phone.locator("#passage")).to_be_in_viewport()
    assert_no_horizontal_scroll(phone)
    save_screenshot(phone, "web-document-phone.png")
    ask(phone, live_url, NOT_COVERED)
    assert_no_horizontal_scroll(phone)


@pytest.mark.e2e
def test_too_long_question_shows_the_error_and_answers_422(page: Page, live_url: str) -> None:
    question = ("Why " * 150).strip() + "?"
    assert len(question) == 600
    # the box itself stops at 500 characters (maxlength) ...
    page.goto(f"{live_url}/")
    search_box(page).press_sequentially(question)
    assert len(search_box(page).input_value()) == 500
    # ... so a longer question can only come in a URL (shared, or typed by hand): the server refuses it
    response = page.goto(f"{live_url}/?q={quote(question)}")
    assert response is not None
    assert response.status == 422
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("600 characters")
    expect(page.locator("#answer-heading")).to_have_count(0)
    expect(search_box(page)).to_have_value(question)  # the question is kept for the reader to shorten


@pytest.mark.e2e
def test_screenshots_of_the_results_page_and_the_document_view(page: Page, live_url: str) -> None:
    ask(page, live_url, ANSWERED)
    results = save_screenshot(page, "web-results.png")
    page.get_by_role("link", name="Open in the brief").first.click()
    expect(page.locator("#passage")).to_be_in_viewport()
    document = save_screenshot(page, "web-document.png")
    for path in (results, document):
        assert path.is_file()
        assert path.stat().st_size > 0


# ---------------------------------------------------------------------------------------------------- HTML


@pytest.mark.parametrize("span", ["0-999999", "50-10", "7-7", "abc", "-3-5"])
def test_view_with_a_bad_span_shows_the_whole_brief_and_a_note(
    web_client: TestClient, web_service: QAService, article_text: str, span: str
) -> None:
    response = web_client.get(f"/documents/{DOC_ID}/view", params={"span": span})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    body = response.text
    assert 'role="alert"' in body
    assert "The requested passage is not inside this document; showing the whole brief." in body
    assert "<mark" not in body
    shown = html.unescape(body)
    for block in web_service.document(DOC_ID).blocks:
        assert article_text[block.start : block.end] in shown


@pytest.mark.parametrize(
    ("doc_id", "meta"),
    [
        (BRIDGE_ID, f'{CITY_DESK} · <time datetime="2026-03-02">2026-03-02</time> · <span>{BRIDGE_ID}</span>'),
        (DOC_ID, f"<span>{DOC_ID}</span>"),  # a bare .txt: no source or date, and no stray separator either
    ],
)
def test_view_without_a_span_shows_the_whole_brief_and_its_metadata(
    web_client: TestClient, doc_id: str, meta: str
) -> None:
    response = web_client.get(f"/documents/{doc_id}/view")
    assert response.status_code == 200
    assert 'role="alert"' not in response.text
    assert "<mark" not in response.text
    assert f'<p class="meta">{meta}</p>' in response.text


def test_unknown_document_is_a_404_page(web_client: TestClient) -> None:
    response = web_client.get("/documents/no-such-brief/view", params={"span": "0-5"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "No such brief" in response.text
    assert "no-such-brief" in response.text
    assert 'role="alert"' in response.text


def test_markup_in_a_brief_is_escaped(web_client: TestClient, web_service: QAService) -> None:
    text = web_service.document(NOTICE_ID).document.text
    start = text.index(UNSAFE)
    response = web_client.get(f"/documents/{NOTICE_ID}/view", params={"span": f"{start}-{start + len(UNSAFE)}"})
    assert response.status_code == 200
    body = response.text
    assert "<script" not in body
    assert '<mark id="passage">&lt;script&gt;alert(1)&lt;/script&gt;</mark>' in body
    assert "<h1>Council notice &amp; markup</h1>" in body


def test_markup_in_the_question_is_escaped(web_client: TestClient) -> None:
    question = f"{UNSAFE} what did the council notice show?"
    response = web_client.get("/", params={"q": question, "source": f'"><b>{WIRE}'})
    assert response.status_code == 200
    body = response.text
    assert "<script" not in body
    assert "<b>" not in body
    assert f'value="{html.escape(question)}"' in body
    assert f"<title>{html.escape(question)} · newsqa</title>" in body

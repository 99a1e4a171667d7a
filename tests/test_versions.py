"""Who says what, end to end: briefs that disagree on a fact show every version with its source, on every edge.

Real model, real index, briefs added the way `newsqa add` adds them, real uvicorn on 127.0.0.1 and Debian's
chromium for the page. The briefs are tests/data/claims/ (written for this; see benchmarks/train_versions.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser

from app.api.app import create_app
from app.chat.format import MATTERMOST, SLACK, compose_chat_message, mattermost_text, slack_blocks
from app.embed.reference import Embedder
from app.models import Answer
from app.service import QAService
from tests.support import claims_service, running_uvicorn

CEASEFIRE = "When was the ceasefire agreed?"


@pytest.fixture(scope="module")
def landslide(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> QAService:
    """Three briefs on one landslide: two sources, and a syndicated copy of one of them under a third name."""
    return claims_service(tmp_path_factory.mktemp("landslide"), embedder, "landslide")


@pytest.fixture(scope="module")
def vaccine(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> QAService:
    """The vaccine trial brief and a second source that gives other figures for its cost and its sites."""
    return claims_service(tmp_path_factory.mktemp("vaccine"), embedder, "vaccine")


@pytest.fixture(scope="module")
def mill(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> QAService:
    """Two sources on one paper mill, a newer wire and an older local paper, that say yes and no."""
    return claims_service(tmp_path_factory.mktemp("mill"), embedder, "mill")


def test_a_yes_and_a_no_are_two_versions_each_shown_by_its_own_words(mill: QAService) -> None:
    answer = mill.ask("will the sorvik mill close")
    assert answer.answered and [v.kind for v in answer.versions] == ["yesno", "yesno"]
    assert answer.message and answer.message.startswith("The briefs disagree: 2 versions")
    by_source = {v.statements[0].quote.source: v for v in answer.versions}
    assert by_source["Nordic Business Wire"].value == "Sorvik paper mill will close"
    # the words it is read from, never an invented "no"
    assert by_source["Sorvik Herald"].value == "Sorvik paper mill will not close"
    check_statements(mill, answer)


def test_two_sources_that_both_say_yes_are_one_version_and_counted(mill: QAService) -> None:
    answer = mill.ask("were the paper machines upgraded")
    assert [(v.kind, v.sources) for v in answer.versions] == [("yesno", 2)]
    assert answer.message == f"2 sources agree: {answer.versions[0].value}."
    check_statements(mill, answer)


def check_statements(service: QAService, answer: Answer) -> None:
    """Every statement is a verbatim quote, and its value is verbatim at its own offsets."""
    for version in answer.versions:
        for st in version.statements:
            text = service.bundle.documents[st.quote.doc_id].document.text
            assert text[st.quote.start : st.quote.end] == st.quote.text
            assert text[st.value_start : st.value_end] == st.value_text
            assert st.quote.start <= st.value_start < st.value_end <= st.quote.end


def test_two_briefs_that_disagree_show_each_version_with_its_source(two_sources: QAService) -> None:
    answer = two_sources.ask(CEASEFIRE)
    assert answer.answered
    values = [v.value for v in answer.versions]
    # the wire's date and both of the article's own ("agreed on October 15", "an October 16 ceasefire")
    assert {"October 14", "October 15", "October 16"} <= set(values), values
    assert answer.message and "disagree" in answer.message
    check_statements(two_sources, answer)
    wire = next(v for v in answer.versions if v.value == "October 14")
    assert [(s.quote.source, s.quote.published) for s in wire.statements] == [("Gulf Wire", "2025-10-29")]
    article = next(v for v in answer.versions if v.value == "October 15")
    assert all(s.quote.doc_id == "pakistan-afghanistan-talks" for s in article.statements)
    # one quote per version comes first, in the versions' order
    firsts = [v.statements[0].quote for v in answer.versions]
    assert list(answer.quotes[: len(firsts)]) == firsts


def test_the_article_alone_shows_both_of_its_own_dates(service: QAService) -> None:
    answer = service.ask(CEASEFIRE)
    assert answer.answered and [v.value for v in answer.versions] == ["October 15", "October 16"]
    assert answer.message and answer.message.startswith("The brief gives different accounts: 2 versions")
    assert {s.quote.doc_id for v in answer.versions for s in v.statements} == {"pakistan-afghanistan-talks"}
    statements = {v.value: v.statements[0] for v in answer.versions}
    assert "agreed on October 15" in statements["October 15"].quote.text
    assert "an October 16 ceasefire" in statements["October 16"].quote.text
    firsts = [v.statements[0].quote for v in answer.versions]
    assert list(answer.quotes[:2]) == firsts
    check_statements(service, answer)


def test_one_brief_with_one_leader_gives_one_version_and_the_right_name(service: QAService) -> None:
    # the sentence also names the "Tehreek-e-Taliban Pakistan": a name ending in the question's own word is the
    # question's subject, not who it asks for
    answer = service.ask("who led pakistan's delegation")
    assert answer.answered and [v.value for v in answer.versions] == ["Defence Minister Khawaja Asif"]
    assert answer.message is None
    check_statements(service, answer)


def test_a_number_that_is_about_something_else_is_no_conflict(service: QAService, landslide: QAService) -> None:
    answer = service.ask("How many points of the first-round agreement were implemented?")
    assert answer.answered and len(answer.versions) <= 1 and answer.message is None
    # the brief lists 5, 4 and 3 million euros right under the 12 million total
    funding = landslide.ask("how much emergency funding did the government approve")
    assert [v.value for v in funding.versions] == ["12 million"], [v.value for v in funding.versions]


def test_agreeing_sources_are_counted_and_a_syndicated_copy_counts_once(landslide: QAService) -> None:
    answer = landslide.ask("how many people are in temporary shelters")
    assert [v.value for v in answer.versions] == ["3,400"]
    version = answer.versions[0]
    sources = {s.quote.source for s in version.statements}
    assert "Kelvara Times" in sources
    assert not {"Balkan Wire", "Lisko Daily"} <= sources  # the Lisko Daily text is the Balkan Wire's, reprinted
    assert version.sources == 2
    assert answer.message == "2 sources agree: 3,400."
    check_statements(landslide, answer)


def test_a_measure_asked_by_name_shows_each_source_s_figure(vaccine: QAService) -> None:
    # "cost of the trial" and "number of hospitals" ask for a number without "how many" (question_type): before,
    # only the wh-word was read, and neither had versions
    cost = vaccine.ask("cost of the nasal vaccine trial")
    assert cost.answered and sorted(v.value for v in cost.versions) == ["46 million", "52 million"], cost.versions
    assert cost.message is not None and "disagree" in cost.message
    check_statements(vaccine, cost)
    sites = vaccine.ask("number of hospitals and clinics in the trial")
    assert sorted(v.value for v in sites.versions) == ["34", "36"], sites.versions


def test_cli_lists_the_sources_that_agree(landslide: QAService) -> None:
    """"2 sources agree" names them in the terminal, as the JSON and the page do (one quote alone hid the other)."""
    env = {**os.environ, "NEWSQA_CORPUS_DIR": str(landslide.settings.corpus_dir),
           "NEWSQA_INDEX_DIR": str(landslide.settings.index_dir)}
    human = subprocess.run([sys.executable, "-m", "app", "ask", "how many people are in temporary shelters"],
                           env=env, capture_output=True, text=True, timeout=300, check=True).stdout
    assert "2 sources agree: 3,400." in human
    listed = next(line for line in human.splitlines() if line.strip().startswith("[1] 3,400"))
    assert "2 sources:" in listed and "Kelvara Times" in listed, human


def asked_over_http(url: str, question: str) -> dict[str, Any]:
    """POST /ask to a running server; the answer's JSON."""
    request = urllib.request.Request(
        f"{url}/ask", json.dumps({"question": question}).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def test_http_answer_carries_the_versions(two_sources: QAService) -> None:
    with running_uvicorn(create_app(two_sources.settings, service=two_sources)) as url:
        body = asked_over_http(url, CEASEFIRE)
        with urllib.request.urlopen(f"{url}/openapi.json", timeout=60) as response:
            schema = json.loads(response.read())
    values = [v["value"] for v in body["versions"]]
    assert {"October 14", "October 15"} <= set(values)
    first = body["versions"][0]
    assert set(first) == {"kind", "value", "sources", "statements"} and first["kind"] == "date"
    statement = first["statements"][0]
    assert set(statement) == {"quote", "value_text", "value_start", "value_end"}
    assert statement["quote"]["text"] == body["quotes"][0]["text"]
    assert "VersionOut" in schema["components"]["schemas"]
    assert "versions" in schema["components"]["schemas"]["AskResponse"]["properties"]


def test_chat_shows_one_section_per_version(two_sources: QAService) -> None:
    answer = two_sources.ask(CEASEFIRE)
    for dialect in (SLACK, MATTERMOST):
        message = compose_chat_message(answer, two_sources.prompts, dialect, "https://n.example", documents=2)
        texts = [p.text for p in message.parts]
        headings = [t for t in texts if "Version " in t]
        assert len(headings) == len(answer.versions) >= 2
        assert any("disagree" in t for t in texts)
        assert any("Gulf Wire" in t and "2025-10-29" in t for t in texts if "characters" in t)
    slack_blocks(compose_chat_message(answer, two_sources.prompts, SLACK, "https://n.example", documents=2))
    post = mattermost_text(compose_chat_message(answer, two_sources.prompts, MATTERMOST, "https://x", documents=2))
    assert "Version 1" in post and "Version 2" in post


def test_cli_prints_the_versions(two_sources: QAService) -> None:
    env = {**os.environ, "NEWSQA_CORPUS_DIR": str(two_sources.settings.corpus_dir),
           "NEWSQA_INDEX_DIR": str(two_sources.settings.index_dir)}
    human = subprocess.run([sys.executable, "-m", "app", "ask", CEASEFIRE], env=env, capture_output=True,
                           text=True, timeout=300, check=True).stdout
    assert "disagree" in human and "[1] October" in human and "[2] October" in human and "Gulf Wire" in human
    raw = subprocess.run([sys.executable, "-m", "app", "ask", "--json", CEASEFIRE], env=env, capture_output=True,
                         text=True, timeout=300, check=True).stdout
    assert {"October 14", "October 15"} <= {v["value"] for v in json.loads(raw)["versions"]}


def test_page_shows_the_versions_side_by_side(two_sources: QAService) -> None:
    with TestClient(create_app(two_sources.settings, service=two_sources)) as client:
        html = client.get("/", params={"q": CEASEFIRE}).text
    assert "The briefs disagree" in html and "Gulf Wire" in html and "<mark>October 14</mark>" in html


def test_page_in_a_browser_puts_each_version_in_its_own_column(two_sources: QAService, browser: Browser) -> None:
    with running_uvicorn(create_app(two_sources.settings, service=two_sources)) as url:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            page = context.new_page()
            page.goto(f"{url}/")
            page.get_by_role("searchbox", name="Ask the briefs a question").fill(CEASEFIRE)
            page.get_by_role("button", name="Ask").click()
            page.get_by_role("heading", name="The briefs disagree").wait_for()
            columns = page.locator("article.version")
            assert columns.count() >= 2
            boxes = [columns.nth(i).bounding_box() for i in range(2)]
            assert boxes[0] and boxes[1] and abs(boxes[0]["y"] - boxes[1]["y"]) < 5  # side by side
            assert "Gulf Wire" in columns.nth(0).inner_text() + columns.nth(1).inner_text()
            assert page.locator("article.version mark").count() >= 2
        finally:
            context.close()


def test_the_article_alone_shows_both_of_its_dates_on_every_edge(service: QAService) -> None:
    """The default article alone says the ceasefire was agreed on October 15 and, elsewhere, "an October 16
    ceasefire": HTTP, the page, Slack, Mattermost and the CLI each show both, from the one brief."""
    with running_uvicorn(create_app(service.settings, service=service)) as url:
        body = asked_over_http(url, CEASEFIRE)
        with urllib.request.urlopen(f"{url}/?q={urllib.parse.quote(CEASEFIRE)}", timeout=60) as response:
            html = response.read().decode("utf-8")
    assert [v["value"] for v in body["versions"]] == ["October 15", "October 16"]
    assert body["message"].startswith("The brief gives different accounts: 2 versions")
    assert [q["text"] for q in body["quotes"][:2]] == [v["statements"][0]["quote"]["text"] for v in body["versions"]]
    assert "The brief gives different accounts" in html
    assert "<mark>October 15</mark>" in html and "<mark>October 16</mark>" in html

    answer = service.ask(CEASEFIRE)
    for dialect in (SLACK, MATTERMOST):
        message = compose_chat_message(answer, service.prompts, dialect, "https://n.example", documents=1)
        texts = [p.text for p in message.parts]
        assert len([t for t in texts if "Version " in t]) == 2
        assert any("different accounts" in t for t in texts)
    slack_blocks(compose_chat_message(answer, service.prompts, SLACK, "https://n.example", documents=1))

    env = {**os.environ, "NEWSQA_CORPUS_DIR": str(service.settings.corpus_dir),
           "NEWSQA_INDEX_DIR": str(service.settings.index_dir)}
    human = subprocess.run([sys.executable, "-m", "app", "ask", CEASEFIRE], env=env, capture_output=True,
                           text=True, timeout=300, check=True).stdout
    assert "different accounts" in human and "[1] October 15" in human and "[2] October 16" in human
    raw = subprocess.run([sys.executable, "-m", "app", "ask", "--json", CEASEFIRE], env=env, capture_output=True,
                         text=True, timeout=300, check=True).stdout
    assert [v["value"] for v in json.loads(raw)["versions"]] == ["October 15", "October 16"]

"""Many briefs: ingesting sources, adding/replacing/removing briefs incrementally, persistence, failures,
concurrency, filters, syndicated copies, disagreeing sources, and 200 unrelated briefs beside the article.

Everything runs on the real model and real FAISS. A small newsroom corpus is built once per module; each test
that changes it works on its own copy (corpus copied, immutable index build files hard-linked).
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.answer.quotes import _newest_first
from app.embed.reference import Embedder
from app.errors import DocumentNotFoundError, IndexWriteError, InvalidDocumentError
from app.index.bundle import IndexBundle, passage_match_text, sentence_contexts
from app.index.encoders import Encoders
from app.index.lifecycle import load_or_build_index
from app.index.store import MANIFEST, read_manifest, verify_files
from app.ingest.blocks import make_document
from app.ingest.chunk import parse_document
from app.ingest.corpus import META_SUFFIX, delete_document, document_paths, read_document, write_document
from app.ingest.sources import BriefMetadata, IncomingBrief, decode, format_of, make_brief
from app.models import Answer, CitedPassage, DocumentChange, DocumentFilter, DocumentMeta, Quote
from app.service import QAService
from tests.briefs_generator import generate_briefs
from tests.support import ARTICLE, DOC_ID, CountingEncoder, copy_folders, copy_index, same_vectors, settings_in

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)

# doc_id → (source, published, text): the newsroom every service test starts from
BASE: dict[str, tuple[str, str, str]] = {
    "harbour-ferry": (
        "Coastal Times",
        "2026-01-12",
        "Harbour Ferry Returns After Strike\n"
        "The ferry to Brindle Island resumed sailings on Monday after a two-week strike by its crew ended.\n"
        "Pay Deal\n"
        "The operator agreed a pay rise of 6 percent for deckhands and engineers. Union officials said members "
        "accepted the offer by a large majority.\n"
        "Timetable\n"
        "Sailings will run every 40 minutes until the summer timetable starts in May.\n",
    ),
    "library-budget": (
        "City Ledger",
        "2026-01-20",
        "Millbrook Library Stays Open\n"
        "Millbrook councillors voted on Thursday to keep the central library open five days a week.\n"
        "Funding\n"
        "The library's budget for next year is set at 410,000 pounds, paid partly by a local charity.\n"
        "Volunteers\n"
        "Forty volunteers will staff the Saturday opening hours.\n",
    ),
    "tea-auction": (
        "Market Report",
        "2026-01-25",
        "Tea Prices Climb at the Colombo Auction\n"
        "Tea prices rose 12 percent at the weekly Colombo auction. Brokers blamed dry weather in the hills.\n"
        "Exporters said buyers from Dubai paid the highest bids.\n",
    ),
}
FERRY_QUESTION = "When did the ferry to Brindle Island resume sailings?"
TEA_QUESTION = "How much did tea prices rise at the Colombo auction?"
LIBRARY_QUESTION = "How many days a week will the Millbrook library open?"
BRIDGE_QUESTION = "When will the bridge reopen?"

CRANE = """---
title: Harbour Crane Collapse Injures Two
source: Coastal Times
published: 2026-03-02T09:15:00Z
url: https://coastal.example/news/crane
---
Crane Collapse at Kingsport Docks
A loading crane collapsed at Kingsport docks on Sunday night, injuring two dock workers who were treated in hospital.
Investigation
The port authority said inspectors would examine the crane's cables before any other cranes return to work.
"""
CRANE_QUESTION = "How many dock workers were injured when the crane collapsed?"
MEALS_V1 = (
    "School Meals Price Rise\n"
    "The price of a school lunch in Eastwick will rise to 2.80 pounds in September, the council said.\n"
)
MEALS_V2 = (
    "School Meals Price Rise Scrapped\n"
    "Eastwick council scrapped the planned rise on Friday, so a school lunch will stay at 2.50 pounds.\n"
)
MEALS_QUESTION = "How much will a school lunch in Eastwick cost?"

# two sources disagreeing: the later brief moves the date
BRIDGE_OLD = (
    "Kelso Street Bridge to Reopen\n"
    "The Kelso Street bridge will reopen on 3 March, county officials said on Tuesday.\n"
)
BRIDGE_NEW = (
    "Kelso Street Bridge Reopening Delayed\n"
    "The Kelso Street bridge will reopen on 10 March, county engineers said on Friday.\n"
)
# two sources telling one fact in the same words but for the date: a disagreement, not a syndicated copy
POOL_OLD = "Pool Opening Date Set\nThe new swimming pool in Oakmere will open on 3 June, the council said.\n"
POOL_NEW = "Pool Opening Date Set\nThe new swimming pool in Oakmere will open on 17 June, the council said.\n"
POOL_QUESTION = "When will the new swimming pool in Oakmere open?"
# one wire story, syndicated by two outlets
WIND = (
    "Wind Farm Approved Off the Coast\n"
    "Regulators approved a wind farm of 40 turbines off the coast near Fairhaven on Wednesday.\n"
    "Jobs\n"
    "The developer said construction would create about 300 jobs over three years.\n"
)
WIND_QUESTIONS = ["How many turbines will the wind farm have?", "How many jobs will the wind farm create?"]

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Kelso Street Bridge to Reopen in March | Valley Gazette</title>
<meta property="og:title" content="Kelso Street Bridge to Reopen in March">
<meta property="og:site_name" content="Valley Gazette">
<meta property="article:published_time" content="2026-02-01T08:30:00Z">
<link rel="canonical" href="https://valleygazette.example/news/kelso-bridge-reopens">
</head>
<body>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li>
<li><a href="/subscribe">Subscribe today</a></li></ul></nav></header>
<main><article>
<h1>Kelso Street Bridge to Reopen in March</h1>
<p>The Kelso Street bridge over the river Wend will reopen to traffic on 3 March, county engineers said on Friday,
after four months of repairs to its steel deck.</p>
<h2>Repairs nearly finished</h2>
<p>Crews have replaced all twelve of the corroded cross beams and are now resurfacing the carriageway, the county's
chief engineer, Martin Okafor, told reporters at the site.</p>
<p>The work cost 2.4 million and was paid for by a regional roads grant, according to the county council.</p>
<h2>Diversions until then</h2>
<p>Until the bridge reopens, drivers must use the ring road, which adds about fifteen minutes to journeys between
the two halves of town.</p>
</article></main>
<aside><h3>Most read</h3><ul><li><a href="/a">Cookie policy changes explained</a></li>
<li><a href="/b">Ten best walks this spring</a></li></ul></aside>
<footer><p>Copyright 2026 Valley Gazette Media Ltd. All rights reserved.</p>
<p><a href="/privacy">Privacy policy</a> | <a href="/cookies">Cookie settings</a></p></footer>
</body>
</html>
"""


def brief(
    doc_id: str,
    text: str,
    source: str | None = None,
    published: str | None = None,
    fmt: str = "text",
    now: dt.datetime = NOW,
) -> IncomingBrief:
    given = BriefMetadata.model_validate({"doc_id": doc_id, "source": source, "published": published})
    return make_brief(text, fmt, given, None, f"{doc_id}.txt", now)


def copy_service(source: Path, target: Path, embedder: Embedder) -> QAService:
    """A service over a private copy of source's corpus and index folders (`copy_folders`)."""
    service = QAService.load(settings_in(copy_folders(source, target)), encoders=Encoders(embedder))
    assert not service.index.rebuilt
    return service


def spy_on_updates(service: QAService) -> CountingEncoder:
    spy = CountingEncoder(service.embedder)
    service.encoders._updates = spy  # the spy embeds every new brief (reaching in: no seam for it in the API)
    return spy


def embedded_for(bundle: IndexBundle, doc_id: str) -> set[str]:
    """Every text embedding one document's pieces asks for: sentences, sentences under their context, passages."""
    parsed = bundle.documents[doc_id]
    sentences = list(parsed.sentences)
    headed = {f"{c}: {s.text}" for c, s in zip(sentence_contexts(sentences), sentences, strict=True)}
    return {s.text for s in sentences} | headed | {passage_match_text(p) for p in parsed.passages}


def build_dirs(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir() if p.is_dir())


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def cited_docs(answer: Answer) -> set[str]:
    return {q.doc_id for q in answer.quotes} | {p.doc_id for p in answer.passages}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """The newsroom corpus (text + sidecar metadata) and its freshly built index."""
    root = tmp_path_factory.mktemp("newsroom")
    for doc_id, (source, published, text) in BASE.items():
        write_document(root / "corpus", doc_id, text, ".txt", DocumentMeta(source=source, published=published))
    assert load_or_build_index(settings_in(root), Encoders(embedder)).rebuilt
    return root


@pytest.fixture
def svc(pristine: Path, tmp_path: Path, embedder: Embedder) -> QAService:
    """This test's own service over a copy of the newsroom."""
    return copy_service(pristine, tmp_path, embedder)


@pytest.fixture(scope="module")
def newsroom(pristine: Path, tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> QAService:
    """A read-only service over the newsroom plus disagreeing and syndicated briefs (tests must not change it)."""
    service = copy_service(pristine, tmp_path_factory.mktemp("busy"), embedder)
    service.add_documents(
        [
            brief("bridge-gazette", BRIDGE_OLD, "Valley Gazette", "2026-02-01"),
            brief("bridge-post", BRIDGE_NEW, "River Post", "2026-02-10"),
            brief("pool-gazette", POOL_OLD, "Valley Gazette", "2026-02-02"),
            brief("pool-post", POOL_NEW, "River Post", "2026-02-11"),
            brief("wind-wire", WIND, "Metro Wire", "2026-02-03"),
            brief("wind-herald", WIND, "County Herald", "2026-02-03"),
        ]
    )
    return service


# --- sources ------------------------------------------------------------------------------------------------------


def test_front_matter_becomes_metadata_and_the_stored_body_is_what_offsets_index() -> None:
    nothing_given = BriefMetadata.model_validate({})
    incoming = make_brief(CRANE, "markdown", nothing_given, "Crane Collapse", "crane.md", NOW)  # fallback: file stem
    body = CRANE[CRANE.index("Crane Collapse at") :]
    assert incoming.text == body
    assert incoming.doc_id == "crane-collapse" and incoming.suffix == ".md"
    assert incoming.meta == DocumentMeta(
        title="Harbour Crane Collapse Injures Two",
        source="Coastal Times",
        published="2026-03-02",  # a timestamp is cut to its date
        url="https://coastal.example/news/crane",
        ingested_at="2026-03-01T12:00:00+00:00",
    )
    assert incoming.sha256 == hashlib.sha256(body.encode("utf-8")).hexdigest()
    parsed = parse_document(make_document(incoming.doc_id, incoming.text, incoming.meta))
    assert parsed.title == "Crane Collapse at Kingsport Docks"
    assert parsed.sentences[0].text.startswith("A loading crane collapsed")
    assert all(incoming.text[s.start : s.end] == s.text for s in parsed.sentences)

    given = BriefMetadata.model_validate({"source": "Wire Desk", "doc_id": "crane-wire"})
    overridden = make_brief(CRANE, "markdown", given, "ignored", "crane.md", NOW)
    assert (overridden.doc_id, overridden.meta.source) == ("crane-wire", "Wire Desk")  # given metadata wins
    assert overridden.meta.title == "Harbour Crane Collapse Injures Two"  # front matter fills the rest


def test_sidecar_metadata_round_trips_and_the_text_file_holds_only_the_text(tmp_path: Path) -> None:
    meta = DocumentMeta(title="A Title", source="Coastal Times", published="2026-01-12", ingested_at="x")
    text = "Title Line\r\nA sentence with CRLF line ends and a caf\u00e9.\r\n"
    write_document(tmp_path, "round-trip", text, ".txt", meta)
    assert (tmp_path / "round-trip.txt").read_bytes() == text.encode("utf-8")  # newlines untouched
    sidecar = json.loads((tmp_path / f"round-trip{META_SUFFIX}").read_text(encoding="utf-8"))
    assert sidecar == {"title": "A Title", "source": "Coastal Times", "published": "2026-01-12", "ingested_at": "x"}
    document = read_document(tmp_path / "round-trip.txt")
    assert document == make_document("round-trip", text, meta)

    write_document(tmp_path, "round-trip", "# Now Markdown\nBody.\n", ".md", DocumentMeta(source="Other"))
    assert sorted(p.name for p in document_paths(tmp_path, "round-trip")) == ["round-trip.md", "round-trip.meta.json"]
    assert read_document(tmp_path / "round-trip.md").meta == DocumentMeta(source="Other")
    delete_document(tmp_path, "round-trip")
    assert document_paths(tmp_path, "round-trip") == []


def test_html_page_is_reduced_to_its_article_and_the_page_metadata() -> None:
    incoming = make_brief(PAGE, "html", BriefMetadata.model_validate({}), None, "page.html", NOW)
    text = incoming.text
    assert "will reopen to traffic on 3 March" in text
    assert "Martin Okafor" in text and "ring road" in text
    for boilerplate in ("Home", "Subscribe", "Most read", "Cookie", "Copyright", "Privacy", "Ten best walks"):
        assert boilerplate not in text, boilerplate
    assert incoming.doc_id == "kelso-street-bridge-to-reopen-in-march"  # from the title
    assert incoming.suffix == ".md"
    assert incoming.meta.title == "Kelso Street Bridge to Reopen in March"
    assert incoming.meta.source == "Valley Gazette"
    assert incoming.meta.published == "2026-02-01"
    assert incoming.meta.url == "https://valleygazette.example/news/kelso-bridge-reopens"
    parsed = parse_document(make_document(incoming.doc_id, text, incoming.meta))
    assert parsed.title == "Kelso Street Bridge to Reopen in March"
    assert {"Repairs nearly finished", "Diversions until then"} <= set(parsed.sections)
    assert all(text[s.start : s.end] == s.text for s in parsed.sentences)


def _make(text: str, fmt: str = "text") -> IncomingBrief:
    return make_brief(text, fmt, BriefMetadata.model_validate({}), "x", "bad-input", NOW)


@pytest.mark.parametrize(
    ("attempt", "message"),
    [
        (lambda: format_of("brief.pdf"), "unsupported file type"),
        (lambda: decode(b"Caf\xe9 prices rise\n", "latin1.txt"), "not UTF-8"),
        (lambda: _make("  \n\n\t\n"), "has no text"),
        (lambda: _make("---\ntitle: Only Metadata\n---\n\n"), "has no text"),
        (lambda: _make("---\ndoc_id: Not Valid!\n---\nBody.\n"), "invalid metadata"),
        (lambda: _make("---\npublished: 2026-02-30\n---\nBody.\n"), "day is out of range"),
        (lambda: _make("---\npublished: 'last Tuesday'\n---\nBody.\n"), "invalid metadata .*published.*YYYY-MM-DD"),
        (lambda: _make("<p>A fire destroyed the old mill on Friday night.</p>"), "looks like HTML; send it as format"),
        (lambda: _make("---\n- a list\n---\nBody.\n"), "must be a mapping"),
        (lambda: _make("---\ntitle: [unclosed\n---\nBody.\n"), "not valid YAML"),
        (lambda: _make("<html><head><title>T</title></head><body><script>x = 1;</script></body></html>", "html"),
         "no article text"),
    ],
    ids=[
        "suffix", "not-utf8", "blank", "front-matter-only", "doc-id", "impossible-date", "not-a-date", "html-as-text",
        "not-mapping", "yaml", "html-empty",
    ],
)
def test_unusable_input_is_an_invalid_document(attempt: Callable[[], object], message: str) -> None:
    with pytest.raises(InvalidDocumentError, match=message):
        attempt()


# --- adding, replacing, removing ------------------------------------------------------------------------------------


def test_added_brief_is_answerable_and_nothing_else_is_embedded_again(svc: QAService) -> None:
    spy = spy_on_updates(svc)
    before = svc.bundle
    old_build = svc.index.manifest.build_dir
    incoming = make_brief(CRANE, "markdown", BriefMetadata.model_validate({}), "crane-collapse", "crane.md", NOW)

    assert svc.add_documents([incoming]) == [DocumentChange("crane-collapse", "added", incoming.sha256)]

    after = svc.bundle
    stored = (svc.settings.corpus_dir / "crane-collapse.md").read_text(encoding="utf-8")
    assert stored == incoming.text and not stored.startswith("---")
    answer = svc.ask(CRANE_QUESTION)
    assert answer.answered
    quote = answer.quotes[0]
    assert quote.doc_id == "crane-collapse" and "injuring two dock workers" in quote.text
    assert quote.text == stored[quote.start : quote.end]
    assert quote.sha256 == incoming.sha256 == hashlib.sha256(stored.encode("utf-8")).hexdigest()
    assert (quote.source, quote.published) == ("Coastal Times", "2026-03-02")
    assert quote.title == "Harbour Crane Collapse Injures Two"  # the metadata title wins over the first line

    new_words = set(after.lexicon) - set(before.lexicon)
    assert set(spy.texts) <= embedded_for(after, "crane-collapse") | new_words
    parsed = after.documents["crane-collapse"]
    # each sentence alone and under its heading, and once more for its token vectors; passages; new words
    assert len(spy.texts) == 3 * len(parsed.sentences) + len(parsed.passages) + len(new_words)
    for doc_id in BASE:
        assert same_vectors(before, after, doc_id), doc_id

    manifest = read_manifest(svc.settings.index_dir)
    assert manifest == svc.index.manifest and manifest.build_dir != old_build
    assert build_dirs(svc.settings.index_dir) == [manifest.build_dir]
    assert manifest.counts["documents"] == len(BASE) + 1


def test_re_adding_identical_content_changes_nothing(svc: QAService) -> None:
    first = brief("crane", CRANE, fmt="markdown")
    svc.add_documents([first])
    manifest_bytes = (svc.settings.index_dir / MANIFEST).read_bytes()
    dirs = build_dirs(svc.settings.index_dir)
    index = svc.index
    spy = spy_on_updates(svc)

    later = brief("crane", CRANE, fmt="markdown", now=NOW + dt.timedelta(days=3))  # only ingested_at differs
    assert svc.add_documents([later]) == [DocumentChange("crane", "unchanged", first.sha256)]

    assert spy.texts == []
    assert svc.index is index
    assert (svc.settings.index_dir / MANIFEST).read_bytes() == manifest_bytes
    assert build_dirs(svc.settings.index_dir) == dirs


def test_a_new_version_of_a_brief_replaces_the_old_one(svc: QAService) -> None:
    v1 = brief("school-meals", MEALS_V1, "City Ledger", "2026-02-01")
    svc.add_documents([v1])
    old_answer = svc.ask(MEALS_QUESTION)
    assert old_answer.answered and "2.80" in old_answer.quotes[0].text
    before = svc.bundle
    spy = spy_on_updates(svc)

    v2 = brief("school-meals", "# " + MEALS_V2, "City Ledger", "2026-02-06", fmt="markdown")
    assert svc.add_documents([v2]) == [DocumentChange("school-meals", "replaced", v2.sha256)]

    after = svc.bundle
    assert after.documents["school-meals"].document.text == v2.text
    assert not any("2.80" in s.text for s in after.sentences)
    answer = svc.ask(MEALS_QUESTION)
    assert answer.answered
    quote = answer.quotes[0]
    assert quote.doc_id == "school-meals" and "2.50 pounds" in quote.text
    assert quote.sha256 == v2.sha256 != v1.sha256
    assert quote.text == v2.text[quote.start : quote.end]
    assert all(p.sha256 == v2.sha256 for p in answer.passages if p.doc_id == "school-meals")
    files = sorted(p.name for p in document_paths(svc.settings.corpus_dir, "school-meals"))
    assert files == ["school-meals.md", "school-meals.meta.json"]  # the .txt of the old version is gone
    assert (svc.settings.corpus_dir / "school-meals.md").read_text(encoding="utf-8") == v2.text
    new_words = set(after.lexicon) - set(before.lexicon)
    assert set(spy.texts) <= embedded_for(after, "school-meals") | new_words
    for doc_id in BASE:
        assert same_vectors(before, after, doc_id), doc_id


def test_a_metadata_only_change_is_an_update_without_embedding(svc: QAService) -> None:
    text = BASE["harbour-ferry"][2]
    before = svc.bundle
    old_version = svc.index.manifest.corpus["harbour-ferry"]
    spy = spy_on_updates(svc)

    moved = brief("harbour-ferry", text, "Island Radio", "2026-01-13")
    assert svc.add_documents([moved]) == [DocumentChange("harbour-ferry", "updated", moved.sha256)]

    assert spy.texts == []
    assert same_vectors(before, svc.bundle, "harbour-ferry")
    new_version = svc.index.manifest.corpus["harbour-ferry"]
    assert new_version != old_version and new_version.split(":")[0] == old_version.split(":")[0] == moved.sha256
    quote = svc.ask(FERRY_QUESTION).quotes[0]
    assert (quote.doc_id, quote.source, quote.published) == ("harbour-ferry", "Island Radio", "2026-01-13")
    sidecar = json.loads((svc.settings.corpus_dir / f"harbour-ferry{META_SUFFIX}").read_text(encoding="utf-8"))
    assert (sidecar["source"], sidecar["published"]) == ("Island Radio", "2026-01-13")
    assert (svc.settings.corpus_dir / "harbour-ferry.txt").read_text(encoding="utf-8") == text


def test_a_removed_brief_is_gone_from_answers_and_the_corpus_folder(svc: QAService) -> None:
    assert svc.ask(TEA_QUESTION).quotes[0].doc_id == "tea-auction"
    before = svc.bundle
    sha = before.documents["tea-auction"].document.sha256
    spy = spy_on_updates(svc)

    assert svc.remove_document("tea-auction") == DocumentChange("tea-auction", "removed", sha)

    assert document_paths(svc.settings.corpus_dir, "tea-auction") == []
    assert "tea-auction" not in svc.bundle.documents
    assert all(d.document.doc_id != "tea-auction" for d in svc.documents())
    answer = svc.ask(TEA_QUESTION)
    assert "tea-auction" not in cited_docs(answer)
    assert not answer.answered  # nothing left speaks of tea
    with pytest.raises(DocumentNotFoundError):
        svc.document("tea-auction")
    assert spy.texts == []  # removal embeds nothing
    for doc_id in ("harbour-ferry", "library-budget"):
        assert same_vectors(before, svc.bundle, doc_id)


def test_removing_the_last_brief_is_refused(svc: QAService) -> None:
    svc.remove_document("tea-auction")
    svc.remove_document("library-budget")
    manifest = svc.index.manifest
    with pytest.raises(InvalidDocumentError, match="at least one document"):
        svc.remove_document("harbour-ferry")
    assert set(svc.bundle.documents) == {"harbour-ferry"}
    assert svc.index.manifest == manifest
    assert (svc.settings.corpus_dir / "harbour-ferry.txt").is_file()


def test_unknown_ids_and_duplicate_ids_are_refused(svc: QAService) -> None:
    manifest_bytes = (svc.settings.index_dir / MANIFEST).read_bytes()
    with pytest.raises(DocumentNotFoundError, match="no-such-brief"):
        svc.remove_document("no-such-brief")
    with pytest.raises(InvalidDocumentError, match="share a doc_id"):
        svc.add_documents([brief("twin", MEALS_V1), brief("twin", MEALS_V2)])
    assert (svc.settings.index_dir / MANIFEST).read_bytes() == manifest_bytes
    assert set(svc.bundle.documents) == set(BASE)


# --- persistence ------------------------------------------------------------------------------------------------------


def test_changes_survive_a_restart_without_a_rebuild(
    svc: QAService, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    svc.add_documents([brief("crane", CRANE, fmt="markdown"), brief("school-meals", MEALS_V1, "City Ledger")])
    svc.add_documents([brief("school-meals", MEALS_V2, "City Ledger")])
    svc.remove_document("tea-auction")
    questions = [CRANE_QUESTION, MEALS_QUESTION, FERRY_QUESTION, TEA_QUESTION]

    caplog.clear()
    with caplog.at_level("INFO", logger="newsqa.index"):
        fresh = QAService.load(svc.settings, encoders=Encoders(embedder))

    assert not fresh.index.rebuilt
    assert not [r for r in caplog.records if r.levelname == "WARNING"]  # neither rebuilt nor updated
    assert fresh.index.manifest == svc.index.manifest
    verify_files(svc.settings.index_dir, fresh.index.manifest)  # every file matches its recorded hash
    held = {d: (p.document.sha256, p.document.meta) for d, p in fresh.bundle.documents.items()}
    assert held == {d: (p.document.sha256, p.document.meta) for d, p in svc.bundle.documents.items()}
    assert set(held) == {"harbour-ferry", "library-budget", "crane", "school-meals"}
    assert fresh.ask_many(questions) == svc.ask_many(questions)


# --- failures ---------------------------------------------------------------------------------------------------------

FAILING_CHANGES: dict[str, Callable[[QAService], object]] = {
    "add": lambda s: s.add_documents([brief("crane", CRANE, fmt="markdown")]),
    "replace": lambda s: s.add_documents([brief("library-budget", MEALS_V2, "City Ledger", "2026-02-06")]),
    "update": lambda s: s.add_documents([brief("library-budget", BASE["library-budget"][2], "Elsewhere")]),
    "remove": lambda s: s.remove_document("tea-auction"),
}


def assert_failed_cleanly(svc: QAService, change: Callable[[QAService], object]) -> None:
    """The change raises IndexWriteError and leaves the corpus files, the index and the answers as they were."""
    corpus = files_of(svc.settings.corpus_dir)
    manifest_bytes = (svc.settings.index_dir / MANIFEST).read_bytes()
    dirs = build_dirs(svc.settings.index_dir)
    index = svc.index
    questions = [FERRY_QUESTION, TEA_QUESTION, LIBRARY_QUESTION, CRANE_QUESTION]
    answers = svc.ask_many(questions)

    with pytest.raises(IndexWriteError, match="nothing changed"):
        change(svc)

    assert files_of(svc.settings.corpus_dir) == corpus  # byte for byte, no new or leftover temp files
    assert (svc.settings.index_dir / MANIFEST).read_bytes() == manifest_bytes
    assert build_dirs(svc.settings.index_dir) == dirs
    assert svc.index is index
    assert svc.ask_many(questions) == answers


@pytest.mark.parametrize("kind", list(FAILING_CHANGES))
def test_a_failed_index_write_restores_the_corpus_and_keeps_serving(
    svc: QAService, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fault injection: a full disk cannot be produced portably in a test, so the build writer raises the
    # error the OS would (ENOSPC) after the corpus files have already been changed.
    def disk_full(*args: object, **kwargs: object) -> object:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:
        patch.setattr("app.index.lifecycle.save_bundle", disk_full)
        assert_failed_cleanly(svc, FAILING_CHANGES[kind])

    FAILING_CHANGES[kind](svc)  # with the disk back, the same change goes through
    assert read_manifest(svc.settings.index_dir) == svc.index.manifest


@pytest.fixture
def read_only_index(svc: QAService) -> Iterator[Path]:
    folder = svc.settings.index_dir
    folder.chmod(0o500)
    try:
        probe = folder / "probe"
        try:
            probe.touch()
        except PermissionError:
            pass
        else:
            probe.unlink()
            pytest.skip("permissions are not enforced for this user (root): chmod cannot make a folder read-only")
        yield folder
    finally:
        folder.chmod(0o755)


def test_a_read_only_index_folder_fails_cleanly(svc: QAService, read_only_index: Path) -> None:
    assert_failed_cleanly(svc, FAILING_CHANGES["add"])


# --- concurrency ------------------------------------------------------------------------------------------------------


def test_questions_during_updates_see_one_whole_version(svc: QAService) -> None:
    versions: dict[str, tuple[str, str]] = {
        p.document.sha256: (d, p.document.text) for d, p in svc.bundle.documents.items()
    }  # sha256 → (doc_id, text) of every version ever served
    questions = [BRIDGE_QUESTION, FERRY_QUESTION, "What happened at the Colombo auction?", LIBRARY_QUESTION]
    where = DocumentFilter(source="live desk")
    errors: list[BaseException] = []
    problems: list[str] = []
    seen: set[str] = set()
    rounds = [0]
    readers_started = threading.Barrier(4)
    done = threading.Event()

    def check(answer: Answer) -> None:
        shown: dict[str, set[str]] = {}
        pieces: list[Quote | CitedPassage] = [*answer.quotes, *answer.passages]
        for piece in pieces:
            doc_id, text = versions.get(piece.sha256, ("?", ""))
            if doc_id != piece.doc_id or text[piece.start : piece.end] != piece.text:
                problems.append(f"{piece.doc_id} {piece.sha256[:8]} [{piece.start}:{piece.end}] {piece.text!r}")
            shown.setdefault(piece.doc_id, set()).add(piece.sha256)
            seen.add(piece.sha256)
        problems.extend(f"{answer.question}: {d} in versions {v}" for d, v in shown.items() if len(v) > 1)

    def read() -> None:
        try:
            readers_started.wait()
            while not done.is_set():
                for answer in [*svc.ask_many(questions), svc.ask(BRIDGE_QUESTION, where=where)]:
                    check(answer)
                rounds[0] += 1
        except BaseException as exc:
            errors.append(exc)

    def write() -> None:
        try:
            readers_started.wait()
            for i in range(6):
                text = f"Kelso Street Bridge\nThe Kelso Street bridge will reopen on {3 + i} March, officials said.\n"
                live = brief("bridge-live", text, "Live Desk", f"2026-02-{10 + i:02d}")
                versions[live.sha256] = ("bridge-live", live.text)  # known before any answer can show it
                extra = brief(f"extra-{i}", f"Extra Brief {i}\nA short extra note number {i} about the harbour.\n")
                versions[extra.sha256] = (extra.doc_id, extra.text)
                svc.add_documents([live, extra])
                if i:
                    svc.remove_document(f"extra-{i - 1}")
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    threads = [threading.Thread(target=read) for _ in range(3)] + [threading.Thread(target=write)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert problems == []
    assert rounds[0] >= 3  # every reader finished at least one round
    assert set(svc.bundle.documents) == {*BASE, "bridge-live", "extra-5"}
    final = svc.ask(BRIDGE_QUESTION, where=where)
    assert final.answered and "8 March" in final.quotes[0].text
    assert seen & {sha for sha, (doc_id, _) in versions.items() if doc_id == "bridge-live"}


# --- filters ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "allowed"),
    [
        (DocumentFilter(doc_ids=("bridge-gazette",)), {"bridge-gazette"}),
        (DocumentFilter(doc_ids=("bridge-post", "harbour-ferry")), {"bridge-post", "harbour-ferry"}),
        (DocumentFilter(source="river post"), {"bridge-post", "pool-post"}),
        (DocumentFilter(source="VALLEY GAZETTE"), {"bridge-gazette", "pool-gazette"}),
        (DocumentFilter(published_from="2026-02-05"), {"bridge-post", "pool-post"}),
        (
            DocumentFilter(published_to="2026-02-01"),
            {"harbour-ferry", "library-budget", "tea-auction", "bridge-gazette"},
        ),
        (DocumentFilter(published_from="2026-02-01", published_to="2026-02-02"), {"bridge-gazette", "pool-gazette"}),
    ],
    ids=["one-id", "two-ids", "source-lower", "source-upper", "from", "to", "window"],
)
def test_filters_restrict_quotes_and_passages(
    newsroom: QAService, where: DocumentFilter, allowed: set[str]
) -> None:
    assert {p.document.doc_id for p in newsroom.documents(where)} == allowed
    answer = newsroom.ask(BRIDGE_QUESTION, where=where)
    assert answer.passages and cited_docs(answer) <= allowed
    bridges = allowed & {"bridge-gazette", "bridge-post"}
    if bridges:
        assert answer.answered and {q.doc_id for q in answer.quotes} == bridges
    unfiltered = newsroom.ask(BRIDGE_QUESTION)
    assert cited_docs(unfiltered) - allowed  # the filter did leave something out


@pytest.mark.parametrize(
    "where",
    [
        DocumentFilter(source="Nobody Weekly"),
        DocumentFilter(doc_ids=("no-such-brief",)),
        DocumentFilter(published_from="2030-01-01"),
        DocumentFilter(source="river post", published_to="2026-02-01"),
    ],
    ids=["source", "id", "date", "source-and-date"],
)
def test_a_filter_matching_nothing_abstains_without_passages(newsroom: QAService, where: DocumentFilter) -> None:
    answer = newsroom.ask(BRIDGE_QUESTION, where=where)
    assert not answer.answered
    message = answer.message or ""
    assert message.startswith("No brief matches these filters (")
    assert message.endswith("Widen the filters and ask again.")
    # the message names the filters given, and an id no brief has
    for given in (where.source, where.published_from, where.published_to, *(where.doc_ids or ())):
        assert given is None or given in message, message
    unknown = [i for i in (where.doc_ids or ()) if i not in newsroom.index.bundle.documents]
    assert ("No brief has the id" in message) == bool(unknown), message
    assert answer.quotes == () and answer.passages == ()


# --- syndicated copies and disagreeing sources ---------------------------------------------------------------------


@pytest.mark.parametrize("question", WIND_QUESTIONS)
def test_syndicated_copies_are_never_shown_twice(newsroom: QAService, question: str) -> None:
    [evidence] = newsroom.evidence_many([question])
    top_docs = {p.passage.doc_id for p in evidence.passages[:4]}
    assert {"wind-wire", "wind-herald"} <= top_docs  # both copies do compete for the answer
    answer = newsroom.ask(question, top_k=5)
    assert not answer.answered or {q.doc_id for q in answer.quotes} & {"wind-wire", "wind-herald"}
    quote_texts = [q.text for q in answer.quotes]
    passage_texts = [p.text for p in answer.passages]
    assert len(quote_texts) == len(set(quote_texts)), quote_texts
    assert len(passage_texts) == len(set(passage_texts)), passage_texts


def test_the_syndicated_story_is_answered_from_one_copy(newsroom: QAService) -> None:
    answer = newsroom.ask(WIND_QUESTIONS[0], top_k=5)
    assert answer.answered and "40 turbines" in answer.quotes[0].text
    assert answer.quotes[0].doc_id in {"wind-wire", "wind-herald"}


def test_a_count_of_another_thing_is_never_quoted_as_the_answer(newsroom: QAService) -> None:
    """"How many jobs" of a story whose lede counts turbines: the ranker puts the lede first (its cosine, the
    "wind farm" pair and its rank outweigh the count check's weight), and the abstention model, which reads the
    count check off that first sentence, declines. Declined or answered with the jobs, never with the turbines."""
    answer = newsroom.ask(WIND_QUESTIONS[1], top_k=5)
    assert not answer.answered or "300 jobs" in answer.quotes[0].text, answer.quotes[0].text


def score_of(newsroom: QAService, question: str, quote: Quote) -> float:
    [evidence] = newsroom.evidence_many([question])
    where = (quote.doc_id, quote.start)
    return next(s.score for s in evidence.sentences if (s.sentence.doc_id, s.sentence.start) == where)


def test_disagreeing_sources_are_both_quoted_newest_first(newsroom: QAService) -> None:
    answer = newsroom.ask(BRIDGE_QUESTION)
    assert answer.answered
    by_doc = {q.doc_id: q for q in answer.quotes}
    assert "reopen on 3 March" in by_doc["bridge-gazette"].text
    assert "reopen on 10 March" in by_doc["bridge-post"].text
    old, new = by_doc["bridge-gazette"], by_doc["bridge-post"]
    old_score, new_score = score_of(newsroom, BRIDGE_QUESTION, old), score_of(newsroom, BRIDGE_QUESTION, new)
    # the setup this test is about: the older brief scores a little better, within the "equally relevant" margin
    assert 0 <= old_score - new_score <= newsroom.answering.recency_margin, (old_score, new_score)
    assert [q.doc_id for q in answer.quotes[:2]] == ["bridge-post", "bridge-gazette"]
    assert (answer.quotes[0].published, answer.quotes[1].published) == ("2026-02-10", "2026-02-01")


def test_a_disagreement_in_one_figure_is_not_taken_for_a_syndicated_copy(newsroom: QAService) -> None:
    answer = newsroom.ask(POOL_QUESTION)
    assert answer.answered
    shown = {q.doc_id: q.text for q in answer.quotes}
    assert "open on 3 June" in shown["pool-gazette"] and "open on 17 June" in shown["pool-post"]
    assert {"pool-gazette", "pool-post"} <= {p.doc_id for p in answer.passages}


def _quote(doc_id: str, published: str) -> Quote:
    return Quote(doc_id, doc_id, "", 0, 1, "x", published=published)


def test_only_equally_relevant_quotes_are_reordered_by_date() -> None:
    old, new, newest = _quote("a", "2026-01-01"), _quote("b", "2026-02-01"), _quote("c", "2026-03-01")
    assert _newest_first([(old, 1.00), (new, 0.99)], margin=0.03) == [new, old]
    assert _newest_first([(old, 1.00), (newest, 0.90)], margin=0.03) == [old, newest]  # clearly better stays first
    assert _newest_first([(old, 1.00), (new, 0.98), (newest, 0.50)], margin=0.03) == [new, old, newest]


# --- the generator ----------------------------------------------------------------------------------------------------


def test_generated_briefs_are_deterministic_and_shaped_like_news() -> None:
    briefs = generate_briefs(60, seed=3, sentences_per_brief=(6, 14))
    assert briefs == generate_briefs(60, seed=3, sentences_per_brief=(6, 14))
    assert briefs != generate_briefs(60, seed=4, sentences_per_brief=(6, 14))
    assert len({b.doc_id for b in briefs}) == 60
    assert len({b.topic for b in briefs}) == 6
    for generated in briefs:
        incoming = brief(generated.doc_id, generated.text, generated.source, generated.published)
        parsed = parse_document(make_document(incoming.doc_id, incoming.text, incoming.meta))
        assert parsed.title == generated.title
        assert 2 <= len(parsed.sections) - 1 <= 4  # the title, then 2–4 headings
        assert 6 <= len(parsed.sentences) <= 14
        assert all(12 <= len(s.text.split()) <= 30 for s in parsed.sentences)
        assert dt.date.fromisoformat(generated.published)


# --- 200 unrelated briefs beside the article -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def crowded(
    service: QAService, tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
) -> QAService:
    """The article plus 200 short generated briefs, brought in incrementally over a copy of the article's build
    (the article keeps its vectors; the briefs are embedded by the build's fp32 ONNX graph, the same model)."""
    root = tmp_path_factory.mktemp("crowded")
    (root / "corpus").mkdir()
    shutil.copy(ARTICLE, root / "corpus" / ARTICLE.name)
    for generated in generate_briefs(200, seed=11, sentences_per_brief=(6, 10)):
        meta = DocumentMeta(source=generated.source, published=generated.published)
        write_document(root / "corpus", generated.doc_id, generated.text, ".txt", meta)
    copy_index(service.settings.index_dir, root / "index")
    crowded = QAService.load(settings_in(root), encoders=Encoders(embedder))
    assert not crowded.index.rebuilt
    assert len(crowded.bundle.documents) == 201
    assert same_vectors(service.bundle, crowded.bundle, DOC_ID)
    return crowded


def dev_questions() -> list[dict[str, object]]:
    path = Path(__file__).parent / "data" / "dev.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def spans(answer: Answer) -> list[tuple[str, int, int]]:
    return [(q.doc_id, q.start, q.end) for q in answer.quotes]


def same_answer(alone: Answer, among: Answer) -> bool:
    """Both answer (or both abstain), and each one's first quote is among the other's quotes.

    Strict equality of every quote is not what must hold: BM25's term weights are corpus-wide, so 200 more
    briefs shift the lexical scores a little. A second or third quote (added only when it scores within 7% of
    the best) can come or go at that edge, and two quotes a few thousandths apart (dev-12: 0.003) can swap
    places. Whether the service answers, and the sentence it answers with, must not change.
    """
    if alone.answered != among.answered:
        return False
    if not alone.answered:
        return True
    return spans(alone)[0] in spans(among) and spans(among)[0] in spans(alone)


def test_unrelated_briefs_keep_the_article_first_for_in_scope_questions(
    service: QAService, crowded: QAService
) -> None:
    in_scope = [str(q["question"]) for q in dev_questions() if q["evidence"]]
    for question, answer in zip(in_scope, crowded.ask_many(in_scope), strict=True):
        assert answer.passages[0].doc_id == DOC_ID, question
        assert all(q.doc_id == DOC_ID for q in answer.quotes), question


def test_unrelated_briefs_leave_the_articles_answers_unchanged(service: QAService, crowded: QAService) -> None:
    assert set(service.bundle.documents) == {DOC_ID}
    rows = dev_questions()
    questions = [str(q["question"]) for q in rows]
    alone, among = service.ask_many(questions), crowded.ask_many(questions)
    changed = []
    for row, a, b in zip(rows, alone, among, strict=True):
        # for an out-of-scope question only one change is a disturbance: the crowd answering what the article
        # alone declined. Declining it (a weather brief that never names Istanbul offered a closer non-answer),
        # or quoting another non-answer where the article alone quoted one too, leaves the article's answers be
        disturbed = not same_answer(a, b) if row["evidence"] else b.answered and not a.answered
        if disturbed:
            changed.append(
                f"{row['id']} {row['question']!r}: confidence {a.confidence} → {b.confidence}\n"
                f"    article only: {[q.text for q in a.quotes]}\n"
                f"    with briefs:  {[(q.doc_id, q.text) for q in b.quotes]}"
            )
    # the quote ranker weighs question terms by corpus-wide IDF and ranks candidates against each other, so 200
    # more briefs may swap two near-tied candidates of one question (dev-01 swaps to a better quote), or lift an
    # out-of-scope question's confidence over the threshold: since the refit with the sixth wave of data lowered the
    # threshold (0.2515 -> 0.2340; 0.2149 with the seventh), "What is the population of Kabul?" goes 0.20 -> 0.30
    # among the briefs and "What is the price of bitcoin today?" quotes a brief's currency sentence at 0.40
    # (docs/answers.md, known weaknesses); more than two is a bug
    assert len(changed) <= 2, "answers that changed:\n" + "\n".join(changed)

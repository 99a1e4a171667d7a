"""Hardening, round two: inputs anyone can send that were 500s (or silently wrong) get a clear 4xx.

Each test reproduces an outside probe's finding against a real uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from app.api.app import create_app
from app.config import Settings, get_settings
from app.embed.reference import Embedder
from app.errors import CorpusError
from app.index.encoders import Encoders
from app.ingest.sources import BriefMetadata, make_brief
from app.logs import RequestIdFilter
from app.service import QAService
from tests.support import ARTICLE, DOC_ID, chat_settings, running_uvicorn, serving, sign

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def http(settings: Settings, service: QAService) -> Iterator[httpx.Client]:
    with serving(settings, service) as client:
        yield client


def test_a_lone_surrogate_in_the_question_is_a_422_not_a_500(http: httpx.Client) -> None:
    response = http.post("/ask", content=b'{"question": "\\ud800 what happened"}', headers=JSON)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_question"
    assert "U+D800" in response.json()["message"]


@pytest.mark.parametrize("question", ["\u200b", "\u200b\u200d\ufeff", " \u2060 \u200e "])
def test_a_question_of_invisible_characters_is_empty(http: httpx.Client, question: str) -> None:
    response = http.post("/ask", json={"question": question})
    assert response.status_code == 422
    assert response.json() == {"error": "invalid_question", "message": "the question is empty"}


def test_invisible_characters_inside_a_word_do_not_hide_it(http: httpx.Client) -> None:
    plain = http.post("/ask", json={"question": "What did Pakistan demand?"}).json()
    hidden = http.post("/ask", json={"question": "What did Paki\u200bstan de\u00admand?"}).json()
    assert [q["text"] for q in hidden["quotes"]] == [q["text"] for q in plain["quotes"]]


@pytest.mark.parametrize("span", ["%C2%B2-5", "1-%D9%A3", "%EF%BC%91-%EF%BC%95"])
def test_a_span_of_non_ascii_digits_shows_the_whole_brief(http: httpx.Client, span: str) -> None:
    response = http.get(f"/documents/{DOC_ID}/view?span={span}")
    assert response.status_code == 200
    assert "<mark" not in response.text


def test_a_signed_slack_event_nested_deeply_is_a_400(settings: Settings, service: QAService) -> None:
    body = b'{"type": "event_callback", "event": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    with serving(chat_settings(settings, "http://127.0.0.1:9", slack_max_body_bytes=256 * 1024), service) as client:
        response = client.post("/slack/events", content=body, headers={**sign(body), **JSON})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "bad_request"
    assert "nested too deeply" in json.dumps(response.json())


def test_a_javascript_url_never_becomes_a_link(tmp_path: Path, embedder: Embedder) -> None:
    with pytest.raises(ValueError, match="http"):
        BriefMetadata(url="javascript:alert(1)")
    assert BriefMetadata(url="https://news.example/a").url == "https://news.example/a"
    # a sidecar on disk is not checked on the way in: the page still refuses to link it
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "evil.txt").write_text("Evil Brief\n\nThe council met on Monday to discuss the new bridge plans.\n")
    (corpus / "evil.meta.json").write_text(json.dumps({"url": "javascript:alert(document.cookie)"}))
    shutil.copy(ARTICLE, corpus / ARTICLE.name)
    local = QAService.load(get_settings(corpus_dir=corpus, index_dir=tmp_path / "index"), encoders=Encoders(embedder))
    with serving(local.settings, local) as client:
        page = client.get("/documents/evil/view").text
    assert "javascript:" not in page


def test_pages_carry_the_security_headers(http: httpx.Client) -> None:
    for path in ("/", "/healthz", f"/documents/{DOC_ID}/view"):
        headers = http.get(path).headers
        assert headers["x-content-type-options"] == "nosniff"
        assert "script-src" not in headers["content-security-policy"]  # no script allowed at all
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["referrer-policy"] == "same-origin"


def test_a_bug_is_a_json_500_with_the_request_id(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """A loader that breaks the service object (a stand-in for a bug): ask raises; the 500 names the id."""

    class Broken:
        settings = None

        def ask(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("a bug")

    app = create_app(settings, service=Broken())  # type: ignore[arg-type]
    stamp = RequestIdFilter()  # as configure_logging installs it: the log line of the 500 names the request
    caplog.handler.addFilter(stamp)
    try:
        with running_uvicorn(app) as url, httpx.Client(base_url=url, timeout=30) as client:
            response = client.post("/ask", json={"question": "What did Pakistan demand?"},
                                   headers={"X-Request-ID": "trace-me-123"})
    finally:
        caplog.handler.removeFilter(stamp)
    assert response.status_code == 500
    assert response.json() == {"error": "internal_error", "message": "internal error"}
    assert response.headers["x-request-id"] == "trace-me-123"
    logged = [r for r in caplog.records if r.getMessage().startswith("unexpected error on POST /ask")]
    assert logged and logged[0].exc_info is not None
    assert getattr(logged[0], "request_id", None) == "trace-me-123"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/ask", [("q", "What did Pakistan demand?"), ("published_to", "2025-01-01"), ("published_to", "2030-01-01")]),
        ("/ask", [("q", "What did Pakistan demand?"), ("q", "Who led the delegation?")]),
        ("/ask", [("q", "What did Pakistan demand?"), ("top_k", "1"), ("top_k", "5")]),
        ("/documents", [("limit", "5"), ("limit", "50")]),
    ],
    ids=["published_to twice", "q twice", "top_k twice", "limit twice"],
)
def test_a_single_valued_parameter_given_twice_is_a_422_naming_it(
    http: httpx.Client, path: str, params: list[tuple[str, str]]
) -> None:
    """Found by the outside probe: `published_to` given twice kept the last value silently."""
    response = http.get(path, params=tuple(params))
    assert response.status_code == 422, response.text
    body = response.json()
    repeated = params[-1][0]
    assert body["error"] == "validation_error" and f"query parameter {repeated}: given 2 times" in body["message"]
    assert body["details"][0]["type"] == "repeated_parameter"


def test_a_list_parameter_may_repeat(http: httpx.Client) -> None:
    params = [("q", "What did Pakistan demand?"), ("doc_id", DOC_ID), ("doc_id", "another-brief")]
    response = http.get("/ask", params=tuple(params))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"question": "\xff\xfe what"}', id="not UTF-8"),
        pytest.param(b'{"question": ' + b"[" * 30_000 + b"]" * 30_000 + b"}", id="nested 30,000 deep"),
    ],
)
def test_an_undecodable_body_is_the_documented_422(http: httpx.Client, body: bytes) -> None:
    response = http.post("/ask", content=body, headers=JSON)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation_error"
    assert "422" in http.get("/openapi.json").json()["paths"]["/ask"]["post"]["responses"]


@pytest.mark.parametrize("value", ["0", "1700000000", "2025-1-5", "yesterday"])
def test_a_date_filter_must_be_written_as_a_date(http: httpx.Client, value: str) -> None:
    response = http.get("/ask", params={"q": "What did Pakistan demand?", "published_to": value})
    assert response.status_code == 422, response.text
    body = http.post("/ask", json={"question": "What did Pakistan demand?", "published_to": 0})
    assert body.status_code == 422
    assert http.get("/ask", params={"q": "What did Pakistan demand?", "published_to": "2030-01-01"}).status_code == 200


def test_probes_answer_head_and_the_schema_says_q_is_required(http: httpx.Client) -> None:
    assert http.head("/healthz").status_code == 200
    assert http.head("/readyz").status_code == 200
    refused = http.put("/ask")
    assert refused.status_code == 405 and "GET" in refused.headers["allow"]
    parameters = http.get("/openapi.json").json()["paths"]["/ask"]["get"]["parameters"]
    q = next(p for p in parameters if p["name"] == "q")
    assert q["schema"].get("minLength") == 1


def test_a_brief_with_nothing_to_quote_is_a_422_and_never_empties_the_corpus(
    tmp_path: Path, embedder: Embedder
) -> None:
    """The probe: a title-only brief, then DELETE of the last real brief: a 500 (bm25s cannot index nothing)."""
    (tmp_path / "corpus").mkdir()
    shutil.copy(ARTICLE, tmp_path / "corpus" / ARTICLE.name)
    local = QAService.load(
        get_settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", reload_seconds=0,
                     admin_api_key=SecretStr("the-admin")),
        encoders=Encoders(embedder),
    )
    admin = {"X-API-Key": "the-admin"}
    with serving(local.settings, local) as client:
        title_only = client.post("/documents", json={"doc_id": "only-a-title", "text": "Just A Title\n"}, headers=admin)
        assert title_only.status_code == 422, title_only.text
        assert "no sentence to quote" in title_only.json()["message"]
        assert client.delete(f"/documents/{DOC_ID}", headers=admin).status_code == 422  # the last brief stays
        assert client.post("/ask", json={"question": "What did Pakistan demand?"}).status_code == 200


def test_a_start_on_a_corpus_with_nothing_to_quote_says_so(tmp_path: Path, embedder: Embedder) -> None:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "title.txt").write_text("Only A Title Here\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="no sentence to quote"):
        QAService.load(
            get_settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index"),
            encoders=Encoders(embedder)
        )


def test_a_brief_past_the_sentence_cap_is_a_413_naming_the_limit(tmp_path: Path, embedder: Embedder) -> None:
    """The probe: a 10 MiB brief of ordinary sentences embedded for over 11 minutes holding the writer lock.
    The work an add costs is bounded by its sentences, refused before any embedding."""
    (tmp_path / "corpus").mkdir()
    shutil.copy(ARTICLE, tmp_path / "corpus" / ARTICLE.name)
    local = QAService.load(
        get_settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", reload_seconds=0,
                     admin_api_key=SecretStr("the-admin"), max_brief_sentences=50),
        encoders=Encoders(embedder),
    )
    text = "Harbour Minutes\n\n" + " ".join(f"The harbour board met for the {i}th time on a Monday." for i in range(60))
    with serving(local.settings, local) as client:
        response = client.post("/documents", json={"doc_id": "minutes", "text": text},
                               headers={"X-API-Key": "the-admin"})
        assert response.status_code == 413, response.text
        assert "60 sentences; the limit is 50" in response.json()["message"]
        assert [d["doc_id"] for d in client.get("/documents").json()["documents"]] == [DOC_ID]


def test_an_update_never_launders_a_corrupt_encoder_graph(tmp_path: Path, embedder: Embedder) -> None:
    """The probe: flip a byte of the live build's int8 graph, add any brief: the new build hard-linked the
    corrupt file and recorded its new hash, and the next start loaded it silently. Now the graphs are checked
    against the old manifest before reuse, and a damaged one is exported afresh."""
    (tmp_path / "corpus").mkdir()
    shutil.copy(ARTICLE, tmp_path / "corpus" / ARTICLE.name)
    settings = get_settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", reload_seconds=0)
    local = QAService.load(settings, encoders=Encoders(embedder))
    manifest = local.index.manifest
    graph = tmp_path / "index" / manifest.build_dir / manifest.encoders["onnx-int8"]
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF
    graph.unlink()  # a new inode: the hard-linked copies of earlier builds (if any) keep their bytes
    graph.write_bytes(bytes(data))
    corrupt = hashlib.sha256(bytes(data)).hexdigest()
    local.add_documents([make_brief("Harbour Notes\n\nThe harbour reopened on Monday after the storm.\n", "text",
                                    BriefMetadata(), "harbour", "harbour.txt", dt.datetime.now(dt.UTC))])
    after = local.index.manifest
    assert after.build_dir != manifest.build_dir
    fresh = tmp_path / "index" / after.build_dir / after.encoders["onnx-int8"]
    assert after.files[after.encoders["onnx-int8"]] == hashlib.sha256(fresh.read_bytes()).hexdigest() != corrupt
    again = QAService.load(settings, encoders=Encoders(embedder))  # the next start loads the clean build as it is
    assert not again.index.rebuilt and again.ask("When did the harbour reopen?").answered

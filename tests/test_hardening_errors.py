"""Hardening, round two: inputs anyone can send that were 500s (or silently wrong) get a clear 4xx.

Each test reproduces an outside probe's finding against a real uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from app.api.app import create_app
from app.api.deps import state_of
from app.config import Settings, get_settings
from app.embed.reference import Embedder
from app.errors import CorpusError
from app.index.encoders import Encoders
from app.ingest.sources import DOC_ID_PATTERN, BriefMetadata, make_brief
from app.logs import RequestIdFilter
from app.service import QAService
from tests.support import (
    ARTICLE,
    DOC_ID,
    assert_error,
    chat_settings,
    copy_folders,
    rewrite,
    running_uvicorn,
    serving,
    settings_in,
    sign,
    wait_until_serving,
)

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def http(settings: Settings, service: QAService) -> Iterator[httpx.Client]:
    with serving(settings, service) as client:
        yield client


def test_a_lone_surrogate_in_the_question_is_a_422_not_a_500(http: httpx.Client) -> None:
    response = http.post("/ask", content=b'{"question": "\\ud800 what happened"}', headers=JSON)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_question"
    assert response.json()["message"] == "the question contains unpaired surrogates (U+D800), which are no text"


@pytest.mark.parametrize("query", ["q=who%FFmediated", "q=%ED%A0%80", "q=who&source=%FF", "doc_id=%FF&q=who"])
def test_a_query_string_that_is_not_utf8_is_a_422_not_read_with_replacement_characters(
    http: httpx.Client, query: str
) -> None:
    """As a POST body that is not UTF-8 is refused: read with U+FFFD, "who%FFmediated" was asked as "who�mediated"."""
    response = http.get(f"/ask?{query}")
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_error"
    assert [d["type"] for d in body["details"]] == ["invalid_encoding"], body


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
    rewrite(graph, bytes(data))  # a new inode: the hard-linked copies of earlier builds (if any) keep their bytes
    corrupt = hashlib.sha256(bytes(data)).hexdigest()
    local.add_documents([make_brief("Harbour Notes\n\nThe harbour reopened on Monday after the storm.\n", "text",
                                    BriefMetadata(), "harbour", "harbour.txt", dt.datetime.now(dt.UTC))])
    after = local.index.manifest
    assert after.build_dir != manifest.build_dir
    fresh = tmp_path / "index" / after.build_dir / after.encoders["onnx-int8"]
    assert after.files[after.encoders["onnx-int8"]] == hashlib.sha256(fresh.read_bytes()).hexdigest() != corrupt
    again = QAService.load(settings, encoders=Encoders(embedder))  # the next start loads the clean build as it is
    assert not again.index.rebuilt and again.ask("When did the harbour reopen?").answered


# --- round three: what an outside probe of the running server found in ids, dates, methods and parameters ---------

ADMIN_KEY = "probe-admin-key"
ADMIN = {"X-API-Key": ADMIN_KEY}
QUESTION = "What did Pakistan demand?"
FERRY = "Ferry Fares Rise\n\nThe harbour ferry will charge two euros more from Monday, the operator said.\n"


@contextlib.contextmanager
def admin_server(root: Path, embedder: Embedder, **overrides: Any) -> Iterator[tuple[httpx.Client, FastAPI]]:
    """A server with the admin key over `root`'s copy of the article, and its app (to look at its state)."""
    settings = settings_in(root, reload_seconds=0, admin_api_key=SecretStr(ADMIN_KEY), **overrides)
    app = create_app(settings, service=QAService.load(settings, encoders=Encoders(embedder)))
    with running_uvicorn(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        wait_until_serving(client)
        yield client, app


@pytest.fixture(scope="module")
def admin(article_index: Path, tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[httpx.Client]:
    """Writes on the request's own thread (the rules under test are checked before any write)."""
    root = copy_folders(article_index, tmp_path_factory.mktemp("probe-admin"))
    with admin_server(root, embedder, write_process=False) as (client, _):
        yield client


def test_an_id_no_brief_can_have_is_a_404_that_never_reaches_the_disk(
    article_index: Path, tmp_path: Path, embedder: Embedder
) -> None:
    """The probe: DELETE of an unknown id of 246+ characters was a 503 index_write_failed ("File name too long"):
    the writer made `<id>.meta.json` to save the brief's files before it looked whether the id exists."""
    with admin_server(copy_folders(article_index, tmp_path), embedder) as (client, app):
        for doc_id in ("a" * 246, "b" * 400, "Not-An-Id", "..hidden", "with space"):
            assert_error(client.delete(f"/documents/{doc_id}", headers=ADMIN), 404, "document_not_found")
            assert_error(client.get(f"/documents/{doc_id}"), 404, "document_not_found")
            view = client.get(f"/documents/{doc_id}/view")
            assert view.status_code == 404 and view.headers["content-type"].startswith("text/html")
        process = state_of(app).writer.process
        assert process is not None and process.pid is None  # the writer process never even started
        assert client.get(f"/documents/{DOC_ID}").status_code == 200


@pytest.mark.parametrize(
    ("name", "value"),
    [("published_to", "0"), ("published_from", "86400"), ("published_to", "2024-01-01T00:00:00")],
)
def test_a_date_filter_of_the_document_list_must_be_written_as_a_date(
    http: httpx.Client, name: str, value: str
) -> None:
    """The probe: `GET /documents?published_to=0` listed briefs published up to 1970-01-01 (`/ask` said 422)."""
    body = assert_error(http.get("/documents", params={name: value}), 422, "validation_error")
    assert f"query parameter {name}: " in body["message"] and "a date is written YYYY-MM-DD" in body["message"]
    assert http.get("/documents", params={name: "2030-01-01"}).status_code == 200


@pytest.mark.parametrize(
    "published",
    ["0", 1700006400, "1700006400", "2026-03-01T00:00:00+05:00", "2026-03-01T08:00:00Z", "2026-03-01T00:00:00"],
)
def test_a_brief_s_publication_date_is_written_as_a_date_in_json_and_in_a_form(
    admin: httpx.Client, published: object
) -> None:
    """The probe: `"published": "0"` was stored as 1970-01-01, a number of seconds as a date, a timestamp with an
    offset as its date, in a JSON body and in an upload's form field alike."""
    sent = admin.post("/documents", json={"text": FERRY, "published": published}, headers=ADMIN)
    assert "published: " in assert_error(sent, 422, "invalid_document")["message"]
    assert "a date is written YYYY-MM-DD" in sent.json()["message"]
    files = {"file": ("ferry.txt", FERRY.encode(), "text/plain")}
    form = admin.post("/documents", files=files, data={"published": str(published)}, headers=ADMIN)
    assert "a date is written YYYY-MM-DD" in assert_error(form, 422, "invalid_document")["message"]
    assert admin.get("/documents").json()["total"] == 1  # nothing was added


def _string_rule(field: dict[str, Any]) -> dict[str, Any]:
    """A field's rule for a value that is given (not null, not an empty form field)."""
    rule: dict[str, Any] = next(
        s for s in field.get("anyOf", [field]) if s.get("type") == "string" and s.get("maxLength") != 0
    )
    return rule


def test_the_upload_schemas_state_the_rules_the_service_applies(http: httpx.Client) -> None:
    """The probe: the JSON schema's `url` said only maxLength (`""` and `ftp://` are refused); the multipart
    schema lacked the `doc_id` pattern and the date format; an empty form field means no value."""
    content = http.get("/openapi.json").json()["paths"]["/documents"]["post"]["requestBody"]["content"]
    as_json = content["application/json"]["schema"]["properties"]
    as_form = content["multipart/form-data"]["schema"]["properties"]
    for fields in (as_json, as_form):
        assert _string_rule(fields["doc_id"])["pattern"] == DOC_ID_PATTERN
        date = _string_rule(fields["published"])
        assert date["format"] == "date" and re.search(date["pattern"], "2026-03-01")
        assert not any(re.search(date["pattern"], v) for v in ("0", "1700006400", "2026-03-01T00:00:00+05:00"))
        url = _string_rule(fields["url"])["pattern"]
        assert re.search(url, "https://news.example/a?b=c") and re.search(url, "http://news.example")
        assert not any(re.search(url, v) for v in ("", "ftp://news.example/a", "javascript:alert(1)", "https://"))
    for name in ("doc_id", "published", "url"):  # a form has no null: an empty field is the same as none
        assert {"type": "string", "maxLength": 0} in as_form[name]["anyOf"]
        assert {"type": "string", "maxLength": 0} not in as_json[name]["anyOf"]  # JSON has null for that


def test_a_url_is_an_http_address_and_an_empty_form_field_is_no_value(admin: httpx.Client) -> None:
    for url in ("", "ftp://files.example/ferry", "javascript:alert(1)", "https://"):
        sent = admin.post("/documents", json={"text": FERRY, "url": url}, headers=ADMIN)
        assert "http:// or https://" in assert_error(sent, 422, "invalid_document")["message"]
    files = {"file": ("ferry.txt", FERRY.encode(), "text/plain")}
    bad = admin.post("/documents", files=files, data={"url": "ftp://files.example/ferry"}, headers=ADMIN)
    assert "http:// or https://" in assert_error(bad, 422, "invalid_document")["message"]
    bad_id = admin.post("/documents", files=files, data={"doc_id": "Ferry Fares!"}, headers=ADMIN)
    assert "doc_id: " in assert_error(bad_id, 422, "invalid_document")["message"]
    empty = {"url": "", "doc_id": "", "published": "", "title": "", "source": ""}
    added = admin.post("/documents", files=files, data=empty, headers=ADMIN)
    assert added.status_code == 201, added.text
    stored = admin.get(f"/documents/{added.json()['doc_id']}").json()
    assert (stored["doc_id"], stored["url"], stored["published"], stored["source"]) == ("ferry", None, None, None)
    assert admin.delete("/documents/ferry", headers=ADMIN).status_code == 200


def test_an_upload_form_gives_each_known_field_once_and_pasted_space_is_stripped(admin: httpx.Client) -> None:
    """Found in review: the form kept the last of a repeated field and dropped a misspelled one silently."""
    files = {"file": ("ferry.txt", FERRY.encode(), "text/plain")}
    twice = admin.post("/documents", files=files, data={"source": ["Wire", "Desk"]}, headers=ADMIN)
    assert "source: given twice" in assert_error(twice, 422, "invalid_document")["message"]
    misspelled = admin.post("/documents", files=files, data={"publshed": "2026-03-01"}, headers=ADMIN)
    assert "publshed: not a field" in assert_error(misspelled, 422, "invalid_document")["message"]
    padded = {"doc_id": " ferry ", "published": " 2026-03-01", "url": "https://news.example/ferry "}
    added = admin.post("/documents", files=files, data=padded, headers=ADMIN)
    assert added.status_code == 201, added.text
    stored = admin.get("/documents/ferry").json()
    assert (stored["published"], stored["url"]) == ("2026-03-01", "https://news.example/ferry")
    assert admin.delete("/documents/ferry", headers=ADMIN).status_code == 200


GET_ROUTES = [
    "/",
    f"/?q={QUESTION}",
    f"/ask?q={QUESTION}&top_k=1",
    "/documents?limit=1",
    f"/documents/{DOC_ID}",
    f"/documents/{DOC_ID}/view?span=0-20",
    "/documents/no-such-brief",
    "/jobs/no-such-job",
    "/metrics",
    "/healthz",
    "/readyz",
    "/openapi.json",
]


@pytest.mark.parametrize("path", GET_ROUTES)
def test_head_answers_wherever_get_does_with_its_status_and_headers(http: httpx.Client, path: str) -> None:
    """The probe: HEAD was a 405 on every GET route but the probes (RFC 9110: HEAD wherever GET)."""
    got, head = http.get(path), http.head(path)
    assert head.status_code == got.status_code, head.text
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    if path != "/metrics":  # the counters move between the two requests
        assert head.headers["content-length"] == got.headers["content-length"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/ask", "GET, HEAD, POST"),
        ("PUT", f"/documents/{DOC_ID}", "GET, HEAD, DELETE"),
        ("POST", f"/documents/{DOC_ID}/view", "GET, HEAD"),
        ("POST", "/healthz", "GET, HEAD"),
        ("DELETE", "/metrics", "GET, HEAD"),
        ("HEAD", "/slack/events", "POST"),  # no GET there: no HEAD either
    ],
)
def test_a_405_lists_head_wherever_it_lists_get(http: httpx.Client, method: str, path: str, allow: str) -> None:
    response = http.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow


@pytest.mark.parametrize(
    ("method", "path", "params", "unknown"),
    [
        ("GET", "/ask", {"q": QUESTION, "topk": "1"}, "topk"),
        ("HEAD", "/ask", {"q": QUESTION, "top_k": "1", "colour": "red"}, "colour"),
        ("POST", "/ask", {"top_k": "1"}, "top_k"),
        ("GET", "/documents", {"limit": "1", "pubished_to": "2020-01-01"}, "pubished_to"),
        ("GET", f"/documents/{DOC_ID}", {"text": "no"}, "text"),
        ("DELETE", f"/documents/{DOC_ID}", {"force": "yes"}, "force"),
        ("GET", "/jobs/no-such-job", {"wait": "1"}, "wait"),
    ],
)
def test_an_unknown_query_parameter_of_the_json_api_is_a_422_naming_it(
    http: httpx.Client, method: str, path: str, params: dict[str, str], unknown: str
) -> None:
    """The probe: `GET /ask?q=...&topk=1` answered with top_k 3, while POST /ask refuses an unknown field."""
    body = {"question": QUESTION} if method == "POST" else None
    response = http.request(method, path, params=params, json=body)
    assert response.status_code == 422, response.text
    if method != "HEAD":
        error = response.json()
        assert error["error"] == "validation_error"
        assert f"query parameter {unknown}: " in error["message"]
        assert error["details"][0]["type"] == "unknown_parameter"


@pytest.mark.parametrize(
    "path",
    ["/?q=What+did+Pakistan+demand%3F&utm_source=newsletter", f"/documents/{DOC_ID}/view?span=0-20&utm_source=x",
     "/healthz?probe=lb", "/readyz?probe=lb"],
)
def test_pages_and_probes_still_take_any_parameter(http: httpx.Client, path: str) -> None:
    assert http.get(path).status_code == 200


def test_get_ask_takes_at_most_100_doc_ids_like_post(http: httpx.Client) -> None:
    """The probe: GET /ask took 1,000 `doc_id` values while POST /ask caps `doc_ids` at 100."""
    params = (("q", QUESTION), *(("doc_id", f"brief-{n}") for n in range(101)))
    body = assert_error(http.get("/ask", params=params), 422, "validation_error")
    assert "query parameter doc_id: " in body["message"]
    assert http.get("/ask", params=params[:101]).status_code == 200  # 100 of them
    parameters = http.get("/openapi.json").json()["paths"]["/ask"]["get"]["parameters"]
    doc_id = next(p for p in parameters if p["name"] == "doc_id")
    assert _array_rule(doc_id["schema"])["maxItems"] == 100


def _array_rule(schema: dict[str, Any]) -> dict[str, Any]:
    rule: dict[str, Any] = next(s for s in schema.get("anyOf", [schema]) if s.get("type") == "array")
    return rule


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (b'{"question": "Who mediated?", "question": "What did Pakistan demand?"}', "question"),
        (b'{"question": "What did Pakistan demand?", "top_k": 1, "top_k": 5}', "top_k"),
    ],
)
def test_a_key_given_twice_in_a_json_body_is_a_422_naming_it(http: httpx.Client, body: bytes, key: str) -> None:
    """The probe: `{"question": "a", "question": "b"}` answered "b", silently."""
    error = assert_error(http.post("/ask", content=body, headers=JSON), 422, "validation_error")
    assert f"{key}: given 2 times" in error["message"]
    assert error["details"][0]["type"] == "repeated_key"


def test_a_key_given_twice_is_refused_on_every_json_body_route(
    admin: httpx.Client, settings: Settings, service: QAService
) -> None:
    brief = json.dumps({"text": FERRY, "doc_id": "ferry"})[:-1].encode() + b', "doc_id": "other"}'
    error = assert_error(admin.post("/documents", content=brief, headers={**ADMIN, **JSON}), 422, "validation_error")
    assert "doc_id: given 2 times" in error["message"]
    assert admin.get("/documents").json()["total"] == 1
    assert_error(admin.post("/documents", content=b'{"text": ', headers={**ADMIN, **JSON}), 422, "invalid_document")
    challenge = b'{"type": "url_verification", "challenge": "first", "challenge": "second"}'
    with serving(chat_settings(settings, "http://127.0.0.1:9"), service) as chat:
        refused = chat.post("/slack/events", content=challenge, headers={**sign(challenge), **JSON})
    assert "challenge" in assert_error(refused, 400, "bad_request")["message"]

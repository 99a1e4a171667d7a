"""The briefs over HTTP: admin key, JSON and file uploads, incremental updates, paging and filters, 4xx errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from app.api.app import create_app
from app.config import Settings, get_settings
from app.embed.reference import Embedder
from app.index.encoders import Encoders
from app.ingest.chunk import parse_document
from app.ingest.corpus import read_document
from app.service import QAService
from tests.support import DOC_ID, assert_error, copy_folders

KEY = "test-admin-key"
ADMIN = {"X-API-Key": KEY}
BRIDGE = "Bridge Repairs Delayed\nThe city said the Elm Street bridge will reopen on 10 March after repairs.\n"
HTML_PAGE = (Path(__file__).parent / "data" / "docs" / "storm.html").read_text(encoding="utf-8")  # the docs' page


def copy_of(article_index: Path, tmp_path: Path, **overrides: Any) -> Settings:
    copy_folders(article_index, tmp_path)
    return get_settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", reload_seconds=0, **overrides)


@pytest.fixture
def admin(article_index: Path, tmp_path: Path, embedder: Embedder) -> Iterator[TestClient]:
    settings = copy_of(article_index, tmp_path, admin_api_key=SecretStr(KEY), max_upload_bytes=4096)
    service = QAService.load(settings, encoders=Encoders(embedder))
    with TestClient(create_app(settings, service=service)) as client:
        yield client


def add(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/documents", json=body, headers=ADMIN)
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


def test_write_routes_are_off_without_an_admin_key(article_index: Path, tmp_path: Path, embedder: Embedder) -> None:
    settings = copy_of(article_index, tmp_path)
    with TestClient(create_app(settings, service=QAService.load(settings, encoders=Encoders(embedder)))) as client:
        assert_error(client.post("/documents", json={"text": BRIDGE}, headers=ADMIN), 404, "admin_disabled")
        assert_error(client.delete(f"/documents/{DOC_ID}", headers=ADMIN), 404, "admin_disabled")
        assert client.get("/documents").status_code == 200  # reading stays open


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"X-API-Key": ""}, {"X-API-Key": KEY + "x"}])
def test_write_routes_need_the_right_key(admin: TestClient, headers: dict[str, str]) -> None:
    assert_error(admin.post("/documents", json={"text": BRIDGE}, headers=headers), 401, "unauthorized")
    assert_error(admin.delete(f"/documents/{DOC_ID}", headers=headers), 401, "unauthorized")
    assert admin.get("/documents").json()["total"] == 1  # nothing changed


def test_json_add_is_answerable_and_cited_with_its_version(admin: TestClient) -> None:
    change = add(admin, text=BRIDGE, source="City Desk", published="2026-03-01", doc_id="bridge")
    assert change["status"] == "added"
    body = admin.post("/ask", json={"question": "When will the Elm Street bridge reopen?"}).json()
    assert body["answered"]
    quote = body["quotes"][0]
    assert (quote["doc_id"], quote["source"], quote["published"]) == ("bridge", "City Desk", "2026-03-01")
    assert quote["sha256"] == change["sha256"]
    stored = admin.get("/documents/bridge").json()
    assert stored["text"] == BRIDGE and stored["text"][quote["start"] : quote["end"]] == quote["text"]
    assert stored["ingested_at"]


def test_adding_again_is_a_no_op_and_versions_replace(admin: TestClient) -> None:
    first = add(admin, text=BRIDGE, doc_id="bridge", source="City Desk")
    again = admin.post("/documents", json={"text": BRIDGE, "doc_id": "bridge", "source": "City Desk"}, headers=ADMIN)
    assert (again.status_code, again.json()["status"]) == (200, "unchanged")
    retitled = admin.post("/documents", json={"text": BRIDGE, "doc_id": "bridge", "source": "Metro"}, headers=ADMIN)
    assert (retitled.status_code, retitled.json()["status"]) == (200, "updated")
    new_text = BRIDGE.replace("10 March", "17 March")
    replaced = admin.post("/documents", json={"text": new_text, "doc_id": "bridge"}, headers=ADMIN)
    assert (replaced.status_code, replaced.json()["status"]) == (201, "replaced")
    assert replaced.json()["sha256"] != first["sha256"]
    quote = admin.post("/ask", json={"question": "When will the bridge reopen?"}).json()["quotes"][0]
    assert "17 March" in quote["text"] and quote["sha256"] == replaced.json()["sha256"]


def test_html_upload_keeps_the_article_and_reads_the_page_metadata(admin: TestClient) -> None:
    files = {"file": ("storm.html", HTML_PAGE.encode(), "text/html")}
    response = admin.post("/documents", files=files, headers=ADMIN)
    assert response.status_code == 201, response.text
    doc = admin.get(f"/documents/{response.json()['doc_id']}").json()
    assert "40,000 homes" in doc["text"] and "repairs to the power lines" in doc["text"]
    assert "Subscribe" not in doc["text"] and "World news menu" not in doc["text"]
    assert (doc["title"], doc["source"], doc["published"]) == ("Storm hits the coast", "Daily Planet", "2026-10-03")
    assert doc["url"] == "https://planet.example/storm"
    assert "Damage" in doc["sections"]


def test_upload_form_fields_override_the_file(admin: TestClient) -> None:
    files = {"file": ("notes.md", b"---\nsource: Front Matter\n---\n# Ferry strike\nFerries stopped on Monday.\n")}
    response = admin.post("/documents", files=files, data={"source": "Harbour Desk"}, headers=ADMIN)
    assert response.status_code == 201, response.text
    doc = admin.get(f"/documents/{response.json()['doc_id']}").json()
    assert doc["source"] == "Harbour Desk"
    assert doc["text"] == "# Ferry strike\nFerries stopped on Monday.\n"  # front matter is metadata, not text


PILOTS = "Harbour pilots walked out on Tuesday over a pay dispute.\nThe port said ships were delayed by six hours.\n"
PILOTS_TITLE = "Pilots Strike at the Port"


def _md_front_matter(client: TestClient) -> str:
    files = {"file": ("pilots.md", f"---\ntitle: {PILOTS_TITLE}\n---\n{PILOTS}".encode())}
    response = client.post("/documents", files=files, headers=ADMIN)
    assert response.status_code == 201, response.text
    return str(response.json()["doc_id"])


def _json_body(client: TestClient) -> str:
    return str(add(client, text=PILOTS, title=PILOTS_TITLE, doc_id="pilots")["doc_id"])


def _form_upload(client: TestClient) -> str:
    files = {"file": ("pilots.txt", PILOTS.encode(), "text/plain")}
    response = client.post("/documents", files=files, data={"title": PILOTS_TITLE}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return str(response.json()["doc_id"])


def _untitled_txt(client: TestClient) -> str:
    return str(add(client, text=PILOTS, doc_id="pilots")["doc_id"])


@pytest.mark.parametrize(
    ("way", "title"),
    [
        (_md_front_matter, PILOTS_TITLE),
        (_json_body, PILOTS_TITLE),
        (_form_upload, PILOTS_TITLE),
        (_untitled_txt, "pilots"),  # no title anywhere: the id, and still no sentence lost
    ],
    ids=["md-front-matter", "json", "form", "no-title"],
)
def test_a_first_line_that_is_a_sentence_stays_quotable(admin: TestClient, way: Any, title: str) -> None:
    doc_id = way(admin)
    doc = admin.get(f"/documents/{doc_id}").json()
    assert doc["title"] == title
    body = admin.post("/ask", json={"question": "why did the harbour pilots walk out?"}).json()
    assert body["answered"], body
    quote = body["quotes"][0]
    assert quote["doc_id"] == doc_id
    assert quote["text"] == "Harbour pilots walked out on Tuesday over a pay dispute."
    assert doc["text"][quote["start"] : quote["end"]] == quote["text"]


def test_a_txt_brief_with_a_sidecar_title_keeps_its_first_sentence(tmp_path: Path) -> None:
    (tmp_path / "pilots.txt").write_text(PILOTS, encoding="utf-8")
    (tmp_path / "pilots.meta.json").write_text(json.dumps({"title": PILOTS_TITLE}), encoding="utf-8")
    parsed = parse_document(read_document(tmp_path / "pilots.txt"))
    assert parsed.document.meta.title == PILOTS_TITLE
    assert parsed.sentences[0].text == "Harbour pilots walked out on Tuesday over a pay dispute."
    assert not [b for b in parsed.blocks if b.kind == "title"]


@pytest.mark.parametrize(
    ("files", "status", "error"),
    [
        ({"file": ("report.pdf", b"%PDF-1.4", "application/pdf")}, 422, "invalid_document"),
        ({"file": ("latin1.txt", "Caf\xe9 closes".encode("latin-1"), "text/plain")}, 422, "invalid_document"),
        ({"file": ("empty.txt", b"   \n", "text/plain")}, 422, "invalid_document"),
        ({"file": ("big.txt", b"word " * 2000, "text/plain")}, 413, "payload_too_large"),
        ({"other": ("x.txt", b"text", "text/plain")}, 422, "invalid_document"),
        ({"file": ("nul.txt", b"Storm Warning\nA storm\x00 hit the coast.", "text/plain")}, 422, "invalid_document"),
    ],
)
def test_bad_uploads_are_clear_4xx(admin: TestClient, files: dict[str, Any], status: int, error: str) -> None:
    assert_error(admin.post("/documents", files=files, headers=ADMIN), status, error)
    assert admin.get("/documents").json()["total"] == 1


def test_an_upload_over_the_whole_body_cap_names_the_brief_limit_a_user_set(admin: TestClient) -> None:
    # the body cap of an upload is the brief's (NEWSQA_MAX_UPLOAD_BYTES, 4096 here) plus room for the form; the
    # refusal names both, not only a number nobody configured
    files = {"file": ("huge.txt", b"word " * 20_000, "text/plain")}
    refused = admin.post("/documents", files=files, headers=ADMIN)
    assert_error(refused, 413, "payload_too_large")
    cap = 4096 + 65536
    expected = f"the request body is over {cap} bytes: a brief may be up to 4096 bytes (NEWSQA_MAX_UPLOAD_BYTES)"
    assert refused.json()["message"] == expected
    # under the whole-body cap, the route's own check names the same setting, for a file and for JSON
    small = admin.post("/documents", files={"file": ("big.txt", b"word " * 2000, "text/plain")}, headers=ADMIN)
    assert small.json()["message"] == "the file is over 4096 bytes (NEWSQA_MAX_UPLOAD_BYTES)"
    posted = admin.post("/documents", json={"text": "x" * 5000}, headers=ADMIN)
    assert posted.json()["message"] == "the brief is over 4096 bytes with its JSON (NEWSQA_MAX_UPLOAD_BYTES)"
    question = admin.post("/ask", content=b"x" * 70_000, headers={"Content-Type": "application/json"})
    assert_error(question, 413, "payload_too_large")
    assert "brief" not in question.json()["message"]


def test_a_body_that_is_no_multipart_form_is_a_422_like_a_json_body_that_does_not_parse(admin: TestClient) -> None:
    """Starlette answers a broken multipart body with 400; every unreadable body is one status (422)."""
    headers = {**ADMIN, "Content-Type": "multipart/form-data"}  # no boundary: nothing can be parsed
    refused = admin.post("/documents", content=b"--xx\r\nnonsense", headers=headers)
    assert_error(refused, 422, "invalid_document")
    assert "not a readable multipart form" in refused.json()["message"], refused.text


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"text": BRIDGE, "doc_id": "Bad Id!"}, 422, "invalid_document"),
        ({"text": BRIDGE, "published": "March 3rd"}, 422, "invalid_document"),
        ({"text": BRIDGE, "format": "pdf"}, 422, "invalid_document"),
        ({"text": ""}, 422, "invalid_document"),
        ({"text": BRIDGE, "colour": "red"}, 422, "invalid_document"),
        ({"text": "Storm Warning\nA storm\u0000 hit the coast."}, 422, "invalid_document"),
        ({"text": "x" * 5000}, 413, "payload_too_large"),
        # pasted markup sent as text would be stored and quoted tags and all: the error says to send it as html
        ({"text": "<html><body><h1>Fire</h1><p>A fire destroyed the mill.</p></body></html>"}, 422,
         "invalid_document"),
    ],
)
def test_bad_json_documents_are_clear_4xx(admin: TestClient, body: dict[str, Any], status: int, error: str) -> None:
    assert_error(admin.post("/documents", json=body, headers=ADMIN), status, error)


def test_field_errors_read_as_sentences(admin: TestClient) -> None:
    # no pydantic "Value error, " before a validator's own sentence, no regular expression for a format
    dated = admin.post("/documents", json={"text": BRIDGE, "published": "March 3rd"}, headers=ADMIN)
    assert "Value error" not in dated.json()["message"] and "YYYY-MM-DD" in dated.json()["message"], dated.text
    formatted = admin.post("/documents", json={"text": BRIDGE, "format": "md"}, headers=ADMIN)
    assert_error(formatted, 422, "invalid_document")
    assert "'text', 'markdown' or 'html'" in formatted.json()["message"] and "^(" not in formatted.text


def test_html_sent_as_text_is_refused_with_the_format_to_use(admin: TestClient) -> None:
    refused = admin.post("/documents", json={"text": "<p>A fire destroyed the old mill.</p>"}, headers=ADMIN)
    assert_error(refused, 422, "invalid_document")
    assert "looks like HTML; send it as format html" in refused.json()["message"]


def test_other_content_types_are_415(admin: TestClient) -> None:
    response = admin.post("/documents", content=BRIDGE, headers={**ADMIN, "Content-Type": "text/plain"})
    assert_error(response, 415, "unsupported_media_type")


def test_a_new_version_keeps_the_metadata_it_leaves_out(admin: TestClient) -> None:
    # a re-upload that sends only a new source must not reset the publication date (nor an unchanged text and
    # no fields at all erase both): the date filters would lose the brief
    assert add(admin, text=BRIDGE, doc_id="bridge", source="City Desk", published="2026-03-02")["status"] == "added"
    assert add(admin, text=BRIDGE, doc_id="bridge")["status"] == "unchanged"
    assert add(admin, text=BRIDGE, doc_id="bridge", source="Wire")["status"] == "updated"
    listed = {d["doc_id"]: d for d in admin.get("/documents").json()["documents"]}
    assert (listed["bridge"]["source"], listed["bridge"]["published"]) == ("Wire", "2026-03-02")


def test_delete_removes_the_brief_everywhere(admin: TestClient) -> None:
    add(admin, text=BRIDGE, doc_id="bridge")
    response = admin.delete("/documents/bridge", headers=ADMIN)
    assert (response.status_code, response.json()["status"]) == (200, "removed")
    assert_error(admin.get("/documents/bridge"), 404, "document_not_found")
    body = admin.post("/ask", json={"question": "When will the Elm Street bridge reopen?"}).json()
    assert all(q["doc_id"] != "bridge" for q in body["quotes"] + body["passages"])
    assert_error(admin.delete("/documents/bridge", headers=ADMIN), 404, "document_not_found")


def test_the_last_brief_cannot_be_deleted(admin: TestClient) -> None:
    assert_error(admin.delete(f"/documents/{DOC_ID}", headers=ADMIN), 422, "invalid_document")


def test_documents_are_paged_newest_first_and_filtered(admin: TestClient) -> None:
    for day, source in ((1, "Wire"), (9, "City Desk"), (5, "wire")):
        add(admin, text=f"Notice {day}\nThe council met on day {day} of March.\n", published=f"2026-03-0{day}",
            source=source, doc_id=f"notice-{day}")
    first = admin.get("/documents", params={"limit": 2}).json()
    assert first["total"] == 4 and [d["doc_id"] for d in first["documents"]] == ["notice-9", "notice-5"]
    rest = admin.get("/documents", params={"limit": 2, "offset": 2}).json()
    assert [d["doc_id"] for d in rest["documents"]] == ["notice-1", DOC_ID]  # undated last
    wire = admin.get("/documents", params={"source": "WIRE"}).json()
    assert {d["doc_id"] for d in wire["documents"]} == {"notice-1", "notice-5"}
    recent = admin.get("/documents", params={"published_from": "2026-03-05"}).json()
    assert {d["doc_id"] for d in recent["documents"]} == {"notice-5", "notice-9"}
    backwards = admin.get("/documents", params={"published_from": "2026-03-09", "published_to": "2026-03-01"})
    assert_error(backwards, 422, "invalid_filter")
    assert_error(admin.get("/documents", params={"limit": 0}), 422, "validation_error")


def test_ask_filters_restrict_the_briefs(admin: TestClient) -> None:
    add(admin, text=BRIDGE, doc_id="bridge", source="City Desk", published="2026-03-01")
    question = "When will the bridge reopen?"
    only_article = admin.post("/ask", json={"question": question, "doc_ids": [DOC_ID]}).json()
    assert all(p["doc_id"] == DOC_ID for p in only_article["passages"] + only_article["quotes"])
    by_source = admin.get("/ask", params={"q": question, "source": "city desk"}).json()
    assert by_source["quotes"] and all(q["doc_id"] == "bridge" for q in by_source["quotes"])
    nothing = admin.post("/ask", json={"question": question, "published_from": "2027-01-01"}).json()
    assert (nothing["answered"], nothing["passages"]) == (False, [])
    assert "No brief matches" in nothing["message"]
    backwards = {"question": question, "published_from": "2026-03-09", "published_to": "2026-03-01"}
    assert_error(admin.post("/ask", json=backwards), 422, "invalid_filter")  # one code on GET and POST
    assert_error(admin.get("/ask", params={"q": question, "published_from": "x"}), 422, "validation_error")

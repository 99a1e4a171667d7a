"""The HTTP edge over the real model and index: the answer contract, errors as JSON, probes, a real uvicorn."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.config import Settings
from app.errors import CorpusError
from app.service import QAService
from tests.support import ANSWERED, NOT_IN_ARTICLE, GatedLoader, assert_error, is_ready, poll_readyz, running_uvicorn

QUOTE_FIELDS = {"doc_id", "title", "section", "start", "end", "text", "sha256", "source", "published"}
PASSAGE_FIELDS = QUOTE_FIELDS | {"score"}


@pytest.fixture(scope="module")
def client(settings: Settings, service: QAService) -> Iterator[TestClient]:
    with TestClient(create_app(settings, service=service)) as client:
        yield client


def test_post_ask_quotes_the_article_at_exact_offsets(client: TestClient, article_text: str) -> None:
    response = client.post("/ask", json={"question": ANSWERED})
    assert response.status_code == 200
    body = response.json()
    assert body["question"] == ANSWERED
    assert body["answered"] is True
    assert body["message"] is None
    assert 0.0 <= body["confidence"] <= 1.0
    assert body["quotes"]
    assert len(body["passages"]) == 3  # the default top_k
    for quote in body["quotes"]:
        assert set(quote) == QUOTE_FIELDS
    for passage in body["passages"]:
        assert set(passage) == PASSAGE_FIELDS
    for span in body["quotes"] + body["passages"]:
        document = client.get(f"/documents/{span['doc_id']}").json()
        assert document["text"] == article_text
        assert span["text"] == article_text[span["start"] : span["end"]]
        assert span["sha256"] == document["sha256"]  # the version the offsets index into


def test_get_ask_gives_the_same_body_as_post(client: TestClient) -> None:
    posted = client.post("/ask", json={"question": ANSWERED, "top_k": 2})
    got = client.get("/ask", params={"q": ANSWERED, "top_k": 2})
    assert got.status_code == posted.status_code == 200
    assert got.json() == posted.json()


@pytest.mark.parametrize("top_k", [1, 5])
def test_top_k_sets_how_many_passages_come_back(client: TestClient, top_k: int) -> None:
    body = client.post("/ask", json={"question": ANSWERED, "top_k": top_k}).json()
    assert len(body["passages"]) == top_k


def test_abstains_when_the_article_does_not_say(client: TestClient) -> None:
    response = client.post("/ask", json={"question": NOT_IN_ARTICLE})
    assert response.status_code == 200
    body = response.json()
    assert body["answered"] is False
    assert body["quotes"] == []
    assert isinstance(body["message"], str) and body["message"].strip()
    assert body["passages"]


JSON = {"content-type": "application/json"}
BAD_INPUT = [
    pytest.param({"json": {"question": ""}}, 422, "invalid_question", "empty", id="empty"),
    pytest.param({"json": {"question": " \t\n "}}, 422, "invalid_question", "empty", id="whitespace-only"),
    pytest.param({"json": {"question": "a" * 501}}, 422, "invalid_question", "500", id="too-long"),
    pytest.param({"json": {"question": "\ufb00" * 300}}, 422, "invalid_question", "500", id="too-long-after-nfkc"),
    pytest.param({"json": {"question": "why\u0000now"}}, 422, "invalid_question", "U+0000", id="nul"),
    pytest.param({"json": {"question": "why\u001bnow"}}, 422, "invalid_question", "U+001B", id="escape"),
    pytest.param({"json": {"question": 5}}, 422, "validation_error", "question", id="question-not-a-string"),
    pytest.param({"json": {"question": None}}, 422, "validation_error", "question", id="question-null"),
    pytest.param({"json": {}}, 422, "validation_error", "question", id="question-missing"),
    pytest.param({"json": {"question": "x", "top_k": 0}}, 422, "validation_error", "top_k", id="top-k-0"),
    pytest.param({"json": {"question": "x", "top_k": 11}}, 422, "validation_error", "top_k", id="top-k-11"),
    pytest.param({"json": {"question": "x", "top_k": "3"}}, 422, "validation_error", "top_k", id="top-k-string"),
    pytest.param({"json": {"question": "x", "top_k": 2.5}}, 422, "validation_error", "top_k", id="top-k-float"),
    pytest.param({"json": {"question": "x", "k": 2}}, 422, "validation_error", "k", id="unknown-field"),
    pytest.param({"content": b'{"question": ', "headers": JSON}, 422, "validation_error", "JSON", id="bad-json"),
    pytest.param({"content": b"\xff\xfe", "headers": JSON}, 422, "validation_error", "JSON", id="not-utf8"),
    pytest.param({"content": b'["x"]', "headers": JSON}, 422, "validation_error", "JSON object", id="json-list"),
    pytest.param(
        {"content": b'{"question": "a\x01b"}', "headers": JSON}, 422, "validation_error", "JSON", id="raw-control"
    ),
    pytest.param(
        {"content": b'{"question": "x"}', "headers": {"content-type": "text/plain"}},
        422,
        "validation_error",
        "Content-Type",
        id="text-plain",
    ),
    pytest.param({"data": {"question": "x"}}, 422, "validation_error", "Content-Type", id="form-encoded"),
    pytest.param({}, 422, "validation_error", "request body", id="no-body"),
]


@pytest.mark.parametrize(("request_kwargs", "status", "error", "mentions"), BAD_INPUT)
def test_bad_post_ask_is_a_json_4xx(
    client: TestClient, request_kwargs: dict[str, Any], status: int, error: str, mentions: str
) -> None:
    body = assert_error(client.post("/ask", **request_kwargs), status, error)
    assert mentions in body["message"]
    if error == "validation_error":
        assert body["details"] and all({"type", "loc", "msg"} <= set(d) for d in body["details"])


@pytest.mark.parametrize(
    ("url", "status", "error", "mentions"),
    [
        ("/ask", 422, "validation_error", "q"),
        ("/ask?q=", 422, "invalid_question", "empty"),
        ("/ask?q=" + "a" * 501, 422, "invalid_question", "500"),
        ("/ask?q=why%00now", 422, "invalid_question", "U+0000"),
        ("/ask?q=x&top_k=0", 422, "validation_error", "top_k"),
        ("/ask?q=x&top_k=11", 422, "validation_error", "top_k"),
        ("/ask?q=x&top_k=three", 422, "validation_error", "top_k"),
        ("/documents/no-such-article", 404, "document_not_found", "no-such-article"),
        ("/no/such/route", 404, "not_found", "/no/such/route"),
    ],
)
def test_bad_get_is_a_json_4xx(client: TestClient, url: str, status: int, error: str, mentions: str) -> None:
    body = assert_error(client.get(url), status, error)
    assert mentions in body["message"]


def test_wrong_method_is_a_json_405(client: TestClient) -> None:
    assert_error(client.delete("/ask"), 405, "method_not_allowed")


def test_documents_list_and_detail(client: TestClient, article_text: str) -> None:
    listed = client.get("/documents")
    assert listed.status_code == 200
    page = listed.json()
    assert (page["total"], page["offset"], page["limit"]) == (1, 0, 50)
    [summary] = page["documents"]
    assert {"doc_id", "title", "sections", "length", "sha256", "source", "published", "url"} <= set(summary)
    assert "text" not in summary
    assert summary["length"] == len(article_text)
    assert summary["title"] and summary["sections"]

    detail = client.get(f"/documents/{summary['doc_id']}")
    assert detail.status_code == 200
    assert detail.json() == {**summary, "text": article_text}


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_the_loaded_index(client: TestClient, service: QAService) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    manifest = service.index.manifest
    assert body["status"] == "ready"
    assert {key: body[key] for key in manifest.counts} == manifest.counts
    assert body["vector_index"] == manifest.vector_index
    assert body["build"] == manifest.build_dir


def test_openapi_documents_the_routes_and_their_errors(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    ask = schema["paths"]["/ask"]
    assert {"get", "post"} <= set(ask)
    assert ask["post"]["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    assert "verbatim quotes" in ask["post"]["description"]
    assert {"/documents", "/documents/{doc_id}", "/healthz", "/readyz"} <= set(schema["paths"])
    assert client.get("/docs").status_code == 200


def test_unexpected_error_is_a_json_500_without_traceback(
    settings: Settings, service: QAService, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings, service=service)

    def broken() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route("/broken", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/broken")
    body = assert_error(response, 500, "internal_error")
    assert body == {"error": "internal_error", "message": "internal error"}
    assert "secret internals" not in response.text
    assert any(record.exc_info and "secret internals" in str(record.exc_info[1]) for record in caplog.records)


def test_not_ready_while_loading_then_ready(settings: Settings, service: QAService) -> None:
    loader = GatedLoader(service)
    try:
        with TestClient(create_app(settings, loader=loader)) as client:
            assert client.get("/healthz").status_code == 200
            readiness = client.get("/readyz")
            assert readiness.status_code == 503
            assert readiness.json()["status"] == "not_ready"
            assert_error(client.post("/ask", json={"question": ANSWERED}), 503, "not_ready")
            assert_error(client.get("/documents"), 503, "not_ready")

            loader.gate.set()
            assert poll_readyz(client.get, is_ready).status_code == 200
            assert client.post("/ask", json={"question": ANSWERED}).json()["answered"] is True
    finally:
        loader.gate.set()


def test_shutdown_while_loading_does_not_wait_for_the_load(settings: Settings, service: QAService) -> None:
    loader = GatedLoader(service)
    try:
        with TestClient(create_app(settings, loader=loader)) as client:
            assert client.get("/readyz").status_code == 503
            assert loader.entered.wait(timeout=30)
        # the lifespan's shutdown has finished (a hang here is the failure) while the load is still running
        assert not loader.returned.is_set()
    finally:
        loader.gate.set()


def test_failed_load_keeps_the_service_unready_and_says_why(settings: Settings) -> None:
    def failing(_: Settings) -> QAService:
        raise CorpusError("the corpus folder is empty")

    with TestClient(create_app(settings, loader=failing)) as client:
        readiness = poll_readyz(client.get, lambda response: "failed" in response.text)
        assert readiness.status_code == 503
        assert "the corpus folder is empty" in readiness.json()["reason"]
        body = assert_error(client.post("/ask", json={"question": ANSWERED}), 503, "not_ready")
        assert "failed to load" in body["message"]
        assert client.get("/healthz").status_code == 200


@pytest.fixture
def live_server(settings: Settings, service: QAService) -> Iterator[str]:
    with running_uvicorn(create_app(settings, service=service)) as url:
        yield url


@pytest.mark.e2e
def test_end_to_end_over_a_real_uvicorn(live_server: str, article_text: str) -> None:
    with httpx.Client(base_url=live_server, timeout=30) as http:
        assert poll_readyz(_get_or_refused(http), is_ready).status_code == 200
        response = http.post("/ask", json={"question": ANSWERED, "top_k": 2})
        assert response.status_code == 200
        body = response.json()
        assert body["answered"] is True
        assert len(body["passages"]) == 2
        for span in body["quotes"] + body["passages"]:
            assert span["text"] == article_text[span["start"] : span["end"]]
        assert_error(http.post("/ask", content=b"{", headers=JSON), 422, "validation_error")


def _get_or_refused(http: httpx.Client) -> Callable[[str], httpx.Response]:
    """GET that reports "connection refused" (server still starting) as a 503 instead of raising."""

    def get(path: str) -> httpx.Response:
        try:
            return http.get(path)
        except httpx.ConnectError:
            return httpx.Response(503)

    return get


@pytest.mark.parametrize("given", [4.0, 4])
def test_a_whole_top_k_written_as_a_float_is_accepted_as_json_schema_says(client: TestClient, given: float) -> None:
    response = client.post("/ask", json={"question": "What did Pakistan demand?", "top_k": given})
    assert response.status_code == 200, response.text
    assert len(response.json()["passages"]) == 4


@pytest.mark.parametrize("given", [True, "4"])
def test_a_boolean_or_a_string_top_k_is_still_refused(client: TestClient, given: object) -> None:
    assert_error(client.post("/ask", json={"question": "x", "top_k": given}), 422, "validation_error")


def test_routes_are_built_when_the_app_is_made_not_on_a_request(
    settings: Settings, service: QAService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FastAPI builds an included router's routes lazily, on the first request that reaches them; a replica
    restarted under load once answered /readyz with a 500 from that build. create_app builds them itself.

    The build is watched through FastAPI's own function that makes a route's dependencies (wrapped to count
    calls, not replaced): a plain app with an included router shows the count moving on its first request,
    so a count that stays at zero for newsqa's app means nothing was left to build."""
    import fastapi.routing
    from fastapi import APIRouter, FastAPI

    builds: list[str] = []
    build = fastapi.routing._build_dependant_with_parameterless_dependencies

    def counted(**kwargs: Any) -> Any:
        builds.append(kwargs["path"])
        return build(**kwargs)

    def lazily_built() -> FastAPI:
        router = APIRouter()
        router.add_api_route("/ping", lambda q: {"q": q})
        plain = FastAPI()
        plain.include_router(router)
        return plain

    plain = lazily_built()
    made = create_app(settings, service=service)
    monkeypatch.setattr(fastapi.routing, "_build_dependant_with_parameterless_dependencies", counted)
    assert TestClient(plain).get("/ping", params={"q": "x"}).json() == {"q": "x"}
    assert "/ping" in builds  # the control: a route left to the first request is built then
    builds.clear()
    with TestClient(made) as client:
        for path in ("/healthz", "/readyz", "/ask?q=ceasefire", "/documents", "/"):
            assert client.get(path).status_code == 200, path
    assert builds == []

"""Guards on every route: body caps, rate limits, request ids, CORS, metrics, private logs, readiness while draining."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any, cast

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError
from starlette.applications import Starlette

from app.api.app import create_app
from app.api.deps import state_of
from app.api.server import server_config
from app.config import Settings, get_settings
from app.service import QAService
from tests.support import assert_error, running_uvicorn, serving

QUESTION = "What did Pakistan demand?"
JSON = {"Content-Type": "application/json"}


def app_client(settings: Settings, service: QAService, **overrides: Any) -> TestClient:
    return TestClient(create_app(settings.model_copy(update={"reload_seconds": 0, **overrides}), service=service))


@pytest.fixture
def client(settings: Settings, service: QAService) -> Iterator[TestClient]:
    with app_client(settings, service, rate_limit="off") as client:
        yield client


# --- body caps ---------------------------------------------------------------------------------------------------


def test_an_oversized_ask_body_is_413_from_its_content_length(client: TestClient) -> None:
    body = b'{"question": "' + b"a" * (65 * 1024) + b'"}'
    assert_error(client.post("/ask", content=body, headers=JSON), 413, "payload_too_large")


def test_an_oversized_chunked_body_is_413_while_it_is_read(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"question": "'
        for _ in range(70):
            yield b"a" * 1024
        yield b'"}'

    assert_error(client.post("/ask", content=chunks(), headers=JSON), 413, "payload_too_large")


def test_a_body_under_the_cap_is_read_normally(client: TestClient) -> None:
    response = client.post("/ask", json={"question": QUESTION + " " * 1000})
    assert response.status_code == 200


# --- rate limits ---------------------------------------------------------------------------------------------------


def test_clients_past_their_rate_get_429_with_retry_after(settings: Settings, service: QAService) -> None:
    with app_client(settings, service, rate_limit="3/minute") as client:
        for _ in range(3):
            assert client.get("/ask", params={"q": QUESTION}).status_code == 200
        refused = client.get("/ask", params={"q": QUESTION})
        body = assert_error(refused, 429, "rate_limited")
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "3 per 1 minute" in body["message"]
        for probe in ("/healthz", "/readyz", "/metrics"):  # never limited
            assert client.get(probe).status_code == 200
        made_up = client.get("/ask", params={"q": QUESTION}, headers={"X-API-Key": "someone-else"})
        assert_error(made_up, 429, "rate_limited")  # an unchecked key buys no bucket of its own
        metrics = client.get("/metrics").text
        assert re.search(r"^newsqa_rate_limited_requests_total 2\.0$", metrics, re.M)


def test_a_new_made_up_key_on_every_request_does_not_bypass_the_limit(settings: Settings, service: QAService) -> None:
    """The probe: 60 requests, each with a different X-API-Key, all 200. Now the IP's bucket counts them all,
    and only the real admin key has a bucket of its own."""
    with serving(settings.model_copy(update={"rate_limit": "5/minute", "admin_api_key": SecretStr("the-admin")}),
                 service) as http:
        codes = [
            http.get("/ask", params={"q": QUESTION}, headers={"X-API-Key": f"made-up-{i}"}).status_code
            for i in range(60)
        ]
        assert codes.count(200) == 5 and codes.count(429) == 55
        assert http.get("/ask", params={"q": QUESTION}, headers={"X-API-Key": "the-admin"}).status_code == 200


def _forwarded_codes(app_settings: Settings, service: QAService) -> list[int]:
    """60 questions over `newsqa serve`'s uvicorn configuration, each naming a new X-Forwarded-For address."""
    app = create_app(app_settings, service=service)
    config = server_config(app_settings, app, log_level="warning")
    with running_uvicorn(app, config) as url, httpx.Client(base_url=url, timeout=30) as http:
        return [
            http.get("/ask", params={"q": QUESTION}, headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
            for i in range(60)
        ]


def test_a_new_forwarded_address_on_every_request_does_not_bypass_the_limit(
    settings: Settings, service: QAService
) -> None:
    """The probe: uvicorn trusts X-Forwarded-For from 127.0.0.1 by default, so a local client naming a new address
    per request got a new bucket each time. Now only NEWSQA_TRUSTED_PROXIES are believed (none by default)."""
    limited = settings.model_copy(update={"rate_limit": "5/minute", "reload_seconds": 0})
    codes = _forwarded_codes(limited, service)
    assert codes.count(200) == 5 and codes.count(429) == 55
    behind_proxy = _forwarded_codes(limited.model_copy(update={"trusted_proxies": "127.0.0.1"}), service)
    assert behind_proxy == [200] * 60  # a trusted proxy's forwarded addresses are the clients, one bucket each


def test_the_default_rate_is_on_and_generous(settings: Settings) -> None:
    assert Settings.model_fields["rate_limit"].default == "20/second"  # the suite's own env turns it off
    assert settings.model_validate({"rate_limit": "OFF"}).rate_limit == "off"
    with pytest.raises(ValidationError, match="not a rate"):
        get_settings(rate_limit="lots")


# --- request ids, CORS ---------------------------------------------------------------------------------------------


def test_request_ids_are_echoed_or_made(client: TestClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = client.get("/healthz").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    hostile = client.get("/healthz", headers={"X-Request-ID": "bad id; " + "y" * 300})
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["x-request-id"])  # not echoed: replaced


def test_cors_is_off_by_default_and_configurable(settings: Settings, service: QAService) -> None:
    origin = {"Origin": "https://newsroom.example"}
    with app_client(settings, service) as client:
        assert "access-control-allow-origin" not in client.get("/healthz", headers=origin).headers
    with app_client(settings, service, cors_origins=["https://newsroom.example"]) as client:
        allowed = client.get("/healthz", headers=origin).headers
        assert allowed["access-control-allow-origin"] == "https://newsroom.example"
        other = client.get("/healthz", headers={"Origin": "https://evil.example"}).headers
        assert "access-control-allow-origin" not in other


# --- metrics -------------------------------------------------------------------------------------------------------


def test_metrics_count_requests_answers_and_describe_the_index(client: TestClient, service: QAService) -> None:
    client.post("/ask", json={"question": QUESTION})
    client.post("/ask", json={"question": "What is the capital of France?"})
    text = client.get("/metrics").text
    assert re.search(r'^http_requests_total\{.*handler="/ask".*method="POST".*\} 2\.0$', text, re.M)
    assert 'http_request_duration_seconds_bucket{handler="/ask"' in text
    assert re.search(r'^newsqa_answers_total\{result="answered"\} 1\.0$', text, re.M)
    assert re.search(r'^newsqa_answers_total\{result="abstained"\} 1\.0$', text, re.M)
    passages = service.index.manifest.counts["passages"]
    assert re.search(rf'^newsqa_index_items\{{kind="passages"\}} {passages}\.0$', text, re.M)
    assert f'build="{service.index.manifest.build_dir}"' in text
    assert re.search(r"^newsqa_slack_events_deduplicated_total 0\.0$", text, re.M)
    assert re.search(r"^newsqa_ready 1\.0$", text, re.M)
    # the staff page's answers count as well (they did not: the page asks the service itself)
    client.get("/", params={"q": QUESTION})
    again = client.get("/metrics").text
    assert re.search(r'^newsqa_answers_total\{result="answered"\} 2\.0$', again, re.M)


# --- logs ----------------------------------------------------------------------------------------------------------


def records(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == name]


def test_questions_are_logged_as_a_keyed_hash_not_as_text(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "What did Pakistan demand from my neighbour Jane Roe?"
    with caplog.at_level(logging.INFO):
        client.get("/ask", params={"q": secret}, headers={"X-Request-ID": "req-42"})
        client.get("/ask", params={"q": secret})
    ours = [r for r in caplog.records if r.name.startswith(("newsqa", "uvicorn"))]  # not the test's HTTP client
    assert all("Jane" not in r.getMessage() and "Jane" not in str(r.__dict__) for r in ours)
    asked = [r for r in records(caplog, "newsqa.api") if r.getMessage() in ("answered", "abstained")]
    assert len(asked) == 2
    first = asked[0].__dict__
    assert first["question_chars"] == len(secret)
    assert re.fullmatch(r"[0-9a-f]{16}", first["question_hash"])
    assert first["question_hash"] == asked[1].__dict__["question_hash"]  # repeats can be counted
    assert all(re.fullmatch(r"[\w.-]+:\d+-\d+", q) for q in first["passages"])
    access = records(caplog, "newsqa.access")
    assert any(r.__dict__["path"] == "/ask" and r.__dict__["status"] == 200 for r in access)
    assert all("?" not in r.getMessage() for r in access)  # no query strings in the access log


def test_raw_questions_only_when_asked_for(
    settings: Settings, service: QAService, caplog: pytest.LogCaptureFixture
) -> None:
    with app_client(settings, service, rate_limit="off", log_questions=True) as client, caplog.at_level(logging.INFO):
        client.post("/ask", json={"question": QUESTION})
    [asked] = [r for r in records(caplog, "newsqa.api") if r.getMessage() == "answered"]
    assert asked.__dict__["question"] == QUESTION


def test_json_log_lines_carry_the_request_id(settings: Settings, service: QAService) -> None:
    from app.logs import configure_logging

    stream: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            stream.append(self.format(record))

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging(settings.model_copy(update={"log_format": "json"}))
        handler = root.handlers[0]
        capture = Capture()
        capture.setFormatter(handler.formatter)
        for log_filter in handler.filters:
            capture.addFilter(log_filter)
        root.handlers = [capture]
        with app_client(settings, service, rate_limit="off") as client:
            client.post("/ask", json={"question": QUESTION}, headers={"X-Request-ID": "trace-7"})
    finally:
        root.handlers, level = saved
        root.setLevel(level)
    import json

    lines = [json.loads(line) for line in stream]
    answered = [line for line in lines if line["message"] == "answered"]
    assert answered and answered[0]["request_id"] == "trace-7" and answered[0]["level"] == "INFO"
    assert "question" not in answered[0] and answered[0]["question_hash"]


# --- readiness while draining, OpenAPI -----------------------------------------------------------------------------


def test_readyz_is_503_while_draining(client: TestClient) -> None:
    # what the SIGTERM handler does (tested for real in test_faults)
    state_of(cast(Starlette, client.app)).runtime.draining = True
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["status"] == "draining"
    assert client.get("/healthz").status_code == 200


def test_openapi_declares_the_guard_errors(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for method in ("get", "post"):
        assert {"413", "422", "429", "503"} <= set(paths["/ask"][method]["responses"])
    assert "/metrics" not in paths


@pytest.mark.e2e
def test_guards_hold_over_a_real_uvicorn(settings: Settings, service: QAService) -> None:
    from tests.support import running_uvicorn

    limited = {"reload_seconds": 0, "rate_limit": "2/minute", "admin_api_key": SecretStr("the-admin")}
    app = create_app(settings.model_copy(update=limited), service=service)
    with running_uvicorn(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/ask", params={"q": QUESTION}).status_code == 200
        assert http.get("/ask", params={"q": QUESTION}).status_code == 200
        refused = http.get("/ask", params={"q": QUESTION})
        assert refused.status_code == 429 and refused.headers["retry-after"]
        # the admin key has a bucket of its own (a made-up key would be limited with this address)
        big = http.post("/ask", content=b"x" * (70 * 1024), headers={**JSON, "X-API-Key": "the-admin"})
        assert big.status_code == 413 and big.json()["error"] == "payload_too_large"


def test_requests_past_the_concurrency_limit_are_shed_at_once() -> None:
    """The middleware alone, around a stand-in app that holds its request until released: what matters here is
    the counting, so a blocking fake is the honest way to keep one request in flight."""
    import asyncio

    from app.api.guards import ConcurrencyLimitMiddleware

    release = asyncio.Event()
    shed: list[int] = []

    async def slow_app(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    guarded = ConcurrencyLimitMiddleware(slow_app, limit=1, on_shed=lambda: shed.append(1))

    async def call(path: str) -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: Any) -> None:
            sent.append(message)

        await guarded({"type": "http", "path": path, "method": "GET", "headers": []}, receive, send)
        return sent

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        first = asyncio.create_task(call("/ask"))
        await asyncio.sleep(0.01)
        second = await call("/ask")  # refused while the first is in flight
        probe = asyncio.create_task(call("/healthz"))  # probes are never shed (it waits like any request)
        await asyncio.sleep(0.01)
        release.set()
        return await first, second, await probe

    first, second, probe = asyncio.run(scenario())
    assert first[0]["status"] == 200 and probe[0]["status"] == 200
    assert second[0]["status"] == 503
    assert (b"retry-after", b"1") in second[0]["headers"]
    assert b'"error": "overloaded"' in second[1]["body"]
    assert shed == [1] and guarded.in_flight == 0


def test_questions_are_answered_by_a_pool_of_the_configured_size(settings: Settings, service: QAService) -> None:
    """Sync routes run in anyio's default pool; its size is NEWSQA_WORKER_THREADS, not anyio's forty."""
    import anyio.to_thread

    with app_client(settings, service, worker_threads=3) as client:
        assert client.post("/ask", json={"question": "Who mediated the talks?"}).status_code == 200
        assert client.portal is not None
        tokens = client.portal.call(lambda: anyio.to_thread.current_default_thread_limiter().total_tokens)
    assert tokens == 3
    with pytest.raises(ValidationError):
        get_settings(worker_threads=0)

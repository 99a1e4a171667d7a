"""Property-based fuzzing of the whole HTTP API against its own OpenAPI schema (schemathesis), and of the chat
endpoints with unsigned, mis-signed and oversized bodies (hypothesis): never a 5xx, always the declared shape."""

from __future__ import annotations

import hashlib
import hmac
import re
import shutil
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis.checks import positive_data_acceptance
from schemathesis.core.result import Ok

from app.api.app import create_app
from app.api.deps import state_of
from app.config import get_settings
from app.embed.reference import Embedder
from app.index.encoders import Encoders
from app.service import QAService
from tests.support import ARTICLE

ADMIN_KEY = "fuzz-admin-key"
SLACK_SECRET = "fuzz-signing-secret"
MM_TOKEN = "fuzz-mattermost-token"
BODY_CAP = 64 * 1024


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[FastAPI]:
    """The full app (admin, Slack, Mattermost on) over its own copy of the corpus: the fuzzer may add briefs."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "corpus").mkdir()
    shutil.copy(ARTICLE, root / "corpus" / ARTICLE.name)
    settings = get_settings(
        corpus_dir=root / "corpus",
        index_dir=root / "index",
        reload_seconds=0,
        rate_limit="off",
        admin_api_key=SecretStr(ADMIN_KEY),
        slack_signing_secret=SecretStr(SLACK_SECRET),
        slack_bot_token=SecretStr("xoxb-fuzz"),
        slack_api_url="http://127.0.0.1:9/api/",  # nothing listens: a reply attempt fails fast, in the background
        mattermost_token=SecretStr(MM_TOKEN),
        max_upload_bytes=16 * 1024,
    )
    yield create_app(settings, service=QAService.load(settings, encoders=Encoders(embedder)))


def operations(app: FastAPI) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    results = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in results), results  # every operation of the schema loads
    return [result.ok() for result in results if isinstance(result, Ok)]


# What the service refuses (422) that its schema cannot say: an order between two fields, what a text means
# once parsed. Everything else schema-valid must be accepted (schemathesis's positive_data_acceptance, here
# with these exceptions, each matched on the 422's message).
UNSTATABLE = (
    r"published_from is after published_to",  # an order between two fields
    r"no sentence to quote",  # a brief that is only a title: known once it is parsed
    r"has no (article )?text|no article text",  # HTML without an article, or text that is only markup or front matter
    r"invalid metadata",  # front matter inside the text, validated once parsed out of it
    r"characters long; the limit is",  # a question under 500 characters that NFKC makes longer
    r"not UTF-8 text",  # an uploaded file is bytes in the schema; the service reads text
    r"unsupported file type",  # the upload's file name must end in .txt, .md or .html
)


def test_the_api_never_fails_and_keeps_its_contract(fuzzed_app: FastAPI) -> None:
    """Every operation of the app's own OpenAPI schema, with generated valid and invalid inputs: no 5xx,
    responses match the schema (status codes, content types, bodies), invalid data is refused with a 4xx.

    Schema-valid requests must be accepted (2xx, or 401/404/409 for credentials and ids), except for the
    rules in UNSTATABLE, which JSON Schema cannot express (matched on the 422's message).

    Write routes get the admin key half the time (chosen from the case's own data, so runs repeat), so the
    fuzzer reaches the document code and not only the 401.
    """
    seen: list[str] = []
    for operation in operations(fuzzed_app):
        seen.append(f"{operation.method.upper()} {operation.path}")

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
        )
        def check(case: Any) -> None:
            seed = zlib.crc32((repr(case.path_parameters) + repr(case.query) + repr(case.body)).encode())
            headers = {"X-API-Key": ADMIN_KEY} if seed % 2 else {}
            response = case.call(headers=headers)
            case.validate_response(response, excluded_checks=[positive_data_acceptance])
            if case.meta.generation.mode.is_positive and response.status_code == 422:
                # schema-valid data is accepted, except for the rules a JSON Schema cannot state
                message = response.json()["message"]
                assert any(re.search(rule, message) for rule in UNSTATABLE), (case.as_curl_command(), message)

        check()
    assert {"POST /ask", "GET /ask", "POST /documents", "DELETE /documents/{doc_id}", "POST /slack/events"} <= set(
        seen
    )


# --- chat endpoints: bodies nobody signed ---------------------------------------------------------------------------

CHAT_ROUTES = ("/slack/commands", "/slack/events")
signature = st.one_of(
    st.none(),
    st.text(max_size=80).map(lambda s: s.encode("ascii", "ignore").decode()),
    st.binary(min_size=32, max_size=32).map(lambda b: "v0=" + b.hex()),
)
timestamp = st.one_of(
    st.none(),
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.just(str(int(time.time()))),  # fresh, so only the signature is wrong
    st.text(alphabet="0123456789abc.-e ", max_size=20),
)


def _headers(sig: str | None, ts: str | None, content_type: str) -> dict[str, str]:
    headers = {"Content-Type": content_type}
    if sig is not None:
        headers["X-Slack-Signature"] = sig
    if ts is not None:
        headers["X-Slack-Request-Timestamp"] = ts
    return headers


@given(
    route=st.sampled_from(CHAT_ROUTES),
    body=st.binary(max_size=4096),
    sig=signature,
    ts=timestamp,
    content_type=st.sampled_from(["application/x-www-form-urlencoded", "application/json", "text/plain"]),
)
@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_unsigned_or_mis_signed_chat_requests_are_401(
    fuzzed_app: FastAPI, route: str, body: bytes, sig: str | None, ts: str | None, content_type: str
) -> None:
    with TestClient(fuzzed_app) as client:
        response = client.post(route, content=body, headers=_headers(sig, ts, content_type))
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "unauthorized"


@given(
    route=st.sampled_from(CHAT_ROUTES),
    extra=st.integers(min_value=1, max_value=4096),
    signed=st.booleans(),
    token=st.booleans(),
)
@hypothesis_settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_oversized_chat_bodies_are_413_signed_or_not(
    fuzzed_app: FastAPI, route: str, extra: int, signed: bool, token: bool
) -> None:
    body = b"text=" + b"a" * (BODY_CAP + extra)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signed:
        stamp = str(int(time.time()))
        digest = hmac.new(SLACK_SECRET.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
        headers |= {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}
    if token:
        headers["Authorization"] = f"Token {MM_TOKEN}"
    with TestClient(fuzzed_app) as client:
        response = client.post(route, content=body, headers=headers)
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "payload_too_large"


@given(token=st.text(max_size=60), text=st.text(max_size=300))
@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_wrong_mattermost_tokens_are_401(fuzzed_app: FastAPI, token: str, text: str) -> None:
    safe = token.encode("ascii", "ignore").decode().strip()
    if safe == MM_TOKEN:
        return
    with TestClient(fuzzed_app) as client:
        response = client.post(
            "/slack/commands", data={"command": "/newsqa", "text": text}, headers={"Authorization": f"Token {safe}"}
        )
    assert response.status_code == 401


def test_the_fuzzed_corpus_still_verifies(fuzzed_app: FastAPI) -> None:
    """Whatever the fuzzer added or removed, the index on disk matches its manifest and every quote is verbatim."""
    from app.index.store import read_manifest, verify_files

    service = state_of(fuzzed_app).runtime.service
    assert service is not None
    settings = service.settings
    manifest = read_manifest(settings.index_dir)
    assert manifest is not None and manifest.build_dir == service.index.manifest.build_dir
    verify_files(settings.index_dir, manifest)
    answer = service.ask("What did Pakistan demand?")
    for quote in answer.quotes:
        text = service.document(quote.doc_id).document.text
        assert text[quote.start : quote.end] == quote.text
    assert Path(settings.corpus_dir).is_dir()

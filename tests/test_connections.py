"""One client must not take the service down: hoarded sockets, slow or huge headers, overload (issue 13, 1-3).

Every test runs the server as `newsqa serve` configures it (`app.api.server.server_config`: h11 with the guards
of `app.api.connections`) on a real uvicorn on 127.0.0.1, and attacks it over real sockets. Loops are bounded.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from app.api.app import create_app
from app.api.connections import guarded_protocol
from app.api.deps import state_of
from app.api.server import server_config
from app.config import Settings, get_settings
from app.embed.reference import Embedder
from app.index.encoders import Encoders
from app.service import QAService
from tests.support import copy_folders, running_uvicorn

HEADER_TIMEOUT = 1.0


@contextlib.contextmanager
def guarded(
    settings: Settings, service: QAService, parser: str = "auto", **changes: object
) -> Iterator[tuple[str, int]]:
    """The app under the production server configuration (header deadline shortened for the test); `parser`
    "h11" tests the guards over the pure-Python parser too ("auto" is httptools here, as in production)."""
    with guarded_app(settings, service, parser, **changes) as (url, _):
        yield url, int(url.rsplit(":", 1)[1])


@contextlib.contextmanager
def guarded_app(
    settings: Settings, service: QAService, parser: str = "auto", **changes: object
) -> Iterator[tuple[str, FastAPI]]:
    """As `guarded`, with the app itself (its state can be watched)."""
    tuned = settings.model_copy(update={"header_timeout_seconds": HEADER_TIMEOUT, "keep_alive_seconds": 1, **changes})
    app = create_app(tuned, service=service)
    protocol = guarded_protocol(HEADER_TIMEOUT, state_of(app).counters, parser, tuned.max_connections)
    with running_uvicorn(app, server_config(tuned, app, log_level="warning", http=protocol)) as url:
        yield url, app


def probe(url: str) -> list[int]:
    with httpx.Client(base_url=url, timeout=10) as http:
        return [http.get("/healthz").status_code, http.get("/readyz").status_code,
                http.post("/ask", json={"question": "What did Pakistan demand?"}).status_code]


def read_all(sock: socket.socket, limit: float = 5.0) -> bytes:
    """Everything the server sends until it closes the connection (or `limit` seconds pass)."""
    sock.settimeout(limit)
    chunks = []
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def metrics(url: str) -> str:
    return httpx.get(f"{url}/metrics", timeout=10).text


def test_hoarded_idle_connections_do_not_stop_probes_or_questions(settings: Settings, service: QAService) -> None:
    with guarded(settings, service) as (url, port):
        hoard = [socket.create_connection(("127.0.0.1", port)) for _ in range(150)]
        try:
            assert probe(url) == [200, 200, 200]
            # the silent sockets are closed once the header deadline passes
            time.sleep(HEADER_TIMEOUT + 1.0)
            closed = sum(read_all(s, 2.0) == b"" for s in hoard[:10])
            assert closed == 10
        finally:
            for s in hoard:
                s.close()
        assert re.search(r'^newsqa_refused_connections_total\{status="408"\} (\d+)', metrics(url), re.M)


@pytest.mark.parametrize("parser", ["auto", "h11"])
def test_past_the_connection_cap_a_new_socket_gets_a_counted_json_503(
    settings: Settings, service: QAService, parser: str
) -> None:
    cap = 12
    with guarded(settings, service, parser, max_connections=cap) as (url, port):
        hoard = [socket.create_connection(("127.0.0.1", port)) for _ in range(cap)]
        try:
            time.sleep(0.2)  # the server has accepted them all
            extra = socket.create_connection(("127.0.0.1", port))
            with extra:
                refusal = read_all(extra)
            head, _, body = refusal.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 503 "), refusal
            assert b"retry-after: 1" in head.lower() and b"application/json" in head.lower()
            assert json.loads(body)["error"] == "overloaded"
        finally:
            for s in hoard:
                s.close()
        time.sleep(0.2)  # the hoard's sockets are gone: the cap has room again
        assert probe(url) == [200, 200, 200]
        assert re.search(r'^newsqa_refused_connections_total\{status="503"\} [1-9]', metrics(url), re.M)


@pytest.mark.parametrize("parser", ["auto", "h11"])
@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n",
    ],
    ids=["content-length not a number", "header without a colon", "TLS to the plain port"],
)
def test_what_the_parser_cannot_read_is_a_counted_json_400(
    settings: Settings, service: QAService, parser: str, request_bytes: bytes
) -> None:
    """Found by the outside probe: uvicorn answered these with a plain-text 400."""
    with guarded(settings, service, parser) as (url, port):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(request_bytes)
            refusal = read_all(sock)
        head, _, body = refusal.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 "), refusal
        assert b"application/json" in head.lower()
        assert json.loads(body)["error"] == "bad_request"
        assert probe(url) == [200, 200, 200]
        assert re.search(r'^newsqa_refused_connections_total\{status="400"\} [1-9]', metrics(url), re.M)


@pytest.mark.parametrize("parser", ["auto", "h11"])
def test_slow_headers_get_a_json_408_and_probes_keep_answering(
    settings: Settings, service: QAService, parser: str
) -> None:
    with guarded(settings, service, parser) as (url, port):
        slow = socket.create_connection(("127.0.0.1", port))
        try:
            request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
            started = time.monotonic()
            for byte in request:  # a byte every 50 ms: never finishes in time
                try:
                    slow.sendall(bytes([byte]))
                except (BrokenPipeError, ConnectionResetError):
                    break  # the server gave up on it, as it should
                time.sleep(0.05)
                if time.monotonic() - started > HEADER_TIMEOUT + 3:
                    break
            assert probe(url) == [200, 200, 200]
            reply = read_all(slow)
        finally:
            slow.close()
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408")
        assert b"content-type: application/json" in head
        assert json.loads(body)["error"] == "request_timeout"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(b"X-Big: " + b"a" * (1024 * 1024) + b"\r\n", id="one 1 MB header"),
        pytest.param(b"".join(b"X-H%d: v\r\n" % i for i in range(20_000)), id="20,000 headers"),
    ],
)
@pytest.mark.parametrize("parser", ["auto", "h11"])
def test_oversized_headers_are_a_json_431(settings: Settings, service: QAService, headers: bytes, parser: str) -> None:
    with guarded(settings, service, parser) as (url, port):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
            reply = read_all(sock)
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 431"), reply[:200]
        assert json.loads(body)["error"] == "headers_too_large"
        assert probe(url) == [200, 200, 200]
        assert re.search(r'^newsqa_refused_connections_total\{status="431"\} 1\.0$', metrics(url), re.M)


def test_ordinary_headers_and_a_large_body_still_pass(settings: Settings, service: QAService) -> None:
    with guarded(settings, service) as (url, _):
        headers = {f"X-Ok-{i}": "v" * 100 for i in range(40)}  # 40 headers, 4 KB: a busy proxy's worth
        with httpx.Client(base_url=url, timeout=30) as http:
            assert http.get("/healthz", headers=headers).status_code == 200
            body = json.dumps({"question": "What did Pakistan demand?", "pad": "x" * 50_000})
            response = http.post("/ask", content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 422  # read whole and refused for its unknown field, not cut off as a head


def test_idle_keep_alive_connections_are_reaped(settings: Settings, service: QAService) -> None:
    with guarded(settings, service) as (_url, port), socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        time.sleep(2.0)  # keep_alive_seconds is 1 here
        assert read_all(sock, 3.0) == b""  # closed by the server


def test_refusals_by_the_app_are_in_http_requests_total(settings: Settings, service: QAService) -> None:
    with guarded(settings, service, rate_limit="1/minute") as (url, _):
        with httpx.Client(base_url=url, timeout=10) as http:
            assert http.get("/ask", params={"q": "What did Pakistan demand?"}).status_code == 200
            refused = http.get("/ask", params={"q": "What did Pakistan demand?"})
            assert refused.status_code == 429 and refused.headers["retry-after"]
        text = metrics(url)
    assert re.search(r'^http_requests_total\{.*handler="/ask".*status="429"\} 1\.0$', text, re.M), text


def long_brief(n: int, topic: str) -> str:
    """A brief of n ordinary sentences (embedding it takes seconds on two cores)."""
    sentences = " ".join(
        f"The {topic} council met for session {i} and discussed budget line {i * 7} with {i % 13 + 2} members."
        for i in range(n)
    )
    return f"{topic.title()} Council Sessions\n\n{sentences}\n"


@pytest.mark.parametrize("write_process", [True, False], ids=["writer-process", "writer-thread"])
def test_questions_keep_being_answered_while_writes_queue(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, article_index: Path, write_process: bool
) -> None:
    """The probe: one large add plus one small add stopped /ask for minutes (the second writer blocked a
    question thread on the update lock). Now writes wait in the event loop and run in the writer process:
    every question asked while the large add runs is answered before that add finishes."""
    root = copy_folders(article_index, tmp_path_factory.mktemp("writes"))
    settings = get_settings(corpus_dir=root / "corpus", index_dir=root / "index", reload_seconds=0,
                            admin_api_key=SecretStr("the-admin"), rate_limit="off", worker_threads=2,
                            write_process=write_process)
    service = QAService.load(settings, encoders=Encoders(embedder))
    admin = {"X-API-Key": "the-admin"}
    finished: dict[str, float] = {}

    def add(url: str, doc_id: str, text: str) -> None:
        with httpx.Client(base_url=url, timeout=600) as http:
            response = http.post("/documents", json={"doc_id": doc_id, "text": text}, headers=admin)
            assert response.status_code == 201, response.text
        finished[doc_id] = time.monotonic()

    with guarded_app(settings, service) as (url, app):
        writer = state_of(app).writer
        large = threading.Thread(target=add, args=(url, "large", long_brief(1500, "harbour")))
        large.start()
        for _ in range(400):  # until the large add is under way (bounded: 20 s)
            if writer.busy:
                break
            time.sleep(0.05)
        assert writer.busy, "the large add never started"
        small = threading.Thread(target=add, args=(url, "small", long_brief(3, "river")))
        small.start()
        time.sleep(0.2)  # the small add is now waiting for the large one
        answered: list[float] = []
        with httpx.Client(base_url=url, timeout=600) as http:
            for _ in range(6):
                assert http.post("/ask", json={"question": "What did Pakistan demand?"}).status_code == 200
                assert http.get("/documents").status_code == 200
                answered.append(time.monotonic())
        large.join(timeout=600)
        small.join(timeout=600)
    assert set(finished) == {"large", "small"}
    assert max(answered) < finished["large"] < finished["small"]  # questions did not wait for the writes


@pytest.mark.e2e
@pytest.mark.parametrize("parser", ["auto", "h11"])
def test_a_request_cut_off_by_the_graceful_shutdown_timeout_is_a_json_503(
    settings: Settings, service: QAService, parser: str
) -> None:
    """A body that trickles in past the shutdown deadline: its task is cancelled; the client gets a JSON 503
    with Retry-After (before: uvicorn's plain-text 500)."""
    tuned = settings.model_copy(update={"graceful_timeout_seconds": 1, "drain_seconds": 0})
    app = create_app(tuned, service=service)
    protocol = guarded_protocol(10, state_of(app).counters, parser)
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    import uvicorn

    server = uvicorn.Server(server_config(tuned, app, log_level="critical", http=protocol))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    for _ in range(600):
        if server.started:
            break
        time.sleep(0.05)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(
            b"POST /ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"
            b'{"question": '
        )
        time.sleep(0.3)  # the request is in the app, waiting for the rest of its body
        server.should_exit = True  # what SIGTERM does once the drain is over
        reply = read_all(client, limit=15)
    thread.join(timeout=30)
    listening.close()
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503"), reply[:300]
    assert re.search(rb"(?im)^retry-after: 1\r?$", head) and re.search(rb"(?im)^content-type: application/json", head)
    assert json.loads(body)["error"] == "shutting_down"
    assert state_of(app).counters.refused_connections.get(503, 0) >= 1

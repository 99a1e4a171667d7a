"""The shipped front-proxy configuration (docs/deploy/nginx-newsqa.conf), run by Debian's nginx in front of
a real newsqa on 127.0.0.1: questions pass, probes answer under attack, slow and huge headers and floods are
refused as JSON with Retry-After. Only the two ports in the file are rewritten for the test."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.api.app import create_app
from app.api.server import server_config
from app.config import PROJECT_ROOT, Settings
from app.service import QAService
from tests.support import free_port, running_uvicorn

NGINX = Path("/usr/sbin/nginx")
SITE = PROJECT_ROOT / "docs" / "deploy" / "nginx-newsqa.conf"


@contextlib.contextmanager
def nginx_in_front(upstream: int, folder: Path) -> Iterator[str]:
    """nginx (master in the foreground, one worker) with the shipped site, proxying to `upstream`."""
    if not NGINX.exists():
        pytest.fail(f"the front-proxy tests need Debian's nginx at {NGINX}: run `make test` (its `proxy` target "
                    "installs it) or `apt-get install nginx`", pytrace=False)
    port = free_port()
    site = SITE.read_text(encoding="utf-8")
    site = site.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream};")
    site = site.replace("listen 127.0.0.1:8080;", f"listen 127.0.0.1:{port};")
    assert f"127.0.0.1:{upstream}" in site and f"127.0.0.1:{port}" in site
    for name in ("logs", "temp"):
        (folder / name).mkdir(exist_ok=True)
    (folder / "site.conf").write_text(site, encoding="utf-8")
    (folder / "nginx.conf").write_text(
        f"""daemon off;
worker_processes 1;
error_log {folder}/logs/error.log warn;
pid {folder}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {folder}/temp/body;
    proxy_temp_path {folder}/temp/proxy;
    fastcgi_temp_path {folder}/temp/fastcgi;
    uwsgi_temp_path {folder}/temp/uwsgi;
    scgi_temp_path {folder}/temp/scgi;
    include {folder}/site.conf;
}}
""",
        encoding="utf-8",
    )
    process = subprocess.Popen([str(NGINX), "-p", str(folder), "-c", str(folder / "nginx.conf")],
                               stderr=subprocess.PIPE)
    try:
        for _ in range(200):  # until it listens (bounded: 10 s)
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else "nginx exited"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def proxied(settings: Settings, service: QAService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # the proxy's limits are what is tested here; the service trusts the proxy's X-Forwarded-For
    tuned = settings.model_copy(update={"rate_limit": "off", "trusted_proxies": "127.0.0.1"})
    app = create_app(tuned, service=service)
    upstream = free_port()
    config = server_config(tuned.model_copy(update={"port": upstream}), app, log_level="warning")
    with running_uvicorn(app, config) as url, nginx_in_front(int(url.rsplit(":", 1)[1]),
                                                             tmp_path_factory.mktemp("nginx")) as front:
        yield front


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_questions_and_probes_pass_through(proxied: str, article_text: str) -> None:
    with httpx.Client(base_url=proxied, timeout=30) as http:
        assert http.get("/healthz").status_code == 200
        assert http.get("/readyz").json()["status"] == "ready"
        body = http.post("/ask", json={"question": "What did Pakistan demand?"}).json()
        assert body["answered"] and all(article_text[q["start"] : q["end"]] == q["text"] for q in body["quotes"])
        refused = http.post("/ask", json={"question": ""})
        assert refused.status_code == 422 and refused.json()["error"] == "invalid_question"  # the app's own


def test_a_flood_from_one_address_is_a_json_429_and_probes_still_answer(proxied: str) -> None:
    time.sleep(3)  # let the bucket refill after the other tests
    with httpx.Client(base_url=proxied, timeout=30) as http:
        codes = [http.get("/documents").status_code for _ in range(120)]
        assert codes.count(429) > 0 and codes.count(200) >= 40
        refused = http.get("/documents")
        if refused.status_code == 429:
            assert refused.json()["error"] == "rate_limited" and refused.headers["retry-after"] == "1"
        assert [http.get("/healthz").status_code for _ in range(30)] == [200] * 30  # probes are never limited


def test_hoarded_connections_do_not_stop_probes(proxied: str) -> None:
    hoard = [socket.create_connection(("127.0.0.1", port_of(proxied))) for _ in range(150)]
    try:
        with httpx.Client(base_url=proxied, timeout=30) as http:
            assert http.get("/healthz").status_code == 200
            assert http.get("/readyz").status_code == 200
    finally:
        for sock in hoard:
            sock.close()


def test_slow_headers_are_cut_off_by_the_proxy(proxied: str) -> None:
    with socket.create_connection(("127.0.0.1", port_of(proxied))) as slow:
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        slow.settimeout(15)
        started = time.monotonic()
        reply = b""
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := slow.recv(65536):
                reply += chunk
        waited = time.monotonic() - started
    assert waited < 14  # closed by client_header_timeout (5 s), not left open
    assert reply == b"" or b"408" in reply.split(b"\r\n", 1)[0]


def test_oversized_headers_are_refused_as_json(proxied: str) -> None:
    with httpx.Client(base_url=proxied, timeout=30) as http:
        response = http.get("/healthz", headers={"X-Big": "a" * 20_000})
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"

"""A running server's writes in a writer process of its own (issue 13, item 5: writes must not freeze questions).

Real uvicorn on 127.0.0.1, a real spawned writer process with the real ONNX encoder, real SIGKILL; loops bounded.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from app.api.app import create_app
from app.api.deps import state_of
from app.api.jobs import JobCancelledError
from app.api.writer import Writes, _Gate
from app.config import PROJECT_ROOT, get_settings
from app.embed.reference import Embedder
from app.index.encoders import Encoders
from app.index.store import read_manifest, verify_files
from app.service import QAService
from tests.briefs_generator import generate_briefs
from tests.support import copy_folders, free_port, running_uvicorn

KEY = "writer-admin-key"
ADMIN = {"X-API-Key": KEY}


@dataclass
class Live:
    http: httpx.Client
    root: Path
    writer: Writes


@pytest.fixture
def live(article_index: Path, tmp_path: Path, embedder: Embedder) -> Iterator[Live]:
    root = copy_folders(article_index, tmp_path)
    settings = get_settings(
        corpus_dir=root / "corpus", index_dir=root / "index", admin_api_key=SecretStr(KEY), reload_seconds=0,
        rate_limit="off", max_brief_sentences=3000, max_upload_bytes=4 * 1024 * 1024,
    )
    assert settings.write_process, "the writer process is the default"
    service = QAService.load(settings, encoders=Encoders(embedder))
    app = create_app(settings, service=service)
    with running_uvicorn(app) as url, httpx.Client(base_url=url, timeout=120) as http:
        yield Live(http, root, state_of(app).writer)


def poll(http: httpx.Client, job_id: str, until: set[str], seconds: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        state: dict[str, Any] = http.get(f"/jobs/{job_id}", headers=ADMIN).json()
        if state["status"] in until:
            return state
        assert time.monotonic() < deadline, state
        time.sleep(0.05)


BRIEF = ("Harbour ferry fares rise\n\nThe Lindqvist harbour ferry will charge 4.20 euros per crossing from March. "
         "The operator said fuel costs drove the rise.")


@pytest.mark.e2e
def test_writes_run_in_the_writer_process_and_every_question_sees_them(live: Live) -> None:
    http, writer = live.http, live.writer
    assert writer.process is not None and writer.process.pid is None  # started by the first write
    added = http.post("/documents", json={"doc_id": "ferry-fares", "text": BRIEF}, headers=ADMIN)
    assert added.status_code == 201 and added.json()["status"] == "added", added.text
    pid = writer.process.pid
    assert pid is not None and pid != os.getpid()
    # the server loaded the writer's build: the brief is listed and quoted at once
    assert http.get("/documents/ferry-fares").status_code == 200
    answer = http.post("/ask", json={"question": "how much will a ferry crossing cost"}).json()
    assert answer["quotes"][0]["doc_id"] == "ferry-fares" and "4.20 euros" in answer["quotes"][0]["text"]
    again = http.post("/documents", json={"doc_id": "ferry-fares", "text": BRIEF}, headers=ADMIN)
    assert again.status_code == 200 and again.json()["status"] == "unchanged"
    # an error raised in the writer process comes back as the same JSON error
    missing = http.delete("/documents/no-such-brief", headers=ADMIN)
    assert missing.status_code == 404 and missing.json()["error"] == "document_not_found"
    removed = http.delete("/documents/ferry-fares", headers=ADMIN)
    assert removed.status_code == 200 and removed.json()["status"] == "removed"
    assert http.get("/documents/ferry-fares").status_code == 404
    assert not (live.root / "corpus" / "ferry-fares.txt").exists()
    assert writer.process.pid == pid  # one writer process, kept


@pytest.mark.e2e
def test_a_writer_killed_during_an_add_changes_nothing_and_the_next_write_starts_another(live: Live) -> None:
    http, writer = live.http, live.writer
    assert writer.process is not None
    build_before = http.get("/readyz").json()["build"]
    text = "\n".join(b.text for b in generate_briefs(200, seed=11))
    job = http.post("/documents", params={"async": "true"}, json={"text": text, "doc_id": "doomed"}, headers=ADMIN)
    assert job.status_code == 202, job.text
    job_id = job.json()["job_id"]
    deadline = time.monotonic() + 300
    while True:  # until the writer is embedding the brief: its corpus files are written by then
        state = http.get(f"/jobs/{job_id}", headers=ADMIN).json()
        if state["status"] == "running" and state["embedded"] > 0:
            break
        assert state["status"] in ("queued", "running") and time.monotonic() < deadline, state
        time.sleep(0.02)
    pid = writer.process.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    final = poll(http, job_id, {"done", "failed", "cancelled"})
    assert final["status"] == "failed" and final["error"]["error"] == "index_write_failed", final
    assert "nothing changed" in final["error"]["message"]
    assert not (live.root / "corpus" / "doomed.txt").exists()  # its files were put back (there were none)
    assert http.get("/documents/doomed").status_code == 404
    assert http.get("/readyz").json()["build"] == build_before  # the last good build serves
    assert http.post("/ask", json={"question": "Who mediated the talks?"}).status_code == 200
    added = http.post("/documents", json={"doc_id": "ferry-fares", "text": BRIEF}, headers=ADMIN)
    assert added.status_code == 201, added.text
    assert writer.process.pid not in (None, pid)  # a new writer process
    assert http.get("/documents/ferry-fares").status_code == 200


def test_the_cancellation_gate_stops_an_add_before_its_build_and_refuses_after() -> None:
    """The two sides of `_Gate` in one process (the shared byte works the same across two: the jobs tests and
    the test above drive it through the writer process)."""
    gate = _Gate(multiprocessing.get_context("spawn").Value("b", 0))
    gate.reset()
    gate.checkpoint()  # nothing asked: goes on
    assert gate.request_cancel() is True
    with pytest.raises(JobCancelledError):
        gate.checkpoint()
    with pytest.raises(JobCancelledError):
        gate.enter_writing()  # a cancellation asked for before the build is written wins
    gate.reset()
    gate.enter_writing()
    assert gate.request_cancel() is False  # past the embeddings: too late
    gate.checkpoint()


def _children_of(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.e2e
def test_a_server_killed_during_an_add_leaves_no_half_visible_brief(article_index: Path, tmp_path: Path) -> None:
    """`kill -9` of a real `newsqa serve` while its writer process embeds an add: the add was never
    acknowledged; the orphaned writer ends by itself, and the next start serves a verified index in which the
    brief is either whole or absent, in agreement with the corpus folder after its catch-up."""
    root = copy_folders(article_index, tmp_path)
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NEWSQA_CORPUS_DIR": str(root / "corpus"),
           "NEWSQA_INDEX_DIR": str(root / "index"), "NEWSQA_ADMIN_API_KEY": KEY, "NEWSQA_RATE_LIMIT": "off",
           "NEWSQA_RELOAD_SECONDS": "0", "NEWSQA_MAX_BRIEF_SENTENCES": "3000",
           "NEWSQA_MAX_UPLOAD_BYTES": str(4 * 1024 * 1024)}
    url = f"http://127.0.0.1:{port}"

    def start() -> subprocess.Popen[bytes]:
        log = (root / "server.log").open("ab")
        return subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", str(port)], cwd=PROJECT_ROOT,
                                env=env, stdout=log, stderr=subprocess.STDOUT)

    def ready(http: httpx.Client, server: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 180
        while True:
            with contextlib.suppress(httpx.TransportError):
                if http.get("/readyz").status_code == 200 and not http.get("/readyz").json().get("catching_up"):
                    return
            assert server.poll() is None and time.monotonic() < deadline, "the server did not get ready"
            time.sleep(0.1)

    server = start()
    writers: list[int] = []
    try:
        with httpx.Client(base_url=url, timeout=120) as http:
            ready(http, server)
            text = "\n".join(b.text for b in generate_briefs(200, seed=41))
            job = http.post("/documents", params={"async": "true"}, json={"doc_id": "doomed", "text": text},
                            headers=ADMIN).json()
            deadline = time.monotonic() + 120
            while http.get(f"/jobs/{job['job_id']}", headers=ADMIN).json()["embedded"] == 0:
                assert time.monotonic() < deadline, "the add never started embedding"
                time.sleep(0.02)
            writers = [p for p in _children_of(server.pid) if "resource_tracker" not in
                       Path(f"/proc/{p}/cmdline").read_bytes().decode(errors="replace")]
            assert writers, "no writer process"
            server.send_signal(signal.SIGKILL)
            server.wait(30)
        deadline = time.monotonic() + 120
        while any(_alive(p) for p in writers):  # orphaned, the writer ends at its next word to the server
            assert time.monotonic() < deadline, "the orphaned writer process never ended"
            time.sleep(0.1)
        server = start()
        with httpx.Client(base_url=url, timeout=120) as http:
            ready(http, server)
            in_index = http.get("/documents/doomed").status_code == 200
            assert http.post("/ask", json={"question": "Who mediated the talks?"}).status_code == 200
        in_corpus = (root / "corpus" / "doomed.txt").exists()
        assert in_index == in_corpus  # whole and in both, or in neither
        manifest = read_manifest(root / "index")
        assert manifest is not None
        verify_files(root / "index", manifest)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

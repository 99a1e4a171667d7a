"""Faults injected for real: SIGKILL mid-build and mid-add, a full or read-only disk, updates under concurrent
questions over HTTP, and SIGTERM with a request in flight. After each, nothing half-written is ever served."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from app.api.app import create_app
from app.config import PROJECT_ROOT, Settings, get_settings
from app.embed.reference import Embedder
from app.index.encoders import Encoders
from app.index.store import read_manifest, verify_files
from app.ingest.sources import BriefMetadata, IncomingBrief, make_brief
from app.models import CitedPassage, Quote
from app.service import QAService
from tests.briefs_generator import generate_briefs
from tests.support import DOC_ID, copy_folders, free_port, running_uvicorn, settings_in

KEY = "fault-admin-key"
ADMIN = {"X-API-Key": KEY}


@pytest.fixture
def root(article_index: Path, tmp_path: Path) -> Path:
    return copy_folders(article_index, tmp_path)


def newsqa(root: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NEWSQA_RELOAD_SECONDS": "0"}
    command = [sys.executable, "-m", "app", "--corpus-dir", str(root / "corpus"), "--index-dir", str(root / "index")]
    pipe = subprocess.PIPE
    return subprocess.Popen([*command, *args], cwd=PROJECT_ROOT, env=env, stdout=pipe, stderr=pipe)


def kill_when(process: subprocess.Popen[bytes], ready: Callable[[], bool], seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        assert time.monotonic() < deadline, "the moment to kill never came"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def staging(index_dir: Path) -> bool:
    return any(p.name.startswith(".staging-") for p in index_dir.iterdir())


def write_briefs(folder: Path, count: int, seed: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    ids = []
    for brief in generate_briefs(count, seed=seed, sentences_per_brief=(10, 14)):
        (folder / f"{brief.doc_id}.txt").write_text(brief.text, encoding="utf-8")
        ids.append(brief.doc_id)
    return ids


def assert_serves_verbatim(settings: Settings, embedder: Embedder) -> QAService:
    manifest = read_manifest(settings.index_dir)
    assert manifest is not None
    verify_files(settings.index_dir, manifest)
    service = QAService.load(settings, encoders=Encoders(embedder))
    for answer in service.ask_many(["What did Pakistan demand?", "Who mediated the talks?"]):
        spans: list[Quote | CitedPassage] = [*answer.quotes, *answer.passages]
        for span in spans:
            document = service.document(span.doc_id).document
            assert document.sha256 == span.sha256 and document.text[span.start : span.end] == span.text
    return service


# --- SIGKILL --------------------------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_sigkill_mid_build_leaves_the_last_good_index(root: Path, embedder: Embedder) -> None:
    settings = settings_in(root, reload_seconds=0)
    before = read_manifest(settings.index_dir)
    assert before is not None
    process = newsqa(root, "index", "--force")
    kill_when(process, lambda: staging(settings.index_dir))  # killed while the new build is being written
    assert read_manifest(settings.index_dir) == before  # the manifest still names the complete old build
    service = assert_serves_verbatim(settings, embedder)
    assert not service.index.rebuilt
    service.add_documents([_brief("ferry", "Ferry Strike Ends\nFerry crews returned to work on Monday.\n")])
    assert not staging(settings.index_dir)  # the next save cleared the killed build's leftovers


@pytest.mark.e2e
def test_sigkill_mid_add_then_retry_is_idempotent(root: Path, embedder: Embedder) -> None:
    settings = settings_in(root, reload_seconds=0)
    before = read_manifest(settings.index_dir)
    ids = write_briefs(root / "incoming", 30, seed=5)
    process = newsqa(root, "add", "--json", str(root / "incoming"))
    kill_when(process, lambda: staging(settings.index_dir) or (root / "corpus" / f"{ids[-1]}.txt").exists())
    manifest = read_manifest(settings.index_dir)
    assert manifest is not None and (manifest == before or set(manifest.corpus) >= set(ids))
    retry = newsqa(root, "add", "--json", str(root / "incoming"))
    out, err = retry.communicate(timeout=600)
    assert retry.returncode == 0, err.decode()
    statuses = {json.loads(line)["doc_id"]: json.loads(line)["status"] for line in out.decode().splitlines()}
    assert set(statuses) == set(ids) and set(statuses.values()) <= {"added", "unchanged"}
    again = newsqa(root, "add", "--json", str(root / "incoming"))
    out, _ = again.communicate(timeout=600)
    assert {json.loads(line)["status"] for line in out.decode().splitlines()} == {"unchanged"}
    service = assert_serves_verbatim(settings, embedder)
    assert set(service.bundle.documents) == {DOC_ID, *ids}


# --- a full or read-only disk ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def small_disk(where: Path, megabytes: int) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(where)], check=False)
    if result.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path, leave_bytes: int) -> None:
    stats = os.statvfs(disk)
    free = stats.f_bavail * stats.f_frsize
    with (disk / "filler").open("wb") as handle:
        handle.write(b"\0" * max(0, free - leave_bytes))


@pytest.mark.parametrize("fault", ["disk full", "read-only"])
def test_a_full_or_read_only_disk_fails_the_write_and_keeps_serving(
    root: Path, tmp_path: Path, embedder: Embedder, fault: str
) -> None:
    with small_disk(tmp_path / "disk", 200) as disk:
        shutil.copytree(root / "index", disk / "index", symlinks=False)
        settings = get_settings(
            corpus_dir=root / "corpus", index_dir=disk / "index", reload_seconds=0, admin_api_key=SecretStr(KEY)
        )
        service = QAService.load(settings, encoders=Encoders(embedder))
        before = read_manifest(settings.index_dir)
        corpus_before = {p.name: p.read_bytes() for p in (root / "corpus").iterdir()}
        if fault == "disk full":
            fill(disk, leave_bytes=64 * 1024)
        else:
            subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        with TestClient(create_app(settings, service=service)) as client:
            brief = {"text": "Ferry Strike Ends\nFerry crews returned to work on Monday.\n", "doc_id": "ferry"}
            response = client.post("/documents", json=brief, headers=ADMIN)
            assert response.status_code == 503, response.text
            assert response.json()["error"] == "index_write_failed"
            assert "nothing changed" in response.json()["message"]
            assert client.get("/readyz").status_code == 200
            answer = client.post("/ask", json={"question": "What did Pakistan demand?"}).json()
            assert answer["answered"] and all(q["doc_id"] == DOC_ID for q in answer["quotes"])
        assert read_manifest(settings.index_dir) == before
        assert {p.name: p.read_bytes() for p in (root / "corpus").iterdir()} == corpus_before
        if fault == "read-only":
            subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
        else:
            (disk / "filler").unlink()
        assert QAService.load(settings, encoders=Encoders(embedder)).add_documents(
            [_brief("ferry", "Ferry Strike Ends\nFerry crews returned to work on Monday.\n")]
        )[0].status == "added"  # the same write succeeds once there is room


def _brief(doc_id: str, text: str) -> IncomingBrief:
    given = BriefMetadata.model_validate({"doc_id": doc_id})
    return make_brief(text, "text", given, None, doc_id, dt.datetime.now(dt.UTC))


# --- updates under concurrent questions, over HTTP ------------------------------------------------------------------


@pytest.mark.e2e
def test_concurrent_questions_during_adds_and_removes_see_one_version(root: Path, embedder: Embedder) -> None:
    settings = settings_in(root, reload_seconds=0, admin_api_key=SecretStr(KEY), rate_limit="off")
    service = QAService.load(settings, encoders=Encoders(embedder))
    versions: dict[str, str] = {d.document.sha256: d.document.text for d in service.bundle.documents.values()}
    texts = [
        f"Harbour Notice {n}\nThe harbour will reopen on {n + 1} March after repairs, officials said.\n"
        for n in range(6)
    ]
    for text in texts:
        versions[hashlib.sha256(text.encode()).hexdigest()] = text
    problems: list[str] = []
    done = threading.Event()
    with running_uvicorn(create_app(settings, service=service)) as url:

        def ask() -> None:
            with httpx.Client(base_url=url, timeout=60) as http:
                while not done.is_set():
                    body = http.post("/ask", json={"question": "When will the harbour reopen?"}).json()
                    for span in body["quotes"] + body["passages"]:
                        text = versions.get(span["sha256"])
                        if text is None or text[span["start"] : span["end"]] != span["text"]:
                            problems.append(json.dumps(span)[:300])

        askers = [threading.Thread(target=ask) for _ in range(4)]
        for thread in askers:
            thread.start()
        with httpx.Client(base_url=url, timeout=120) as http:
            for text in texts:
                added = http.post("/documents", json={"text": text, "doc_id": "harbour"}, headers=ADMIN)
                assert added.status_code == 201, added.text
            assert http.delete("/documents/harbour", headers=ADMIN).status_code == 200
        done.set()
        for thread in askers:
            thread.join(timeout=60)
    assert not problems, problems[:3]


# --- SIGTERM with a request in flight ----------------------------------------------------------------------------


@pytest.mark.e2e
def test_sigterm_turns_readiness_off_then_finishes_in_flight_requests(root: Path, embedder: Embedder) -> None:
    port = free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "NEWSQA_CORPUS_DIR": str(root / "corpus"),
        "NEWSQA_INDEX_DIR": str(root / "index"),
        "NEWSQA_ADMIN_API_KEY": KEY,
        "NEWSQA_RATE_LIMIT": "off",
        "NEWSQA_DRAIN_SECONDS": "3",
        "NEWSQA_RELOAD_SECONDS": "0",
    }
    log = (root / "server.log").open("wb")  # a file, not a pipe: a full pipe would stall the server
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=120) as http:
            deadline = time.monotonic() + 120
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if http.get("/readyz").status_code == 200:
                        break
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.1)
            long_brief = "\n".join(b.text for b in generate_briefs(25, seed=9))  # a few seconds of embedding
            result: dict[str, httpx.Response] = {}

            def upload() -> None:
                with httpx.Client(base_url=url, timeout=300) as other:
                    result["add"] = other.post("/documents", json={"text": long_brief, "doc_id": "long"}, headers=ADMIN)

            uploading = threading.Thread(target=upload)
            uploading.start()
            time.sleep(0.5)  # the upload is being embedded
            server.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            readiness = http.get("/readyz")
            assert readiness.status_code == 503 and readiness.json()["status"] == "draining"
            assert http.get("/healthz").status_code == 200  # still alive while it drains
            uploading.join(timeout=300)
        assert result["add"].status_code == 201, result["add"].text  # the in-flight request finished
        # uvicorn re-raises the signal once it has shut down cleanly, so the exit status says "SIGTERM"
        assert server.wait(timeout=60) in (0, -signal.SIGTERM)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        log.close()
    lines = (root / "server.log").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert records and all("request_id" in r for r in records)  # the JSON logs of a real `newsqa serve`
    assert any("Finished server process" in r["message"] for r in records)  # a clean shutdown, not a kill
    manifest = read_manifest(root / "index")
    assert manifest is not None and "long" in manifest.corpus
    verify_files(root / "index", manifest)

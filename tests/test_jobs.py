"""Large adds as asynchronous jobs (issue 13, item 6): 202 and a job to poll, with progress, cancellation that
undoes the add, questions answered meanwhile, and bad briefs refused before any job exists.

Real uvicorn on 127.0.0.1, the real ONNX encoder embedding real (generated) briefs; loops are bounded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from app.api.app import create_app
from app.config import get_settings
from app.embed.reference import Embedder
from app.index.encoders import Encoders
from app.service import QAService
from tests.briefs_generator import generate_briefs
from tests.support import copy_folders, running_uvicorn

KEY = "jobs-admin-key"
ADMIN = {"X-API-Key": KEY}



@pytest.fixture
def live(article_index: Path, tmp_path: Path, embedder: Embedder) -> Iterator[tuple[httpx.Client, Path]]:
    root = copy_folders(article_index, tmp_path)
    settings = get_settings(
        corpus_dir=root / "corpus", index_dir=root / "index", admin_api_key=SecretStr(KEY), reload_seconds=0,
        rate_limit="off", max_brief_sentences=3000, max_upload_bytes=4 * 1024 * 1024,
    )
    service = QAService.load(settings, encoders=Encoders(embedder))
    with running_uvicorn(create_app(settings, service=service)) as url, httpx.Client(base_url=url, timeout=60) as http:
        yield http, root


def big_brief(count: int, seed: int) -> str:
    return "\n".join(b.text for b in generate_briefs(count, seed=seed))


def submit(http: httpx.Client, text: str, doc_id: str) -> dict[str, Any]:
    response = http.post("/documents", params={"async": "true"}, json={"text": text, "doc_id": doc_id}, headers=ADMIN)
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/jobs/{job['job_id']}"
    return job


def poll(http: httpx.Client, job_id: str, until: set[str], seconds: float = 300) -> list[dict[str, Any]]:
    """Every state seen until the job reaches one of `until`."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while True:
        state = http.get(f"/jobs/{job_id}", headers=ADMIN).json()
        seen.append(state)
        if state["status"] in until:
            return seen
        assert time.monotonic() < deadline, seen[-1]
        time.sleep(0.05)


@pytest.mark.e2e
def test_an_async_add_reports_progress_answers_questions_meanwhile_and_lands(live: tuple[httpx.Client, Path]) -> None:
    http, root = live
    # 60 briefs (~700 sentences, ~10 s of embedding): some 25 batches of 64 texts, so progress is seen between
    # start and end many times over, and questions are asked throughout
    job = submit(http, big_brief(60, seed=1), "backlog")
    assert job["status"] in ("queued", "running") and job["doc_ids"] == ["backlog"]
    asked = []
    seen = poll(http, job["job_id"], {"running", "done", "failed", "cancelled"})
    while seen[-1]["status"] == "running":
        asked.append(http.post("/ask", json={"question": "Who mediated the talks?"}).status_code)
        seen.append(http.get(f"/jobs/{job['job_id']}", headers=ADMIN).json())
        time.sleep(0.05)
    seen += poll(http, job["job_id"], {"done", "failed", "cancelled"})
    final = seen[-1]
    assert final["status"] == "done", final
    assert final["changes"] == [{"doc_id": "backlog", "status": "added", "sha256": final["changes"][0]["sha256"]}]
    assert final["embedded"] == final["to_embed"] > 0
    partial = [s["embedded"] for s in seen if s["status"] == "running"]
    assert any(0 < n < final["embedded"] for n in partial), "progress never moved between start and end"
    assert asked and set(asked) == {200}  # questions answered while it ran
    assert http.get("/documents/backlog").status_code == 200
    assert (root / "corpus" / "backlog.txt").exists()


@pytest.mark.e2e
def test_cancelling_a_running_add_undoes_it(live: tuple[httpx.Client, Path]) -> None:
    http, root = live
    build_before = http.get("/readyz").json()["build"]
    job = submit(http, big_brief(200, seed=2), "to-cancel")
    states = poll(http, job["job_id"], {"running", "done", "failed", "cancelled"})
    while states[-1]["status"] == "running" and states[-1]["embedded"] == 0:
        states = poll(http, job["job_id"], {"running", "done", "failed", "cancelled"})
        time.sleep(0.02)
    assert states[-1]["status"] == "running", "the add finished before it could be cancelled"
    cancelled = http.delete(f"/jobs/{job['job_id']}", headers=ADMIN)
    assert cancelled.status_code == 200 and cancelled.json()["cancel_requested"] is True
    final = poll(http, job["job_id"], {"done", "failed", "cancelled"})[-1]
    assert final["status"] == "cancelled" and final["error"]["error"] == "job_cancelled", final
    assert final["stage"] == "cancelled" and final["finished_at"] is not None and final["changes"] is None
    assert http.get("/documents/to-cancel").status_code == 404
    assert not (root / "corpus" / "to-cancel.txt").exists()
    assert http.get("/readyz").json()["build"] == build_before  # the last good index still serves
    again = http.delete(f"/jobs/{job['job_id']}", headers=ADMIN)
    assert again.status_code == 409 and again.json()["error"] == "job_finished"


@pytest.mark.e2e
def test_a_queued_add_cancelled_never_starts(live: tuple[httpx.Client, Path]) -> None:
    http, _ = live
    # the first add only has to outlast the next three requests (ms): 40 briefs take seconds to embed
    first = submit(http, big_brief(40, seed=3), "first")
    second = submit(http, big_brief(5, seed=4), "second")
    assert http.get(f"/jobs/{second['job_id']}", headers=ADMIN).json()["status"] == "queued"
    cancelled = http.delete(f"/jobs/{second['job_id']}", headers=ADMIN)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"  # at once, not at its turn
    final = poll(http, second["job_id"], {"done", "failed", "cancelled"})[-1]
    assert final["status"] == "cancelled" and final["started_at"] is None and final["embedded"] == 0
    assert poll(http, first["job_id"], {"done", "failed", "cancelled"})[-1]["status"] == "done"
    assert http.get("/documents/second").status_code == 404


@pytest.mark.e2e
def test_bad_briefs_are_refused_before_any_job_and_jobs_need_the_key(live: tuple[httpx.Client, Path]) -> None:
    http, _ = live
    too_long = " ".join(f"Sentence number {i} is here." for i in range(3100))
    refused = http.post("/documents", params={"async": "true"}, json={"text": too_long}, headers=ADMIN)
    assert refused.status_code == 413 and "3000" in refused.json()["message"]
    title_only = http.post("/documents", params={"async": "true"}, json={"text": "Only A Title\n"}, headers=ADMIN)
    assert title_only.status_code == 422
    assert http.get("/jobs/nope", headers=ADMIN).status_code == 404
    job = submit(http, big_brief(3, seed=5), "small")
    assert http.get(f"/jobs/{job['job_id']}").status_code == 401
    assert http.delete(f"/jobs/{job['job_id']}", headers={"X-API-Key": "wrong"}).status_code == 401
    assert poll(http, job["job_id"], {"done", "failed", "cancelled"})[-1]["status"] == "done"


def test_a_job_past_its_embeddings_or_finished_cannot_be_cancelled() -> None:
    """The job's state machine alone (a unit test: the stages are set by hand, no add runs)."""
    from app.api.errors import JobFinishedError
    from app.api.jobs import Job

    writing = Job("j1", ("a",), status="running", stage="indexing")
    with pytest.raises(JobFinishedError, match="too late"):
        writing.cancel()
    for stage in ("embedding sentences", "embedding passages", "embedding sentence tokens"):
        embedding = Job("j2", ("a",), status="running", stage=stage)
        embedding.cancel()
        assert embedding.cancel_requested and embedding.status == "running", stage  # stops at its next batch
    done = Job("j3", ("a",))
    done.end("done", changes=[("a", "added", "0" * 64)])
    with pytest.raises(JobFinishedError, match="already finished"):
        done.cancel()

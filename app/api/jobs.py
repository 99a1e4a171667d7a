"""Adds as asynchronous jobs: `POST /documents?async=true` answers 202 at once with a job to poll, follow and
cancel, instead of holding the request for as long as a large brief takes to embed.

A job runs the same `QAService.add_documents` as any add, one at a time with every other write (in the writer
process, `app.api.writer`, which reports its stages and batches back); its encoder is wrapped so that
embedding goes in batches, each one counted (progress) and each a point where a cancellation takes effect. A
cancelled add fails like any failed write: the corpus files are put back and the last good index keeps serving.
Jobs live in the one worker's memory (the service runs one worker), the most recent MAX_JOBS of them.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from app.api.errors import JobFinishedError
from app.embed.reference import Encoder, Vectors
from app.errors import NewsQAError

MAX_JOBS = 200
BATCH = 64  # texts per encoder call: how often progress moves and a cancellation is noticed

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
# the stages of a write in which a cancellation still undoes it (after them, the new build is being written)
WRITE_STAGES_BEFORE_EMBEDDED = frozenset({"queued", "parsing", "embedding sentences", "embedding passages"})


class JobCancelledError(NewsQAError):
    """Raised inside a job's write when its cancellation was asked for: the write is undone."""

    status_code = 409
    code = "job_cancelled"


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class Job:
    """One asynchronous add: what it is doing, how far it got, and how it ended."""

    job_id: str
    doc_ids: tuple[str, ...]
    status: JobStatus = "queued"
    stage: str = "queued"
    embedded: int = 0
    to_embed: int = 0
    created_at: str = field(default_factory=now)
    started_at: str | None = None
    finished_at: str | None = None
    changes: list[tuple[str, str, str]] | None = None  # (doc_id, status, sha256) once done
    error: tuple[str, str] | None = None  # (code, message) once failed
    cancel_requested: bool = False
    # set while the add runs in the writer process (app.api.writer): asks it to stop; False when it is too late
    remote_cancel: Callable[[], bool] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed", "cancelled")

    def start(self) -> bool:
        """Mark the job running, as its add begins; False when it was cancelled while it queued."""
        with self._lock:
            if self.finished:
                return False
            self.status, self.stage, self.started_at = "running", "parsing", now()
            return True

    def end(
        self, status: JobStatus, changes: list[tuple[str, str, str]] | None = None,
        error: tuple[str, str] | None = None,
    ) -> None:
        with self._lock:
            self.status, self.stage, self.finished_at = status, status, now()
            self.changes, self.error = changes, error

    def cancel(self) -> None:
        """Ask for the job to stop: a queued job ends now; a running one at its next batch of embeddings.
        JobFinishedError (409) when it has finished, or is past its embeddings and being written."""
        with self._lock:
            status, stage = self.status, self.stage
            if self.finished:
                raise JobFinishedError(f"job {self.job_id!r} has already finished ({status})")
            # in the writer process, the add itself decides (past its embeddings it refuses)
            too_late = stage not in WRITE_STAGES_BEFORE_EMBEDDED or (
                self.remote_cancel is not None and not self.remote_cancel()
            )
            if too_late:
                raise JobFinishedError(f"job {self.job_id!r} is being written ({stage}): too late to cancel")
            self.cancel_requested = True
        if status == "queued":
            self.end("cancelled", error=("job_cancelled", "the add was cancelled before it started; nothing changed"))

    def progress(self, stage: str, count: int) -> None:
        """The service's ProgressFn: the stage it entered (embedding sentences, passages, indexing)."""
        self.stage = stage

    def checkpoint(self) -> None:
        """Where a running add stops when its cancellation was asked for (the write then undoes itself)."""
        if self.cancel_requested:
            raise JobCancelledError("the add was cancelled; nothing changed")

    def embedded_batch(self, count: int) -> None:
        self.count_embedded(count)
        self.checkpoint()

    def count_embedded(self, count: int) -> None:
        with self._lock:
            self.embedded += count

    def expect(self, count: int) -> None:
        with self._lock:
            self.to_embed += count

    def watch(self, encoder: Encoder) -> Encoder:
        return WatchedEncoder(encoder, self)


class WatchingJob(Protocol):
    """What a watched encoder reports to: a job in this process, or its stand-in in the writer process."""

    def expect(self, count: int) -> None: ...

    def checkpoint(self) -> None: ...

    def embedded_batch(self, count: int) -> None: ...


class WatchedEncoder:
    """An Encoder that embeds in batches of BATCH, counting each for its job and stopping when it is cancelled.

    Questions never go through it: only the job's write uses it."""

    def __init__(self, inner: Encoder, job: WatchingJob) -> None:
        self.inner = inner
        self.job = job
        self.name = inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed_documents(self, texts: list[str], batch_size: int = 64, show_progress: bool = False) -> Vectors:
        self.job.expect(len(texts))
        self.job.checkpoint()
        parts: list[Vectors] = []
        for first in range(0, len(texts), BATCH):
            chunk = texts[first : first + BATCH]
            parts.append(self.inner.embed_documents(chunk, batch_size))
            self.job.embedded_batch(len(chunk))
        if not parts:
            return self.inner.embed_documents([], batch_size)
        out: Vectors = np.concatenate(parts)
        return out

    def embed_query(self, text: str) -> Vectors:
        return self.inner.embed_query(text)


class Jobs:
    """The registry of asynchronous adds, newest last; the oldest finished ones are dropped past MAX_JOBS."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()

    def create(self, doc_ids: tuple[str, ...]) -> Job:
        job = Job(job_id=uuid.uuid4().hex, doc_ids=doc_ids)
        with self._lock:
            self._jobs[job.job_id] = job
            while len(self._jobs) > MAX_JOBS:
                oldest = next((k for k, j in self._jobs.items() if j.finished), None)
                if oldest is None:
                    break
                del self._jobs[oldest]
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

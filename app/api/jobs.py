"""Adds as asynchronous jobs: `POST /documents?async=true` answers 202 at once with a job to poll, follow and
cancel, instead of holding the request for as long as a large brief takes to embed.

A job runs the same `QAService.add_documents` as any add, one at a time with every other write (in the writer
process, `app.api.writer`, which reports its stages and batches back); its encoder is wrapped so that
embedding goes in batches, each one counted (progress) and each a point where a cancellation takes effect. A
cancelled add fails like any failed write: the corpus files are put back and the last good index keeps serving.
Jobs live in the one worker's memory (the service runs one worker), the most recent MAX_JOBS of them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

import numpy as np
import redis
import redis.exceptions

from app.api.errors import JobFinishedError, JobNotFoundError
from app.api.shared import sync_redis, unavailable
from app.config import Settings
from app.embed.reference import Encoder, TokenVectors, Vectors
from app.errors import NewsQAError

log = logging.getLogger("newsqa.jobs")

MAX_JOBS = 200
VERDICT_SECONDS = 3.0  # how long a cancellation through another replica waits for the owner's verdict
BATCH = 64  # texts per encoder call: how often progress moves and a cancellation is noticed

T = TypeVar("T")  # what one watched encoder call returns
JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
# the stages of a write in which a cancellation still undoes it (after them, the new build is being written)
WRITE_STAGES_BEFORE_EMBEDDED = frozenset(
    {"queued", "parsing", "embedding sentences", "embedding passages", "embedding sentence tokens"}
)


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
    board: JobBoard | None = field(default=None, repr=False)  # every replica's view of the job (Redis)
    remote: bool = False  # a view of a job another replica runs (read from the board)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def publish(self) -> None:
        """Show the job's state to every replica (a no-op without a board; a failure is logged, not raised:
        the job itself goes on)."""
        if self.board is not None and not self.remote:
            self.board.publish(self)

    def cancel_asked_elsewhere(self) -> bool:
        """True when a cancellation of this job came through another replica (read from the board)."""
        return self.board is not None and not self.cancel_requested and self.board.cancel_asked(self.job_id)

    def follow_remote_cancel(self) -> None:
        """The owner's side of a cancellation asked through another replica: cancel here, or record on the board
        that it came too late (the replica that asked is waiting for that verdict)."""
        if self.cancel_asked_elsewhere():
            try:
                self.cancel()
            except JobFinishedError:
                if self.board is not None:
                    self.board.refuse_cancel(self.job_id)

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed", "cancelled")

    def start(self) -> bool:
        """Mark the job running, as its add begins; False when it was cancelled while it queued."""
        if self.cancel_asked_elsewhere():
            self.end("cancelled", error=("job_cancelled", "the add was cancelled before it started; nothing changed"))
            return False
        with self._lock:
            if self.finished:
                return False
            self.status, self.stage, self.started_at = "running", "parsing", now()
        self.publish()
        return True

    def end(
        self, status: JobStatus, changes: list[tuple[str, str, str]] | None = None,
        error: tuple[str, str] | None = None,
    ) -> None:
        with self._lock:
            self.status, self.stage, self.finished_at = status, status, now()
            self.changes, self.error = changes, error
        self.publish()

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
            if status == "queued":  # decided under the lock `start` takes, so it can never start after this
                self.status, self.stage, self.finished_at = "cancelled", "cancelled", now()
                self.error = ("job_cancelled", "the add was cancelled before it started; nothing changed")
        self.publish()

    def progress(self, stage: str, count: int) -> None:
        """The service's ProgressFn: the stage it entered (embedding sentences, passages, indexing)."""
        self.stage = stage
        self.publish()

    def checkpoint(self) -> None:
        """Where a running add stops when its cancellation was asked for, here or through another replica (the
        write then undoes itself)."""
        if self.cancel_requested or self.cancel_asked_elsewhere():
            self.cancel_requested = True
            raise JobCancelledError("the add was cancelled; nothing changed")

    def embedded_batch(self, count: int) -> None:
        self.count_embedded(count)
        self.checkpoint()

    def count_embedded(self, count: int) -> None:
        with self._lock:
            self.embedded += count
        self.publish()

    def expect(self, count: int) -> None:
        with self._lock:
            self.to_embed += count
        self.publish()

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

    def _watched(self, texts: list[str], embed: Callable[[list[str]], T]) -> list[T]:
        """`embed` over BATCH texts at a time, each batch counted for the job, which stops between batches."""
        self.job.expect(len(texts))
        self.job.checkpoint()
        parts: list[T] = []
        for first in range(0, len(texts), BATCH):
            chunk = texts[first : first + BATCH]
            parts.append(embed(chunk))
            self.job.embedded_batch(len(chunk))
        return parts

    def embed_documents(self, texts: list[str], batch_size: int = 64, show_progress: bool = False) -> Vectors:
        parts = self._watched(texts, lambda chunk: self.inner.embed_documents(chunk, batch_size))
        if not parts:
            return self.inner.embed_documents([], batch_size)
        out: Vectors = np.concatenate(parts)
        return out

    def embed_query(self, text: str) -> Vectors:
        return self.inner.embed_query(text)

    def embed_with_tokens(self, texts: list[str], batch_size: int = 64) -> tuple[Vectors, list[TokenVectors]]:
        parts = self._watched(texts, lambda chunk: self.inner.embed_with_tokens(chunk, batch_size))
        if not parts:
            return self.inner.embed_with_tokens([], batch_size)
        return np.concatenate([v for v, _ in parts]), [t for _, tokens in parts for t in tokens]


# a cancellation through another replica: refused for a finished job or one past its embeddings, else recorded
_ASK_CANCEL = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local job = cjson.decode(raw)
if job.status == 'done' or job.status == 'failed' or job.status == 'cancelled' then return 1 end
local cancellable = false
for _, stage in ipairs(ARGV) do if job.stage == stage then cancellable = true end end
if not cancellable then return 2 end
redis.call('SET', KEYS[2], '1', 'EX', redis.call('TTL', KEYS[1]))
return 3
"""
FIELDS = ("job_id", "doc_ids", "status", "stage", "embedded", "to_embed", "created_at", "started_at",
          "finished_at", "changes", "error", "cancel_requested")


class JobBoard:
    """Every replica's view of the asynchronous adds, in Redis (NEWSQA_REDIS_URL): behind a proxy, a job's
    `Location` is polled or cancelled through whichever replica the proxy picks.

    The replica that runs a job writes its state under `newsqa:job:<id>` (JSON, for JOB_SECONDS) at every change;
    any replica reads it. A cancellation through another replica is checked against that state in one script
    (finished, or past its embeddings: 409) and recorded under `newsqa:job:<id>:cancel`; the running replica sees
    it at the add's next batch (or when its turn comes, for a queued one) and undoes the add. Redis failing
    while a job runs only makes the other replicas' view stale: the job goes on."""

    JOB_SECONDS = 24 * 3600

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._ask_cancel = client.register_script(_ASK_CANCEL)

    @staticmethod
    def _key(job_id: str) -> str:
        return f"newsqa:job:{job_id}"

    @staticmethod
    def _cancel_key(job_id: str) -> str:
        return f"newsqa:job:{job_id}:cancel"

    def publish(self, job: Job) -> None:
        state = {name: getattr(job, name) for name in FIELDS}
        try:
            self.client.set(self._key(job.job_id), json.dumps(state), ex=self.JOB_SECONDS)
        except redis.exceptions.RedisError as exc:
            log.warning("job %s: its state could not be shared: %s", job.job_id, exc)

    def _fetch(self, job_id: str) -> tuple[bytes | None, bytes | None]:
        """The job's state as its owner published it, and the cancellation asked elsewhere ("1", "refused")."""
        try:
            values: list[Any] = self.client.mget([self._key(job_id), self._cancel_key(job_id)])
        except redis.exceptions.RedisError as exc:
            raise unavailable("the shared job list", exc) from exc
        return values[0], values[1]

    def _view(self, raw: bytes | None, asked: bytes | None) -> Job | None:
        """A read-only Job of another replica's, from what `_fetch` read."""
        if raw is None:
            return None
        state = json.loads(raw)
        state["doc_ids"] = tuple(state["doc_ids"])
        state["changes"] = [tuple(c) for c in state["changes"]] if state["changes"] is not None else None
        state["error"] = tuple(state["error"]) if state["error"] is not None else None
        state["cancel_requested"] = bool(state["cancel_requested"] or asked == b"1")
        return Job(**state, board=self, remote=True)

    def read(self, job_id: str) -> Job | None:
        return self._view(*self._fetch(job_id))

    def cancel_asked(self, job_id: str) -> bool:
        try:
            return self.client.get(self._cancel_key(job_id)) == b"1"
        except redis.exceptions.RedisError:
            return False  # cannot tell now: asked again at the next batch

    def refuse_cancel(self, job_id: str) -> None:
        """The owner's verdict on a cancellation asked elsewhere: too late (past its embeddings)."""
        with contextlib.suppress(redis.exceptions.RedisError):
            self.client.set(self._cancel_key(job_id), "refused", keepttl=True)

    def verdict(self, job_id: str, seconds: float = VERDICT_SECONDS) -> Job | None:
        """After `ask_cancel`: the job once its owner took the cancellation up (or finished), waiting at most
        `seconds`; JobFinishedError when the owner refused it. A queued job gives no verdict until its turn
        (it is then cancelled before it starts): its view is returned as it stands."""
        deadline = time.monotonic() + seconds
        while True:
            raw, asked = self._fetch(job_id)
            if asked == b"refused":
                raise JobFinishedError(f"job {job_id!r} is being written: too late to cancel")
            state = json.loads(raw) if raw is not None else None
            settled = state is None or state["cancel_requested"] or state["status"] in ("done", "failed",
                                                                                       "cancelled", "queued")
            if settled or time.monotonic() > deadline:
                return self._view(raw, asked)
            time.sleep(0.05)

    def ask_cancel(self, job_id: str) -> None:
        """A cancellation through this replica of a job another runs; JobFinishedError when it is too late."""
        try:
            outcome = self._ask_cancel(keys=[self._key(job_id), self._cancel_key(job_id)],
                                       args=sorted(WRITE_STAGES_BEFORE_EMBEDDED))
        except redis.exceptions.RedisError as exc:
            raise unavailable("the shared job list", exc) from exc
        if outcome == 0:
            raise JobNotFoundError(f"no job with id {job_id!r}")
        if outcome == 1:
            raise JobFinishedError(f"job {job_id!r} has already finished")
        if outcome == 2:
            raise JobFinishedError(f"job {job_id!r} is being written: too late to cancel")


class Jobs:
    """The registry of asynchronous adds, newest last; the oldest finished ones are dropped past MAX_JOBS. With
    a board (Redis), a job another replica runs is found there."""

    def __init__(self, board: JobBoard | None = None) -> None:
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self.board = board

    @classmethod
    def from_settings(cls, settings: Settings) -> Jobs:
        client = sync_redis(settings)
        return cls(JobBoard(client) if client is not None else None)

    def close(self) -> None:
        if self.board is not None:
            self.board.client.close()

    def create(self, doc_ids: tuple[str, ...]) -> Job:
        job = Job(job_id=uuid.uuid4().hex, doc_ids=doc_ids, board=self.board)
        job.publish()
        with self._lock:
            self._jobs[job.job_id] = job
            while len(self._jobs) > MAX_JOBS:
                oldest = next((k for k, j in self._jobs.items() if j.finished), None)
                if oldest is None:
                    break
                del self._jobs[oldest]
        return job

    def get(self, job_id: str) -> Job | None:
        """The job, run here or (with a board) by another replica."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None and self.board is not None:
            return self.board.read(job_id)
        return job

    def cancel(self, job_id: str) -> Job:
        """Cancel a job wherever it runs (see Job.cancel); the job as it stands after."""
        job = self.get(job_id)
        if job is None:
            raise JobNotFoundError(f"no job with id {job_id!r}")
        if not job.remote:
            job.cancel()
            return job
        assert self.board is not None
        self.board.ask_cancel(job_id)
        return self.board.verdict(job_id) or job

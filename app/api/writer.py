"""A running server's writes (adds, removals, the start-up catch-up) in a writer process of its own.

A write is mostly Python: parsing and chunking the brief, rebuilding BM25, serialising and hashing the new
build. On a thread of the server that work takes the GIL from every question for as long as it lasts, and
two shared cores cannot hide it (a stream of adds put /ask's p99 at 5 to 9 times its p99 at rest:
benchmarks/README.md). The writer process does the whole write with its own copy of the service (its own
index snapshot and the fp32 encoder of new briefs, NEWSQA_WRITE_THREADS cores, niced by NEWSQA_WRITE_NICE so
the scheduler puts it behind questions when both want a core); the server then only loads
the new build from disk (`QAService.refresh`, tens of milliseconds), the same verified load that picks up a
`newsqa add` made next to it. The index's cross-process write lock and atomic builds are what they always
were, so a write from the writer process, the command line or another server never mixes with another.

The process is spawned once, at the first write (a server started by `newsqa serve` starts it as soon as it
is ready), and kept; it ends when the server does (it sees its pipe close). One write at a time goes to it.
While an add embeds, it reports its stages and batches back, so an asynchronous job (app.api.jobs) shows its
progress and can be cancelled exactly as in process: the cancellation is decided under one lock the two
processes share, so an add is either stopped before its build is written, or is reported too late to cancel.
When the process dies during a write (killed, out of memory), the write fails with 503 and the next write
starts a new one; the last good build keeps serving (what a crash leaves in the corpus folder, the next
start-up's catch-up indexes, as after any crash).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import pickle
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import redis
import redis.exceptions

from app.api.jobs import WRITE_STAGES_BEFORE_EMBEDDED, Job, JobCancelledError, WatchedEncoder
from app.api.shared import sync_redis, unavailable
from app.config import Settings
from app.embed.reference import Encoder
from app.errors import DocumentNotFoundError, IndexWriteError, NewsQAError
from app.index.store import read_manifest, write_lock
from app.ingest.corpus import restore, snapshot
from app.ingest.sources import DOC_ID_PATTERN, IncomingBrief
from app.models import DocumentChange
from app.service import QAService

log = logging.getLogger("newsqa.writer")

START_SECONDS = 300.0  # the writer process's start-up (imports, loading the index) before it is given up on
POLL_SECONDS = 0.1  # how often a waiting write looks at its job's cancellation

# the gate an add's cancellation goes through, shared by the two processes under one lock
RUNNING, CANCEL_REQUESTED, BEING_WRITTEN = 0, 1, 2


class WriteBusyError(IndexWriteError):
    """Another replica's write held the writers' lock for longer than a write waits."""


class WriterDiedError(IndexWriteError):
    """The writer process ended during a write: nothing acknowledged was lost, the last good build serves."""


class _Gate:
    """The cancellation state of the write under way, in shared memory (a byte and a lock)."""

    def __init__(self, value: Synchronized[int]) -> None:
        self.value = value

    def reset(self) -> None:
        with self.value.get_lock():
            self.value.value = RUNNING

    def request_cancel(self) -> bool:
        """Parent side: ask the add to stop; False when it is past its embeddings (being written)."""
        with self.value.get_lock():
            if self.value.value == BEING_WRITTEN:
                return False
            self.value.value = CANCEL_REQUESTED
            return True

    def checkpoint(self) -> None:
        """Writer side: stop here if a cancellation was asked for."""
        if self.value.value == CANCEL_REQUESTED:
            raise JobCancelledError("the add was cancelled; nothing changed")

    def enter_writing(self) -> None:
        """Writer side: past the embeddings; from now on a cancellation is refused."""
        with self.value.get_lock():
            self.checkpoint()
            self.value.value = BEING_WRITTEN


class _RemoteJob:
    """In the writer process: the job's stand-in. It sends the stages and batches back to the server and stops
    at a batch when the server asked for a cancellation (the same checkpoints as an add in process)."""

    def __init__(self, conn: multiprocessing.connection.Connection, gate: _Gate) -> None:
        self.conn = conn
        self.gate = gate

    def progress(self, stage: str, count: int) -> None:
        if stage not in WRITE_STAGES_BEFORE_EMBEDDED:
            self.gate.enter_writing()
        self.conn.send(("progress", stage, count))

    def expect(self, count: int) -> None:
        self.conn.send(("expect", count))

    def checkpoint(self) -> None:
        self.gate.checkpoint()

    def embedded_batch(self, count: int) -> None:
        self.conn.send(("embedded", count))
        self.gate.checkpoint()

    def watch(self, encoder: Encoder) -> Encoder:
        return WatchedEncoder(encoder, self)


def _portable(exc: BaseException) -> BaseException:
    """The exception itself when it crosses a pipe intact, else a plain one with its text (a bug's type)."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def serve_writes(
    settings: Settings, conn: multiprocessing.connection.Connection, gate_value: Synchronized[int]
) -> None:
    """The writer process: load the service once, then run the writes the server sends, one at a time, until
    it says stop or its pipe closes (the server ended)."""
    from app.logs import configure_logging

    configure_logging(settings)
    os.nice(settings.write_nice)  # behind the server's questions when the two want the same core
    gate = _Gate(gate_value)
    try:
        service = QAService.load(settings, catch_up=False)
    except BaseException as exc:
        conn.send(("error", _portable(exc)))
        return
    conn.send(("ready", None))
    while True:
        try:
            request: tuple[str, Any] = conn.recv()
        except EOFError:
            return
        kind, argument = request
        if kind == "stop":
            return
        job = _RemoteJob(conn, gate)
        try:
            if kind == "add":
                result: Any = service.add_documents(argument, job.progress, job.watch)
            elif kind == "remove":
                result = service.remove_document(argument)
            elif kind == "catch_up":
                result = service.catch_up()
            else:
                raise ValueError(f"unknown write {kind!r}")
        except BaseException as exc:
            conn.send(("error", _portable(exc)))
        else:
            conn.send(("done", result))


class WriterProcess:
    """The server's side of the writer process: starts it, sends it one write at a time and relays what it
    reports to the write's job."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._context = multiprocessing.get_context("spawn")  # never fork a process that runs threads
        # made with each writer process and dropped with it: its semaphore lives exactly as long as the process
        # (multiprocessing frees it at exit, but uvicorn ends a server stopped by a signal by raising the signal
        # again, which skips the exit handlers: the resource tracker then warned of a leaked semaphore)
        self._gate: _Gate | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: multiprocessing.connection.Connection | None = None
        self._lock = threading.Lock()  # one write (or start) at a time

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.is_alive() else None

    def start(self) -> None:
        """Start the writer process unless it runs (it loads the index: a few seconds)."""
        with self._lock:
            self._ensure_started()

    def _ensure_started(self) -> multiprocessing.connection.Connection:
        if self._process is not None and self._process.is_alive() and self._conn is not None:
            return self._conn
        self._stop_locked()
        gate = self._gate = _Gate(self._context.Value("b", RUNNING))
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=serve_writes, args=(self.settings, child, gate.value), name="newsqa-writer", daemon=True
        )
        process.start()
        child.close()
        self._process, self._conn = process, parent
        try:
            if not parent.poll(START_SECONDS):
                raise WriterDiedError("the writer process did not start in time; nothing changed")
            kind, value = parent.recv()
        except (EOFError, OSError):
            self._stop_locked()
            raise WriterDiedError("the writer process ended while starting; nothing changed") from None
        if kind == "error":
            self._stop_locked()
            raise value
        log.info("writer process %s started", process.pid)
        return parent

    def run(self, kind: str, argument: Any, expected: Mapping[str, str | None] | None = None,
            job: Job | None = None) -> Any:
        """Do one write in the writer process and return its result, relaying stages and batches to `job`.

        `expected` maps each brief whose corpus files the write changes to its sha256 once stored (None: removed).
        When the process dies before the new build holds that, the files are put back as they were (the write
        never happened); when it dies after, the build holds the write. Either way the write fails with
        WriterDiedError (503), and retrying it is safe (an add already stored comes back `unchanged`)."""
        expected = expected or {}
        with self._lock:
            conn = self._ensure_started()
            settings = self.settings
            try:
                with write_lock(settings.index_dir):
                    saved = {doc_id: snapshot(settings.corpus_dir, doc_id) for doc_id in expected}
            except OSError as exc:
                raise IndexWriteError(f"the corpus could not be read ({exc.strerror or exc}); nothing changed") from exc
            gate = self._gate
            assert gate is not None  # made with the process by _ensure_started
            gate.reset()
            if job is not None:
                job.remote_cancel = self.cancel_current
                if job.cancel_requested:  # cancelled while it waited for the writers' lock or the writer process
                    job.remote_cancel = None
                    raise JobCancelledError("the add was cancelled; nothing changed")
            error: BaseException | None = None
            try:
                conn.send((kind, argument))
                while True:
                    if job is not None:
                        job.follow_remote_cancel()  # a cancellation through another replica (app.api.jobs)
                    if not conn.poll(POLL_SECONDS):
                        if not self._process or not self._process.is_alive():
                            raise EOFError
                        continue
                    message, *values = conn.recv()
                    if message == "done":
                        return values[0]
                    if message == "error":
                        error = values[0]  # the write's own failure: raised below, the process is fine
                        break
                    if job is not None:
                        _relay(job, message, values)
            except (EOFError, OSError, pickle.UnpicklingError):
                self._stop_locked()
                raise self._died(kind, expected, saved) from None
            except BaseException:
                self._stop_locked()  # out of step with the process (a message half read): start afresh
                raise
            finally:
                if job is not None:
                    job.remote_cancel = None
            raise error

    def _died(self, kind: str, expected: Mapping[str, str | None], saved: dict[str, dict[Path, bytes]]
              ) -> WriterDiedError:
        """After the process died mid-write: put the corpus files back unless the build on disk holds the
        write (each touched brief as the write left it), and say which."""
        settings = self.settings
        try:
            with write_lock(settings.index_dir):
                manifest = read_manifest(settings.index_dir)
                held = manifest.corpus if manifest is not None else {}
                # a version is "<text sha256>:<metadata hash>" (app.ingest.blocks.document_version)
                stored = bool(expected) and manifest is not None and all(
                    (doc_id not in held) if sha is None else held.get(doc_id, "").split(":")[0] == sha
                    for doc_id, sha in expected.items()
                )
                if not stored:
                    for doc_id, files in saved.items():
                        restore(settings.corpus_dir, doc_id, files)
        except OSError as exc:
            log.error("the writer process ended during a %s, and its corpus files could not be put back: %s",
                      kind, exc)
            return WriterDiedError("the writer process ended during the write, and its corpus files could not be "
                                   "put back; the next start catches up on them")
        log.error("the writer process ended during a %s (%s)", kind, "stored" if stored else "undone")
        outcome = "after storing it; it is in the index" if stored else "before storing it; nothing changed"
        return WriterDiedError(f"the writer process ended during the write, {outcome}; retry it")

    def cancel_current(self) -> bool:
        """Stop the add under way before its build is stored (False: too late, or none running)."""
        gate = self._gate  # read once: a stop may drop it meanwhile
        return gate is not None and gate.request_cancel()

    def stop(self) -> None:
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        conn, process = self._conn, self._process
        self._conn = self._process = None
        if conn is not None:
            with contextlib.suppress(OSError, ValueError):  # it has ended already
                conn.send(("stop", None))
            conn.close()
        if process is not None:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join(5)
        self._gate = None  # its semaphore goes with it


def _relay(job: Job, message: str, values: list[Any]) -> None:
    if message == "progress":
        job.progress(values[0], values[1])
    elif message == "expect":
        job.expect(values[0])
    elif message == "embedded":
        job.count_embedded(values[0])


class ReplicaWriteLock:
    """The writers' lock of every replica, in Redis when NEWSQA_REDIS_URL is set (else nothing beyond the index
    folder's own fcntl lock, which serves one host).

    Replicas that share an index folder over a network file system cannot trust fcntl locks there; the Redis
    lock (redis-py's, a token under one key with an expiry) makes their writes take turns. It expires after
    NEWSQA_WRITE_LOCK_SECONDS unless renewed, and is renewed every third of that while the write runs, so a
    replica that dies mid-write holds up the others' writes for at most that long. A write waits at most
    NEWSQA_WRITE_WAIT_SECONDS for it; when Redis does not answer, the write is refused with a 503 (nothing
    changed)."""

    KEY = "newsqa:writers"

    def __init__(self, client: redis.Redis | None, wait_seconds: float, lock_seconds: float) -> None:
        self.client = client
        self.wait_seconds = wait_seconds
        self.lock_seconds = lock_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> ReplicaWriteLock:
        return cls(sync_redis(settings), settings.write_wait_seconds, settings.write_lock_seconds)

    @contextlib.contextmanager
    def held(self, on_lost: Callable[[], None] | None = None) -> Iterator[None]:
        """The lock for the length of the block. When it cannot be renewed (Redis down, or it expired and
        another replica took it), `on_lost` is called once: the write should stop before its build is stored."""
        if self.client is None:
            yield
            return
        lock = self.client.lock(self.KEY, timeout=self.lock_seconds, blocking_timeout=self.wait_seconds,
                                thread_local=False)
        try:
            acquired = lock.acquire()
        except redis.exceptions.RedisError as exc:
            raise unavailable("the writers' lock", exc) from exc
        if not acquired:
            raise WriteBusyError(f"another replica's write held the writers' lock for {self.wait_seconds:.0f} s")
        done = threading.Event()

        def renew() -> None:  # keep the lock while the write runs
            while not done.wait(self.lock_seconds / 3):
                try:
                    lock.extend(self.lock_seconds, replace_ttl=True)
                except (redis.exceptions.RedisError, redis.exceptions.LockError) as exc:
                    log.error("the writers' lock could not be renewed (%s): stopping the write", exc)
                    if on_lost is not None:
                        on_lost()
                    return

        renewer = threading.Thread(target=renew, name="newsqa-write-lock", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            done.set()
            renewer.join()
            with contextlib.suppress(redis.exceptions.RedisError, redis.exceptions.LockError):
                lock.release()  # else it expires by itself


class Writes:
    """Where a running server's writes run: in the writer process (`NEWSQA_WRITE_PROCESS`, the default), the
    service then loading each new build; or on the calling thread, in the service itself."""

    def __init__(self, settings: Settings) -> None:
        self.process = WriterProcess(settings) if settings.write_process else None
        self.lock = ReplicaWriteLock.from_settings(settings)
        self._running = 0
        self._count = threading.Lock()

    @property
    def busy(self) -> bool:
        """True while a write runs (the sign a test or a probe can watch; the work may be in the writer)."""
        return self._running > 0

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        with self._count:
            self._running += 1
        lost = threading.Event()

        def stop_the_write() -> None:
            lost.set()
            if self.process is not None:
                self.process.cancel_current()

        try:
            with self.lock.held(stop_the_write):
                yield
        except JobCancelledError as exc:
            if lost.is_set():  # not the user's cancellation: the lock went
                raise IndexWriteError("the writers' lock (Redis) was lost during the write; nothing changed") from exc
            raise
        finally:
            with self._count:
                self._running -= 1

    def start(self) -> None:
        if self.process is not None:
            self.process.start()

    def stop(self) -> None:
        """End the writer process (after the write under way, if any: a write is never cut off) and close
        the lock's connection."""
        if self.process is not None:
            self.process.stop()
        if self.lock.client is not None:
            self.lock.client.close()

    def add_documents(self, service: QAService, briefs: Sequence[IncomingBrief], job: Job | None = None
                      ) -> list[DocumentChange]:
        with self._write():
            if self.process is None:
                return service.add_documents(briefs, job.progress if job else None, job.watch if job else None)
            expected: dict[str, str | None] = {b.doc_id: b.sha256 for b in briefs}
            try:
                changes: list[DocumentChange] = self.process.run("add", list(briefs), expected, job)
            finally:
                _refresh(service)  # also after a death: the build may hold the write
            return changes

    def remove_document(self, service: QAService, doc_id: str) -> DocumentChange:
        if doc_id not in service.index.bundle.documents and not re.fullmatch(DOC_ID_PATTERN, doc_id):
            # no brief can have this id (too long for a file name, a `/`, ...): nothing on disk to save or look
            # at. A corpus file named otherwise by hand is held under its stem, and removable as before.
            raise DocumentNotFoundError(f"no document with id {doc_id!r}")
        with self._write():
            if self.process is None:
                return service.remove_document(doc_id)
            try:
                change: DocumentChange = self.process.run("remove", doc_id, {doc_id: None}, None)
            finally:
                _refresh(service)
            return change

    def catch_up(self, service: QAService) -> bool:
        """The start-up catch-up on the corpus folder; the last good build serves until it is done."""
        try:
            with self._write():
                if self.process is None:
                    return service.catch_up()
                updated: bool = self.process.run("catch_up", None)
                if updated:
                    _refresh(service)
                return updated
        finally:  # done, failed or refused (the writers' lock): no catch-up is under way any more
            service.stop_catching_up()


def _refresh(service: QAService) -> None:
    """Load what the writer process saved. A failure here (the search backend gone between the write and this
    look) does not turn the write's own outcome into an error: the reload watch picks the build up later."""
    try:
        service.refresh()
    except NewsQAError as exc:
        log.warning("could not load the build the writer process saved (the reload watch will): %s", exc.message)

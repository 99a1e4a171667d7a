"""Two real `newsqa serve` processes on one Milvus and one Redis (several replicas, docs/deployment.md): a Slack
event retried to the other replica is answered once, a client has one rate-limit window across both, a brief
added through one is quoted by the other and deleted through it from both; and a replica killed with SIGKILL
(its writer process with it, as in a machine crash) in the middle of an add leaves no half-visible brief,
loses nothing it acknowledged, and the same add retried through the other replica completes.

tests/test_milvus.py checks the same with replicas in the test's process; here every replica is
`python -m app serve` in a session of its own, configured by NEWSQA_* variables only, with a corpus and index
folder of its own, on a real `milvus-lite server` and a real `redis-server`. Loops are bounded; every server's
log is printed when a test fails.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from app.api.writer import ReplicaWriteLock
from app.config import PROJECT_ROOT, get_settings
from app.index.milvus import MilvusSearch
from tests.fake_slack import FakeSlack
from tests.support import (
    ANSWERED,
    BOT_TOKEN,
    MILVUS_LITE,
    PUBLIC_URL,
    SECRET,
    MilvusLiteServer,
    RedisServer,
    copy_folders,
    event,
    free_port,
    post_event,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not MILVUS_LITE.exists(), reason="needs milvus-lite (make install)"),
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (process groups)"),
]

KEY = "replica-processes-admin-key"
ADMIN = {"X-API-Key": KEY}
START_SECONDS = 300.0  # two replicas loading at once on two shared cores, beside other work
ARTICLE_QUESTIONS = (ANSWERED, "Who mediated the talks?", "Where were the talks held?")
BRIDGE = "Old bridge reopens\n\nThe Marrow Street bridge reopened on Friday after eleven weeks of repairs."
BRIDGE_QUESTION = "when did the marrow street bridge reopen"


def process_group(pgid: int) -> set[int]:
    """The live processes of a process group (from /proc: a server, its writer process, multiprocessing's
    resource tracker)."""
    members = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[2]) == pgid:
                members.add(int(stat.parent.name))
    return members


@dataclasses.dataclass
class Replica:
    """`python -m app serve` on a folder of its own, in a session of its own (its writer process is in its
    process group), logging to a file (a full pipe would stall it)."""

    name: str
    folder: Path
    env: dict[str, str]
    port: int = dataclasses.field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    leftovers: set[int] = dataclasses.field(default_factory=set)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.folder / f"{self.name}.log"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app", "serve", "--port", str(self.port)],
                cwd=PROJECT_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL to the whole process group at once: the server and its writer process die together."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        assert self.process is not None
        self.process.wait(30)

    def stop(self) -> None:
        """SIGTERM to the server (a drain of 0 s), as an orchestrator stops it; whatever of its process group
        outlives it by 10 s is recorded in `leftovers`, then everything left is killed."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(60)
        poll(lambda: not process_group(self.pid), seconds=10, every=0.1)
        self.leftovers = process_group(self.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(30)

    def tail(self, lines: int = 150) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def replica(
    name: str, root: Path, source: Path, milvus: MilvusLiteServer, prefix: str, redis: RedisServer, **env: str
) -> Replica:
    """A replica with its own copy of `source` (corpus/ and index/), configured by environment variables only."""
    folder = copy_folders(source, root / name)
    variables = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "NEWSQA_CORPUS_DIR": str(folder / "corpus"),
        "NEWSQA_INDEX_DIR": str(folder / "index"),
        "NEWSQA_SEARCH_BACKEND": "milvus",
        "NEWSQA_MILVUS_URI": milvus.uri,
        "NEWSQA_MILVUS_COLLECTION_PREFIX": prefix,
        "NEWSQA_REDIS_URL": redis.url,
        "NEWSQA_ADMIN_API_KEY": KEY,
        "NEWSQA_RELOAD_SECONDS": "0.25",
        "NEWSQA_RATE_LIMIT": "off",
        "NEWSQA_DRAIN_SECONDS": "0",
        "NEWSQA_LOG_FORMAT": "text",
        **env,
    }
    return Replica(name, folder, variables)


def wait_ready(replicas: Sequence[Replica], seconds: float = START_SECONDS) -> None:
    """GET /readyz on each until every one says 200 (bounded); a replica that exits or fails says why."""
    deadline = time.monotonic() + seconds
    waiting = list(replicas)
    while waiting:
        for one in list(waiting):
            assert one.alive(), f"{one.name} exited:\n{one.tail()}"
            with contextlib.suppress(httpx.TransportError):
                ready = httpx.get(f"{one.url}/readyz", timeout=10)
                if ready.status_code == 200:
                    waiting.remove(one)
                assert "failed" not in ready.text, f"{one.name}: {ready.text}\n{one.tail()}"
        assert time.monotonic() < deadline, f"not ready in {seconds} s: {[w.name for w in waiting]}"
        time.sleep(0.2)


@contextlib.contextmanager
def running(*replicas: Replica) -> Iterator[list[httpx.Client]]:
    """Start the replicas at once, wait until all are ready, yield a client for each; stop every process of
    theirs on the way out, and print their logs (pytest shows them when the test failed)."""
    try:
        for one in replicas:
            one.start()
        wait_ready(replicas)
        with contextlib.ExitStack() as stack:
            yield [stack.enter_context(httpx.Client(base_url=one.url, timeout=120)) for one in replicas]
    finally:
        for one in replicas:
            one.stop()
        for one in replicas:
            print(f"----- {one.name} ({one.url}), last lines of its log -----\n{one.tail()}")


def poll(check: Callable[[], bool], seconds: float = 10.0, every: float = 0.05) -> bool:
    """Whether `check()` held within `seconds` (bounded: how soon is not asserted)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(every)
    return True


def ask(http: httpx.Client, question: str) -> dict[str, Any]:
    response = http.post("/ask", json={"question": question})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def missing(http: httpx.Client, doc_id: str) -> bool:
    return http.get(f"/documents/{doc_id}").status_code == 404


def quotes_of(answer: dict[str, Any], doc_id: str) -> list[dict[str, Any]]:
    return [q for q in answer["quotes"] if q["doc_id"] == doc_id]


def signature(answer: dict[str, Any]) -> tuple[bool, list[tuple[str, int, int, str]]]:
    return answer["answered"], [(q["doc_id"], q["start"], q["end"], q["text"]) for q in answer["quotes"]]


def search_of(replica: Replica) -> MilvusSearch:
    """A Milvus client on a replica's collections, to watch rows arrive (the test's, not the replica's)."""
    env = replica.env
    settings = get_settings(
        corpus_dir=Path(env["NEWSQA_CORPUS_DIR"]), index_dir=Path(env["NEWSQA_INDEX_DIR"]), search_backend="milvus",
        milvus_uri=env["NEWSQA_MILVUS_URI"], milvus_collection_prefix=env["NEWSQA_MILVUS_COLLECTION_PREFIX"],
    )
    return MilvusSearch.from_settings(settings)


def test_two_serve_processes_answer_a_retried_slack_event_once_and_share_writes_and_deletes(
    article_index: Path, tmp_path: Path, milvus: MilvusLiteServer, redis_server: RedisServer, fake_slack: FakeSlack
) -> None:
    chat = {
        "NEWSQA_SLACK_SIGNING_SECRET": SECRET, "NEWSQA_SLACK_BOT_TOKEN": BOT_TOKEN,
        "NEWSQA_SLACK_API_URL": fake_slack.url + "/api/", "NEWSQA_PUBLIC_URL": PUBLIC_URL,
    }
    one, two = (replica(name, tmp_path, article_index, milvus, "procs", redis_server, **chat) for name in "ab")
    try:
        with running(one, two) as (first, second):
            # a Slack event delivered to one replica and retried to the other is answered once
            body = event("EvProcesses1", "1700000000.900001")
            assert post_event(first, body).json() == {"ok": True, "status": "accepted"}
            assert post_event(second, body, retry=1).json() == {"ok": True, "status": "duplicate"}
            (reply,) = fake_slack.wait_for_posts(1)
            assert reply.body["channel"] == "CSHARED"
            # a brief added through one replica is quoted by the other, from Milvus (no folder is shared)
            added = first.post("/documents", json={"doc_id": "bridge", "text": BRIDGE}, headers=ADMIN)
            assert added.status_code == 201 and added.json()["status"] == "added", added.text
            assert poll(lambda: bool(quotes_of(ask(second, BRIDGE_QUESTION), "bridge"))), ask(second, BRIDGE_QUESTION)
            quote = quotes_of(ask(second, BRIDGE_QUESTION), "bridge")[0]
            stored = second.get("/documents/bridge").json()["text"]
            assert stored == BRIDGE and stored[quote["start"] : quote["end"]] == quote["text"]
            assert "Friday" in quote["text"]
            # written into A's corpus folder, copied by B from Milvus: B's folder never saw it
            assert (one.folder / "corpus" / "bridge.txt").exists()
            assert not list((two.folder / "corpus").glob("bridge.*"))
            # deleted through the other replica: gone from both
            removed = second.delete("/documents/bridge", headers=ADMIN)
            assert removed.status_code == 200 and removed.json()["status"] == "removed", removed.text
            for http in (first, second):
                assert poll(functools.partial(missing, http, "bridge")), http.base_url
                assert not quotes_of(ask(http, BRIDGE_QUESTION), "bridge")
            time.sleep(0.5)  # room for a wrong second Slack reply
            assert len(fake_slack.posts()) == 1
        assert not one.leftovers and not two.leftovers  # no writer process outlives its server
    finally:
        search = search_of(one)
        search.drop()
        search.close()


def test_a_clients_rate_limit_is_one_window_across_two_serve_processes(
    article_index: Path, tmp_path: Path, milvus: MilvusLiteServer, redis_server: RedisServer
) -> None:
    one, two = (
        replica(name, tmp_path, article_index, milvus, "limits", redis_server, NEWSQA_RATE_LIMIT="6/minute")
        for name in "ab"
    )
    try:
        with running(one, two) as (first, second):
            passed = [(first if n % 2 else second).get("/ask", params={"q": "who mediated"}).status_code
                      for n in range(6)]
            assert passed == [200] * 6
            for http in (first, second):
                refused = http.get("/ask", params={"q": "who mediated"})
                assert refused.status_code == 429 and refused.json()["error"] == "rate_limited", refused.text
                assert 1 <= int(refused.headers["retry-after"]) <= 60
            # the window is this client's (its address), not everyone's: another address still gets in
            for url in (one.url, two.url):
                other = httpx.HTTPTransport(local_address="127.0.0.2")
                with httpx.Client(base_url=url, transport=other, timeout=60) as elsewhere:
                    assert elsewhere.get("/ask", params={"q": "who mediated"}).status_code == 200
        assert not one.leftovers and not two.leftovers
    finally:
        search = search_of(one)
        search.drop()
        search.close()


def depot_brief(paragraphs: int = 110) -> str:
    """A brief of a few hundred sentences (its add takes seconds to embed and write), whose closing fact is in
    its last sentence only."""
    lines = ["Kestrel Lane depot: the year in deliveries", ""]
    for n in range(1, paragraphs + 1):
        lines.append(
            f"In week {n} the Kestrel Lane depot logged {n * 7 + 3} parcel deliveries to the {n % 9 + 1} northern "
            f"wards. Driver crew {n % 13 + 1} covered {n * 11 % 97 + 20} kilometres on route {n}. "
            f"The depot's loading bay {n % 5 + 1} stayed open until {n % 4 + 8} in the evening that week."
        )
        lines.append("")
    lines += ["Closing date", "", "The Kestrel Lane depot will close on 30 June 2031, its manager Ilse Varga said.", ""]
    return "\n".join(lines)


DEPOT_QUESTIONS = (
    "When will the Kestrel Lane depot close?",
    "How many parcel deliveries did the Kestrel Lane depot log in week 57?",
    "Who manages the Kestrel Lane depot?",
)


def add_in_background(
    url: str, doc_id: str, text: str
) -> tuple[threading.Thread, dict[str, httpx.Response | httpx.TransportError]]:
    """POST /documents (with the admin key) on a thread of its own; `outcome["response"]` is its response, or
    the transport error when the server died under it."""
    outcome: dict[str, httpx.Response | httpx.TransportError] = {}

    def post() -> None:
        try:
            outcome["response"] = httpx.post(f"{url}/documents", json={"doc_id": doc_id, "text": text},
                                             headers=ADMIN, timeout=600)
        except httpx.TransportError as exc:
            outcome["response"] = exc

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    return thread, outcome


def assert_never_partial(answer: dict[str, Any], doc_id: str, text: str) -> None:
    """Anything of `doc_id` an answer shows is the full brief's text, verbatim, in its own version."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    for piece in [*answer["quotes"], *answer["passages"]]:
        if piece["doc_id"] == doc_id:
            assert piece["text"] == text[piece["start"] : piece["end"]], piece
            assert piece["sha256"] == digest, piece


def test_sigkill_of_a_serve_process_mid_add_leaves_no_half_visible_brief_and_the_retry_through_the_other_completes(
    article_index: Path, tmp_path: Path, milvus: MilvusLiteServer, redis_server: RedisServer
) -> None:
    # the dead replica's writers' lock expires after NEWSQA_WRITE_LOCK_SECONDS: the shortest allowed, so the retry
    # below waits for that expiry (and shows that a live add, renewing it, outlasts it) without 15 s of waiting
    one, two = (replica(name, tmp_path, article_index, milvus, "crash", redis_server, NEWSQA_WRITE_LOCK_SECONDS="3")
                for name in "ab")
    search = search_of(one)
    depot = depot_brief()
    try:
        with running(one, two) as (first, second):
            # an add that replica A acknowledged before it dies
            acked = first.post("/documents", json={"doc_id": "bridge", "text": BRIDGE}, headers=ADMIN)
            assert acked.status_code == 201, acked.text
            assert poll(lambda: second.get("/documents/bridge").status_code == 200)
            before = [signature(ask(second, q)) for q in ARTICLE_QUESTIONS]
            head = search.head()
            assert head is not None
            rows = search.count("sentence")
            # a large add to A, killed (with its writer process) once its first rows are in Milvus
            group = process_group(one.pid)
            spawned = [pid for pid in group if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
            assert spawned, group  # the writer process is there to be killed with the server (not only the tracker)
            adding, outcome = add_in_background(one.url, "depot", depot)
            deadline = time.monotonic() + 300
            while search.count("sentence") == rows:
                assert "response" not in outcome, f"the add ended before it wrote to Milvus: {outcome}"
                assert time.monotonic() < deadline, "the add never wrote to Milvus"
                time.sleep(0.02)
            one.kill()
            lock_left = redis.Redis.from_url(redis_server.url).pttl(ReplicaWriteLock.KEY)
            assert 0 < lock_left <= 3000, lock_left  # the dead replica's lock: gone within the setting's 3 s
            adding.join(60)
            assert isinstance(outcome.get("response"), httpx.TransportError), outcome  # never acknowledged
            assert poll(lambda: not process_group(one.pid), seconds=10), group  # the writer died with it
            landed = search.head()
            assert landed is not None and landed.build == head.build, "the kill came after the add's commit"
            assert search.count("sentence") > rows  # its rows are in Milvus, named by no build
            # B, meanwhile: ready, the same answers, never a part of the brief (watched over a dozen reloads)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                assert second.get("/readyz").status_code == 200
                assert second.get("/documents/depot").status_code == 404
                for question in DEPOT_QUESTIONS:
                    assert_never_partial(ask(second, question), "depot", depot)
                assert [signature(ask(second, q)) for q in ARTICLE_QUESTIONS] == before
            assert second.get("/documents/bridge").json()["text"] == BRIDGE  # acknowledged: still there
            # the same add retried through B completes (once the dead replica's writers' lock has expired); B stays
            # ready and never shows a part of the brief while its own write waits and runs
            retrying, outcome = add_in_background(two.url, "depot", depot)
            deadline = time.monotonic() + 300
            while retrying.is_alive():
                assert second.get("/readyz").status_code == 200
                assert_never_partial(ask(second, DEPOT_QUESTIONS[0]), "depot", depot)
                assert time.monotonic() < deadline, "the retry did not finish"
                time.sleep(0.1)
            retried = outcome.get("response")
            assert isinstance(retried, httpx.Response), outcome
            assert retried.status_code == 201 and retried.json()["status"] == "added", retried.text
            assert poll(lambda: bool(quotes_of(ask(second, DEPOT_QUESTIONS[0]), "depot")))
            closing = ask(second, DEPOT_QUESTIONS[0])
            assert_never_partial(closing, "depot", depot)
            assert "30 June 2031" in quotes_of(closing, "depot")[0]["text"]
            assert second.get("/documents/depot").json()["text"] == depot
            assert quotes_of(ask(second, BRIDGE_QUESTION), "bridge")
            after = [signature(ask(second, q)) for q in ARTICLE_QUESTIONS]
            # the retry wrote the same ids: one row per sentence and passage of the build, nothing left over
            counts = second.get("/readyz").json()
            assert counts["documents"] == 3, counts
            assert (search.count("sentence"), search.count("passage")) == (counts["sentences"], counts["passages"])
        assert not two.leftovers
        # A restarted on the folder the crash left serves the head: both briefs, the article's answers unchanged
        with running(one) as (restarted,):
            assert poll(lambda: restarted.get("/documents/depot").status_code == 200, seconds=30)
            assert restarted.get("/documents/depot").json()["text"] == depot
            assert restarted.get("/documents/bridge").json()["text"] == BRIDGE
            assert_never_partial(ask(restarted, DEPOT_QUESTIONS[0]), "depot", depot)
            assert [signature(ask(restarted, q)) for q in ARTICLE_QUESTIONS] == after
        assert not one.leftovers
    finally:
        search.drop()
        search.close()

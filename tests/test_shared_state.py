"""Several replicas share chat de-duplication and rate limits through a real Redis (issue 16: shared state).

A real `redis-server` (Debian's, `make redis`) on a free 127.0.0.1 port, started, stopped and restarted here;
two real uvicorn replicas on 127.0.0.1 over one loaded service; replies observed at a fake Slack Web API (a real
HTTP server). Loops are bounded.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from pydantic import SecretStr

from app.config import Settings, get_settings
from app.embed.reference import Embedder
from app.index.encoders import Encoders
from app.service import QAService
from tests.briefs_generator import generate_briefs
from tests.fake_slack import FakeSlack
from tests.support import (
    BOT_TOKEN,
    REDIS_SERVER,
    RedisServer,
    chat_settings,
    copy_folders,
    event,
    post_event,
    serving,
    sign,
)

pytestmark = pytest.mark.skipif(not REDIS_SERVER.exists(), reason="needs redis-server (make redis)")


@contextlib.contextmanager
def two_replicas(app_settings: Settings, service: QAService) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Two apps (each its own de-duplication, rate limiter and writer) on two real uvicorns, one Redis."""
    with serving(app_settings, service) as first, serving(app_settings, service) as second:
        yield first, second


@pytest.mark.e2e
def test_an_event_retried_to_the_other_replica_is_answered_once(
    settings: Settings, service: QAService, redis_server: RedisServer, fake_slack: FakeSlack
) -> None:
    shared = chat_settings(settings, fake_slack.url, redis_url=SecretStr(redis_server.url), rate_limit="off")
    with two_replicas(shared, service) as (first, second):
        body = event("EvShared1", "1700000000.900001")
        assert post_event(first, body).json() == {"ok": True, "status": "accepted"}
        assert post_event(second, body, retry=1).json() == {"ok": True, "status": "duplicate"}
        assert post_event(first, body, retry=2).json() == {"ok": True, "status": "duplicate"}
        # the same message under a new event id (Slack sends app_mention and message.channels): still once
        again = event("EvShared2", "1700000000.900001")
        assert post_event(second, again).json() == {"ok": True, "status": "duplicate"}
        assert fake_slack.wait_for_posts(1)
        time.sleep(0.5)  # room for a wrong second reply
        [post] = fake_slack.posts()
        assert post.body["thread_ts"] == "1700000000.900001" and post.authorization == f"Bearer {BOT_TOKEN}"
        # a slash command replayed byte for byte to the other replica is answered once too
        command = b"command=%2Fnewsqa&text=what+did+Pakistan+demand%3F&user_id=U1&channel_id=C1&team_id=T1"
        headers = {"content-type": "application/x-www-form-urlencoded", **sign(command)}
        answered = first.post("/slack/commands", content=command, headers=headers).json()
        assert answered["blocks"], answered
        replayed = second.post("/slack/commands", content=command, headers=headers).json()
        assert replayed == {"response_type": "ephemeral", "text": ""}
        metrics = second.get("/metrics").text
        assert "newsqa_slack_events_deduplicated_total 3.0" in metrics  # the three duplicates it saw


@pytest.mark.e2e
def test_a_client_rate_limit_is_one_window_across_the_replicas(
    settings: Settings, service: QAService, redis_server: RedisServer
) -> None:
    shared = settings.model_copy(update={"redis_url": SecretStr(redis_server.url), "rate_limit": "6/minute"})
    with two_replicas(shared, service) as (first, second):
        statuses = [(first if n % 2 else second).get("/ask", params={"q": "who mediated"}).status_code
                    for n in range(6)]
        assert statuses == [200] * 6
        for replica in (first, second):
            refused = replica.get("/ask", params={"q": "who mediated"})
            assert refused.status_code == 429 and refused.json()["error"] == "rate_limited"
            assert int(refused.headers["retry-after"]) >= 1
        assert second.get("/healthz").status_code == 200  # probes are never limited


@pytest.mark.e2e
def test_redis_stopped_and_restarted_under_a_question_loop_gives_json_503s_then_recovers(
    settings: Settings, service: QAService, redis_server: RedisServer
) -> None:
    shared = settings.model_copy(update={"redis_url": SecretStr(redis_server.url), "rate_limit": "1000/second"})
    with serving(shared, service) as http:
        assert http.get("/readyz").status_code == 200
        assert http.post("/ask", json={"question": "who mediated the talks?"}).status_code == 200
        redis_server.stop()
        seen: list[int] = []
        refused = None
        for _ in range(100):  # bounded: each refusal takes at most the timeout and its retries
            response = http.post("/ask", json={"question": "who mediated the talks?"})
            seen.append(response.status_code)
            if response.status_code == 503:
                refused = response
                break
        assert refused is not None, seen
        assert refused.headers["content-type"].startswith("application/json")
        assert refused.json()["error"] == "shared_state_unavailable" and refused.headers["retry-after"] == "1"
        not_ready = http.get("/readyz")
        assert not_ready.status_code == 503 and "Redis" in not_ready.json()["reason"]
        # where Redis lives goes to the log, never to a client
        assert str(redis_server.port) not in refused.text + not_ready.text
        assert http.get("/healthz").status_code == 200
        assert "newsqa_shared_state_unavailable_requests_total" in http.get("/metrics").text
        # a replica whose questions do not need Redis (no rate limit, no chat) stays ready and answers
        unlimited = shared.model_copy(update={"rate_limit": "off"})
        with serving(unlimited, service) as other:
            assert other.get("/readyz").status_code == 200
            assert other.post("/ask", json={"question": "who mediated the talks?"}).status_code == 200
        redis_server.start()
        recovered = []
        for _ in range(100):  # until both recover by themselves (at most about 10 s)
            ask = http.post("/ask", json={"question": "who mediated the talks?"}).status_code
            ready = http.get("/readyz").status_code
            recovered.append((ask, ready))
            if (ask, ready) == (200, 200):
                break
            time.sleep(0.1)
        assert recovered[-1] == (200, 200), recovered
        assert 500 not in seen and all(500 not in pair for pair in recovered)


FERRY = ("Harbour ferry fares rise\n\nThe Lindqvist harbour ferry will charge 4.20 euros per crossing from March. "
         "The operator said fuel costs drove the rise.")
BRIDGE = ("Old bridge reopens\n\nThe Marrow Street bridge reopened on Friday after eleven weeks of repairs. "
          "Buses return to the route on Monday.")
KEY = "shared-admin-key"
ADMIN = {"X-API-Key": KEY}


def replica_settings(folder: Path, redis_url: str, **changes: object) -> Settings:
    return get_settings(
        corpus_dir=folder / "corpus", index_dir=folder / "index", admin_api_key=SecretStr(KEY),
        redis_url=SecretStr(redis_url), rate_limit="off", reload_seconds=0.5, **changes,
    )


def until(check: Callable[[], bool], seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@contextlib.contextmanager
def replicas_of_their_own(
    article_index: Path, tmp_path: Path, embedder: Embedder, redis_server: RedisServer, **changes: object
) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Two replicas with folders of their own (only Redis makes their writes take turns), large adds allowed."""
    all_settings = [
        replica_settings(copy_folders(article_index, tmp_path / name), redis_server.url, max_brief_sentences=3000,
                         max_upload_bytes=4 * 1024 * 1024, **changes)
        for name in ("a", "b")
    ]
    services = [QAService.load(settings, encoders=Encoders(embedder)) for settings in all_settings]
    with serving(all_settings[0], services[0]) as first, serving(all_settings[1], services[1]) as second:
        yield first, second


@pytest.mark.e2e
def test_replicas_on_one_folder_see_each_others_writes(
    article_index: Path, tmp_path: Path, embedder: Embedder, redis_server: RedisServer
) -> None:
    folder = copy_folders(article_index, tmp_path / "shared")
    settings = replica_settings(folder, redis_server.url)
    one, two = (QAService.load(settings, encoders=Encoders(embedder)) for _ in range(2))
    with serving(settings, one) as first, serving(settings, two) as second:
        added = first.post("/documents", json={"doc_id": "ferry-fares", "text": FERRY}, headers=ADMIN)
        assert added.status_code == 201, added.text
        assert until(lambda: second.get("/documents/ferry-fares").status_code == 200)
        quote = second.post("/ask", json={"question": "how much is a ferry crossing"}).json()["quotes"][0]
        assert quote["doc_id"] == "ferry-fares" and "4.20 euros" in quote["text"]
        # writes through both at once: neither is lost (they take turns under the writers' lock)
        results: dict[str, int] = {}

        def add(http: httpx.Client, doc_id: str, text: str) -> None:
            results[doc_id] = http.post("/documents", json={"doc_id": doc_id, "text": text}, headers=ADMIN).status_code

        threads = [threading.Thread(target=add, args=(first, "bridge", BRIDGE)),
                   threading.Thread(target=add, args=(second, "ferry-fares", FERRY.replace("4.20", "4.40")))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert results == {"bridge": 201, "ferry-fares": 201}
        for http in (first, second):
            assert until(lambda http=http: http.get("/documents/bridge").status_code == 200  # type: ignore[misc]
                         and "4.40" in http.get("/documents/ferry-fares").json()["text"])
        removed = second.delete("/documents/bridge", headers=ADMIN)
        assert removed.status_code == 200, removed.text
        assert until(lambda: first.get("/documents/bridge").status_code == 404)


@pytest.mark.e2e
def test_the_writers_lock_is_one_for_all_replicas_and_a_write_waits_a_bounded_time(
    article_index: Path, tmp_path: Path, embedder: Embedder, redis_server: RedisServer
) -> None:
    """Two replicas with folders of their own (so only the Redis lock can make them take turns): while one
    writes, the other's write waits, here at most one second, then is refused with a JSON 503."""
    client = redis.Redis.from_url(redis_server.url)
    with replicas_of_their_own(article_index, tmp_path, embedder, redis_server, write_wait_seconds=1.0) as (
        first, second,
    ):
        # 40 briefs (~430 sentences) hold the lock for seconds: the other replica's write waits its 1 s and is
        # refused well before this add ends
        text = "\n".join(b.text for b in generate_briefs(40, seed=21))
        job = first.post("/documents", params={"async": "true"}, json={"doc_id": "long", "text": text},
                         headers=ADMIN)
        assert job.status_code == 202, job.text
        assert until(lambda: bool(client.exists("newsqa:writers")))  # the lock is taken in Redis
        assert 0 < client.ttl("newsqa:writers") <= 30  # it expires by itself if its replica dies
        refused = second.post("/documents", json={"doc_id": "ferry-fares", "text": FERRY}, headers=ADMIN)
        assert refused.status_code == 503 and refused.json()["error"] == "index_write_failed", refused.text
        assert "writers' lock" in refused.json()["message"]
        job_id = job.json()["job_id"]
        assert until(lambda: first.get(f"/jobs/{job_id}", headers=ADMIN).json()["status"] == "done", 300)
        assert until(lambda: not client.exists("newsqa:writers"))  # released at once, not at expiry
        added = second.post("/documents", json={"doc_id": "ferry-fares", "text": FERRY}, headers=ADMIN)
        assert added.status_code == 201, added.text


@pytest.mark.e2e
def test_a_job_is_followed_and_cancelled_through_the_other_replica(
    article_index: Path, tmp_path: Path, embedder: Embedder, redis_server: RedisServer
) -> None:
    """Behind a proxy, a job's Location is polled through any replica: the state is on the board in Redis."""
    folder = copy_folders(article_index, tmp_path / "shared")
    settings = replica_settings(folder, redis_server.url, max_brief_sentences=3000, max_upload_bytes=4 * 1024 * 1024)
    one, two = (QAService.load(settings, encoders=Encoders(embedder)) for _ in range(2))
    with serving(settings, one) as first, serving(settings, two) as second:
        text = "\n".join(b.text for b in generate_briefs(60, seed=31))
        job = first.post("/documents", params={"async": "true"}, json={"doc_id": "followed", "text": text},
                         headers=ADMIN).json()
        seen: list[dict[str, Any]] = []

        def done_through_second() -> bool:
            seen.append(second.get(f"/jobs/{job['job_id']}", headers=ADMIN).json())
            return bool(seen[-1]["status"] == "done")

        assert until(done_through_second, 300), seen[-1]
        assert seen[-1]["changes"] == [{"doc_id": "followed", "status": "added",
                                        "sha256": seen[-1]["changes"][0]["sha256"]}]
        assert any(s["status"] == "running" for s in seen) or len(seen) == 1
        assert second.get("/jobs/no-such-job", headers=ADMIN).status_code == 404

        big = "\n".join(b.text for b in generate_briefs(200, seed=32))
        doomed = first.post("/documents", params={"async": "true"}, json={"doc_id": "doomed", "text": big},
                            headers=ADMIN).json()
        assert until(lambda: second.get(f"/jobs/{doomed['job_id']}", headers=ADMIN).json()["embedded"] > 0, 120)
        cancelled = second.delete(f"/jobs/{doomed['job_id']}", headers=ADMIN)
        assert cancelled.status_code == 200 and cancelled.json()["cancel_requested"] is True, cancelled.text
        assert until(lambda: first.get(f"/jobs/{doomed['job_id']}", headers=ADMIN).json()["status"]
                     in ("cancelled", "done", "failed"), 300)
        final = second.get(f"/jobs/{doomed['job_id']}", headers=ADMIN).json()
        assert final["status"] == "cancelled" and final["error"]["error"] == "job_cancelled", final
        assert first.get("/documents/doomed").status_code == 404
        again = second.delete(f"/jobs/{doomed['job_id']}", headers=ADMIN)
        assert again.status_code == 409 and again.json()["error"] == "job_finished"


@pytest.mark.e2e
def test_an_add_cancelled_while_it_waits_for_the_writers_lock_never_lands(
    article_index: Path, tmp_path: Path, embedder: Embedder, redis_server: RedisServer
) -> None:
    """The job is running (it has its turn here) but waits for the Redis lock another replica holds: a
    cancellation then is kept, and the add never reaches the writer process."""
    client = redis.Redis.from_url(redis_server.url)
    with replicas_of_their_own(article_index, tmp_path, embedder, redis_server) as (first, second):
        # 40 briefs (~430 sentences) hold the lock for seconds: the other replica's add is running, waiting for
        # it, and cancelled (a fraction of a second) well before this add ends
        text = "\n".join(b.text for b in generate_briefs(40, seed=51))
        long = first.post("/documents", params={"async": "true"}, json={"doc_id": "long", "text": text},
                          headers=ADMIN).json()
        assert until(lambda: bool(client.exists("newsqa:writers")))
        waiting = second.post("/documents", params={"async": "true"}, json={"doc_id": "ferry-fares", "text": FERRY},
                              headers=ADMIN).json()
        assert until(lambda: second.get(f"/jobs/{waiting['job_id']}", headers=ADMIN).json()["status"] == "running")
        cancelled = second.delete(f"/jobs/{waiting['job_id']}", headers=ADMIN)
        assert cancelled.status_code == 200 and cancelled.json()["cancel_requested"] is True, cancelled.text
        assert until(lambda: first.get(f"/jobs/{long['job_id']}", headers=ADMIN).json()["status"] == "done", 300)
        final: dict[str, Any] = {}

        def finished() -> bool:
            final.update(second.get(f"/jobs/{waiting['job_id']}", headers=ADMIN).json())
            return final["status"] in ("done", "failed", "cancelled")

        assert until(finished, 120), final
        assert final["status"] == "cancelled" and final["error"]["error"] == "job_cancelled", final
        assert second.get("/documents/ferry-fares").status_code == 404
        assert not (tmp_path / "b" / "corpus" / "ferry-fares.txt").exists()

"""Metrics (Prometheus), structured JSON logs with request ids, and privacy-preserving question logging.

Metrics come from prometheus-fastapi-instrumentator (request counts and latency histograms per route) plus a
collector that reads the service at scrape time (index version and size, answers vs abstentions, Slack events
de-duplicated, requests refused by the rate limit). Each app gets its own registry, so several apps in one
process (tests) never collide.

Questions can carry personal data: by default a log line holds a keyed hash of the normalized question (the
same question gives the same hash within a deployment, so repeats can be counted, but the text cannot be read
back), its length, the latency and the ids of what was quoted. Raw text only with NEWSQA_LOG_QUESTIONS=1.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector
from prometheus_fastapi_instrumentator import Instrumentator

from app.api.deps import state_of
from app.config import Settings
from app.models import Answer

if TYPE_CHECKING:
    from fastapi import FastAPI


@dataclass
class Counters:
    """What the edges count (thread-safe increments; read by the collector at scrape time)."""

    answered: int = 0
    abstained: int = 0
    rate_limited: int = 0
    shed: int = 0
    shared_unavailable: int = 0  # requests refused because Redis did not answer (app.api.shared)
    refused_connections: dict[int, int] = field(default_factory=dict)  # by status: 400, 408, 431, 503
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def answer(self, answer: Answer) -> None:
        with self._lock:
            if answer.answered:
                self.answered += 1
            else:
                self.abstained += 1

    def limited(self) -> None:
        with self._lock:
            self.rate_limited += 1

    def shed_one(self) -> None:
        with self._lock:
            self.shed += 1

    def shared_state_unavailable(self) -> None:
        with self._lock:
            self.shared_unavailable += 1

    def refused_connection(self, status: int) -> None:
        with self._lock:
            self.refused_connections[status] = self.refused_connections.get(status, 0) + 1


class ServiceCollector(Collector):
    """newsqa_* metrics read from the live service and counters when Prometheus scrapes."""

    def __init__(self, app: FastAPI, counters: Counters) -> None:
        self.app = app
        self.counters = counters

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | InfoMetricFamily | SummaryMetricFamily]:
        answers = CounterMetricFamily("newsqa_answers", "Questions answered or abstained on.", labels=["result"])
        answers.add_metric(["answered"], self.counters.answered)
        answers.add_metric(["abstained"], self.counters.abstained)
        yield answers
        yield CounterMetricFamily(
            "newsqa_rate_limited_requests", "Requests refused with 429.", value=self.counters.rate_limited
        )
        refused = CounterMetricFamily(
            "newsqa_refused_connections",
            "Connections refused before a request reached the app: not HTTP/1.1 (400), slow or silent headers "
            "(408), headers too large (431), too many open connections (503).",
            labels=["status"],
        )
        for status in (400, 408, 431, 503):
            refused.add_metric([str(status)], self.counters.refused_connections.get(status, 0))
        yield refused
        yield CounterMetricFamily(
            "newsqa_shed_requests", "Requests refused with 503: too many in flight.", value=self.counters.shed
        )
        yield CounterMetricFamily(
            "newsqa_shared_state_unavailable_requests",
            "Requests refused with 503 because the shared state (Redis, NEWSQA_REDIS_URL) did not answer.",
            value=self.counters.shared_unavailable,
        )
        state = state_of(self.app)
        yield CounterMetricFamily(
            "newsqa_slack_events_deduplicated",
            "Slack events (retries, repeats) acknowledged without a second answer (by this replica).",
            value=state.shared.dedup.duplicates,
        )
        runtime = state.runtime
        ready = GaugeMetricFamily("newsqa_ready", "1 when the index is loaded and the service answers.")
        ready.add_metric([], 1 if runtime.service is not None and not runtime.draining else 0)
        yield ready
        if runtime.service is None:
            return
        stats = getattr(runtime.service.search, "stats", None)  # a search backend of its own (Milvus)
        if stats is not None:
            calls = SummaryMetricFamily(
                "newsqa_search_backend_seconds", "Calls to the search backend (NEWSQA_SEARCH_BACKEND) and their "
                "time, by operation.", labels=["backend", "operation"],
            )
            errors = CounterMetricFamily(
                "newsqa_search_backend_errors", "Search backend calls that failed (each is retried once).",
                labels=["backend", "operation"],
            )
            name = runtime.service.search.name
            counted, seconds, failed = stats.snapshot()
            for operation in sorted(counted):
                calls.add_metric([name, operation], counted[operation], seconds[operation])
                errors.add_metric([name, operation], failed.get(operation, 0))
            yield calls
            yield errors
        manifest = runtime.service.index.manifest
        size = GaugeMetricFamily("newsqa_index_items", "What the loaded index holds.", labels=["kind"])
        for kind, count in sorted(manifest.counts.items()):
            size.add_metric([kind], count)
        yield size
        info = InfoMetricFamily("newsqa_index", "The loaded index build.")
        info.add_metric([], {"build": manifest.build_dir, "built_at": manifest.built_at, "model": manifest.model_name})
        yield info


def install_metrics(app: FastAPI, counters: Counters) -> None:
    """/metrics in Prometheus text format: per-route request counts and latency histograms, plus newsqa_*."""
    registry = CollectorRegistry()
    registry.register(ServiceCollector(app, counters))
    instrumentator = Instrumentator(
        should_group_status_codes=False,
        should_ignore_untemplated=True,
        excluded_handlers=["/metrics"],
        registry=registry,
    )
    instrumentator.instrument(app).expose(app, endpoint="/metrics", include_in_schema=False)


@dataclass(frozen=True)
class QuestionLogger:
    """What a log line may say about a question: by default a keyed hash and its length, never the text."""

    key: bytes
    raw: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> QuestionLogger:
        given = settings.log_key.get_secret_value().encode() if settings.log_key else b""
        return cls(given or secrets.token_bytes(32), settings.log_questions)

    def fields(self, question: str) -> dict[str, object]:
        normalized = " ".join(question.casefold().split())
        # a refused question may hold lone surrogates (JSON allows "\ud800"): hash and log them, never fail on them
        encoded = normalized.encode("utf-8", errors="surrogatepass")
        digest = hmac.new(self.key, encoded, hashlib.sha256).hexdigest()[:16]
        fields: dict[str, object] = {"question_hash": digest, "question_chars": len(question)}
        if self.raw:
            fields["question"] = question.encode("utf-8", errors="backslashreplace").decode("utf-8")
        return fields


def answer_fields(answer: Answer, seconds: float) -> dict[str, object]:
    return {
        "answered": answer.answered,
        "confidence": answer.confidence,
        "latency_ms": round(seconds * 1000, 2),
        "quotes": [f"{q.doc_id}:{q.start}-{q.end}" for q in answer.quotes],
        "passages": [f"{p.doc_id}:{p.start}-{p.end}" for p in answer.passages],
    }

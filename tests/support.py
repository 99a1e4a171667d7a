"""Helpers the test modules share (no test module imports another): the default article, a real uvicorn on
127.0.0.1, copies of a corpus and index, error and readiness checks, chat signing, free ports and byte flips.

Fixtures live in conftest.py; plain functions and constants live here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import httpx
import numpy as np
import redis
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import ViewportSize
from pydantic import SecretStr

from app.api.app import create_app
from app.config import PROJECT_ROOT, Settings, get_settings
from app.embed.reference import Embedder, Encoder, TokenVectors, Vectors
from app.index.bundle import IndexBundle, Vocabulary
from app.index.encoders import Encoders
from app.ingest.sources import BriefMetadata, make_brief
from app.service import QAService

ARTICLE = PROJECT_ROOT / "corpus" / "pakistan-afghanistan-talks.txt"


DOC_ID = "pakistan-afghanistan-talks"


@contextlib.contextmanager
def running_uvicorn(app: FastAPI, config: uvicorn.Config | None = None) -> Iterator[str]:
    """A real uvicorn on 127.0.0.1, on a socket bound here first (port 0), so no port can be taken meanwhile.

    With `config` (e.g. `app.api.server.server_config`, what `newsqa serve` runs), that configuration; else
    uvicorn's defaults."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(config or uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(600):  # until uvicorn accepts connections (at most 30 s): a bounded wait, not a race
        if server.started or not thread.is_alive():
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
    assert not thread.is_alive(), "uvicorn did not shut down"


def settings_in(root: Path, **overrides: Any) -> Settings:
    """Settings over `root/corpus` and `root/index`: the environment's otherwise, keyword overrides win."""
    return get_settings(corpus_dir=root / "corpus", index_dir=root / "index", **overrides)


def copy_index_file(source: str, target: str) -> None:
    """Copy one file of an index folder; the query encoder graphs (~150 MB of a build's ~152) are hard-linked.

    The product never writes a graph in place (a build is written once, then an update links its graphs), and
    the damage helpers below replace a file with a new inode, so a test's copy can never change the original.
    """
    if source.endswith(".onnx"):
        with contextlib.suppress(OSError):  # another file system, or links refused: a real copy then
            os.link(source, target)
            return
    shutil.copy2(source, target)


def copy_index(source: Path, target: Path) -> None:
    """A test's own copy of an index folder (so it may change or damage it), cheap on disk: see copy_index_file."""
    shutil.copytree(source, target, copy_function=copy_index_file)


def copy_folders(source: Path, target: Path) -> Path:
    """A test's own copy of a corpus and index pair (so it may change or damage them)."""
    shutil.copytree(source / "corpus", target / "corpus")
    copy_index(source / "index", target / "index")
    return target


def same_vectors(before: IndexBundle, after: IndexBundle, doc_id: str) -> bool:
    """True when a document's sentence and passage rows, and its sentences' token vectors, are byte-identical in
    both bundles (not re-embedded)."""
    old, new = before.doc_rows[doc_id], after.doc_rows[doc_id]
    old_tokens = before.sentence_tokens.rows(old.sentence_start, old.sentence_end)
    new_tokens = after.sentence_tokens.rows(new.sentence_start, new.sentence_end)
    return (
        before.sentence_matrix[old.sentence_start : old.sentence_end].tobytes()
        == after.sentence_matrix[new.sentence_start : new.sentence_end].tobytes()
        and before.passage_matrix[old.passage_start : old.passage_end].tobytes()
        == after.passage_matrix[new.passage_start : new.passage_end].tobytes()
        and old_tokens.vectors.tobytes() == new_tokens.vectors.tobytes()
        and old_tokens.offsets.tolist() == new_tokens.offsets.tolist()
    )


class CountingEncoder:
    """A spy, not a mock: it delegates every call to the real encoder and records the texts it embedded."""

    def __init__(self, inner: Encoder) -> None:
        self.inner = inner
        self.name = inner.name
        self.texts: list[str] = []

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed_documents(self, texts: list[str], batch_size: int = 64, show_progress: bool = False) -> Vectors:
        self.texts.extend(texts)
        return self.inner.embed_documents(texts, batch_size=batch_size, show_progress=show_progress)

    def embed_query(self, text: str) -> Vectors:
        self.texts.append(text)
        return self.inner.embed_query(text)

    def embed_with_tokens(self, texts: list[str], batch_size: int = 64) -> tuple[Vectors, list[TokenVectors]]:
        self.texts.extend(texts)
        return self.inner.embed_with_tokens(texts, batch_size=batch_size)


ANSWERED = "What did Pakistan demand?"


NOT_IN_ARTICLE = "What is the capital of France?"


class Reply(Protocol):
    """What the helpers read from a response: TestClient's (httpx2) and httpx's both fit."""

    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def text(self) -> str: ...
    def json(self) -> Any: ...


def poll_readyz(get: Callable[[str], Reply], until: Callable[[Reply], bool], seconds: float = 30.0) -> Reply:
    """GET /readyz until `until(response)` holds or `seconds` pass; returns the last response to assert on."""
    deadline = time.monotonic() + seconds
    response = get("/readyz")
    while not until(response) and time.monotonic() < deadline:
        time.sleep(0.02)
        response = get("/readyz")
    return response


def is_ready(response: Reply) -> bool:
    return response.status_code == 200


def assert_error(response: Reply, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == error
    assert isinstance(body["message"], str) and body["message"]
    return body


class GatedLoader:
    """A loader that blocks in its worker thread until the test opens the gate, then returns the service."""

    def __init__(self, service: QAService) -> None:
        self.service = service
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.returned = threading.Event()

    def __call__(self, settings: Settings) -> QAService:
        self.entered.set()
        self.gate.wait()
        self.returned.set()
        return self.service


SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


MM_TOKEN = "mm-token-xyz123"


BOT_TOKEN = "xoxb-test"


PUBLIC_URL = "https://newsqa.example"


def sign(body: bytes, timestamp: str | None = None, secret: str = SECRET) -> dict[str, str]:
    """The headers Slack adds: v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}") over the exact bytes sent."""
    ts = str(int(time.time())) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + digest}


def wait_until_serving(http: httpx.Client, seconds: float = 30.0) -> None:
    """GET /healthz until uvicorn accepts connections (the socket is bound before uvicorn listens on it)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if http.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)


@contextlib.contextmanager
def serving(app_settings: Settings, service: QAService | None = None, **kwargs: Any) -> Iterator[httpx.Client]:
    """The app on a real uvicorn, and an httpx client pointed at it once it answers."""
    with (
        running_uvicorn(create_app(app_settings, service=service, **kwargs)) as url,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        wait_until_serving(http)
        yield http


def chat_settings(settings: Settings, fake_slack_url: str, **overrides: Any) -> Settings:
    update: dict[str, Any] = {
        "slack_signing_secret": SecretStr(SECRET),
        "slack_bot_token": SecretStr(BOT_TOKEN),
        "slack_api_url": fake_slack_url + "/api/",
        "mattermost_token": SecretStr(MM_TOKEN),
        "public_url": PUBLIC_URL,
        **overrides,
    }
    return settings.model_copy(update=update)


CHROMIUM = Path("/usr/bin/chromium")


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


DESKTOP: ViewportSize = {"width": 1280, "height": 720}


PHONE: ViewportSize = {"width": 390, "height": 844}


ARTIFACTS = PROJECT_ROOT / "test-artifacts"


CLAIMS = PROJECT_ROOT / "tests" / "data" / "claims"


ADDED = dt.datetime(2025, 10, 30, 9, 0, tzinfo=dt.UTC)


def add_claims_briefs(service: QAService, folder: Path, skip: set[str] | None = None) -> None:
    """Add every brief of a claims folder with its metadata (source, date, title), as `newsqa add` would."""
    briefs = []
    for path in sorted(folder.glob("*.txt")):
        if path.stem in (skip or set()):
            continue
        meta = BriefMetadata.model_validate(json.loads(path.with_suffix(".meta.json").read_text(encoding="utf-8")))
        briefs.append(make_brief(path.read_text(encoding="utf-8"), "text", meta, path.stem, path.name, ADDED))
    changes = service.add_documents(briefs)
    assert {c.status for c in changes} <= {"added", "replaced"}


def claims_service(root: Path, embedder: Embedder, name: str) -> QAService:
    """A service over one claims folder as it lies on disk (each text beside its .meta.json), indexed in root."""
    (root / "corpus").mkdir()
    for path in (CLAIMS / name).iterdir():
        if path.name != "questions.jsonl":
            shutil.copy(path, root / "corpus" / path.name)
    return QAService.load(get_settings(corpus_dir=root / "corpus", index_dir=root / "index"), Encoders(embedder))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rewrite(path: Path, data: bytes) -> None:
    """Replace a file's bytes through a new inode: the file may be a hard link shared with other copies."""
    path.unlink()
    path.write_bytes(data)


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    rewrite(path, bytes(data))


MILVUS_LITE = Path(sys.executable).parent / "milvus-lite"  # installed by the `milvus` extra (make install)


class LoopbackServer:
    """A server of the test's own (Milvus Lite, Redis) on one loopback port, in a process of its own, which can
    be killed and started again on the same port and data folder."""

    name = "server"

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def answers(self) -> bool:
        """Whether it serves yet (checked every 50 ms after the start, for at most 30 s)."""
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
            return True
        return False

    def start(self) -> None:
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.answers():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.process.returncode}")
            time.sleep(0.05)
        raise AssertionError(f"{self.name} did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


class MilvusLiteServer(LoopbackServer):
    """Milvus Lite's own gRPC server (`milvus-lite server`), as replicas reach Milvus Standalone."""

    name = "milvus-lite server"

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [str(MILVUS_LITE), "server", "--data-dir", str(self.folder), "--host", "127.0.0.1",
                "--port", str(self.port)]

    def settings(self, settings: Settings, prefix: str, **changes: Any) -> Settings:
        """`settings` with this server as the search backend, under collections of their own."""
        update = {"search_backend": "milvus", "milvus_uri": self.uri, "milvus_collection_prefix": prefix, **changes}
        return settings.model_copy(update=update)


REDIS_SERVER = Path(shutil.which("redis-server") or "/usr/bin/redis-server")  # Debian's (make redis)
BOT_USER = "UBOT"


class RedisServer(LoopbackServer):
    """Debian's redis-server, without persistence."""

    name = "redis-server"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [str(REDIS_SERVER), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                "no", "--dir", str(self.folder)]

    def answers(self) -> bool:
        client = redis.Redis.from_url(self.url, socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()


def event(event_id: str, ts: str) -> bytes:
    envelope = {
        "token": "x", "team_id": "T1", "api_app_id": "A1", "type": "event_callback", "event_id": event_id,
        "event_time": 1_700_000_000, "authorizations": [{"user_id": BOT_USER, "is_bot": True}],
        "event": {"type": "app_mention", "user": "U1", "text": f"<@{BOT_USER}> what did Pakistan demand?",
                  "channel": "CSHARED", "ts": ts},
    }
    return json.dumps(envelope).encode()


def post_event(http: httpx.Client, body: bytes, retry: int | None = None) -> httpx.Response:
    headers = {"content-type": "application/json", **sign(body)}
    if retry is not None:
        headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"})
    return http.post("/slack/events", content=body, headers=headers)


def vocabulary_of(*surface: str, names: frozenset[str] = frozenset()) -> Vocabulary:
    """A vocabulary of these words alone (no lexicon vectors), for the pure name and typo checks."""
    return Vocabulary.of_words(frozenset(surface), np.zeros((0, 384), np.float32), names)

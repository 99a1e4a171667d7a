"""What the benchmarks share: the default article and its questions, a real `newsqa serve` on 127.0.0.1, a
keep-alive loopback client, interleaved timing blocks, percentiles and a note of the machine.

Every benchmark imports these from here (`python -m benchmarks.<name>` from the repository's root), so no
benchmark imports another and none edits sys.path.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from json import dumps
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = ROOT / "corpus" / "pakistan-afghanistan-talks.txt"
HOST = "127.0.0.1"
FLOOR_QUESTION = "What did Pakistan demand?"
QUESTIONS = (
    "What did Pakistan demand?",
    "Who mediated the talks?",
    "Where did the first round of talks happen?",
    "When was the ceasefire agreed?",
    "Are the Taliban willing to cooperate?",
    "What did the Istanbul round focus on?",
    "Why did the talks hit a deadlock?",
    "Who warned of open war?",
    "What happened to border trade?",
    "What is the capital of France?",  # out of scope: the service abstains
)
BLOCK = 4  # timed samples per row per round: small, so noise on a shared machine hits every row alike
READY_POLL_S = 0.02
READY_TIMEOUT_S = 180.0
NS_PER_MS = 1e6


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def server_env(corpus_dir: Path, index_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        NEWSQA_RATE_LIMIT="off",  # the benchmark's one client would hit the per-client limit at once
        NEWSQA_CORPUS_DIR=str(corpus_dir),
        NEWSQA_INDEX_DIR=str(index_dir),
    )
    env.update(extra or {})
    return env


@contextmanager
def running_server(
    corpus_dir: Path, index_dir: Path, log_path: Path, env: Mapping[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`python -m app serve` on a free loopback port (`env`: extra variables); terminated (then killed) on exit."""
    port = free_port()
    command = [sys.executable, "-m", "app", "serve", "--host", HOST, "--port", str(port)]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=server_env(corpus_dir, index_dir, env), stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield process, f"http://{HOST}:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class LoopbackResponse:
    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}: {self.text[:300]}")


class LoopbackClient:
    """Keep-alive HTTP/1.1 to 127.0.0.1 over the standard library's http.client, one connection per host:port.

    Not httpx: on this 2-core machine httpx spends about 0.9 ms of CPU per request (measured side by side on
    the same server: POST /ask p50 8.85 ms with httpx, 7.98 ms with http.client), time that is the client's,
    not the server's, and that it takes from the two cores the server needs.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.connections: dict[str, http.client.HTTPConnection] = {}

    def request(
        self, method: str, url: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> LoopbackResponse:
        parts = urlsplit(url)
        reused = parts.netloc in self.connections
        try:
            return self._send(parts, method, body, headers)
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            if not reused:
                raise
            # the server closed a connection left idle past its keep-alive (NEWSQA_KEEP_ALIVE_SECONDS, 5 s) while
            # the benchmark was elsewhere (a cold start, another server): once more, on a new connection
            return self._send(parts, method, body, headers)

    def _send(
        self, parts: SplitResult, method: str, body: bytes | None, headers: Mapping[str, str] | None
    ) -> LoopbackResponse:
        connection = self.connections.get(parts.netloc)
        if connection is None:
            connection = http.client.HTTPConnection(parts.hostname or HOST, parts.port, timeout=self.timeout)
            self.connections[parts.netloc] = connection
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request(method, path, body=body, headers=dict(headers or {}))
            response = connection.getresponse()
            return LoopbackResponse(response.status, response.read())
        except (OSError, http.client.HTTPException):
            connection.close()  # reconnect on the next request
            del self.connections[parts.netloc]
            raise

    def get(self, url: str) -> LoopbackResponse:
        return self.request("GET", url)

    def post(
        self, url: str, json: Any = None, content: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> LoopbackResponse:
        if json is not None:
            content = dumps(json).encode("utf-8")
            headers = {"Content-Type": "application/json", **(headers or {})}
        return self.request("POST", url, content, headers)

    def close(self) -> None:
        for connection in self.connections.values():
            connection.close()
        self.connections.clear()

    def __enter__(self) -> LoopbackClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def local_client(timeout: float) -> LoopbackClient:
    return LoopbackClient(timeout)


def wait_ready(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    """Poll GET /readyz every READY_POLL_S until it answers 200."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    with local_client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"server exited with {process.returncode} before ready:\n{tail}")
            try:
                if client.get(f"{base_url}/readyz").status_code == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass  # not listening yet
            time.sleep(READY_POLL_S)
    raise RuntimeError(f"server not ready after {READY_TIMEOUT_S:.0f} s")


def cold_start_s(corpus_dir: Path, index_dir: Path, log_path: Path, env: Mapping[str, str] | None = None) -> float:
    started = time.perf_counter_ns()
    with running_server(corpus_dir, index_dir, log_path, env) as (process, base_url):
        wait_ready(process, base_url, log_path)
        return (time.perf_counter_ns() - started) / 1e9


def interleaved(
    rows: Mapping[str, Callable[[int], object]], samples: int, block: int | None = None, settle_s: float = 0.0
) -> dict[str, list[int]]:
    """`samples` timings per row, taken in blocks of BLOCK per row; the row order rotates every round.

    Sample n of every row uses question n (mod the set), so the rows see the same questions in the same order.
    Each block starts with one untimed call: the benchmark and the server share 2 cores and their caches, and
    without it the first call after a switch of process (about +1 ms) lands mostly on the HTTP row.
    """
    names = list(rows)
    size = block or BLOCK
    timings: dict[str, list[int]] = {name: [] for name in names}
    for round_no in range((samples + size - 1) // size):
        shift = round_no % len(names)
        first = round_no * size
        for name in names[shift:] + names[:shift]:
            call = rows[name]
            if settle_s:
                time.sleep(settle_s)  # let the previous row's spinning worker threads go to sleep
            call(first)  # lead-in, untimed
            for n in range(first, min(first + size, samples)):
                started = time.perf_counter_ns()
                call(n)
                timings[name].append(time.perf_counter_ns() - started)
    return timings


def percentiles_ms(timings_ns: list[int]) -> tuple[float, float]:
    values = np.asarray(timings_ns, dtype=np.float64) / NS_PER_MS
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def post_ask(client: LoopbackClient, base_url: str, question: str) -> None:
    response = client.post(f"{base_url}/ask", json={"question": question})
    if response.status_code != 200:
        raise RuntimeError(f"POST /ask {question!r}: {response.status_code} {response.text[:300]}")


def machine_info() -> dict[str, object]:
    import torch

    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }

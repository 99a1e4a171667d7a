"""A first start (no index yet) builds the index in a child process: the serving process never maps libtorch.

Real `newsqa serve` subprocesses on 127.0.0.1, real builds; /proc/<pid>/maps is the evidence (Linux only).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.config import PROJECT_ROOT
from tests.support import ARTICLE, copy_folders, free_port

# What ONNX Runtime's transformer optimizer (loggers fusion_base, onnx_model, onnx_model_bert: 11 lines) and its
# quantizer (root logger: 42 lines, per tensor) printed at INFO in every build's export, before app/embed/export.py
# quieted them at their calls.
ORT_EXPORT_CHATTER = (
    "Fused ", "Removed ", "Sort graphs in topological order", "opset version:", "Model saved to",
    "Quantization parameters for tensor:", "get_tensor_type returns DefaultTensorType",
)

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")]


@contextlib.contextmanager
def serving(root: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """`newsqa serve` on root/corpus and root/index; yields the process, its URL and its log file."""
    port = free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "NEWSQA_CORPUS_DIR": str(root / "corpus"),
        "NEWSQA_INDEX_DIR": str(root / "index"),
        "NEWSQA_RELOAD_SECONDS": "0",
        "NEWSQA_DRAIN_SECONDS": "0",
    }
    log_path = root / "server.log"
    with log_path.open("wb") as log:  # a file, not a pipe: a full pipe would stall the server
        server = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port)],
            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            yield server, f"http://127.0.0.1:{port}", log_path
        finally:
            server.terminate()
            server.wait(timeout=60)


def wait_ready(server: subprocess.Popen[bytes], url: str, log: Path, seconds: float = 300) -> httpx.Response:
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=url, timeout=30) as http:
        while True:
            with contextlib.suppress(httpx.TransportError):
                ready = http.get("/readyz")
                if ready.status_code == 200 or "failed" in ready.json().get("reason", ""):
                    return ready
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)


def children_of(pid: int) -> list[int]:
    """The live child processes of `pid` (from /proc: the writer process, multiprocessing's resource tracker)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(stat.parent.name))
    return children


def mapped_libraries(pid: int) -> set[str]:
    return {Path(line.split()[-1]).name for line in Path(f"/proc/{pid}/maps").read_text().splitlines() if "/" in line}


def test_a_first_start_builds_in_a_child_and_never_maps_libtorch(tmp_path: Path) -> None:
    (tmp_path / "corpus").mkdir()
    shutil.copy(ARTICLE, tmp_path / "corpus")
    (tmp_path / "index").mkdir()  # empty: the first start must build
    with serving(tmp_path) as (server, url, log):
        ready = wait_ready(server, url, log)
        assert ready.status_code == 200, ready.text
        assert ready.json()["sentences"] > 0
        answer = httpx.post(f"{url}/ask", json={"question": "What did Pakistan demand?"}, timeout=60).json()
        assert answer["answered"] and answer["quotes"]
        trackers = [pid for pid in children_of(server.pid)
                    if b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        libraries = mapped_libraries(server.pid)
        assert any(name.startswith("libonnxruntime") for name in libraries)  # the evidence is real: ORT is there
        assert not [name for name in libraries if "torch" in name], sorted(n for n in libraries if "torch" in n)
        # nor the Milvus client's stack (pyarrow, grpc): an image built without the milvus extra serves the same
        milvus_stack = sorted(n for n in libraries if any(part in n for part in ("arrow", "cygrpc", "milvus")))
        assert not milvus_stack, milvus_stack
        text = log.read_text()
        assert "building the index in a child process" in text
        chatter = [line for line in text.splitlines() if any(marker in line for marker in ORT_EXPORT_CHATTER)]
        assert not chatter, "\n".join(chatter[:5])
    assert (tmp_path / "index" / "manifest.json").exists()
    # stopped by SIGTERM, which uvicorn raises again to end the process (no exit handlers run): the writer's
    # semaphore is freed at shutdown, so multiprocessing's resource tracker (which writes to the same log once it
    # sees the server gone, then ends) has no leak to report
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() for pid in trackers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert trackers and not any(Path(f"/proc/{pid}").exists() for pid in trackers), trackers
    assert "leaked semaphore" not in (tmp_path / "server.log").read_text()


def test_a_first_start_on_a_corpus_with_nothing_to_quote_says_why_on_readyz(tmp_path: Path) -> None:
    """Refused before any child is spawned (the parse says so), and the server still never maps torch."""
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "title-only.txt").write_text("Only A Title\n", encoding="utf-8")
    with serving(tmp_path) as (server, url, log):
        ready = wait_ready(server, url, log)
        assert ready.status_code == 503
        assert "no sentence to quote" in ready.json()["reason"], ready.text
        assert not [name for name in mapped_libraries(server.pid) if "torch" in name]


def test_a_serving_only_install_says_how_to_build_the_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit test, with sentence_transformers made unimportable (sys.modules entry None: what an install without
    the build extra looks like to Python): torch-less serving cannot build, and says what to do instead."""
    from app.embed.reference import Embedder
    from app.errors import ModelUnavailableError

    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(ModelUnavailableError, match=r"newsqa\[build\].*NEWSQA_INDEX_DIR"):
        Embedder.load()


def test_a_start_serves_the_last_good_build_while_it_catches_up_on_the_corpus(
    article_index: Path, tmp_path: Path
) -> None:
    """Briefs dropped into the corpus folder while the service was down: the next start answers from the last
    good build at once, and brings the index up to date in the background (before: not ready until then).

    The last good build is a copy of the session's article build (what `newsqa index` makes of the article: the
    same load_or_build_index), not one built again in a subprocess here (~14 s)."""
    from tests.briefs_generator import generate_briefs

    copy_folders(article_index, tmp_path)
    # 80 briefs (~900 sentences): the catch-up takes well over 10 s, the first /readyz comes about 1 s after the
    # start, so the test sees it in progress with a wide margin
    big = "\n".join(b.text for b in generate_briefs(80, seed=4))
    (tmp_path / "corpus" / "backlog.txt").write_text(big, encoding="utf-8")
    with serving(tmp_path) as (server, url, log):
        ready = wait_ready(server, url, log)
        assert ready.status_code == 200, ready.text
        first = ready.json()
        assert first["documents"] == 1 and first.get("catching_up") is True, first  # the last good build
        asked = httpx.post(f"{url}/ask", json={"question": "Who mediated the talks?"}, timeout=60)
        assert asked.status_code == 200 and asked.json()["quotes"]
        deadline = time.monotonic() + 300
        while (now := httpx.get(f"{url}/readyz", timeout=30).json()).get("catching_up"):
            assert time.monotonic() < deadline and server.poll() is None, log.read_text()
            time.sleep(0.5)
        assert now["documents"] == 2, now
        assert "caught up on the corpus" in log.read_text()

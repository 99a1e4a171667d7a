"""Chat benchmark: slash-command and mention round trips next to plain POST /ask, over one real uvicorn.

Usage: .venv/bin/python -m benchmarks.bench_slack [--samples N] [--json]

One `python -m app serve` on 127.0.0.1 (prebuilt index of the default article, Slack signing secret, Mattermost
token and a bot token whose Web API base URL points at a fake Slack in this process). Rows, sampled in small
interleaved blocks with the order rotated each round (harness.interleaved), same rotating questions:
  1. POST /ask (JSON): the reference;
  2. POST /slack/commands signed as Slack (form body, v0 signature verified, Block Kit reply);
  3. POST /slack/commands as Mattermost (`Authorization: Token`, Markdown reply);
  4. POST /slack/events with an app_mention: time to the acknowledgement;
  5. the same, until the fake Slack Web API has received the threaded chat.postMessage (the user-visible delay).
Request signing happens before the clock starts; the HTTP client is one keep-alive http.client connection.
Targets: slash command p50 ≤ 1.3× the /ask p50, and far inside Slack's 3-second window.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

from app.config import get_settings
from app.embed.reference import Embedder
from app.index.encoders import Encoders
from app.service import QAService
from benchmarks import harness
from benchmarks.harness import (
    ARTICLE,
    HOST,
    QUESTIONS,
    LoopbackResponse,
    interleaved,
    local_client,
    percentiles_ms,
)

SECRET = "bench-signing-secret"
MM_TOKEN = "bench-mattermost-token"
SLASH_TARGET = 1.3
SLACK_WINDOW_MS = 3000.0


class FakeSlack(ThreadingHTTPServer):
    """A Slack Web API stand-in that notes when each chat.postMessage arrived (perf_counter_ns)."""

    def __init__(self) -> None:
        super().__init__((HOST, 0), _FakeSlackHandler)
        self.arrivals: dict[str, int] = {}
        self.arrived = threading.Condition()

    def wait_for(self, thread_ts: str, timeout_s: float = 10.0) -> int:
        with self.arrived:
            if not self.arrived.wait_for(lambda: thread_ts in self.arrivals, timeout=timeout_s):
                raise RuntimeError(f"no chat.postMessage for thread {thread_ts} within {timeout_s} s")
            return self.arrivals[thread_ts]


class _FakeSlackHandler(BaseHTTPRequestHandler):
    server: FakeSlack

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        arrived = time.perf_counter_ns()
        fields = json.loads(body) if "json" in self.headers.get("content-type", "") else {}
        thread_ts = str(fields.get("thread_ts", ""))
        with self.server.arrived:
            self.server.arrivals[thread_ts] = arrived
            self.server.arrived.notify_all()
        reply = json.dumps({"ok": True, "channel": fields.get("channel"), "ts": "1.0"}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: object) -> None:
        pass


def signed(body: bytes, content_type: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "content-type": content_type,
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": f"v0={digest}",
    }


@dataclass(frozen=True)
class Row:
    measurement: str
    p50: float
    p99: float
    samples: int
    ratio: float | None
    target: str
    met: bool | None


def measure(samples: int, base_url: str, fake: FakeSlack) -> list[Row]:
    client = local_client(30.0)
    sequence = itertools.count()

    def question(n: int) -> str:
        return QUESTIONS[n % len(QUESTIONS)]

    def check(response: LoopbackResponse, what: str) -> LoopbackResponse:
        if response.status_code != 200:
            raise RuntimeError(f"{what}: {response.status_code} {response.text[:300]}")
        return response

    def ask(n: int) -> None:
        check(client.post(f"{base_url}/ask", json={"question": question(n)}), "POST /ask")

    def slash(n: int) -> None:
        body = urlencode({"command": "/newsqa", "text": question(n), "user_id": "U1", "channel_id": "C1"}).encode()
        headers = signed(body, "application/x-www-form-urlencoded")
        check(client.post(f"{base_url}/slack/commands", content=body, headers=headers), "Slack slash command")

    def mattermost(n: int) -> None:
        body = urlencode({"command": "/newsqa", "text": question(n), "user_id": "U1", "channel_id": "C1"}).encode()
        headers = {"content-type": "application/x-www-form-urlencoded", "authorization": f"Token {MM_TOKEN}"}
        check(client.post(f"{base_url}/slack/commands", content=body, headers=headers), "Mattermost slash command")

    acks: list[int] = []

    def mention(n: int) -> None:
        """Send an app_mention; note the time to the 200 ack, and return once the reply reached the fake Slack."""
        ts = f"1700000000.{next(sequence):06d}"
        envelope = {
            "type": "event_callback",
            "event_id": f"Ev{ts}",
            "authorizations": [{"user_id": "UBOT", "is_bot": True}],
            "event": {"type": "app_mention", "user": "U1", "text": f"<@UBOT> {question(n)}", "channel": "C1", "ts": ts},
        }
        body = json.dumps(envelope).encode()
        headers = signed(body, "application/json")  # about 10 µs, inside the timed part here
        sent = time.perf_counter_ns()
        ack = check(client.post(f"{base_url}/slack/events", content=body, headers=headers), "Slack event")
        acks.append(time.perf_counter_ns() - sent)
        if ack.json().get("status") != "accepted":
            raise RuntimeError(f"event not accepted: {ack.text}")
        fake.wait_for(ts)  # so the next sample never overlaps this answer

    rows_fns = {
        "POST /ask": ask,
        "Slack slash command": slash,
        "Mattermost slash command": mattermost,
        "mention → reply posted in thread": mention,
    }
    try:
        timings = interleaved(rows_fns, samples)
    finally:
        client.close()
    lead_ins = len(acks) - len(timings["mention → reply posted in thread"])  # untimed calls also noted their ack
    timings["mention → 200 ack"] = acks[lead_ins:] if lead_ins >= 0 else acks
    reference, _ = percentiles_ms(timings["POST /ask"])
    rows = []
    for name, values in timings.items():
        p50, p99 = percentiles_ms(values)
        ratio = p50 / reference
        if name == "POST /ask":
            target, met = "reference", None
        elif "slash" in name:
            target, met = f"≤ {SLASH_TARGET}× /ask, p99 ≪ 3 s", ratio <= SLASH_TARGET and p99 < SLACK_WINDOW_MS / 10
        else:
            target, met = "ack ≪ 3 s" if "ack" in name else "—", p99 < SLACK_WINDOW_MS / 10 if "ack" in name else None
        rows.append(Row(name, p50, p99, len(values), ratio, target, met))
    return rows


def render(rows: list[Row]) -> str:
    lines = ["| measurement | p50 ms | p99 ms | ratio p50 / POST /ask | target | met? |", "|---|---|---|---|---|---|"]
    for r in rows:
        met = "—" if r.met is None else "yes" if r.met else "NO"
        ratio = f"{r.ratio:.2f}×" if r.ratio is not None else "—"
        lines.append(f"| {r.measurement} | {r.p50:.2f} | {r.p99:.2f} | {ratio} | {r.target} | {met} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--samples", type=int, default=300, metavar="N", help="timings per row (300)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    fake = FakeSlack()
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="newsqa-bench-slack-") as tmp:
        scratch = Path(tmp)
        corpus_dir, index_dir, log_path = scratch / "corpus", scratch / "index", scratch / "server.log"
        corpus_dir.mkdir()
        shutil.copy2(ARTICLE, corpus_dir / ARTICLE.name)
        QAService.load(get_settings(corpus_dir=corpus_dir, index_dir=index_dir), encoders=Encoders(Embedder.load()))
        env = {
            "NEWSQA_SLACK_SIGNING_SECRET": SECRET,
            "NEWSQA_SLACK_BOT_TOKEN": "xoxb-bench",
            "NEWSQA_SLACK_API_URL": f"http://{HOST}:{fake.server_address[1]}/api/",
            "NEWSQA_MATTERMOST_TOKEN": MM_TOKEN,
        }
        with harness.running_server(corpus_dir, index_dir, log_path, env) as (process, base_url):
            harness.wait_ready(process, base_url, log_path)
            rows = measure(args.samples, base_url, fake)
    fake.shutdown()
    if args.json:
        print(json.dumps({"samples": args.samples, "rows": [asdict(r) for r in rows]}, ensure_ascii=False))
        return 0
    print(
        f"{args.samples} samples per row, interleaved blocks of {harness.BLOCK}, {len(QUESTIONS)} questions "
        f"rotating; one uvicorn worker on {HOST}; total {time.perf_counter() - started:.0f} s\n"
    )
    print(render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

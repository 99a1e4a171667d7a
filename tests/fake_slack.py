"""A fake Slack Web API: a real HTTP server on 127.0.0.1 that records every call, for the chat tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass(frozen=True)
class PostedMessage:
    """One call the fake Slack received: the method, the parsed body and the Authorization header."""

    method: str
    body: dict[str, Any]
    authorization: str


class _FakeSlackServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _FakeSlackHandler)
        self.calls: list[PostedMessage] = []
        self.lock = threading.Lock()
        self.error: str | None = None  # when set, every call answers {"ok": false, "error": error}


class _FakeSlackHandler(BaseHTTPRequestHandler):
    server: _FakeSlackServer

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        body = _parse_body(raw, self.headers.get("content-type", ""))
        method = self.path.split("?", 1)[0].removeprefix("/api/")
        with self.server.lock:
            self.server.calls.append(PostedMessage(method, body, self.headers.get("authorization", "")))
            error = self.server.error
        reply: dict[str, Any] = {"ok": False, "error": error} if error else {"ok": True}
        if not error and method == "chat.postMessage":
            reply.update({"ts": "1234.5678", "channel": body.get("channel")})
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # keep the test output quiet
        pass


def _parse_body(raw: bytes, content_type: str) -> dict[str, Any]:
    """slack_sdk posts either JSON or a form (whose `blocks` is a JSON string): both as one dict."""
    if content_type.startswith("application/json"):
        parsed: dict[str, Any] = json.loads(raw or b"{}")
        return parsed
    fields = {name: values[0] for name, values in parse_qs(raw.decode(), keep_blank_values=True).items()}
    body: dict[str, Any] = dict(fields)
    if isinstance(body.get("blocks"), str):
        body["blocks"] = json.loads(body["blocks"])
    return body


class FakeSlack:
    """A real HTTP server on 127.0.0.1 (port 0) standing in for https://slack.com/api/."""

    def __init__(self) -> None:
        self._server = _FakeSlackServer()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail_with(self, error: str | None) -> None:
        with self._server.lock:
            self._server.error = error

    def posts(self, where: Callable[[PostedMessage], bool] = lambda _: True) -> list[PostedMessage]:
        with self._server.lock:
            return [c for c in self._server.calls if c.method == "chat.postMessage" and where(c)]

    def wait_for_posts(
        self, count: int, where: Callable[[PostedMessage], bool] = lambda _: True, seconds: float = 10.0
    ) -> list[PostedMessage]:
        """The matching chat.postMessage calls, once at least `count` arrived (or `seconds` passed)."""
        deadline = time.monotonic() + seconds
        while len(self.posts(where)) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.posts(where)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

"""ASGI middleware that guards every route: request ids, body size caps, and per-client rate limits.

Written as plain ASGI (not BaseHTTPMiddleware) so a refused request costs microseconds and a body is never
buffered to be measured: the cap is checked on Content-Length first, then counted as the route reads.
Rate limits use the `limits` library (moving window; in this process's memory, or in Redis shared by the replicas
when NEWSQA_REDIS_URL is set: app.api.shared).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from limits import RateLimitItem, parse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import SharedStateUnavailableError
from app.api.shared import RateLimits
from app.logs import request_id

access_log = logging.getLogger("newsqa.access")
log = logging.getLogger("newsqa.errors")
_GOOD_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def send_json_error(send: Send, status: int, error: str, message: str, headers: dict[str, str]) -> None:
    """An ASGI response in the API's JSON error format, for the middleware that answers before the app does."""
    body = json.dumps({"error": error, "message": message}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
_API_DOCS = ("/docs", "/redoc")  # FastAPI's interactive docs load their scripts from a CDN: no CSP there


_ALWAYS = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"))
_WITH_CSP = (*_ALWAYS, (b"content-security-policy", _CSP.encode()), (b"x-frame-options", b"DENY"))


def security_headers(path: str) -> tuple[tuple[bytes, bytes], ...]:
    """Headers on every response: no MIME sniffing, no referrer leaving the site, and (the staff page and
    everything else but the API docs) a Content-Security-Policy that allows no script and no framing."""
    return _ALWAYS if path.startswith(_API_DOCS) else _WITH_CSP


class RequestIdMiddleware:
    """Take the caller's X-Request-ID (when it is a sane token) or make one; echo it; expose it to logs.

    Also writes the access log line: method, path without its query string (a GET /ask query holds the
    question), status and latency. uvicorn's own access log is off for that reason.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        rid = given if given and _GOOD_ID.match(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        responded = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
                extra = [(b"x-request-id", rid.encode()), *security_headers(scope["path"])]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:  # a bug below: logged here, inside the request's id, and answered with that id
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            if responded:
                raise  # too late for a response of our own: the connection is cut
            await send_json_error(send_with_id, 500, "internal_error", "internal error", {})
        finally:
            access_log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id.reset(token)


UPLOAD_SETTING = "NEWSQA_MAX_UPLOAD_BYTES"  # what a refused brief names, so its sender knows what to raise
FORM_ROOM = 65536  # an upload's body beyond the brief: the multipart envelope and the metadata fields


@dataclass(frozen=True)
class BodyLimits:
    """The largest body each kind of route takes (bytes)."""

    default: int
    brief: int  # the largest brief (NEWSQA_MAX_UPLOAD_BYTES), which a refused upload names

    @property
    def uploads(self) -> int:
        """POST /documents: the largest brief plus room for the form around it."""
        return self.brief + FORM_ROOM

    def for_path(self, method: str, path: str) -> int:
        return self.uploads if self._upload(method, path) else self.default

    def refusal(self, method: str, path: str) -> str:
        """What a 413 says: the cap, and for an upload the setting a user knows (a brief of up to N bytes)."""
        limit = self.for_path(method, path)
        if self._upload(method, path):
            return f"the request body is over {limit} bytes: a brief may be up to {self.brief} bytes ({UPLOAD_SETTING})"
        return f"the request body is over {limit} bytes"

    @staticmethod
    def _upload(method: str, path: str) -> bool:
        return method == "POST" and path == "/documents"


class BodyLimitMiddleware:
    """413 for a body over the route's cap: at once from Content-Length, or as soon as the count passes it."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_path(scope["method"], scope["path"])
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            refusal = self.limits.refusal(scope["method"], scope["path"])
            await send_json_error(send, 413, "payload_too_large", refusal, {"connection": "close"})
            return
        seen = 0
        refused = False

        async def counted() -> Message:
            """The body as the route reads it; past the cap, answer 413 ourselves and tell the route the client
            left (it stops reading; whatever it then tries to send is dropped below)."""
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                seen += len(message.get("body", b""))
                if seen > limit:
                    refused = True
                    refusal = self.limits.refusal(scope["method"], scope["path"])
                    await send_json_error(send, 413, "payload_too_large", refusal, {"connection": "close"})
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counted, guarded_send)


def client_key(scope: Scope, valid_key: bytes | None = None) -> str:
    """Who a request counts against: the admin key when the request carries exactly that key (its own bucket),
    else its IP address. An unchecked key never buys a bucket: a client sending a new made-up key on every
    request would otherwise never be limited."""
    key = _header(scope, b"x-api-key")
    if key and valid_key and hmac.compare_digest(key.encode("utf-8", "replace"), valid_key):
        return "key:" + hashlib.sha256(valid_key).hexdigest()[:16]
    client = scope.get("client")
    return "ip:" + (client[0] if client else "unknown")


class RateLimitMiddleware:
    """Per-client moving-window limit (e.g. 20/second): 429 with Retry-After; probes and metrics never limited.

    The window lives in `rate_limits` (this process's memory, or Redis shared by every replica: app.api.shared);
    when Redis does not answer, a JSON 503 with Retry-After (the limit is never silently dropped)."""

    def __init__(
        self, app: ASGIApp, rate: str, rate_limits: RateLimits, on_limited: Callable[[], None] | None = None,
        valid_key: bytes | None = None, on_unavailable: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.valid_key = valid_key
        self.item: RateLimitItem = parse(rate)
        self.rate_limits = rate_limits
        self.on_limited = on_limited
        self.on_unavailable = on_unavailable

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        key = client_key(scope, self.valid_key)
        try:
            allowed, reset = await self.rate_limits.hit(self.item, key)
        except SharedStateUnavailableError as exc:
            log.warning("rate limit not checked: %s", exc.message)
            if self.on_unavailable:
                self.on_unavailable()
            await send_json_error(send, 503, exc.code, exc.message, {"retry-after": "1"})
            return
        if not allowed:
            retry = max(1, math.ceil(reset - time.time()))
            if self.on_limited:
                self.on_limited()
            message = f"too many requests: the limit is {self.item}; retry in {retry} s"
            await send_json_error(send, 429, "rate_limited", message, {"retry-after": str(retry)})
            return
        await self.app(scope, receive, send)


class ConcurrencyLimitMiddleware:
    """At most `limit` requests in flight; past it an immediate 503 (JSON, Retry-After) instead of a queue.

    Shedding early keeps latency bounded for the requests that are accepted: on a 2-core machine a queue only
    turns every request into a slow one and then into client timeouts. uvicorn's own --limit-concurrency does
    the same but answers in plain text; this one speaks the API's error format. Probes are never shed.
    """

    def __init__(self, app: ASGIApp, limit: int, on_shed: Callable[[], None] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0
        self.on_shed = on_shed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            if self.on_shed:
                self.on_shed()
            message = f"the service is at capacity ({self.limit} requests in flight); retry shortly"
            await send_json_error(send, 503, "overloaded", message, {"retry-after": "1"})
            return
        self.in_flight += 1  # one event loop: no lock needed
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

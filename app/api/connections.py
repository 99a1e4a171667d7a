"""The HTTP connection layer: uvicorn's HTTP protocol with the limits a public server needs.

uvicorn (0.54) never times out a connection that has not finished its headers, and its `limit_concurrency`
counts open connections, so 150 idle sockets from one client turned every request, probes included, into a
plain-text 503; with httptools (uvicorn's default when installed) headers were not capped at all. Here the
guards sit in front of the parser (httptools when installed, the faster one; else h11), so they hold for both:

- a connection must finish each request's headers within `header_timeout` seconds of its first byte (or of
  opening): a silent one is closed, a trickling one (slowloris) gets a JSON 408;
- a head longer than MAX_HEADER_BYTES or with more than MAX_HEADER_LINES lines gets a JSON 431 and is closed;
- what the parser cannot read as HTTP/1.1 gets a JSON 400 (uvicorn's own is plain text) and is closed;
- past `max_connections` open sockets (NEWSQA_MAX_CONNECTIONS) a new one gets a JSON 503 with Retry-After and is closed;
- idle keep-alive connections are closed by uvicorn after `timeout_keep_alive`;
- every refusal is counted (`newsqa_refused_connections_total`); requests in flight are limited (JSON 503)
  by `app.api.guards.ConcurrencyLimitMiddleware`, which counts requests, not sockets.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from app.api.guards import send_json_error
from app.config import Settings

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is optional: h11 then
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

MAX_HEADER_BYTES = 16 * 1024  # h11's own cap on an incomplete request head, applied here with a 431
MAX_HEADER_LINES = 100
_REASONS = {
    400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large", 503: "Service Unavailable"
}


class RefusalCounter(Protocol):
    def refused_connection(self, status: int) -> None: ...


class ConnectionGuards:
    """A header deadline, header size and count caps and a connection cap (see above), in front of the parser
    of the uvicorn protocol class it is mixed into (both keep `cycle`, `connections`, `loop`, `transport`)."""

    header_timeout: ClassVar[float] = 10.0
    max_connections: ClassVar[int] = Settings.model_fields["max_connections"].default
    counter: ClassVar[RefusalCounter | None] = None  # told the status of every refusal

    cycle: Any
    connections: Any
    loop: Any
    transport: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._head_lines = 0
        self._head_started = False
        self._tail = b""  # the last bytes seen, to find a head's end split across two reads

    # ------------------------------------------------------------------ connection
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        if len(self.connections) > self.max_connections:
            self._refuse(503, "overloaded", "the server has too many open connections; retry shortly", retry=1)
            return
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)  # type: ignore[misc]

    # ------------------------------------------------------------------ reading a request head
    def _waiting_for_head(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def data_received(self, data: bytes) -> None:
        waiting = self._waiting_for_head()
        if waiting:
            if self._header_timer is None:  # the first byte of the next request on a kept-alive connection
                self._arm_header_timer()
            self._head_started = True
            seen = self._tail + data
            end = seen.find(b"\r\n\r\n")
            head = data if end < 0 else data[: max(0, end + 4 - len(self._tail))]  # not the body after it
            self._tail = seen[-3:]
            self._head_bytes += len(head)
            self._head_lines += head.count(b"\n")
            if self._head_bytes > MAX_HEADER_BYTES or self._head_lines > MAX_HEADER_LINES + 2:
                limits = f"{MAX_HEADER_BYTES} bytes and {MAX_HEADER_LINES} header lines"
                self._refuse(431, "headers_too_large", f"request headers are limited to {limits}")
                return
        before = self.cycle
        super().data_received(data)  # type: ignore[misc]
        if self.cycle is not before and self.cycle is not None:  # a whole head parsed: the request is running
            self._cancel_header_timer()
            self._head_bytes = self._head_lines = 0
            self._head_started = False
            self._tail = b""

    def send_400_response(self, msg: str) -> None:
        """What the parser could not read as HTTP/1.1 (a bad request line, a malformed header, a Content-Length
        that is no number): the API's JSON 400, counted, instead of uvicorn's plain-text one."""
        self._refuse(400, "bad_request", f"the request is not valid HTTP/1.1 ({msg.rstrip('.')})")

    # ------------------------------------------------------------------ timers and refusals
    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout, self._header_deadline)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_deadline(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or not self._waiting_for_head():
            return
        if self._head_started:
            self._refuse(408, "request_timeout", f"request headers must arrive within {self.header_timeout:g} s")
        else:  # opened and never spoke: close quietly, as for an idle keep-alive connection
            self.transport.close()
            self._count(408)

    def _refuse(self, status: int, error: str, message: str, retry: int | None = None) -> None:
        """Answer in the API's JSON error format, counted, and close the connection."""
        self._cancel_header_timer()
        body = json.dumps({"error": error, "message": message}).encode()
        head = [f"HTTP/1.1 {status} {_REASONS[status]}", "content-type: application/json",
                f"content-length: {len(body)}", "connection: close"]
        if retry is not None:
            head.append(f"retry-after: {retry}")
        if not self.transport.is_closing():
            self.transport.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            self.transport.close()
        self._count(status)

    def _count(self, status: int) -> None:
        if self.counter is not None:
            self.counter.refused_connection(status)


class GuardedH11Protocol(ConnectionGuards, H11Protocol):
    """h11 (pure Python), guarded."""


if HttpToolsProtocol is not None:

    class GuardedHttpToolsProtocol(ConnectionGuards, HttpToolsProtocol):
        """httptools (the C parser uvicorn prefers), guarded."""


def guarded_protocol(
    header_timeout: float, counter: RefusalCounter | None, parser: str = "auto",
    max_connections: int = Settings.model_fields["max_connections"].default,
) -> type[ConnectionGuards]:
    """The protocol class for one server: its parser ("auto": httptools when installed, else h11), its header
    deadline, its connection cap and where its refusals are counted."""
    base: type[ConnectionGuards] = GuardedH11Protocol
    if parser in ("auto", "httptools") and HttpToolsProtocol is not None:
        base = GuardedHttpToolsProtocol
    attributes = {"header_timeout": header_timeout, "counter": counter, "max_connections": max_connections}
    return type("ServerProtocol", (base,), attributes)


class ShutdownCutoff:
    """The outermost ASGI wrapper: a request still unanswered when uvicorn's graceful-shutdown timeout runs out
    (its task cancelled, e.g. while the body trickles in or a write waits its turn) ends as a JSON 503 with
    Retry-After, counted like the other refusals, instead of uvicorn's plain-text 500. A response already
    started is left to uvicorn, which closes the connection."""

    def __init__(self, app: ASGIApp, counter: RefusalCounter) -> None:
        self.app = app
        self.counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except asyncio.CancelledError:
            if started:
                raise
            self.counter.refused_connection(503)
            message = "the server is restarting; try again in a moment"
            await send_json_error(send, 503, "shutting_down", message, {"retry-after": "1", "connection": "close"})

"""HEAD wherever GET (RFC 9110, 9.3.2): a HEAD request is routed as the GET it stands for, and answered with
that GET's status and headers (Content-Length included) without its body.

One middleware rather than a HEAD route beside every GET one: no route can forget it, and the OpenAPI schema
keeps one operation per path and method. It sits inside the other middleware, so the access log, the metrics
and the rate limit still see HEAD.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGetMiddleware:
    """Route HEAD as GET and drop the body of the answer (a 405's Allow lists HEAD beside GET: app.api.app)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        # a copy: the server keeps its own scope, whose HEAD tells it to send no body whatever the app sends
        await self.app({**scope, "method": "GET"}, receive, headers_only)

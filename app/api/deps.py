"""The HTTP edge's state, typed: what the app factory and its lifespan set up, and the dependencies routes take.

One `AppState` on `app.state.newsqa` replaces loose attributes: every route and middleware reads the same typed
object (`state_of`), and mypy checks each use.
"""

from __future__ import annotations

import collections.abc
import types
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Union, get_args, get_origin
from urllib.parse import unquote_to_bytes

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from starlette.applications import Starlette

from app.api.errors import NotReadyError
from app.config import Settings
from app.errors import PayloadTooLargeError
from app.service import QAService

if TYPE_CHECKING:
    import anyio
    import jinja2

    from app.api.jobs import Jobs
    from app.api.observability import Counters, QuestionLogger
    from app.api.routes.chat import ChatGateway
    from app.api.shared import SharedState
    from app.api.writer import Writes


@dataclass
class Runtime:
    """The loaded service, or the reason it is not there (still loading, or failed to load)."""

    service: QAService | None = None
    reason: str = "the model and index are still loading"
    draining: bool = False  # SIGTERM received: finish what is in flight, take nothing new


@dataclass
class AppState:
    """Everything the HTTP edge shares, made once per app by `create_app`."""

    settings: Settings
    runtime: Runtime
    counters: Counters
    questions: QuestionLogger
    jobs: Jobs
    chat: ChatGateway | None
    web: jinja2.Environment
    writer: Writes  # where adds, removals and the start-up catch-up run (the writer process, by default)
    shared: SharedState  # what the replicas share: chat de-duplication and rate limits (Redis, or memory)
    # made in the lifespan (a limiter belongs to a running event loop): adds, removals and reloads, one at a time
    write_limiter: anyio.CapacityLimiter | None = None

    @property
    def writes(self) -> anyio.CapacityLimiter:
        """The writers' limiter; only requests (which run after the lifespan started) ask for it."""
        if self.write_limiter is None:
            raise RuntimeError("the app's lifespan has not started")
        return self.write_limiter


def state_of(app: Starlette) -> AppState:
    """The app's typed state (set by `create_app`)."""
    state: AppState = app.state.newsqa
    return state


def runtime_of(request: Request) -> Runtime:
    return state_of(request.app).runtime


async def get_service(request: Request) -> QAService:
    """The loaded service; NotReadyError (503) while it is loading or when loading failed."""
    runtime = runtime_of(request)
    if runtime.service is None:
        raise NotReadyError(runtime.reason)
    return runtime.service


ServiceDep = Annotated[QAService, Depends(get_service)]


async def read_body(request: Request, limit: int, refusal: str | None = None) -> bytes:
    """The raw body (signatures are computed over the exact bytes), refused with 413 past `limit` bytes (saying
    `refusal`, by default that the body is over the limit)."""
    refusal = refusal or f"the request body is over {limit} bytes"
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(refusal)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(refusal)
        chunks.append(chunk)
    return b"".join(chunks)


def _takes_many(annotation: object) -> bool:
    """Whether a query parameter's annotation is a list (`list[str] | None` included): it may repeat."""
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_takes_many(arg) for arg in get_args(annotation))
    many = (list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.Set, collections.abc.Collection)
    return get_origin(annotation) in many or annotation in many


def _query_parameters(dependant: Dependant) -> dict[str, bool]:
    """The query parameters a route takes (its own and its dependencies'), each with whether it may repeat."""
    taken = {field.alias: _takes_many(field.field_info.annotation) for field in dependant.query_params}
    for dependency in dependant.dependencies:
        taken = {**_query_parameters(dependency), **taken}
    return taken


def _undecodable_parameters(query: bytes) -> list[tuple[str, str]]:
    """(name, raw pair) of each query-string pair whose percent-escapes do not decode as UTF-8; the name as far
    as it reads (Starlette decodes the rest with U+FFFD for what it cannot read)."""
    found = []
    for pair in query.split(b"&"):
        try:
            unquote_to_bytes(pair).decode("utf-8")
        except UnicodeDecodeError:
            raw = pair.decode("latin-1")
            found.append((unquote_to_bytes(raw.split("=", 1)[0]).decode("utf-8", "replace"), raw))
    return found


async def strict_query(request: Request) -> None:
    """The query string as the route declares it, or a 422 naming what is not:

    - a parameter the route does not take (`/ask?q=...&topk=1`) is `unknown_parameter`: a misspelt filter must
      not be ignored silently, the way POST /ask refuses a field it does not know;
    - a parameter that takes one value, given twice (`?published_to=2025-01-01&published_to=2026-01-01`), is
      `repeated_parameter`, not a silent pick of the last value: a client that sent two filters must learn
      that only one counts. Parameters declared as lists (`doc_id`) may repeat.

    - a name or value whose percent-escapes are not UTF-8 (`?q=who%FFmediated`) is `invalid_encoding`, as a
      POST body that is not UTF-8 is refused, not read with U+FFFD in place of the bytes it could not read.

    For the JSON API's routers; the staff pages take any parameter (a link may carry a campaign tag)."""
    undecodable = _undecodable_parameters(request.scope.get("query_string", b""))
    if undecodable:
        raise RequestValidationError([{"type": "invalid_encoding", "loc": ("query", name), "input": raw,
                                       "msg": "percent-escapes that are not UTF-8"} for name, raw in undecodable])
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    taken = _query_parameters(dependant)
    operation = f"{request.method} {getattr(route, 'path', request.url.path)}"
    errors = []
    for name in dict.fromkeys(request.query_params.keys()):
        values = request.query_params.getlist(name)
        if name not in taken:
            errors.append({"type": "unknown_parameter", "loc": ("query", name), "input": values,
                           "msg": f"{operation} takes no such parameter"})
        elif not taken[name] and len(values) > 1:
            errors.append({"type": "repeated_parameter", "loc": ("query", name), "input": values,
                           "msg": f"given {len(values)} times; it takes one value"})
    if errors:
        raise RequestValidationError(errors)

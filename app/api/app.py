"""The HTTP app: the factory that mounts `app.api.routes`, handles errors once and loads the service in its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.routing import Match

from app import __version__
from app.api.deps import AppState, Runtime, state_of
from app.api.errors import SharedStateUnavailableError
from app.api.guards import (
    BodyLimitMiddleware,
    BodyLimits,
    ConcurrencyLimitMiddleware,
    RateLimitMiddleware,
    RequestIdMiddleware,
)
from app.api.head import HeadAsGetMiddleware
from app.api.jobs import Jobs
from app.api.observability import Counters, QuestionLogger, install_metrics
from app.api.routes.ask import router as ask_router
from app.api.routes.chat import ChatGateway
from app.api.routes.chat import router as chat_router
from app.api.routes.documents import jobs_router
from app.api.routes.documents import router as documents_router
from app.api.routes.pages import router as web_router
from app.api.routes.pages import web_templates
from app.api.routes.probes import router as probes_router
from app.api.schemas import ErrorResponse, error_responses
from app.api.shared import SharedState
from app.api.writer import Writes
from app.config import Settings, get_settings
from app.errors import NewsQAError, SearchBackendUnavailableError, validation_message
from app.service import QAService

log = logging.getLogger("newsqa.api")

Loader = Callable[[Settings], QAService]

LOAD_RETRY_FIRST_SECONDS = 0.5  # a start-up that found the search backend down tries again, backing off to
LOAD_RETRY_MAX_SECONDS = 10.0


def _error_response(status: int, body: ErrorResponse, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


async def newsqa_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NewsQAError)
    if exc.status_code >= 500:
        log.error("%s on %s %s: %s", exc.code, request.method, request.url.path, exc.message)
    headers = None
    if isinstance(exc, SharedStateUnavailableError):  # Redis is down: retry shortly, and it is counted
        state_of(request.app).counters.shared_state_unavailable()
        headers = {"Retry-After": "1"}
    elif isinstance(exc, SearchBackendUnavailableError):  # Milvus is down (counted by the backend's stats)
        headers = {"Retry-After": "1"}
    return _error_response(exc.status_code, ErrorResponse(error=exc.code, message=exc.message), headers)


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors: Sequence[dict[str, Any]] = exc.errors()
    details: list[dict[str, object]] = [
        {"type": str(e["type"]), "loc": [p if isinstance(p, int) else str(p) for p in e["loc"]], "msg": str(e["msg"])}
        for e in errors
    ]
    message = "; ".join(_describe(e) for e in errors) or "invalid request"
    return _error_response(422, ErrorResponse(error="validation_error", message=message, details=details))


def _describe(error: dict[str, Any]) -> str:
    """One human line per pydantic error, naming the field: "top_k: Input should be ..."."""
    source, *path = error["loc"]
    if error["type"] == "json_invalid":
        return f"request body is not valid JSON: {error.get('ctx', {}).get('error', '')} at position {path[0]}"
    field = ".".join(str(p) for p in path)
    if not field:
        return f"request body: {error['msg']} (send a JSON object with Content-Type: application/json)"
    return f"{'query parameter ' if source == 'query' else ''}{field}: {validation_message(error)}"


BODY_PARSE_ERROR = "There was an error parsing the body"  # fastapi.routing's detail for an undecodable body


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own errors (unknown route, wrong method, ...) in the same JSON shape as ours."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and exc.detail == BODY_PARSE_ERROR:
        # FastAPI's answer to a body it cannot decode (not UTF-8, nested too deeply for the JSON parser): the
        # same 422 as any other body that is not valid JSON, the one status the API documents for it
        message = "request body is not valid JSON (not UTF-8, or nested too deeply)"
        return _error_response(422, ErrorResponse(error="validation_error", message=message))
    code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    message = f"no route for {request.method} {request.url.path}" if exc.status_code == 404 else str(exc.detail)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:  # Starlette names the first matching route's methods only (POST /ask, not GET)
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return _error_response(exc.status_code, ErrorResponse(error=code, message=message), headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route accepts at this path (asked of each route with each method), HEAD wherever GET
    (app.api.head)."""
    allowed = []
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.routes):
            allowed += ["GET", "HEAD"] if method == "GET" else [method]
    return allowed


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """A bug: log it with its traceback, answer 500 without one."""
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error_response(500, ErrorResponse(error="internal_error", message="internal error"))


async def _load(
    runtime: Runtime, loader: Loader, settings: Settings, writes: anyio.CapacityLimiter, writer: Writes
) -> None:
    pause = LOAD_RETRY_FIRST_SECONDS
    while True:
        try:
            service = runtime.service = await anyio.to_thread.run_sync(loader, settings, abandon_on_cancel=True)
            break
        except SearchBackendUnavailableError:  # Milvus down at start-up: not ready until it is back, by itself
            log.warning("the search backend is unreachable: loading again in %.0f s", pause)
            runtime.reason = "waiting for the search backend (Milvus), which does not answer"
            await asyncio.sleep(pause)
            pause = min(pause * 2, LOAD_RETRY_MAX_SECONDS)
        except Exception as exc:  # a background task: record why, or readiness would say "loading" forever
            log.exception("the service failed to load")
            runtime.reason = f"the service failed to load: {exc}"
            return
    # the index is hundreds of thousands of long-lived objects: out of the collector's sight, a full
    # collection no longer walks all of them while a question waits (they are still freed by reference
    # counting when an update replaces the index)
    gc.collect()
    gc.freeze()
    log.info("the service is ready")
    try:  # the writer process, started now so that the first add does not wait for it (app.api.writer)
        await anyio.to_thread.run_sync(writer.start, abandon_on_cancel=True, limiter=writes)
    except Exception as exc:  # questions are served all the same; the first write tries again
        log.error("could not start the writer process: %s", exc.message if isinstance(exc, NewsQAError) else repr(exc))
    if service.index.pending:  # serve the last good build now; catch up on the corpus folder with the writes
        try:
            await anyio.to_thread.run_sync(writer.catch_up, service, abandon_on_cancel=True, limiter=writes)
        except Exception as exc:  # the last good build keeps serving; the next start (or add) tries again
            log.error("could not catch up on the corpus (serving the last good build): %s",
                      exc.message if isinstance(exc, NewsQAError) else repr(exc))


async def _watch(runtime: Runtime, seconds: float, writes: anyio.CapacityLimiter) -> None:
    """Pick up index updates made by another process (`newsqa add` next to a running server), on the writers'
    thread (a reload waits on the same lock as an add)."""
    while True:
        await asyncio.sleep(seconds)
        service = runtime.service
        if service is None:
            continue
        try:
            await anyio.to_thread.run_sync(service.refresh, abandon_on_cancel=True, limiter=writes)
        except NewsQAError as exc:  # a damaged or half-visible build: keep serving the one in memory
            log.warning("could not load the updated index: %s", exc.message)
        except Exception:  # anything else: logged, and the watch goes on (it is what keeps this replica current)
            log.exception("could not load the updated index")


def create_app(
    settings: Settings | None = None, *, service: QAService | None = None, loader: Loader = QAService.load
) -> FastAPI:
    """The API app. It loads `loader(settings)` in its lifespan unless `service` is already loaded (tests).

    Loading runs in a worker thread after start-up, so /healthz answers (and /readyz says 503) meanwhile.
    """
    if settings is None:
        settings = service.settings if service is not None else get_settings()
    runtime = Runtime(service=service)
    counters = Counters()
    state = AppState(
        settings=settings,
        runtime=runtime,
        counters=counters,
        questions=QuestionLogger.from_settings(settings),
        jobs=Jobs.from_settings(settings),
        chat=ChatGateway.from_settings(settings, on_answer=counters.answer),
        web=web_templates(settings.prompts_dir),
        writer=Writes(settings),
        shared=SharedState.from_settings(settings),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # sync routes (every question) run in anyio's worker threads: a few, so that the event loop keeps the GIL
        # often enough to read requests and shed the excess instead of letting them queue unseen in the sockets
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        # writes (adds, removals, reloads) get a thread of their own, one at a time: a write waiting for the
        # one before it waits here, in the event loop, and never holds a thread that questions need
        state.write_limiter = writes = anyio.CapacityLimiter(1)
        loading = None
        if runtime.service is None:
            loading = asyncio.create_task(_load(runtime, loader, settings, writes, state.writer))
        watching = (
            asyncio.create_task(_watch(runtime, settings.reload_seconds, writes)) if settings.reload_seconds else None
        )
        yield
        for task in (loading, watching):  # still loading at shutdown: stop waiting; the thread is abandoned
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await anyio.to_thread.run_sync(state.writer.stop)
        state.jobs.close()
        await state.shared.close()
        if loading is not None and runtime.service is not None:  # a service this app loaded: its client too
            runtime.service.search.close()

    app = FastAPI(
        title="newsqa",
        version=__version__,
        description="Retrieval-only question answering over news articles: answers are verbatim quotes "
        "with character offsets into the stored text, or an explicit abstention.",
        lifespan=lifespan,
        responses=error_responses(413, 429, 500, 503),  # any route: body cap, rate limit, a bug, overload
    )
    app.state.newsqa = state
    log.info("chat: %s", state.chat.describe() if state.chat else "off (no Slack secret, no Mattermost token)")
    app.include_router(ask_router)
    app.include_router(probes_router)
    app.include_router(documents_router)
    app.include_router(jobs_router)
    app.include_router(web_router)
    app.include_router(chat_router)
    app.add_exception_handler(NewsQAError, newsqa_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)
    # middleware: the last added is the outermost (metrics, request id, concurrency, rate limit, CORS, body cap,
    # HEAD as GET)
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(BodyLimitMiddleware, limits=BodyLimits(settings.max_body_bytes, settings.max_upload_bytes))
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-Request-ID"],
        )
    if settings.rate_limit != "off":
        admin = settings.admin_api_key.get_secret_value().encode() if settings.admin_api_key else None
        app.add_middleware(
            RateLimitMiddleware, rate=settings.rate_limit, rate_limits=state.shared.rate_limits,
            on_limited=state.counters.limited, valid_key=admin or None,
            on_unavailable=state.counters.shared_state_unavailable,
        )
    app.add_middleware(ConcurrencyLimitMiddleware, limit=settings.limit_concurrency, on_shed=state.counters.shed_one)
    app.add_middleware(RequestIdMiddleware)
    # outermost, so that every refusal (429, 503, 413) is in http_requests_total too
    install_metrics(app, state.counters)
    resolve_routes(app)
    return app


def resolve_routes(app: FastAPI) -> None:
    """Build every included route's request handling now, in the thread that makes the app.

    FastAPI (0.137 and later) builds an included router's routes on first use: the first request evaluates each
    endpoint's annotations (strings, under `from __future__ import annotations`) and builds its dependencies.
    Done here, that work happens once, before the server listens and before the lifespan's loader thread
    starts; a replica restarted under load once answered /readyz with a 500 from that first-request build
    ("Query parameter 'q' must be one of the supported types") while its loader thread was importing the
    backend. A route that cannot be built fails the start instead of a request.
    """
    list(iter_route_contexts(app.router.routes))  # iterating builds each included route's effective context
    for route in app.router.routes:
        low_priority = getattr(route, "effective_low_priority_routes", None)
        if low_priority is not None:
            low_priority()

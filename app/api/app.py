"""The HTTP edge: FastAPI routes over one QAService, which the app's lifespan loads once in a worker thread."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

from app import __version__
from app.api.deps import AppState, Runtime, ServiceDep, single_valued_query, state_of
from app.api.errors import SharedStateUnavailableError
from app.api.guards import (
    BodyLimitMiddleware,
    BodyLimits,
    ConcurrencyLimitMiddleware,
    RateLimitMiddleware,
    RequestIdMiddleware,
)
from app.api.jobs import Jobs
from app.api.observability import Counters, QuestionLogger, answer_fields, install_metrics
from app.api.routes.chat import ChatGateway
from app.api.routes.chat import router as chat_router
from app.api.routes.documents import jobs_router
from app.api.routes.documents import router as documents_router
from app.api.routes.pages import router as web_router
from app.api.routes.pages import web_templates
from app.api.schemas import (
    AskRequest,
    AskResponse,
    ErrorResponse,
    HealthResponse,
    IsoDate,
    ReadyResponse,
    document_filter,
    error_responses,
)
from app.api.shared import SharedState
from app.api.writer import Writes
from app.config import Settings, get_settings
from app.errors import InvalidQuestionError, NewsQAError, SearchBackendUnavailableError
from app.models import Answer, DocumentFilter
from app.service import QAService
from app.text.question import question_pattern

log = logging.getLogger("newsqa.api")

Loader = Callable[[Settings], QAService]


router = APIRouter(dependencies=[Depends(single_valued_query)])


def _answer_json(answer: Answer) -> Response:
    """The answer serialized once, straight from the wire model (it is already valid: no second validation)."""
    return Response(AskResponse.from_answer(answer).model_dump_json(), media_type="application/json")


def _ask(request: Request, service: QAService, question: str, top_k: int, where: DocumentFilter) -> Response:
    """Answer, count the outcome and log it (a keyed hash of the question unless raw logging is on)."""
    started = time.perf_counter()
    try:
        answer = service.ask(question, top_k, where)
    except InvalidQuestionError:
        log.info("question refused", extra=state_of(request.app).questions.fields(question))
        raise
    state = state_of(request.app)
    state.counters.answer(answer)
    elapsed = time.perf_counter() - started
    fields = {**state.questions.fields(answer.question), **answer_fields(answer, elapsed)}
    log.info("answered" if answer.answered else "abstained", extra=fields)
    return _answer_json(answer)


ASK_ERRORS = error_responses(413, 422, 429, 503)
LOAD_RETRY_FIRST_SECONDS = 0.5  # a start-up that found the search backend down tries again, backing off to
LOAD_RETRY_MAX_SECONDS = 10.0


@router.post("/ask", response_model=AskResponse, responses=ASK_ERRORS)
def ask_post(request: Request, body: AskRequest, service: ServiceDep) -> Response:
    """Answer a question with verbatim quotes from the corpus, or abstain.

    Every quote and passage gives `doc_id`, `start` and `end`, with `text == document.text[start:end]`.
    When the corpus does not answer the question, `answered` is false, `quotes` is empty, `message` says
    so, and `passages` still lists the closest passages.
    """
    return _ask(request, service, body.question, body.top_k, body.document_filter())


@router.get("/ask", response_model=AskResponse, responses=ASK_ERRORS)
def ask_get(
    request: Request,
    service: ServiceDep,
    q: Annotated[
        str,
        Query(description="The question, 1–500 characters after NFKC normalization; no control characters.",
              json_schema_extra={"minLength": 1, "pattern": question_pattern()}),
    ],
    top_k: Annotated[int, Query(ge=1, le=10, description="How many supporting passages to return.")] = 3,
    doc_id: Annotated[list[str] | None, Query(description="Ask only these briefs (repeat the parameter).")] = None,
    source: Annotated[str | None, Query(max_length=200, description="Ask only briefs from this source.")] = None,
    published_from: Annotated[IsoDate | None, Query(description="Only briefs published on or after.")] = None,
    published_to: Annotated[IsoDate | None, Query(description="Only briefs published on or before.")] = None,
) -> Response:
    """Same as `POST /ask`, with the question in the query string (`/ask?q=...&top_k=3&source=...`)."""
    where = document_filter(doc_id, source, published_from, published_to)
    return _ask(request, service, q, top_k, where)


@router.get("/healthz")
async def healthz() -> HealthResponse:
    """Liveness: 200 whenever the process answers, even while the model and index are loading."""
    return HealthResponse(status="ok")


@router.get("/readyz", responses={503: {"model": ReadyResponse}}, response_model_exclude_none=True)
async def readyz(request: Request, response: Response) -> ReadyResponse:
    """Readiness: 200 with the index's counts once it is loaded; 503 with the reason until then."""
    runtime = state_of(request.app).runtime
    if runtime.draining:
        response.status_code = 503
        return ReadyResponse(status="draining", reason="shutting down: finishing requests in flight")
    if runtime.service is None:
        response.status_code = 503
        return ReadyResponse(status="not_ready", reason=runtime.reason)
    state = state_of(request.app)
    # only when questions or chat need Redis (rate limits, de-duplication): a replica whose questions would be
    # answered all the same stays in rotation while only its writes and jobs wait for Redis
    needed = state.settings.rate_limit != "off" or state.chat is not None
    unreachable = await state.shared.unreachable() if needed else None
    search = runtime.service.search
    if unreachable is None and search.name != "builtin":  # every question needs the search backend
        unreachable = await anyio.to_thread.run_sync(search.unreachable)
    if unreachable is not None:  # questions would be refused meanwhile: take this replica out of rotation
        response.status_code = 503
        return ReadyResponse(status="not_ready", reason=unreachable)
    manifest = runtime.service.index.manifest
    return ReadyResponse(
        status="ready",
        catching_up=runtime.service.index.pending or None,
        documents=manifest.counts.get("documents"),
        passages=manifest.counts.get("passages"),
        sentences=manifest.counts.get("sentences"),
        vector_index=manifest.vector_index,
        build=manifest.build_dir,
    )


# HEAD probes (load balancers, `curl -I`) get the same answers without a body; kept out of the schema, where
# a second operation per path would only repeat the GET (and collide with its operation id)
router.add_api_route("/healthz", healthz, methods=["HEAD"], include_in_schema=False)
router.add_api_route(
    "/readyz", readyz, methods=["HEAD"], include_in_schema=False, response_model_exclude_none=True,
    response_model=ReadyResponse,
)


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
    return f"{'query parameter ' if source == 'query' else ''}{field}: {error['msg']}"


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
    """Every method some route accepts at this path (asked of each route with each method)."""
    allowed = []
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.routes):
            allowed.append(method)
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
    state = AppState(
        settings=settings,
        runtime=runtime,
        counters=Counters(),
        questions=QuestionLogger.from_settings(settings),
        jobs=Jobs.from_settings(settings),
        chat=ChatGateway.from_settings(settings),
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
    app.include_router(router)
    app.include_router(documents_router)
    app.include_router(jobs_router)
    app.include_router(web_router)
    app.include_router(chat_router)
    app.add_exception_handler(NewsQAError, newsqa_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)
    # middleware: the last added is the outermost (metrics, request id, concurrency, rate limit, CORS, body cap)
    uploads = settings.max_upload_bytes + 65536  # room for the multipart envelope and metadata fields
    app.add_middleware(BodyLimitMiddleware, limits=BodyLimits(settings.max_body_bytes, uploads))
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
    return app

"""The HTTP edge for load balancers and orchestrators: liveness (`/healthz`) and readiness (`/readyz`).

A module of their own, not beside `/ask`: they share nothing with the question routes (no service dependency,
no query parameters, so no `strict_query` either: a load balancer may add its own), they must answer while the
service is still loading, and they change for other reasons (what "ready" means: the index, Redis, the search
backend, draining). HEAD probes (`curl -I`) are answered as every GET route's are (app.api.head).
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request, Response

from app.api.deps import state_of
from app.api.schemas import HealthResponse, ReadyResponse

router = APIRouter()


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

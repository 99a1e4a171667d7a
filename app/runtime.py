"""What the app's lifespan fills in, shared by every HTTP edge: the loaded service, or why there is none yet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.errors import NotReadyError, PayloadTooLargeError
from app.service import QAService


@dataclass
class Runtime:
    """The loaded service, or the reason it is not there (still loading, or failed to load)."""

    service: QAService | None = None
    reason: str = "the model and index are still loading"
    draining: bool = False  # SIGTERM received: finish what is in flight, take nothing new


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_service(request: Request) -> QAService:
    """The loaded service; NotReadyError (503) while it is loading or when loading failed."""
    runtime = runtime_of(request)
    if runtime.service is None:
        raise NotReadyError(runtime.reason)
    return runtime.service


ServiceDep = Annotated[QAService, Depends(get_service)]


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body (signatures are computed over the exact bytes), refused with 413 past `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"the request body is over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"the request body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)

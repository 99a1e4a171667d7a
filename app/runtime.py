"""What the app's lifespan fills in, shared by every HTTP edge: the loaded service, or why there is none yet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.errors import NotReadyError
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

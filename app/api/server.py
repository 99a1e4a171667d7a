"""`newsqa serve`: the API under one uvicorn worker, with JSON logs, load shedding and a graceful drain."""

from __future__ import annotations

import sys
import threading
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

from app.api.app import create_app
from app.api.connections import ShutdownCutoff, guarded_protocol
from app.api.deps import Runtime, state_of
from app.config import Settings
from app.logs import configure_logging
from app.service import QAService


class DrainingServer(uvicorn.Server):
    """uvicorn's server, except that /readyz turns 503 the moment SIGTERM (or SIGINT) arrives.

    After NEWSQA_DRAIN_SECONDS uvicorn stops accepting connections, lets in-flight requests finish (up to
    NEWSQA_GRACEFUL_TIMEOUT_SECONDS) and runs the lifespan shutdown.
    """

    def __init__(self, config: uvicorn.Config, runtime: Runtime, drain_seconds: float) -> None:
        super().__init__(config)
        self.runtime = runtime
        self.drain_seconds = drain_seconds

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """First signal: readiness 503 and keep serving for `drain_seconds` (load balancers notice and stop
        sending), then uvicorn's graceful shutdown. A second signal shuts down at once."""
        if self.runtime.draining or not self.drain_seconds:
            self.runtime.draining = True
            super().handle_exit(sig, frame)
            return
        self.runtime.draining = True
        timer = threading.Timer(self.drain_seconds, super().handle_exit, (sig, frame))
        timer.daemon = True
        timer.start()


def server_config(settings: Settings, application: FastAPI, **overrides: Any) -> uvicorn.Config:
    """How newsqa runs under uvicorn: h11 with the connection guards of `app.api.connections` (header deadline and
    caps, connection cap, every refusal JSON and counted); no uvicorn `limit_concurrency`, which counts idle
    sockets (requests in flight are shed by `app.api.guards`)."""
    counters = state_of(application).counters
    trusted = settings.trusted_proxies.strip()
    values: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "workers": 1,
        "log_level": settings.log_level,
        "log_config": None,  # keep the JSON handler configure_logging installed
        "access_log": False,  # app.api.guards writes the access line, without query strings
        "http": guarded_protocol(
            settings.header_timeout_seconds, counters, max_connections=settings.max_connections
        ),
        "timeout_keep_alive": settings.keep_alive_seconds,
        "timeout_graceful_shutdown": settings.graceful_timeout_seconds,
        # uvicorn trusts X-Forwarded-For from 127.0.0.1 unless told otherwise: any local client could name a
        # new address per request and get a new rate-limit bucket. Only the configured proxies are trusted.
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted,
        **overrides,
    }
    return uvicorn.Config(ShutdownCutoff(application, counters), **values)


def run_server(settings: Settings) -> None:
    configure_logging(settings)
    # a question waits for the GIL each time it comes back from ONNX Runtime or numpy; with Python's 5 ms
    # switch interval, a write's pure-Python work (parsing, the BM25 rebuild) made it wait up to 5 ms each time
    sys.setswitchinterval(settings.gil_switch_ms / 1000)
    application = create_app(settings, loader=QAService.load_serving)
    config = server_config(settings, application)
    DrainingServer(config, state_of(application).runtime, settings.drain_seconds).run()

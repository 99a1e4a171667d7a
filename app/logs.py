"""Structured logs: one JSON object per line (or plain text), each with the id of the request it is about.

At the bottom of the layers: the server, the CLI and the index-building child process all log this way, and
the request id is set by the HTTP edge's request guard (`app.api.guards`) for whatever runs under it.
"""

from __future__ import annotations

import contextvars
import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from app.config import Settings

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Stamps every record with the current request's id ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def configure_logging(settings: Settings) -> None:
    """One JSON object per line on stderr (or plain text), each with the request id of the request it is about."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if settings.log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                json_ensure_ascii=False,
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for noisy in ("uvicorn.access", "httpx", "bm25s"):  # the access line is ours: it never holds a query string
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # trafilatura logs a page it cannot read at ERROR: a client's input, answered with a 422, not a server fault
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)

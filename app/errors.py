"""One error hierarchy for the core; each class carries the HTTP status an edge should answer with.

Errors only the HTTP edge raises (auth, media types, jobs, readiness) are in `app.api.errors`, beneath the same
base class, so one handler answers them all."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class NewsQAError(Exception):
    """Base of every error the core raises on purpose."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidQuestionError(NewsQAError):
    """The question is empty, too long, or carries control characters."""

    status_code = 422
    code = "invalid_question"


class DocumentNotFoundError(NewsQAError):
    """A document id that the corpus does not hold."""

    status_code = 404
    code = "document_not_found"


class WeightsError(NewsQAError):
    """A learned weights file (app/weights/) is missing or malformed."""

    status_code = 500
    code = "weights_error"


class CorpusError(NewsQAError):
    """The corpus folder is missing, empty or unreadable."""

    status_code = 500
    code = "corpus_error"


class IndexCorruptError(NewsQAError):
    """An index file on disk does not match its manifest (truncated, bit-flipped, or from another build)."""

    status_code = 503
    code = "index_corrupt"


class TemplateError(NewsQAError):
    """A wording template in prompts/ is missing or asks for a variable nobody supplies."""

    status_code = 500
    code = "template_error"


class PayloadTooLargeError(NewsQAError):
    """A request body over the route's limit."""

    status_code = 413
    code = "payload_too_large"


class InvalidDocumentError(NewsQAError):
    """A brief that cannot be stored: unsupported type, not UTF-8, no text, or invalid metadata."""

    status_code = 422
    code = "invalid_document"


class IndexWriteError(NewsQAError):
    """Writing the corpus or the index failed (disk full, read-only folder); the previous index keeps serving."""

    status_code = 503
    code = "index_write_failed"


class ModelUnavailableError(NewsQAError):
    """The reference model (torch, sentence-transformers and the packaged weights) is not installed here: a
    serving-only install can serve a prebuilt index, never build one."""

    status_code = 503
    code = "model_unavailable"


class SearchBackendUnavailableError(NewsQAError):
    """The search backend (Milvus, NEWSQA_SEARCH_BACKEND) did not answer in time, after a retry."""

    status_code = 503
    code = "search_backend_unavailable"


class SearchBackendRefusedError(NewsQAError):
    """The search backend answers but refuses the call, the same way after a retry on a new connection (a
    collection whose schema does not match this build, a token without the privilege): waiting will not help,
    the deployment must be fixed, so it is not reported as unreachable. The log holds Milvus's own message."""

    status_code = 503
    code = "search_backend_refused"


def validation_message(error: Mapping[str, Any]) -> str:
    """A pydantic error's message as a person reads it: without the "Value error, " that pydantic puts before
    a validator's own sentence ("published: Value error, a date is written YYYY-MM-DD")."""
    return str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")

"""Errors only the HTTP edge raises: readiness, authentication, request shapes, filters, jobs.

They share the core's base class (`app.errors.NewsQAError`), so the one handler in `app.api.app` answers every
error the same way: a JSON body with `code` and `message`, at the class's status.
"""

from __future__ import annotations

from app.errors import NewsQAError


class NotReadyError(NewsQAError):
    """The index is not loaded yet."""

    status_code = 503
    code = "not_ready"


class UnauthorizedError(NewsQAError):
    """A chat request without a valid Slack signature or Mattermost token."""

    status_code = 401
    code = "unauthorized"


class ChatDisabledError(NewsQAError):
    """A chat route whose platform secret is not configured: closed rather than open."""

    status_code = 404
    code = "chat_disabled"


class BadRequestError(NewsQAError):
    """A body that cannot be parsed (e.g. an Events API callback that is not JSON)."""

    status_code = 400
    code = "bad_request"


class AdminDisabledError(NewsQAError):
    """A write endpoint while no admin API key is configured: closed rather than open."""

    status_code = 404
    code = "admin_disabled"


class UnsupportedMediaError(NewsQAError):
    """A body in a content type the route does not take."""

    status_code = 415
    code = "unsupported_media_type"


class InvalidFilterError(NewsQAError):
    """Filters that cannot match anything by construction (a backwards date range)."""

    status_code = 422
    code = "invalid_filter"


class JobNotFoundError(NewsQAError):
    """No asynchronous job with that id (never made, or dropped from memory long after it finished)."""

    status_code = 404
    code = "job_not_found"


class JobFinishedError(NewsQAError):
    """A cancellation asked for a job that has already finished."""

    status_code = 409
    code = "job_finished"


class SharedStateUnavailableError(NewsQAError):
    """Redis (NEWSQA_REDIS_URL) did not answer: what needs the state the replicas share cannot be done now."""

    status_code = 503
    code = "shared_state_unavailable"

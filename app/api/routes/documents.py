"""The HTTP edge for the briefs: list and read them (open), add and delete them (admin API key)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.security import APIKeyHeader
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from app.api.deps import AppState, ServiceDep, read_body, state_of, strict_query
from app.api.errors import (
    AdminDisabledError,
    JobNotFoundError,
    UnauthorizedError,
    UnsupportedMediaError,
)
from app.api.guards import UPLOAD_SETTING
from app.api.jobs import Job, JobCancelledError
from app.api.json_bodies import JsonRoute, RepeatedKeyError, loads
from app.api.schemas import (
    BriefFields,
    DocumentChangeOut,
    DocumentDetail,
    DocumentIn,
    DocumentPage,
    DocumentSummary,
    IsoDate,
    JobOut,
    document_filter,
    error_responses,
    upload_form_schema,
)
from app.errors import InvalidDocumentError, NewsQAError, PayloadTooLargeError, validation_message
from app.ingest.sources import IncomingBrief, decode, format_of, make_brief, metadata
from app.service import QAService

log = logging.getLogger("newsqa.jobs")

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The admin key (NEWSQA_ADMIN_API_KEY).")


async def require_admin(request: Request, key: Annotated[str | None, Depends(api_key_header)]) -> None:
    """Write endpoints: off (404) without a configured key; 401 unless X-API-Key matches (constant time)."""
    settings = state_of(request.app).settings
    if settings.admin_api_key is None or not settings.admin_api_key.get_secret_value():
        raise AdminDisabledError("document uploads are off: set NEWSQA_ADMIN_API_KEY to enable them")
    expected = settings.admin_api_key.get_secret_value().encode()
    if not key or not secrets.compare_digest(key.encode(), expected):
        raise UnauthorizedError("missing or wrong X-API-Key")


AdminDep = Annotated[None, Depends(require_admin)]
router = APIRouter(tags=["documents"], route_class=JsonRoute, dependencies=[Depends(strict_query)])


@router.get("/documents", responses=error_responses(422, 503))
def list_documents(
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=200, description="Documents per page.")] = 50,
    offset: Annotated[int, Query(ge=0, description="How many to skip.")] = 0,
    source: Annotated[str | None, Query(max_length=200, description="Only this source (any case).")] = None,
    published_from: Annotated[IsoDate | None, Query(description="Published on or after (YYYY-MM-DD).")] = None,
    published_to: Annotated[IsoDate | None, Query(description="Published on or before (YYYY-MM-DD).")] = None,
) -> DocumentPage:
    """The briefs the service answers from, newest first: id, title, source, dates, sections, length, hash."""
    where = document_filter(None, source, published_from, published_to)
    documents = service.documents(where)
    page = documents[offset : offset + limit]
    return DocumentPage(
        total=len(documents), offset=offset, limit=limit, documents=[DocumentSummary.from_parsed(d) for d in page]
    )


@router.get("/documents/{doc_id}", responses=error_responses(404, 503))
def get_document(doc_id: str, service: ServiceDep) -> DocumentDetail:
    """One document with its full text exactly as stored: quote offsets index into `text`."""
    return DocumentDetail.from_parsed(service.document(doc_id))


def _checked(problem: ValidationError) -> InvalidDocumentError:
    """The first thing wrong with a brief's fields, named: "published: Value error, a date is written ..."."""
    first = problem.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return InvalidDocumentError(f"{where}: {validation_message(first)}")


def _brief_from_json(body: bytes) -> IncomingBrief:
    try:
        parsed = loads(body)  # read as every JSON body is (app.api.json_bodies): a key given twice is a 422
    except RepeatedKeyError as exc:
        raise exc.validation_error() from None
    except (ValueError, RecursionError):
        parsed = None  # not JSON: pydantic's own parse of the bytes says how, below
    try:  # parsed once (a brief may be megabytes); the bytes again only to word what is wrong with them
        document = DocumentIn.model_validate_json(body) if parsed is None else DocumentIn.model_validate(parsed)
    except ValidationError as exc:
        raise _checked(exc) from None
    given = metadata(document.model_dump(exclude={"text", "format"}, exclude_none=True), "request body")
    return make_brief(document.text, document.format, given, None, "request body", dt.datetime.now(dt.UTC))


def _form_fields(items: list[tuple[str, str | UploadFile]]) -> dict[str, str]:
    """An upload form's metadata fields, for BriefFields (the JSON body's rules). A form cannot send null, so an
    empty field is no value, and a value is stripped of the white space a pasted one brings. A field given twice,
    or one a brief does not have ("publshed"), is an InvalidDocumentError (422), as in a JSON body."""
    fields: dict[str, str] = {}
    for key, value in items:
        if key == "file":
            continue
        if key not in BriefFields.model_fields:
            known = ", ".join(["file", *BriefFields.model_fields])
            raise InvalidDocumentError(f"{key}: not a field of an upload (the fields are {known})")
        if key in fields:
            raise InvalidDocumentError(f"{key}: given twice; a form gives each field once")
        text = value.strip() if isinstance(value, str) else ""
        fields[key] = text
    return {key: text for key, text in fields.items() if text}


async def _brief_from_upload(request: Request, limit: int) -> IncomingBrief:
    try:
        form = await request.form(max_files=1, max_fields=20, max_part_size=limit)
    except HTTPException as exc:  # Starlette's 400 for a body that is no multipart form: one status for an
        # unreadable body, as for a JSON body that does not parse (422 invalid_document)
        raise InvalidDocumentError(f"the upload is not a readable multipart form ({exc.detail})") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidDocumentError("file: a multipart upload needs a `file` field holding the brief")
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise PayloadTooLargeError(f"the file is over {limit} bytes ({UPLOAD_SETTING})")
        fields = _form_fields(form.multi_items())
        name = upload.filename
    finally:
        await form.close()
    try:
        checked = BriefFields.model_validate(fields)
    except ValidationError as exc:
        raise _checked(exc) from None
    given = metadata(checked.model_dump(exclude_none=True), name)
    stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return make_brief(decode(data, name), format_of(name), given, stem, name, dt.datetime.now(dt.UTC))


_UPLOAD_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": DocumentIn.model_json_schema()},
            "multipart/form-data": {"schema": upload_form_schema()},
        },
    }
}


@router.post(
    "/documents",
    status_code=201,
    responses={
        200: {"model": DocumentChangeOut}, 202: {"model": JobOut},
        **error_responses(401, 404, 413, 415, 422, 503),
    },
    openapi_extra=_UPLOAD_SCHEMA,
)
async def add_document(
    request: Request,
    response: Response,
    service: ServiceDep,
    _: AdminDep,
    run_async: Annotated[
        bool, Query(alias="async", description="Answer 202 at once with a job to poll (GET /jobs/{job_id}).")
    ] = False,
) -> DocumentChangeOut | JobOut:
    """Add a brief (or a new version of one): a JSON body with `text` and metadata, or a multipart file upload.

    The index is updated incrementally: only this brief is embedded. 201 when the brief is new or replaced,
    200 when nothing changed (`unchanged`) or only its metadata did (`updated`). With `async=true` (for a large
    brief): 202 with a job (`Location: /jobs/{job_id}`) once the brief passed its checks; the add runs in the
    background, one write at a time, and can be followed and cancelled. Needs `X-API-Key`.
    """
    settings = state_of(request.app).settings
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        limit = settings.max_upload_bytes
        refusal = f"the brief is over {limit} bytes with its JSON ({UPLOAD_SETTING})"
        brief = _brief_from_json(await read_body(request, limit, refusal))
    elif content_type == "multipart/form-data":
        brief = await _brief_from_upload(request, settings.max_upload_bytes)
    else:
        raise UnsupportedMediaError("send application/json (text + metadata) or multipart/form-data (a file)")
    writes = state_of(request.app).writes  # not the questions' threads (app.api.app)
    if run_async:
        # the checks (a parse) on an ordinary worker thread: waiting for the writes' turn here would hold
        # this request until every queued job had finished
        await anyio.to_thread.run_sync(service.check_briefs, [brief])
        job = await start_job(state_of(request.app), service, brief)
        response.status_code = 202
        response.headers["Location"] = f"/jobs/{job.job_id}"
        return JobOut.from_job(job)
    writer = state_of(request.app).writer
    change = (await anyio.to_thread.run_sync(writer.add_documents, service, [brief], limiter=writes))[0]
    if change.status in ("unchanged", "updated"):
        response.status_code = 200
    return DocumentChangeOut(doc_id=change.doc_id, status=change.status, sha256=change.sha256)


@router.delete("/documents/{doc_id}", responses=error_responses(401, 404, 422, 503))
async def delete_document(request: Request, doc_id: str, service: ServiceDep, _: AdminDep) -> DocumentChangeOut:
    """Remove a brief from the corpus and the index (the others keep their vectors). Needs `X-API-Key`."""
    state = state_of(request.app)
    change = await anyio.to_thread.run_sync(state.writer.remove_document, service, doc_id, limiter=state.writes)
    return DocumentChangeOut(doc_id=change.doc_id, status=change.status, sha256=change.sha256)



_running: set[asyncio.Task[None]] = set()  # references to the jobs' tasks, so none is collected mid-run


async def start_job(state: AppState, service: QAService, brief: IncomingBrief) -> Job:
    """Queue an add as a job and start it in the background. It waits its turn with the other writes for the
    writers' thread (the limiter is taken before any thread is, so a queued job holds none, and a running one
    uses the writers' thread, never one that questions need), which hands it to the writer process."""
    job = await anyio.to_thread.run_sync(state.jobs.create, (brief.doc_id,))  # it may publish to Redis
    writes, writer = state.writes, state.writer

    def work() -> None:
        """The add and its ending, on the writers' thread (ending it may publish to Redis: never in the loop)."""
        if not job.start():  # cancelled while it queued
            return
        try:
            changes = writer.add_documents(service, [brief], job)
        except JobCancelledError as exc:
            job.end("cancelled", error=(exc.code, exc.message))
        except NewsQAError as exc:
            job.end("failed", error=(exc.code, exc.message))
        except Exception as exc:  # a bug: recorded on the job (and logged), the server goes on
            log.exception("add job %s failed", job.job_id)
            job.end("failed", error=("internal_error", f"internal error ({type(exc).__name__})"))
        else:
            job.end("done", changes=[(c.doc_id, c.status, c.sha256) for c in changes])

    async def run() -> None:
        await anyio.to_thread.run_sync(work, limiter=writes, abandon_on_cancel=True)

    task = asyncio.get_running_loop().create_task(run())
    _running.add(task)
    task.add_done_callback(_running.discard)
    return job


jobs_router = APIRouter(tags=["jobs"], route_class=JsonRoute, dependencies=[Depends(strict_query)])


async def _job(request: Request, job_id: str) -> Job:
    """The job, run here or (with NEWSQA_REDIS_URL) by another replica: read on a thread, Redis may be slow."""
    job = await anyio.to_thread.run_sync(state_of(request.app).jobs.get, job_id)
    if job is None:
        raise JobNotFoundError(f"no job with id {job_id!r}")
    return job


@jobs_router.get("/jobs/{job_id}", responses=error_responses(401, 404, 503))
async def get_job(request: Request, job_id: str, _: AdminDep) -> JobOut:
    """An asynchronous add: its status, stage, texts embedded so far, and its result or error. Needs `X-API-Key`.
    Behind a proxy with several replicas (NEWSQA_REDIS_URL), any replica answers for any job."""
    return JobOut.from_job(await _job(request, job_id))


@jobs_router.delete("/jobs/{job_id}", responses=error_responses(401, 404, 409, 503))
async def cancel_job(request: Request, job_id: str, _: AdminDep) -> JobOut:
    """Cancel an asynchronous add: a queued one is cancelled at once and never starts; a running one stops at
    its next batch of embeddings, and its corpus files are put back (nothing changed). 409 when it has
    finished, or is past its embeddings (being written: too late to undo). Through another replica than the
    one running it (NEWSQA_REDIS_URL), the cancellation is recorded at once and takes effect at the add's next
    batch (a queued one: when its turn comes)."""
    job = await anyio.to_thread.run_sync(state_of(request.app).jobs.cancel, job_id)
    return JobOut.from_job(job)

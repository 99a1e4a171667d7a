"""The HTTP edge for questions: `POST /ask` and `GET /ask` over the one QAService, each answer counted and logged."""

from __future__ import annotations

import logging
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from app.api.deps import ServiceDep, state_of, strict_query
from app.api.json_bodies import JsonRoute
from app.api.observability import answer_fields
from app.api.schemas import AskRequest, AskResponse, IsoDate, document_filter, error_responses
from app.errors import InvalidQuestionError
from app.models import Answer, DocumentFilter
from app.service import QAService
from app.text.question import question_pattern

log = logging.getLogger("newsqa.api")

router = APIRouter(route_class=JsonRoute, dependencies=[Depends(strict_query)])


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
    doc_id: Annotated[
        list[str] | None, Query(max_length=100, description="Ask only these briefs (repeat the parameter, ≤ 100).")
    ] = None,
    source: Annotated[str | None, Query(max_length=200, description="Ask only briefs from this source.")] = None,
    published_from: Annotated[IsoDate | None, Query(description="Only briefs published on or after.")] = None,
    published_to: Annotated[IsoDate | None, Query(description="Only briefs published on or before.")] = None,
) -> Response:
    """Same as `POST /ask`, with the question in the query string (`/ask?q=...&top_k=3&source=...`)."""
    where = document_filter(doc_id, source, published_from, published_to)
    return _ask(request, service, q, top_k, where)

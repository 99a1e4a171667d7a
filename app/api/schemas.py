"""Wire models: what the HTTP API (and `newsqa ask --json`) accept and return. Field names are a contract."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr, WithJsonSchema

from app.api.errors import InvalidFilterError
from app.api.jobs import Job
from app.ingest.sources import DOC_ID_PATTERN, TEXT_WHITE_SPACE
from app.models import Answer, DocumentFilter, ParsedDocument, ValueKind
from app.text.question import control_free_pattern, question_pattern

ISO_DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def _iso_date(value: object) -> object:
    """A date given as YYYY-MM-DD (or already a date): not a number of seconds since 1970, which pydantic's lax
    mode would otherwise read `published_to=0` as, nor a timestamp (with an offset, whose day is ambiguous)."""
    if isinstance(value, dt.date) or (isinstance(value, str) and re.fullmatch(ISO_DATE_PATTERN, value)):
        return value
    raise ValueError("a date is written YYYY-MM-DD")


IsoDate = Annotated[
    dt.date,
    BeforeValidator(_iso_date),
    WithJsonSchema({"type": "string", "format": "date", "pattern": ISO_DATE_PATTERN}),
]

# An absolute http(s) address with a host, written exactly (no white space around or inside it, no brackets in
# the host: urlsplit refuses an unbalanced or non-IPv6 `[...]`). Stricter than app.ingest.sources.is_web_address,
# which also reads front matter and sidecars and strips what they surround a value with.
WEB_ADDRESS_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#\[\]]+([/?#].*)?$"


def _web_address(value: str) -> str:
    """The staff page links to it: only an http:// or https:// address ("javascript:" would run there)."""
    if not re.fullmatch(WEB_ADDRESS_PATTERN, value):
        raise ValueError("url must be an http:// or https:// address")
    return value


WebAddress = Annotated[
    str, Field(max_length=2000, json_schema_extra={"pattern": WEB_ADDRESS_PATTERN}), AfterValidator(_web_address)
]


def _whole_number(value: object) -> object:
    """JSON Schema's `integer` admits 4.0; so does the API (as 4). Booleans and other numbers stay refused."""
    if isinstance(value, float) and value.is_integer():  # a bool is no float: booleans stay refused
        return int(value)
    return value


WholeNumber = Annotated[StrictInt, BeforeValidator(_whole_number)]


class AskRequest(BaseModel):
    """A question about the corpus."""

    model_config = ConfigDict(extra="forbid")

    question: StrictStr = Field(
        ...,
        description="The question, 1–500 characters after NFKC normalization; no control characters.",
        # documented for clients (and the fuzzer); enforced by the service, which says precisely what is wrong
        json_schema_extra={"minLength": 1, "pattern": question_pattern()},
    )
    top_k: WholeNumber = Field(3, ge=1, le=10, description="How many supporting passages to return.")
    doc_ids: list[str] | None = Field(
        None, max_length=100, description="Ask only these briefs (by doc_id); unknown ids simply match nothing."
    )
    source: str | None = Field(None, max_length=200, description="Ask only briefs from this source (any case).")
    published_from: IsoDate | None = Field(None, description="Ask only briefs published on or after this date.")
    published_to: IsoDate | None = Field(None, description="Ask only briefs published on or before this date.")

    def document_filter(self) -> DocumentFilter:
        """The request's filter; a backwards date range is InvalidFilterError (422 `invalid_filter`), as on GET."""
        return document_filter(self.doc_ids, self.source, self.published_from, self.published_to)


def document_filter(
    doc_ids: list[str] | None, source: str | None, published_from: dt.date | None, published_to: dt.date | None
) -> DocumentFilter:
    """The filter of a request's parameters; InvalidFilterError when the date range is backwards."""
    if published_from and published_to and published_from > published_to:
        raise InvalidFilterError("published_from is after published_to")
    return DocumentFilter(
        doc_ids=tuple(doc_ids) if doc_ids is not None else None,
        source=source or None,
        published_from=published_from.isoformat() if published_from else None,
        published_to=published_to.isoformat() if published_to else None,
    )


class QuoteOut(BaseModel):
    doc_id: str
    title: str
    section: str
    start: int = Field(..., description="Offset of the quote's first character in the document text.")
    end: int = Field(..., description="Offset just past the quote's last character (text == document[start:end]).")
    text: str
    sha256: str = Field(..., description="Content hash of the document version the offsets index into.")
    source: str | None = Field(None, description="Where the brief comes from (its metadata).")
    published: str | None = Field(None, description="Publication date of the brief (YYYY-MM-DD), if known.")


class PassageOut(QuoteOut):
    score: float = Field(..., description="Fused retrieval score; higher is better (not a probability).")


class StatementOut(BaseModel):
    """A quote that states a version's value, and where in the document the value itself is."""

    quote: QuoteOut
    value_text: str = Field(..., description="The value as written: exactly document[value_start:value_end].")
    value_start: int = Field(..., description="Offset of the value's first character in the document text.")
    value_end: int = Field(..., description="Offset just past the value's last character.")


class VersionOut(BaseModel):
    """One value the briefs give for the asked fact (a date, number, name or place), and who states it."""

    kind: ValueKind
    value: str = Field(..., description="The value normalized for display ('October 15', '80 percent').")
    sources: int = Field(..., ge=1, description="Distinct sources stating it (syndicated copies count once).")
    statements: list[StatementOut] = Field(..., description="The quotes stating it, newest source first.")


class AskResponse(BaseModel):
    """The answer: verbatim quotes with their location, or an abstention with the closest passages."""

    question: str
    answered: bool
    confidence: float = Field(..., ge=0.0, le=1.0, description="How sure the service is that it answers well.")
    message: str | None = Field(
        None,
        description="Set when the service abstains, when the briefs disagree on the asked fact, or when several "
        "sources agree on it (wording from prompts/).",
    )
    quotes: list[QuoteOut]
    passages: list[PassageOut]
    versions: list[VersionOut] = Field(
        default_factory=list,
        description="For a when / how many / who / where or yes/no question: the values the quotes give. Two or more: "
        "the briefs disagree, and one quote per version comes first in `quotes`. One: they agree, and "
        "`sources` says how many do. Empty when abstaining or when the question asks for no such value.",
    )

    @classmethod
    def from_answer(cls, answer: Answer) -> AskResponse:
        return cls(
            question=answer.question,
            answered=answer.answered,
            confidence=answer.confidence,
            message=answer.message,
            quotes=[QuoteOut.model_validate(q, from_attributes=True) for q in answer.quotes],
            passages=[PassageOut.model_validate(p, from_attributes=True) for p in answer.passages],
            versions=[
                VersionOut(
                    kind=v.kind,
                    value=v.value,
                    sources=v.sources,
                    statements=[
                        StatementOut(
                            quote=QuoteOut.model_validate(st.quote, from_attributes=True),
                            value_text=st.value_text, value_start=st.value_start, value_end=st.value_end,
                        )
                        for st in v.statements
                    ],
                )
                for v in answer.versions
            ],
        )


class DocumentSummary(BaseModel):
    doc_id: str
    title: str
    sections: list[str]
    length: int = Field(..., description="Length of the document text in characters (Python str indices).")
    sha256: str = Field(..., description="Content hash of the stored text (the version quotes name).")
    source: str | None = None
    published: str | None = Field(None, description="Publication date (YYYY-MM-DD), if known.")
    url: str | None = None
    ingested_at: str | None = Field(None, description="When the brief was added (UTC, ISO 8601), if known.")

    @classmethod
    def from_parsed(cls, parsed: ParsedDocument) -> DocumentSummary:
        meta = parsed.document.meta
        return cls(
            doc_id=parsed.document.doc_id,
            title=meta.title or parsed.title,
            sections=list(parsed.sections),
            length=len(parsed.document.text),
            sha256=parsed.document.sha256,
            source=meta.source,
            published=meta.published,
            url=meta.url,
            ingested_at=meta.ingested_at,
        )


class DocumentPage(BaseModel):
    """One page of the document list, newest first."""

    total: int = Field(..., description="How many documents match the filters.")
    offset: int
    limit: int
    documents: list[DocumentSummary]


class BriefFields(BaseModel):
    """A brief's metadata as a request gives it: beside `text` in a JSON body, or the fields of an upload form."""

    model_config = ConfigDict(extra="forbid")

    doc_id: str | None = Field(None, pattern=DOC_ID_PATTERN, description="Default: from the title or a hash.")
    title: str | None = Field(None, max_length=500)
    source: str | None = Field(None, max_length=200)
    published: IsoDate | None = Field(None, description="The publication date, written YYYY-MM-DD.")
    url: WebAddress | None = Field(None, description="Where the brief is published: an http:// or https:// address.")


class DocumentIn(BriefFields):
    """A brief sent as JSON: its text (plain, Markdown or HTML) and optional metadata."""

    text: StrictStr = Field(
        ...,
        min_length=1,
        description="The brief's content, in the given format; no control characters but tab, newlines and form feed.",
        # documented for clients (and the fuzzer); enforced by the ingest, which names the characters
        json_schema_extra={"pattern": control_free_pattern(TEXT_WHITE_SPACE)},
    )
    format: Literal["text", "markdown", "html"] = Field("text", description="`text`, `markdown` or `html`.")


EMPTY_FIELD = {"type": "string", "maxLength": 0}


def upload_form_schema() -> dict[str, object]:
    """The multipart upload's schema: the file, and the metadata fields under the JSON body's rules, where an
    empty field is the same as none (a form cannot send null); no other field (the route refuses one it does
    not know with a 422, so the schema says so)."""
    properties: dict[str, object] = {
        "file": {"type": "string", "format": "binary", "description": ".txt, .md or .html"}
    }
    for name, field in BriefFields.model_json_schema()["properties"].items():
        given = next(s for s in field["anyOf"] if s.get("type") != "null")
        described = {"description": field["description"]} if "description" in field else {}
        properties[name] = {"anyOf": [EMPTY_FIELD, given], **described}
    return {"type": "object", "required": ["file"], "properties": properties, "additionalProperties": False}


class DocumentChangeOut(BaseModel):
    """What an add or delete did: `added`, `replaced` (new text), `updated` (metadata), `unchanged`, `removed`."""

    doc_id: str
    status: str
    sha256: str


class JobOut(BaseModel):
    """An asynchronous add (`POST /documents?async=true`): poll `GET /jobs/{job_id}`, cancel with DELETE.

    `status`: queued, running, done, failed or cancelled. `embedded` / `to_embed` count the texts embedded so
    far (sentences and passages; `to_embed` grows as each stage starts). `changes` once done, `error` once
    failed or cancelled."""

    job_id: str
    status: str
    doc_ids: list[str]
    stage: str
    embedded: int
    to_embed: int
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    cancel_requested: bool = False
    changes: list[DocumentChangeOut] | None = None
    error: ErrorResponse | None = None

    @classmethod
    def from_job(cls, job: Job) -> JobOut:
        return cls(
            job_id=job.job_id, status=job.status, doc_ids=list(job.doc_ids), stage=job.stage,
            embedded=job.embedded, to_embed=job.to_embed, created_at=job.created_at, started_at=job.started_at,
            finished_at=job.finished_at, cancel_requested=job.cancel_requested,
            changes=[DocumentChangeOut(doc_id=d, status=st, sha256=h) for d, st, h in job.changes]
            if job.changes is not None else None,
            error=ErrorResponse(error=job.error[0], message=job.error[1]) if job.error else None,
        )


class DocumentDetail(DocumentSummary):
    text: str = Field(..., description="The full text exactly as stored; quote offsets index into it.")

    @classmethod
    def from_parsed(cls, parsed: ParsedDocument) -> DocumentDetail:
        return cls(**DocumentSummary.from_parsed(parsed).model_dump(), text=parsed.document.text)


class ErrorResponse(BaseModel):
    """Every 4xx/5xx body: a stable machine code and a human message."""

    error: str = Field(..., description="Stable error code, e.g. invalid_question, not_found, validation_error.")
    message: str
    details: list[dict[str, object]] | None = None


def error_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI `responses` entry declaring ErrorResponse bodies for these statuses (shared by every router)."""
    return {status: {"model": ErrorResponse} for status in statuses}


class HealthResponse(BaseModel):
    status: str


class ReadyResponse(BaseModel):
    status: str
    catching_up: bool | None = Field(
        default=None, description="True while the service serves its last good build and updates the index with "
        "corpus changes made while it was down."
    )
    documents: int | None = None
    passages: int | None = None
    sentences: int | None = None
    vector_index: dict[str, str] | None = None
    build: str | None = None
    reason: str | None = None


class SlashCommandForm(BaseModel):
    """The fields of a Slack (or Mattermost) slash command that newsqa reads; the rest are ignored.

    `response_url` is deliberately not read: it is a credential and newsqa answers in the HTTP response.
    """

    model_config = ConfigDict(extra="ignore")

    command: str = ""
    text: str = ""
    user_id: str = ""
    channel_id: str = ""
    team_id: str = ""
    ssl_check: str | None = None


class ChatCommandResponse(BaseModel):
    """A slash-command reply: Block Kit for Slack (`blocks` plus a plain `text` fallback), Markdown for Mattermost."""

    response_type: str = Field(..., description="`ephemeral` (only the asker sees it) or `in_channel`.")
    text: str
    blocks: list[dict[str, object]] | None = None


class SlackEvent(BaseModel):
    """The inner event of an Events API callback (`app_mention`, or `message` in a direct message)."""

    model_config = ConfigDict(extra="ignore")

    type: str
    user: str | None = None
    bot_id: str | None = None
    subtype: str | None = None
    text: str = ""
    channel: str | None = None
    channel_type: str | None = None
    ts: str | None = None
    thread_ts: str | None = None


class SlackAuthorization(BaseModel):
    model_config = ConfigDict(extra="ignore")

    user_id: str | None = None
    is_bot: bool = False


class SlackEnvelope(BaseModel):
    """An Events API request: `url_verification` (answer the challenge) or `event_callback`."""

    model_config = ConfigDict(extra="ignore")

    type: str
    challenge: str | None = None
    event_id: str | None = None
    event: SlackEvent | None = None
    authorizations: list[SlackAuthorization] = []


class UrlVerificationResponse(BaseModel):
    challenge: str


class EventAck(BaseModel):
    """The immediate acknowledgement of an event; the answer follows in the thread."""

    ok: bool = True
    status: str = Field(..., description="`accepted` (an answer follows), `duplicate` (already answered), `ignored`.")

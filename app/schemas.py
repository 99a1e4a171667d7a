"""Wire models: what the HTTP API (and `newsqa ask --json`) accept and return. Field names are a contract."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from app.models import Answer, ParsedDocument


class AskRequest(BaseModel):
    """A question about the corpus."""

    model_config = ConfigDict(extra="forbid")

    question: StrictStr = Field(..., description="The question, 1–500 characters after NFKC normalization.")
    top_k: StrictInt = Field(3, ge=1, le=10, description="How many supporting passages to return.")


class QuoteOut(BaseModel):
    doc_id: str
    title: str
    section: str
    start: int = Field(..., description="Offset of the quote's first character in the document text.")
    end: int = Field(..., description="Offset just past the quote's last character (text == document[start:end]).")
    text: str


class PassageOut(QuoteOut):
    score: float = Field(..., description="Fused retrieval score; higher is better (not a probability).")


class AskResponse(BaseModel):
    """The answer: verbatim quotes with their location, or an abstention with the closest passages."""

    question: str
    answered: bool
    confidence: float = Field(..., ge=0.0, le=1.0, description="How sure the service is that it answers well.")
    message: str | None = Field(None, description="Set when the service abstains (wording from prompts/).")
    quotes: list[QuoteOut]
    passages: list[PassageOut]

    @classmethod
    def from_answer(cls, answer: Answer) -> AskResponse:
        return cls(
            question=answer.question,
            answered=answer.answered,
            confidence=answer.confidence,
            message=answer.message,
            quotes=[QuoteOut.model_validate(q, from_attributes=True) for q in answer.quotes],
            passages=[PassageOut.model_validate(p, from_attributes=True) for p in answer.passages],
        )


class DocumentSummary(BaseModel):
    doc_id: str
    title: str
    sections: list[str]
    length: int = Field(..., description="Length of the document text in characters (Python str indices).")
    sha256: str

    @classmethod
    def from_parsed(cls, parsed: ParsedDocument) -> DocumentSummary:
        return cls(
            doc_id=parsed.document.doc_id,
            title=parsed.title,
            sections=list(parsed.sections),
            length=len(parsed.document.text),
            sha256=parsed.document.sha256,
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


class HealthResponse(BaseModel):
    status: str


class ReadyResponse(BaseModel):
    status: str
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

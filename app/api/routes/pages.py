"""The staff web page: a search box over the briefs, and a document view with the cited passage highlighted.

Server-rendered (Jinja2 templates in prompts/web/, autoescaped), no JavaScript and no build step: the search is
a GET form, so every result page has a URL that can be shared, and the browser's own fragment navigation
scrolls the highlighted passage into view. What the page shows of a brief is cut from the stored text at the
quote's offsets; nothing is rewritten.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import jinja2
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from app.api.deps import runtime_of, state_of
from app.api.errors import InvalidFilterError
from app.api.schemas import document_filter
from app.errors import DocumentNotFoundError, InvalidQuestionError
from app.ingest.sources import is_web_address
from app.models import Answer, Block, CitedPassage, ParsedDocument, Quote
from app.service import QAService
from app.urls import passage_path, search_query

TEMPLATES = ("web/base.html", "web/search.html", "web/document.html", "web/message.html")


def web_templates(prompts_dir: Path) -> jinja2.Environment:
    """The page templates, autoescaped and strict, every one parsed now so a broken template fails at start-up."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(prompts_dir)),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    # a link is only ever an http(s) address, whatever a sidecar on disk says (metadata given over the API or
    # the CLI is checked when it arrives)
    environment.tests["web_address"] = is_web_address
    for name in TEMPLATES:
        environment.get_template(name)
    return environment


@dataclass(frozen=True)
class Segment:
    """A run of a block's text, highlighted or not."""

    text: str
    marked: bool
    anchor: bool = False  # where the highlight starts: the page puts the scroll target (#passage) here
    span: str = ""  # a marked run: "START-END" of the quote it is part of (several quotes may share a paragraph)


@dataclass(frozen=True)
class ShownBlock:
    """A block of a document as the page shows it: its kind and its text cut at the highlight's edges."""

    kind: str
    segments: tuple[Segment, ...]


def shown_blocks(
    parsed: ParsedDocument, blocks: tuple[Block, ...], spans: Sequence[tuple[int, int]]
) -> list[ShownBlock]:
    """Blocks with each span [start, end) of `spans` highlighted wherever it falls inside them."""
    text = parsed.document.text
    out: list[ShownBlock] = []
    anchored = False
    ordered = sorted(spans)
    for block in blocks:
        pieces: list[Segment] = []
        at = block.start
        for start, end in ordered:
            lo, hi = max(block.start, start, at), min(block.end, end)
            if lo >= hi:
                continue
            pieces += [Segment(text[at:lo], False), Segment(text[lo:hi], True, not anchored, f"{start}-{end}")]
            anchored, at = True, hi
        pieces.append(Segment(text[at : block.end], False))
        out.append(ShownBlock(block.kind, tuple(p for p in pieces if p.text)))
    return out


def clipped_blocks(parsed: ParsedDocument, start: int, end: int) -> list[ShownBlock]:
    """The blocks of [start, end) cut to it, nothing highlighted: how a closest passage (not an answer) shows."""
    text = parsed.document.text
    return [
        ShownBlock(b.kind, (Segment(text[max(b.start, start) : min(b.end, end)], False),))
        for b in parsed.blocks
        if b.start < end and start < b.end and b.kind != "navigation"
    ]


def context_blocks(parsed: ParsedDocument, start: int, end: int) -> tuple[Block, ...]:
    """The paragraph(s) around a quote: every block the span touches (a list quote spans its items)."""
    touching = tuple(b for b in parsed.blocks if b.start < end and start < b.end and b.kind != "navigation")
    return touching or tuple(b for b in parsed.blocks if b.start <= start < b.end)


def search_form(
    q: str | None, source: str | None, published_from: str | None, published_to: str | None
) -> dict[str, str]:
    """The search as the form holds it (the results page fills its fields; the document view's back link and
    every citation link carry it)."""
    return {"q": q or "", "source": source or "", "from": published_from or "", "to": published_to or ""}


@dataclass(frozen=True)
class ShownCitation:
    """A quote (or closest passage) on the results page: where it is from, and its text as shown: an answer's
    paragraph with its quotes marked; a closest passage's own text, unmarked (it is not an answer)."""

    doc_id: str
    title: str
    section: str
    source: str | None
    published: str | None
    url: str
    blocks: list[ShownBlock]


@dataclass
class _Cited:
    """Quotes shown as one item: the same document's paragraphs, or (abstaining) one closest passage."""

    parsed: ParsedDocument
    members: list[Quote | CitedPassage]
    blocks: set[Block]

    def overlaps(self, parsed: ParsedDocument, item: Quote | CitedPassage) -> bool:
        return self.parsed is parsed and any(m.start < item.end and item.start < m.end for m in self.members)


def citations(service: QAService, answer: Answer, back: Mapping[str, str] | None = None) -> list[ShownCitation]:
    """What the page shows under an answer: one item per paragraph, every quote inside it marked (two quotes
    from one paragraph are one item, never the same text twice); under an abstention, the closest passages,
    each shown once (a passage overlapping one already shown is left out)."""
    bundle = service.index.bundle
    items: Sequence[Quote | CitedPassage] = answer.quotes if answer.answered else answer.passages
    groups: list[_Cited] = []
    for item in items:
        parsed = bundle.documents.get(item.doc_id)
        if parsed is None or parsed.document.sha256 != item.sha256:
            continue  # the index changed between answering and rendering: never show shifted offsets
        if not answer.answered:
            if not any(g.overlaps(parsed, item) for g in groups):
                groups.append(_Cited(parsed, [item], set()))
            continue
        blocks = set(context_blocks(parsed, item.start, item.end))
        same = next((g for g in groups if g.parsed is parsed and g.blocks & blocks), None)
        if same is None:
            groups.append(_Cited(parsed, [item], blocks))
        else:
            same.members.append(item)
            same.blocks |= blocks
    shown: list[ShownCitation] = []
    for group in groups:
        first, parsed = group.members[0], group.parsed
        texts = (
            shown_blocks(parsed, tuple(sorted(group.blocks, key=lambda b: b.start)),
                         [(m.start, m.end) for m in group.members])
            if answer.answered
            else clipped_blocks(parsed, first.start, first.end)
        )
        shown.append(
            ShownCitation(
                doc_id=first.doc_id,
                title=first.title,
                section=first.section,
                source=first.source,
                published=first.published,
                url=passage_path(first.doc_id, first.start, first.end, back),
                blocks=texts,
            )
        )
    return shown


# Bands of the calibrated confidence, in words for the page. Answers at or above STRONG_MATCH quoted the right
# sentence 14 times in 15 on the dev questions, those below it 5 in 12 (benchmarks/README.md, "how sure": an
# in-sample look at 27 answers, so the words stay modest); FAIR_MATCH sits a little above the answer threshold.
STRONG_MATCH = 0.55
FAIR_MATCH = 0.45


def match_strength(confidence: float) -> str:
    """How sure the service is, in a word the page turns into wording: "strong", "fair" or "weak"."""
    return "strong" if confidence >= STRONG_MATCH else "fair" if confidence >= FAIR_MATCH else "weak"


@dataclass(frozen=True)
class ShownStatement:
    """One quote stating a version: the sentence with its value marked, and where it is from."""

    title: str
    source: str | None
    published: str | None
    segments: tuple[Segment, ...]
    url: str


@dataclass(frozen=True)
class ShownVersion:
    """One version of the asked fact on the page: its value, how many sources state it, and their quotes."""

    value: str
    sources: int
    statements: list[ShownStatement]


def shown_versions(answer: Answer, back: Mapping[str, str] | None = None) -> list[ShownVersion]:
    """The versions of the asked fact, each quote with its value marked (shown side by side when two or more)."""
    out: list[ShownVersion] = []
    for version in answer.versions:
        statements = []
        for st in version.statements:
            q = st.quote
            lo, hi = st.value_start - q.start, st.value_end - q.start
            pieces = (Segment(q.text[:lo], False), Segment(q.text[lo:hi], True), Segment(q.text[hi:], False))
            statements.append(
                ShownStatement(q.title, q.source, q.published, tuple(p for p in pieces if p.text),
                               passage_path(q.doc_id, q.start, q.end, back))
            )
        out.append(ShownVersion(version.value, version.sources, statements))
    return out


router = APIRouter(include_in_schema=False)


def _page(request: Request, name: str, status: int = 200, **values: object) -> HTMLResponse:
    environment = state_of(request.app).web
    return HTMLResponse(environment.get_template(name).render(**values), status_code=status)


def _not_ready(request: Request) -> HTMLResponse:
    return _page(request, "web/message.html", 503, kind="not_ready", reason=runtime_of(request).reason)


# the search form's fields, which the search page reads and the brief view carries back to it
QuestionParam = Annotated[str | None, Query(max_length=2000)]
SourceParam = Annotated[str | None, Query(max_length=200)]
FromParam = Annotated[str | None, Query(alias="from", max_length=10)]
ToParam = Annotated[str | None, Query(alias="to", max_length=10)]


@router.get("/", response_class=HTMLResponse)
def search_page(
    request: Request,
    q: QuestionParam = None,
    source: SourceParam = None,
    published_from: FromParam = None,
    published_to: ToParam = None,
) -> HTMLResponse:
    """The search page: the form, and the answer (or the abstention) when a question was asked."""
    service = runtime_of(request).service
    if service is None:
        return _not_ready(request)
    sources = sorted({d.document.meta.source for d in service.documents() if d.document.meta.source})
    form = search_form(q, source, published_from, published_to)
    values: dict[str, object] = {
        "form": form, "sources": sources, "answer": None, "error": None, "shown": [], "versions": [],
        "version_briefs": 0, "strength": None,
    }
    status = 200
    if q is not None and q.strip():
        try:
            where = document_filter(None, source or None, _date(published_from), _date(published_to))
            answer = service.ask(q, where=where)
            state_of(request.app).counters.answer(answer)  # newsqa_answers_total counts the page's answers too
            briefs = len({s.quote.doc_id for v in answer.versions for s in v.statements})
            values.update(
                answer=answer, shown=citations(service, answer, form), versions=shown_versions(answer, form),
                version_briefs=briefs, strength=match_strength(answer.confidence),
            )
        except (InvalidQuestionError, InvalidFilterError) as exc:
            values["error"], status = exc.message, 422
    return _page(request, "web/search.html", status, **values)


def _date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidFilterError(f"{value!r} is not a date (YYYY-MM-DD)") from None


@router.get("/documents/{doc_id}/view", response_class=HTMLResponse)
def document_page(
    request: Request,
    doc_id: str,
    span: Annotated[str | None, Query(max_length=40, description="START-END character offsets.")] = None,
    q: QuestionParam = None,
    source: SourceParam = None,
    published_from: FromParam = None,
    published_to: ToParam = None,
) -> HTMLResponse:
    """A brief in full, the span START-END highlighted and scrolled into view (`#passage`)."""
    service = runtime_of(request).service
    if service is None:
        return _not_ready(request)
    try:
        parsed = service.document(doc_id)
    except DocumentNotFoundError:
        return _page(request, "web/message.html", 404, kind="not_found", reason=doc_id)
    lo, hi = _span(span, len(parsed.document.text))
    back = search_query(search_form(q, source, published_from, published_to))
    return _page(
        request,
        "web/document.html",
        parsed=parsed,
        title=parsed.document.meta.title or parsed.title,
        meta=parsed.document.meta,
        blocks=shown_blocks(parsed, parsed.blocks, [(lo, hi)]),
        highlighted=hi > lo,
        back=f"/?{back}" if back else "/",
        bad_range=span is not None and hi == lo,
    )


def _span(span: str | None, length: int) -> tuple[int, int]:
    """(start, end) of a `START-END` parameter inside a text of `length` characters; (0, 0) when absent or invalid."""
    start, _, end = (span or "").partition("-")
    if not (start.isascii() and start.isdigit() and end.isascii() and end.isdigit()):  # not "²" or "٣"
        return 0, 0
    lo, hi = int(start), int(end)
    return (lo, hi) if 0 <= lo < hi <= length else (0, 0)

"""The staff web page: a search box over the briefs, and a document view with the cited passage highlighted.

Server-rendered (Jinja2 templates in prompts/web/, autoescaped), no JavaScript and no build step: the search is
a GET form, so every result page has a URL that can be shared, and the browser's own fragment navigation
scrolls the highlighted passage into view. What the page shows of a brief is cut from the stored text at the
quote's offsets; nothing is rewritten.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from app.errors import DocumentNotFoundError, InvalidFilterError, InvalidQuestionError
from app.models import Answer, Block, ParsedDocument
from app.runtime import runtime_of
from app.schemas import document_filter
from app.service import QAService
from app.sources import is_web_address

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


@dataclass(frozen=True)
class ShownBlock:
    """A block of a document as the page shows it: its kind and its text cut at the highlight's edges."""

    kind: str
    segments: tuple[Segment, ...]


def shown_blocks(parsed: ParsedDocument, blocks: tuple[Block, ...], start: int, end: int) -> list[ShownBlock]:
    """Blocks with the span [start, end) highlighted wherever it falls inside them."""
    text = parsed.document.text
    out: list[ShownBlock] = []
    anchored = False
    for block in blocks:
        lo, hi = max(block.start, start), min(block.end, end)
        if lo >= hi:
            out.append(ShownBlock(block.kind, (Segment(text[block.start : block.end], False),)))
            continue
        pieces = [
            Segment(text[block.start : lo], False),
            Segment(text[lo:hi], True, anchor=not anchored),
            Segment(text[hi : block.end], False),
        ]
        out.append(ShownBlock(block.kind, tuple(p for p in pieces if p.text)))
        anchored = True
    return out


def context_blocks(parsed: ParsedDocument, start: int, end: int) -> tuple[Block, ...]:
    """The paragraph(s) around a quote: every block the span touches (a list quote spans its items)."""
    touching = tuple(b for b in parsed.blocks if b.start < end and start < b.end and b.kind != "navigation")
    return touching or tuple(b for b in parsed.blocks if b.start <= start < b.end)


def view_url(doc_id: str, start: int, end: int) -> str:
    """The document view with a span highlighted and scrolled to (the fragment names the highlight)."""
    return f"/documents/{quote(doc_id, safe='')}/view?span={start}-{end}#passage"


@dataclass(frozen=True)
class ShownCitation:
    """A quote or closest passage on the results page: where it is from, and its paragraph with it marked."""

    doc_id: str
    title: str
    section: str
    source: str | None
    published: str | None
    url: str
    blocks: list[ShownBlock]
    score: float | None


def citations(service: QAService, answer: Answer) -> list[ShownCitation]:
    bundle = service.index.bundle
    items = answer.quotes if answer.answered else answer.passages
    shown: list[ShownCitation] = []
    for item in items:
        parsed = bundle.documents.get(item.doc_id)
        if parsed is None or parsed.document.sha256 != item.sha256:
            continue  # the index changed between answering and rendering: never show shifted offsets
        blocks = shown_blocks(parsed, context_blocks(parsed, item.start, item.end), item.start, item.end)
        shown.append(
            ShownCitation(
                doc_id=item.doc_id,
                title=item.title,
                section=item.section,
                source=item.source,
                published=item.published,
                url=view_url(item.doc_id, item.start, item.end),
                blocks=blocks,
                score=getattr(item, "score", None),
            )
        )
    return shown


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


def shown_versions(answer: Answer) -> list[ShownVersion]:
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
                               view_url(q.doc_id, q.start, q.end))
            )
        out.append(ShownVersion(version.value, version.sources, statements))
    return out


router = APIRouter(include_in_schema=False)


def _page(request: Request, name: str, status: int = 200, **values: object) -> HTMLResponse:
    environment: jinja2.Environment = request.app.state.web
    return HTMLResponse(environment.get_template(name).render(**values), status_code=status)


def _not_ready(request: Request) -> HTMLResponse:
    return _page(request, "web/message.html", 503, kind="not_ready", reason=runtime_of(request).reason)


@router.get("/", response_class=HTMLResponse)
def search_page(
    request: Request,
    q: Annotated[str | None, Query(max_length=2000)] = None,
    source: Annotated[str | None, Query(max_length=200)] = None,
    published_from: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    published_to: Annotated[str | None, Query(alias="to", max_length=10)] = None,
) -> HTMLResponse:
    """The search page: the form, and the answer (or the abstention) when a question was asked."""
    service = runtime_of(request).service
    if service is None:
        return _not_ready(request)
    sources = sorted({d.document.meta.source for d in service.documents() if d.document.meta.source})
    form = {"q": q or "", "source": source or "", "from": published_from or "", "to": published_to or ""}
    values: dict[str, object] = {
        "form": form, "sources": sources, "answer": None, "error": None, "shown": [], "versions": [],
        "version_briefs": 0,
    }
    status = 200
    if q is not None and q.strip():
        try:
            where = document_filter(None, source or None, _date(published_from), _date(published_to))
            answer = service.ask(q, where=where)
            briefs = len({s.quote.doc_id for v in answer.versions for s in v.statements})
            values.update(
                answer=answer, shown=citations(service, answer), versions=shown_versions(answer), version_briefs=briefs
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
    return _page(
        request,
        "web/document.html",
        parsed=parsed,
        title=parsed.document.meta.title or parsed.title,
        meta=parsed.document.meta,
        blocks=shown_blocks(parsed, parsed.blocks, lo, hi),
        highlighted=hi > lo,
        bad_range=span is not None and hi == lo,
    )


def _span(span: str | None, length: int) -> tuple[int, int]:
    """(start, end) of a `START-END` parameter inside a text of `length` characters; (0, 0) when absent or invalid."""
    start, _, end = (span or "").partition("-")
    if not (start.isascii() and start.isdigit() and end.isascii() and end.isdigit()):  # not "²" or "٣"
        return 0, 0
    lo, hi = int(start), int(end)
    return (lo, hi) if 0 <= lo < hi <= length else (0, 0)

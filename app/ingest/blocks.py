"""Pure parsing of one document's text into line-level blocks: title, headings, paragraphs, bullets.

A heading is a short line without terminal punctuation; a first line of that shape is the title (when the title
runs straight into the first sentence, as in `... warnings.Peace talks ...`, only its first sentence is the
title). A first line that is a sentence stays a sentence, quotable like any other: the title then comes from the
brief's metadata (front matter, sidecar, upload fields), else the document id.
"Also Read: ..." style lines are navigation: kept as blocks so nothing spans across them, never quoted.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

from app.models import Block, Document, DocumentMeta

_BULLET = re.compile(r"[ \t]*(?:[-*\u2022\u25aa\u2013]|\d{1,3}[.)])[ \t]+")
_MD_HEADING = re.compile(r"[ \t]*#{1,6}[ \t]+")
_NAVIGATION = re.compile(
    r"(?:also read|read more|read also|related(?: articles?| stories)?|see also|recommended|more from|watch)\s*:"
    r"|advertisement\s*$",
    re.IGNORECASE,
)
_CLOSERS = "\"'\u201d\u2019)]*_ \t"
_TERMINAL = ".!?:;,\u2026"
HEADING_MAX_WORDS = 16
HEADING_MAX_CHARS = 120


def make_document(doc_id: str, text: str, meta: DocumentMeta | None = None) -> Document:
    """A Document with its content hash; the text is kept exactly as given."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Document(doc_id=doc_id, text=text, sha256=digest, meta=meta or DocumentMeta())


def _lines(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each non-blank line, trimmed of surrounding white space."""
    pos = 0
    for raw in text.splitlines(keepends=True):
        line_end = pos + len(raw.rstrip("\r\n"))
        start, end = pos, line_end
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            yield start, end
        pos += len(raw)


def is_heading(line: str) -> bool:
    """Short, no terminal punctuation, not a bullet: the shape of a section heading."""
    if _BULLET.match(line) or len(line) > HEADING_MAX_CHARS or len(line.split()) > HEADING_MAX_WORDS:
        return False
    core = line.rstrip(_CLOSERS)
    return bool(core) and core[-1] not in _TERMINAL


def title_end(text: str, start: int, end: int) -> int:
    """Where the title on the first line ends: at a glued sentence start (`warnings.Peace`), else the line end."""
    glued = re.compile(r"[a-z\u201d\u2019\"')][.!?](?=[A-Z][a-z])")
    match = glued.search(text, start, end)
    return match.end() if match else end


def parse_blocks(text: str) -> tuple[str, tuple[Block, ...]]:
    """Cut a document into blocks, each tagged with the section heading it sits under; returns (title, blocks)."""
    blocks: list[Block] = []
    title = ""
    section = ""
    for start, end in _lines(text):
        line = text[start:end]
        heading = _MD_HEADING.match(line)
        if heading:
            start += heading.end()
        if not blocks:
            split = end if heading else title_end(text, start, end)
            if heading or split < end or is_heading(line):
                title = section = text[start:split].strip()
                blocks.append(Block("title", start, split, section))
                rest = split
                while rest < end and text[rest].isspace():
                    rest += 1
                if rest < end:
                    blocks.append(Block("paragraph", rest, end, section))
                continue
        if _NAVIGATION.match(line):
            blocks.append(Block("navigation", start, end, section))
        elif heading or is_heading(line):
            section = text[start:end]
            blocks.append(Block("heading", start, end, section))
        elif bullet := _BULLET.match(line):
            blocks.append(Block("bullet", start + bullet.end(), end, section))
        else:
            blocks.append(Block("paragraph", start, end, section))
    return title, tuple(blocks)


def document_version(document: Document) -> str:
    """What the manifest records per document: the text's hash, and a short hash of its metadata.

    ingested_at is left out: re-adding the same brief later is the same version.
    """
    meta = document.meta
    described = "\x1f".join(v or "" for v in (meta.title, meta.source, meta.published, meta.url))
    return f"{document.sha256}:{hashlib.sha256(described.encode('utf-8')).hexdigest()[:12]}"

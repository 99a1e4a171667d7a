"""Pure chunking: blocks → sentences → passages, every piece with exact offsets into the stored text.

The splitter copes with news-copy quirks: curly quotes closing a sentence (`unacceptable.”`), glued
sentences (`warnings.Peace`), abbreviations (`U.S.`, `Dr.`), em-dashes (never a boundary) and bullet lists
introduced by a line ending in a colon.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from app.ingest.blocks import parse_blocks
from app.models import Block, Document, ParsedDocument, Passage, Sentence

CHUNKER_VERSION = 3  # 3: a first line that is a sentence stays a sentence (was always the title)
PASSAGE_SENTENCES = 3
PASSAGE_STRIDE = 2

_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof st gen col lt sgt capt cmdr gov sen rep jr sr vs etc inc ltd co corp no nos
    jan feb mar apr jun jul aug sep sept oct nov dec fig al approx dept est mt ft rev hon maj adm""".split()
)
# A sentence ends at . ! ? (or …) plus any closing quotes/brackets, then either white space followed by a
# likely sentence start, or, with no space at all, a capitalised word (the glued `warnings.Peace` case).
_BOUNDARY = re.compile(
    r"[.!?\u2026]+[\"'\u201d\u2019)\]]*"
    r"(?:(?P<space>\s+)(?=[\"'\u201c\u2018(\[]?[A-Z0-9])|(?<=[a-z][.!?])(?=[A-Z][a-z]))"
)
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)\.$")


def _is_abbreviation(text: str, dot_end: int) -> bool:
    """True when the period ending at dot_end belongs to an abbreviation (`Dr.`, `U.S.`), not a sentence end."""
    match = _WORD_BEFORE.search(text, max(0, dot_end - 12), dot_end)
    if not match:
        return False
    word = match.group(1)
    if re.fullmatch(r"(?:[A-Za-z]\.)+[A-Za-z]", word) or (len(word) == 1 and word.isupper()):
        return True  # U.S. / U.N. / initials
    return word.lower() in _ABBREVIATIONS


def split_sentences(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each sentence inside text[start:end], trimmed of white space."""
    cursor = start
    for match in _BOUNDARY.finditer(text, start, end):
        punct_end = match.start() + len(match.group(0).rstrip()) if match.group("space") else match.end()
        dot = text[match.start()]
        if dot == "." and _is_abbreviation(text, match.start() + 1):
            continue
        sentence_end = punct_end
        if sentence_end > cursor:
            yield cursor, sentence_end
        cursor = match.end()
    if cursor < end:
        yield cursor, end


def _sentences(doc: Document, blocks: tuple[Block, ...]) -> list[Sentence]:
    text = doc.text
    out: list[Sentence] = []
    paragraph = -1
    previous_kind = ""
    for block in blocks:
        if block.kind in ("title", "heading", "navigation"):
            previous_kind = block.kind
            continue
        if not (block.kind == "bullet" and previous_kind == "bullet"):
            paragraph += 1
        for s_start, s_end in split_sentences(text, block.start, block.end):
            piece = text[s_start:s_end]
            out.append(
                Sentence(
                    sentence_id=len(out),
                    doc_id=doc.doc_id,
                    section=block.section,
                    start=s_start,
                    end=s_end,
                    text=piece,
                    paragraph=paragraph,
                    is_bullet=block.kind == "bullet",
                    introduces_list=piece.rstrip().endswith(":"),
                )
            )
        previous_kind = block.kind
    return out


def _runs(sentences: list[Sentence], blocks: tuple[Block, ...]) -> list[list[Sentence]]:
    """Groups of consecutive sentences not separated by a heading or a navigation line."""
    barriers = sorted(b.start for b in blocks if b.kind in ("title", "heading", "navigation"))
    runs: list[list[Sentence]] = []
    barrier_i = 0
    last_end = -1
    for sentence in sentences:
        crossed = False
        while barrier_i < len(barriers) and barriers[barrier_i] < sentence.start:
            crossed = crossed or barriers[barrier_i] > last_end
            barrier_i += 1
        if not runs or crossed:
            runs.append([])
        runs[-1].append(sentence)
        last_end = sentence.end
    return runs


def _segments(run: list[Sentence]) -> list[tuple[bool, list[Sentence]]]:
    """Split a run into (is_list, sentences): a list intro with its bullets is one segment, kept whole."""
    segments: list[tuple[bool, list[Sentence]]] = []
    i = 0
    while i < len(run):
        if run[i].introduces_list and i + 1 < len(run) and run[i + 1].is_bullet:
            j = i + 1
            while j < len(run) and run[j].is_bullet:
                j += 1
            segments.append((True, run[i:j]))
            i = j
            continue
        if not segments or segments[-1][0]:
            segments.append((False, []))
        segments[-1][1].append(run[i])
        i += 1
    return segments


def _windows(sentences: list[Sentence]) -> Iterator[list[Sentence]]:
    """Windows of PASSAGE_SENTENCES consecutive sentences, PASSAGE_STRIDE apart, covering every sentence."""
    last_start = max(0, len(sentences) - PASSAGE_SENTENCES)
    starts = list(range(0, last_start + 1, PASSAGE_STRIDE))
    if starts[-1] != last_start:
        starts.append(last_start)
    for first in starts:
        yield sentences[first : first + PASSAGE_SENTENCES]


def _passages(doc: Document, runs: list[list[Sentence]]) -> list[Passage]:
    """Windows of consecutive sentences inside one run; a bullet list and its intro form one passage."""
    out: list[Passage] = []
    for run in runs:
        for is_list, segment in _segments(run):
            for window in [segment] if is_list else _windows(segment):
                start, end = window[0].start, window[-1].end
                out.append(
                    Passage(
                        passage_id=len(out),
                        doc_id=doc.doc_id,
                        section=window[0].section,
                        start=start,
                        end=end,
                        text=doc.text[start:end],
                        sentence_ids=tuple(s.sentence_id for s in window),
                    )
                )
    return out


def parse_document(doc: Document) -> ParsedDocument:
    """Title, sections, sentences and passages of one document, offsets into doc.text."""
    title, blocks = parse_blocks(doc.text)
    sentences = _sentences(doc, blocks)
    passages = _passages(doc, _runs(sentences, blocks))
    sections = tuple(dict.fromkeys(b.section for b in blocks if b.kind in ("title", "heading")))
    return ParsedDocument(
        document=doc,
        title=title or doc.doc_id,
        sections=sections,
        blocks=blocks,
        sentences=tuple(sentences),
        passages=tuple(passages),
    )

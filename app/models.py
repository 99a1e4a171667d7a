"""Domain models shared by the pipeline stages: documents, their pieces, hits, quotes and answers.

Every piece of a document carries `start`/`end` offsets into the document text exactly as stored, and its
`text` is always `document.text[start:end]`: the answer is made of these spans and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

SpanKind = Literal["title", "heading", "paragraph", "bullet", "navigation"]


@dataclass(frozen=True, slots=True)
class DocumentMeta:
    """What is known about a brief besides its text (all optional: a bare .txt file has none of it).

    `published` is an ISO date (YYYY-MM-DD); `ingested_at` an ISO timestamp in UTC; `title`, when given,
    overrides the first line of the text as the document's title.
    """

    title: str | None = None
    source: str | None = None
    published: str | None = None
    url: str | None = None
    ingested_at: str | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """A stored document: its id, the text exactly as stored, its content hash, and its metadata."""

    doc_id: str
    text: str
    sha256: str
    meta: DocumentMeta = field(default_factory=DocumentMeta)


@dataclass(frozen=True, slots=True)
class Block:
    """A line-level unit of a document: the title, a heading, a paragraph, a bullet item or navigation."""

    kind: SpanKind
    start: int
    end: int
    section: str


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence (or bullet item) of a document, the unit a quote is made of."""

    sentence_id: int
    doc_id: str
    section: str
    start: int
    end: int
    text: str
    paragraph: int
    is_bullet: bool = False
    introduces_list: bool = False


@dataclass(frozen=True, slots=True)
class Passage:
    """A short window of consecutive sentences inside one section; the unit retrieval ranks."""

    passage_id: int
    doc_id: str
    section: str
    start: int
    end: int
    text: str
    sentence_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """A document cut into its title, sections, sentences and passages."""

    document: Document
    title: str
    sections: tuple[str, ...]
    blocks: tuple[Block, ...]
    sentences: tuple[Sentence, ...] = field(default_factory=tuple)
    passages: tuple[Passage, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class ScoredPassage:
    """A passage with its fused retrieval score (higher is better)."""

    passage: Passage
    score: float


@dataclass(frozen=True, slots=True)
class ScoredSentence:
    """A sentence with its fused relevance score (higher is better)."""

    sentence: Sentence
    score: float


@dataclass(frozen=True)
class RankedPool:
    """The quote ranker's candidates best first: sentence rows, each one's features and logit."""

    rows: npt.NDArray[np.int64]
    features: npt.NDArray[np.float64]
    logits: npt.NDArray[np.float64]

    @property
    def probabilities(self) -> npt.NDArray[np.float64]:
        return np.asarray(1.0 / (1.0 + np.exp(-self.logits)), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Evidence:
    """What retrieval hands to the answer stage: ranked sentences and passages plus abstention signals."""

    sentences: tuple[ScoredSentence, ...]
    passages: tuple[ScoredPassage, ...]
    signals: AbstentionSignals
    ranked: RankedPool | None = None  # the quote ranker's view of the candidates (None: no ranker)
    query: npt.NDArray[np.float32] | None = None  # the question's vector (the versions step compares to it)
    question: str = ""  # the question as retrieval matched it (`QAService.evidence_many`: typos fixed, joined)


@dataclass(frozen=True, slots=True)
class AbstentionSignals:
    """Measurements that together decide whether the corpus covers the question."""

    unknown_term_share: float
    unknown_proper_nouns: tuple[str, ...]
    unknown_terms: tuple[str, ...]
    best_dense: float
    best_lexical_coverage: float
    searchable_words: int  # the question's words anything could match (`signals.searchable_words`)

    @property
    def nothing_to_search(self) -> bool:
        """No word of the question is one anything could match ("xyzzy", "?"): it is declined, and told so."""
        return self.searchable_words == 0


@dataclass(frozen=True, slots=True)
class Quote:
    """A verbatim span of a document given as (part of) the answer.

    `sha256` names the version of the document the offsets index into; `source` and `published` come from
    the document's metadata.
    """

    doc_id: str
    title: str
    section: str
    start: int
    end: int
    text: str
    sha256: str = ""
    source: str | None = None
    published: str | None = None

    def overlaps(self, other: Quote) -> bool:
        """Whether the two quotes share characters of one document."""
        return self.doc_id == other.doc_id and self.start < other.end and other.start < self.end


@dataclass(frozen=True, slots=True)
class CitedPassage:
    """A ranked supporting passage, with its score, as shown beside the answer."""

    doc_id: str
    title: str
    section: str
    start: int
    end: int
    text: str
    score: float
    sha256: str = ""
    source: str | None = None
    published: str | None = None


ValueKind = Literal["date", "number", "name", "place", "yesno"]  # what a version's value is (claims.py reads them)


@dataclass(frozen=True, slots=True)
class Statement:
    """A quote and the value it states for the asked type, with the value's own span in the document."""

    quote: Quote
    value_text: str  # exactly document[value_start:value_end]
    value_start: int
    value_end: int


@dataclass(frozen=True, slots=True)
class Version:
    """One value the briefs give for the asked fact, the quotes stating it and how many sources do.

    Syndicated copies of one sentence (the near-duplicate rule) count once; `sources` counts distinct sources
    (a brief without a source counts as its own).
    """

    kind: ValueKind
    value: str  # normalized for display: "October 15", "80 percent"
    sources: int
    statements: tuple[Statement, ...]


@dataclass(frozen=True, slots=True)
class Answer:
    """The service's reply to one question: quotes (empty when abstaining) and the passages it looked at.

    `versions` lists the values the quotes give for a when / how many / who / where question: two or more
    when the briefs disagree (one quote per version comes first), one when they agree.
    """

    question: str
    answered: bool
    confidence: float
    message: str | None
    quotes: tuple[Quote, ...]
    passages: tuple[CitedPassage, ...]
    versions: tuple[Version, ...] = ()


class IndexManifest(BaseModel):
    """What `index/manifest.json` records; a loaded index must match it exactly."""

    model_config = ConfigDict(frozen=True)

    format_version: int
    model_name: str
    dimension: int
    chunker_version: int
    corpus: dict[str, str]
    files: dict[str, str]
    build_dir: str
    vector_index: dict[str, str]
    hnsw_threshold: int
    encoders: dict[str, str] = {}
    learned: dict[str, str] = {}  # sha256 of the learned weights files the build was made beside (app/weights/)
    libraries: dict[str, str] = {}  # versions of the libraries whose saved files the build holds (bm25s, faiss)
    counts: dict[str, int]
    built_at: str


@dataclass(frozen=True, slots=True)
class DocumentFilter:
    """Which briefs a question is asked of: ids, a source (case-insensitive), a range of publication dates.

    A brief without a publication date never matches a date range.
    """

    doc_ids: tuple[str, ...] | None = None
    source: str | None = None
    published_from: str | None = None  # ISO dates, inclusive
    published_to: str | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.doc_ids or self.source or self.published_from or self.published_to)

    def matches(self, document: Document) -> bool:
        meta = document.meta
        if self.doc_ids and document.doc_id not in self.doc_ids:
            return False
        if self.source and (meta.source or "").casefold() != self.source.casefold():
            return False
        if self.published_from and (not meta.published or meta.published < self.published_from):
            return False
        return not (self.published_to and (not meta.published or meta.published > self.published_to))


@dataclass(frozen=True)
class DocumentChange:
    """What an add or remove did to one brief."""

    doc_id: str
    status: Literal["added", "replaced", "updated", "unchanged", "removed"]
    sha256: str

"""The in-memory index: every document's pieces in global tables, with their vector and BM25 indexes.

Row i of the sentence vector index, the sentence BM25 index and `sentences` are the same sentence (likewise
for passages). A sentence's vector is the normalized mean of the sentence alone and "heading: sentence",
and a passage is embedded and BM25-indexed with its heading, so a heading helps a piece match; the cited
span is always the text alone.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from app.acronyms import find_acronyms
from app.embed import Embedder, Vectors
from app.index import VectorIndex
from app.lexical import LexicalIndex
from app.models import ParsedDocument, Passage, Sentence
from app.normalize import STOPWORDS, content_stems, words

ProgressFn = Callable[[str, int], None]


@dataclass
class IndexBundle:
    """Everything retrieval needs, built once and then only read."""

    documents: dict[str, ParsedDocument]
    sentences: list[Sentence]
    passages: list[Passage]
    sentence_vectors: VectorIndex
    passage_vectors: VectorIndex
    sentence_lexical: LexicalIndex
    passage_lexical: LexicalIndex
    model_name: str
    lexicon: list[str]
    lexicon_matrix: Vectors
    vocabulary: frozenset[str] = field(init=False)
    surface_words: frozenset[str] = field(init=False)
    sorted_words: tuple[str, ...] = field(init=False)
    acronyms: dict[str, str] = field(init=False)
    sentence_matrix: Vectors = field(init=False)
    passage_matrix: Vectors = field(init=False)
    passage_sentence_rows: list[npt.NDArray[np.int64]] = field(init=False)

    def __post_init__(self) -> None:
        texts = [d.document.text for d in self.documents.values()]
        self.surface_words = frozenset(w for text in texts for w in words(text))
        self.vocabulary = frozenset(content_stems(self.surface_words))  # == every term of every text
        self.sorted_words = tuple(sorted(self.surface_words))
        self.acronyms = find_acronyms(texts)
        dim = self.sentence_vectors.index.d
        self.sentence_matrix = self.sentence_vectors.reconstruct_all().reshape(-1, dim)
        self.passage_matrix = self.passage_vectors.reconstruct_all().reshape(-1, dim)
        row_of = {(s.doc_id, s.sentence_id): row for row, s in enumerate(self.sentences)}
        self.passage_sentence_rows = [
            np.array([row_of[(p.doc_id, sid)] for sid in p.sentence_ids], dtype=np.int64) for p in self.passages
        ]

    def has_word_starting(self, prefix: str) -> bool:
        """True when some corpus word starts with prefix (binary search, not a scan of the vocabulary)."""
        at = bisect.bisect_left(self.sorted_words, prefix)
        return at < len(self.sorted_words) and self.sorted_words[at].startswith(prefix)

    def title(self, doc_id: str) -> str:
        return self.documents[doc_id].title


def passage_match_text(passage: Passage) -> str:
    return f"{passage.section}\n{passage.text}"


def sentence_contexts(sentences: list[Sentence]) -> list[str]:
    """What each sentence is read under: its list's intro for a bullet item, else its section heading."""
    contexts: list[str] = []
    intro = ""
    for sentence in sentences:
        if sentence.introduces_list:
            intro = sentence.text
        elif not sentence.is_bullet:
            intro = ""
        contexts.append(intro if sentence.is_bullet and intro else sentence.section)
    return contexts


def sentence_vectors(embedder: Embedder, sentences: list[Sentence], show_progress: bool) -> Vectors:
    """Normalized mean of the plain sentence and the sentence under its context (measured best on dev)."""
    plain = embedder.embed_documents([s.text for s in sentences], show_progress=show_progress)
    headed = embedder.embed_documents(
        [f"{context}: {s.text}" for context, s in zip(sentence_contexts(sentences), sentences, strict=True)],
        show_progress=show_progress,
    )
    mean = plain + headed
    norms = np.linalg.norm(mean, axis=1, keepdims=True)
    return np.ascontiguousarray(mean / np.maximum(norms, 1e-12), dtype=np.float32)


def lexicon_words(documents: Iterable[ParsedDocument]) -> list[str]:
    """Distinct content words of the corpus (folded, alphabetic, 3+ letters): what synonyms are sought among."""
    found = {
        w for d in documents for w in words(d.document.text) if w.isalpha() and len(w) >= 3 and w not in STOPWORDS
    }
    return sorted(found)


def build_bundle(
    documents: Iterable[ParsedDocument],
    embedder: Embedder,
    hnsw_threshold: int,
    progress: ProgressFn | None = None,
) -> IndexBundle:
    """Embed and index every sentence and passage of the given documents."""
    docs = list(documents)
    sentences = [s for d in docs for s in d.sentences]
    passages = [p for d in docs for p in d.passages]
    show = progress is not None and len(sentences) + len(passages) > 2000
    if progress:
        progress("embedding sentences", len(sentences))
    sentence_matrix = sentence_vectors(embedder, sentences, show)
    if progress:
        progress("embedding passages", len(passages))
    passage_texts = [passage_match_text(p) for p in passages]
    passage_matrix = embedder.embed_documents(passage_texts, show_progress=show)
    lexicon = lexicon_words(docs)
    return IndexBundle(
        documents={d.document.doc_id: d for d in docs},
        sentences=sentences,
        passages=passages,
        sentence_vectors=VectorIndex.build(sentence_matrix, hnsw_threshold),
        passage_vectors=VectorIndex.build(passage_matrix, hnsw_threshold),
        sentence_lexical=LexicalIndex.build([s.text for s in sentences]),
        passage_lexical=LexicalIndex.build(passage_texts),
        model_name=embedder.name,
        lexicon=lexicon,
        lexicon_matrix=embedder.embed_documents(lexicon, batch_size=256),
    )

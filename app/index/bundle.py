"""The in-memory index: every document's pieces in global tables, with their vector and BM25 indexes.

Row i of the sentence vector index, the sentence BM25 index and `sentences` are the same sentence (likewise
for passages). A sentence's vector is the normalized mean of the sentence alone and "heading: sentence",
and a passage is embedded and BM25-indexed with its heading, so a heading helps a piece match; the cited
span is always the text alone.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from app.embed.reference import Encoder, Vectors
from app.index.lexical import LexicalIndex
from app.index.tokens import TokenTable
from app.index.vectors import VectorIndex
from app.models import Document, ParsedDocument, Passage, Sentence
from app.text.acronyms import find_acronyms
from app.text.answer_type import ANSWER_TYPES, AnswerType, offering_rows
from app.text.normalize import STOPWORDS, content_stems, has_word_starting, word_set, words
from app.text.proper_nouns import cased_words, names_among, with_names_capitalised
from app.text.typos import buckets_by_initial, compounds_joined, corrected_text

ProgressFn = Callable[[str, int], None]
VOCABULARY_CACHE = 256
DOCUMENT_CACHE = 128  # documents whose `DocumentTerms` are kept across builds (about 100 KB each, at most)
TOKEN_CHUNK = 512  # sentences whose token vectors are embedded at a time (then kept as int8)
LEXICON_ROWS_CACHE = 200_000  # sentences whose lexicon rows are kept (a few tens of MB at most)


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
    sentence_tokens: TokenTable  # each sentence row's content pieces and their vectors (late interaction)
    corpus_vocabulary: Vocabulary = field(init=False)
    acronyms: dict[str, str] = field(init=False)
    sentence_matrix: Vectors = field(init=False)
    passage_matrix: Vectors = field(init=False)
    passage_sentence_offsets: npt.NDArray[np.int64] = field(init=False)  # passage p: flat[offsets[p]:offsets[p+1]]
    passage_sentence_flat: npt.NDArray[np.int64] = field(init=False)
    doc_rows: dict[str, DocRows] = field(init=False)
    sentence_document: npt.NDArray[np.int64] = field(init=False)  # per sentence row: its document's position
    lexicon_row: dict[str, int] = field(init=False)
    vocabulary_cache: dict[str, Vocabulary] = field(init=False)
    answer_type_cache: dict[AnswerType, npt.NDArray[np.bool_]] = field(init=False)  # every ANSWER_TYPES kind
    lexicon_rows_cache: dict[int, tuple[int, ...]] = field(init=False)

    def __post_init__(self) -> None:
        self.lexicon_row = {w: i for i, w in enumerate(self.lexicon)}
        self.lexicon_rows_cache = {}
        self.vocabulary_cache = {}
        self.answer_type_cache = {}
        self.doc_rows = {}
        sentence_at = passage_at = 0
        for doc_id, parsed in self.documents.items():
            rows = DocRows(
                sentence_at, sentence_at + len(parsed.sentences), passage_at, passage_at + len(parsed.passages)
            )
            self.doc_rows[doc_id] = rows
            sentence_at, passage_at = rows.sentence_end, rows.passage_end
        self.sentence_document = np.repeat(
            np.arange(len(self.documents), dtype=np.int64),
            [len(parsed.sentences) for parsed in self.documents.values()],
        )
        texts = [d.document.text for d in self.documents.values()]
        derived = [document_terms(d) for d in self.documents.values()]
        surface = frozenset().union(*(d.words for d in derived))
        names = names_among(
            frozenset().union(*(d.capitalised for d in derived)), frozenset().union(*(d.lower for d in derived))
        )
        self.corpus_vocabulary = Vocabulary.of_words(surface, self.lexicon_matrix, names)
        for kind in ANSWER_TYPES:  # from the same per-document pass, so no question pays for the scan
            self.answer_type_cache[kind] = (
                np.concatenate([d.offers[kind] for d in derived]) if derived else np.zeros(0, dtype=np.bool_)
            )
        self.acronyms = find_acronyms(texts)
        dim = self.sentence_vectors.index.d
        self.sentence_matrix = self.sentence_vectors.reconstruct_all().reshape(-1, dim)
        self.passage_matrix = self.passage_vectors.reconstruct_all().reshape(-1, dim)
        row_of = {(s.doc_id, s.sentence_id): row for row, s in enumerate(self.sentences)}
        self.passage_sentence_flat = np.array(
            [row_of[(p.doc_id, sid)] for p in self.passages for sid in p.sentence_ids], dtype=np.int64
        )
        self.passage_sentence_offsets = np.zeros(len(self.passages) + 1, dtype=np.int64)
        np.cumsum([len(p.sentence_ids) for p in self.passages], out=self.passage_sentence_offsets[1:])

    def sentences_in(self, passage_rows: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """The sentence rows of the given passages, concatenated, and where each passage's run starts.

        Vectorized (no Python loop over passages): retrieval scores hundreds of candidate passages per question.
        """
        begin = self.passage_sentence_offsets[passage_rows]
        lengths = self.passage_sentence_offsets[passage_rows + 1] - begin
        starts = np.zeros(len(passage_rows), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        positions = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(starts - begin, lengths)
        return self.passage_sentence_flat[positions], starts

    def prepare(self) -> None:
        """Compute now what the first questions would otherwise wait for (the token pieces' document
        frequencies), before the bundle serves; the answer-type flags are made with the bundle."""
        _ = self.sentence_tokens.document_frequency

    def adopt_vocabularies(self, previous: IndexBundle) -> None:
        """Take over the per-document vocabularies the previous snapshot made, for the documents this one holds in
        the same version: a server swaps in a new snapshot after every write, and the first question on each
        unchanged brief would otherwise pay for its vocabulary again (about 3 ms for the default article). A
        vocabulary is the document's words and their lexicon vectors, so only one made with vectors of the same
        model and size is taken. Questions may be adding to the previous snapshot's table meanwhile: it is read
        through one copy (a single C-level call under the GIL)."""
        if previous is self or previous.model_name != self.model_name:
            return
        if previous.lexicon_matrix.shape[1:] != self.lexicon_matrix.shape[1:]:
            return
        held = {parsed.document.sha256 for parsed in self.documents.values()}
        for sha256, vocabulary in dict(previous.vocabulary_cache).items():
            if sha256 in held and len(self.vocabulary_cache) < VOCABULARY_CACHE:
                self.vocabulary_cache.setdefault(sha256, vocabulary)

    def offers_answer_type(self, kind: AnswerType) -> npt.NDArray[np.bool_]:
        """For every sentence row, whether it offers an answer of this type (a date for "when", ...): made once
        with the bundle, per document (`document_terms`), so one pass over the corpus replaces a regex per
        candidate sentence per question. No sentence offers "other"."""
        flags = self.answer_type_cache.get(kind)
        return flags if flags is not None else np.zeros(len(self.sentences), dtype=np.bool_)

    def sentence_lexicon_rows(self, row: int) -> tuple[int, ...]:
        """The corpus-lexicon rows of a sentence's words (their word vectors: soft coverage), kept once asked.

        Bounded: past LEXICON_ROWS_CACHE sentences the table starts afresh (a dict swap, safe for readers)."""
        found = self.lexicon_rows_cache.get(row)
        if found is None:
            known = self.lexicon_row
            found = tuple(sorted(known[w] for w in lexicon_words_of(self.sentences[row].text) if w in known))
            if len(self.lexicon_rows_cache) >= LEXICON_ROWS_CACHE:
                self.lexicon_rows_cache = {}
            self.lexicon_rows_cache[row] = found
        return found

    @property
    def vocabulary(self) -> frozenset[str]:
        """Every term (stem) of every text of the corpus."""
        return self.corpus_vocabulary.stems

    def vocabulary_of(self, doc_id: str | None) -> Vocabulary:
        """The words of one document (the one an answer would quote), or of the whole corpus (None).

        Abstention asks "does the document that would answer speak of this?", not "does any brief?": in a
        corpus of many briefs almost every everyday word appears somewhere. With one document both are the same.
        """
        if doc_id is None or len(self.documents) == 1:
            return self.corpus_vocabulary
        parsed = self.documents[doc_id]
        return _document_vocabulary(parsed.document.sha256, parsed.document.text, self)

    def title(self, doc_id: str) -> str:
        """The title the metadata gives, else the document's first line."""
        parsed = self.documents[doc_id]
        return parsed.document.meta.title or parsed.title

    def holds(self, document: Document) -> bool:
        """True when this exact version (id and content hash) of the document is indexed."""
        parsed = self.documents.get(document.doc_id)
        return parsed is not None and parsed.document.sha256 == document.sha256


@dataclass(frozen=True)
class Vocabulary:
    """Words of a text collection: stems, surface words (sorted, for prefix checks) and their lexicon vectors."""

    stems: frozenset[str]
    surface_words: frozenset[str]
    sorted_words: tuple[str, ...]
    lexicon_matrix: Vectors  # rows: this collection's lexicon words (synonym candidates)
    by_initial: dict[str, tuple[str, ...]] = field(default_factory=dict)  # for typo correction
    names: frozenset[str] = frozenset()  # words the collection writes only as names (`names_written`)
    names_by_initial: dict[str, tuple[str, ...]] = field(default_factory=dict)  # for a short name's typo

    @classmethod
    def of_words(cls, surface: frozenset[str], lexicon_matrix: Vectors, names: frozenset[str] = frozenset()
                 ) -> Vocabulary:
        return cls(
            frozenset(content_stems(surface)), surface, tuple(sorted(surface)), lexicon_matrix,
            buckets_by_initial(surface), names, buckets_by_initial(names),
        )

    def corrected(self, text: str) -> str:
        """The text with its typos corrected (`app.text.typos.corrected_text`: to the one vocabulary word, or the
        one English word, a word misspells, or for a capitalised four-letter word the one name of the
        collection), two words the collection writes as one joined (`compounds_joined`: "air strikes" for
        "airstrikes"), and its names, typed in lower case, capitalised as the collection writes them."""
        corrected = corrected_text(text, self.surface_words, self.by_initial, STOPWORDS, self.names_by_initial)
        joined = compounds_joined(corrected, self.surface_words, STOPWORDS, self.names)
        return with_names_capitalised(joined, self.names)

    def has_word_starting(self, prefix: str) -> bool:
        """True when some word starts with prefix (binary search, not a scan of the vocabulary)."""
        return has_word_starting(self.sorted_words, prefix)


OfferFlags = dict[AnswerType, npt.NDArray[np.bool_]]


@dataclass(frozen=True)
class DocumentTerms:
    """What a build derives from one document's text alone: its distinct words, the words it writes
    capitalised and in lower case (`cased_words`), and which sentences offer each answer type (read-only)."""

    words: frozenset[str]
    capitalised: frozenset[str]
    lower: frozenset[str]
    offers: OfferFlags


_DOCUMENT_TERMS: OrderedDict[tuple[str, tuple[tuple[int, int], ...]], DocumentTerms] = OrderedDict()
_DOCUMENT_TERMS_LOCK = threading.Lock()


def document_terms(parsed: ParsedDocument) -> DocumentTerms:
    """`DocumentTerms` of a document, kept for the last DOCUMENT_CACHE documents and shared by every build that
    holds them: a server loads the whole build again after each write, and deriving them again for every
    unchanged brief held the GIL from questions meanwhile (22 ms for the default article and five 60-sentence
    briefs, 8 ms with them kept). Keyed by the text's hash and the sentences' offsets, which fix the
    sentences, so the cache holds no copy of a brief; bounded, since a corpus larger than it gains nothing (a
    load reads every document in turn) and should not pay its memory."""
    key = (parsed.document.sha256, tuple((s.start, s.end) for s in parsed.sentences))
    with _DOCUMENT_TERMS_LOCK:
        found = _DOCUMENT_TERMS.get(key)
        if found is not None:
            _DOCUMENT_TERMS.move_to_end(key)
            return found
    texts = [s.text for s in parsed.sentences]
    offers = {kind: offering_rows(texts, kind) for kind in ANSWER_TYPES}
    for flags in offers.values():
        flags.setflags(write=False)
    capitalised, lower = cased_words(texts)
    made = DocumentTerms(word_set(parsed.document.text), capitalised, lower, offers)
    with _DOCUMENT_TERMS_LOCK:
        _DOCUMENT_TERMS[key] = made
        while len(_DOCUMENT_TERMS) > DOCUMENT_CACHE:
            _DOCUMENT_TERMS.popitem(last=False)
    return made


def _document_vocabulary(sha256: str, text: str, bundle: IndexBundle) -> Vocabulary:
    """One document's vocabulary, built on first use and kept per bundle (a few hundred documents at most)."""
    cache = bundle.vocabulary_cache
    found = cache.get(sha256)
    if found is None:
        surface = word_set(text)
        rows = [bundle.lexicon_row[w] for w in sorted(surface) if w in bundle.lexicon_row]
        found = Vocabulary.of_words(surface, bundle.lexicon_matrix[rows])
        if len(cache) >= VOCABULARY_CACHE:
            # two questions may evict at once: the oldest entry may be gone, or the table changing, meanwhile
            with contextlib.suppress(KeyError, StopIteration, RuntimeError):
                cache.pop(next(iter(cache)))
        cache[sha256] = found
    return found


@dataclass(frozen=True)
class DocRows:
    """Where one document's sentences and passages sit in the bundle's tables (documents are contiguous)."""

    sentence_start: int
    sentence_end: int
    passage_start: int
    passage_end: int


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


def sentence_vectors(embedder: Encoder, sentences: list[Sentence], show_progress: bool) -> Vectors:
    """Normalized mean of the plain sentence and the sentence under its context (measured best on dev)."""
    plain = embedder.embed_documents([s.text for s in sentences], show_progress=show_progress)
    headed = embedder.embed_documents(
        [f"{context}: {s.text}" for context, s in zip(sentence_contexts(sentences), sentences, strict=True)],
        show_progress=show_progress,
    )
    mean = plain + headed
    norms = np.linalg.norm(mean, axis=1, keepdims=True)
    return np.ascontiguousarray(mean / np.maximum(norms, 1e-12), dtype=np.float32)


def is_lexicon_word(word: str) -> bool:
    """A folded word the corpus lexicon holds a vector for: alphabetic, 3+ letters, no stopword."""
    return word.isalpha() and len(word) >= 3 and word not in STOPWORDS


@functools.lru_cache(maxsize=65536)
def lexicon_words_of(text: str) -> frozenset[str]:
    """The words of a (sentence or heading) text that can be in the corpus lexicon."""
    return frozenset(w for w in words(text) if is_lexicon_word(w))


def lexicon_words(documents: Iterable[ParsedDocument]) -> list[str]:
    """Distinct content words of the corpus: what synonyms are sought among, and soft coverage compares."""
    return sorted({w for d in documents for w in words(d.document.text) if is_lexicon_word(w)})


def _vectors(
    docs: list[ParsedDocument],
    previous: IndexBundle | None,
    embedder: Encoder,
    show: bool,
    progress: ProgressFn | None,
    given: Mapping[str, tuple[Vectors, Vectors]],
) -> tuple[Vectors, Vectors, int]:
    """Sentence and passage matrices in document order: reused rows for documents the previous bundle holds in
    the same version, the `given` rows (sentences, passages) of documents that come with theirs, fresh
    embeddings for the others. Also returns how many documents were embedded."""
    fresh = [
        d for d in docs
        if (previous is None or not previous.holds(d.document)) and d.document.doc_id not in given
    ]
    fresh_sentences = [s for d in fresh for s in d.sentences]
    fresh_passages = [p for d in fresh for p in d.passages]
    if progress:
        progress("embedding sentences", len(fresh_sentences))
    new_sentence_matrix = sentence_vectors(embedder, fresh_sentences, show)
    if progress:
        progress("embedding passages", len(fresh_passages))
    new_passage_matrix = embedder.embed_documents([passage_match_text(p) for p in fresh_passages], show_progress=show)
    sentence_parts: list[Vectors] = []
    passage_parts: list[Vectors] = []
    s_at = p_at = 0
    for doc in docs:
        if previous is not None and previous.holds(doc.document):
            rows = previous.doc_rows[doc.document.doc_id]
            sentence_parts.append(previous.sentence_matrix[rows.sentence_start : rows.sentence_end])
            passage_parts.append(previous.passage_matrix[rows.passage_start : rows.passage_end])
        elif doc.document.doc_id in given:
            stored_sentences, stored_passages = given[doc.document.doc_id]
            sentence_parts.append(stored_sentences)
            passage_parts.append(stored_passages)
        else:
            sentence_parts.append(new_sentence_matrix[s_at : s_at + len(doc.sentences)])
            passage_parts.append(new_passage_matrix[p_at : p_at + len(doc.passages)])
            s_at += len(doc.sentences)
            p_at += len(doc.passages)
    dim = embedder.dimension
    sentences = np.concatenate(sentence_parts) if sentence_parts else np.zeros((0, dim), np.float32)
    passages = np.concatenate(passage_parts) if passage_parts else np.zeros((0, dim), np.float32)
    return np.ascontiguousarray(sentences), np.ascontiguousarray(passages), len(fresh)


def _tokens(
    docs: list[ParsedDocument], previous: IndexBundle | None, embedder: Encoder, progress: ProgressFn | None
) -> TokenTable:
    """Every sentence's token vectors in document order: kept from the previous bundle for documents it holds in
    the same version, computed for the others (copied briefs too: the search backend does not store them)."""
    fresh = [s.text for d in docs if previous is None or not previous.holds(d.document) for s in d.sentences]
    if progress and fresh:
        progress("embedding sentence tokens", len(fresh))
    # in chunks, each quantized to int8 before the next is embedded: the float32 states of a whole archive's
    # pieces (and the reference model's padded batches behind them) would be many times the stored table
    chunks = [
        TokenTable.of(embedder.embed_with_tokens(fresh[first : first + TOKEN_CHUNK])[1], embedder.dimension)
        for first in range(0, len(fresh), TOKEN_CHUNK)
    ]
    computed = TokenTable.joined(chunks, embedder.dimension)
    parts: list[TokenTable] = []
    at = 0
    for doc in docs:
        if previous is not None and previous.holds(doc.document):
            rows = previous.doc_rows[doc.document.doc_id]
            parts.append(previous.sentence_tokens.rows(rows.sentence_start, rows.sentence_end))
        else:
            parts.append(computed.rows(at, at + len(doc.sentences)))
            at += len(doc.sentences)
    return TokenTable.joined(parts, embedder.dimension)


def _appended_only(docs: list[ParsedDocument], previous: IndexBundle | None) -> bool:
    """True when the new document list is the previous one, unchanged, with documents appended after it."""
    if previous is None or len(docs) < len(previous.documents):
        return False
    pairs = zip(docs, previous.documents, strict=False)  # docs may be longer: the appended ones
    return all(d.document.doc_id == old and previous.holds(d.document) for d, old in pairs)


def _vector_index(
    matrix: Vectors, old: VectorIndex | None, appended_from: int | None, hnsw_threshold: int
) -> VectorIndex:
    """The old FAISS index plus the appended rows when possible (no re-embedding, no rebuild), else a new one."""
    if old is not None and appended_from is not None and old.kind == VectorIndex.kind_for(len(matrix), hnsw_threshold):
        return old.extended(matrix[appended_from:])
    return VectorIndex.build(matrix, hnsw_threshold)


def build_bundle(
    documents: Iterable[ParsedDocument],
    embedder: Encoder,
    hnsw_threshold: int,
    progress: ProgressFn | None = None,
    previous: IndexBundle | None = None,
    given: Mapping[str, tuple[Vectors, Vectors]] | None = None,
) -> IndexBundle:
    """Embed and index every sentence and passage of the given documents.

    With `previous`, documents it already holds in the same version keep their vectors: adding or removing a
    brief embeds only the new text. `given` holds the sentence and passage vectors of documents that come with
    them (a replica copying another's write from the search backend), by doc_id: those are not embedded. When
    documents were only appended, the FAISS indexes grow in place too; the BM25 indexes are always rebuilt
    (term statistics are corpus-wide).
    """
    docs = list(documents)
    sentences = [s for d in docs for s in d.sentences]
    passages = [p for d in docs for p in d.passages]
    show = progress is not None and len(sentences) + len(passages) > 2000
    sentence_matrix, passage_matrix, _ = _vectors(docs, previous, embedder, show, progress, given or {})
    sentence_tokens = _tokens(docs, previous, embedder, progress)  # an embedding stage: before "indexing"
    appended = _appended_only(docs, previous)
    old_s = previous.sentence_vectors if previous and appended else None
    old_p = previous.passage_vectors if previous and appended else None
    if progress:
        progress("indexing", len(sentences) + len(passages))
    passage_texts = [passage_match_text(p) for p in passages]
    lexicon = lexicon_words(docs)
    known = dict(zip(previous.lexicon, previous.lexicon_matrix, strict=True)) if previous else {}
    new_words = [w for w in lexicon if w not in known]
    new_word_vectors = dict(zip(new_words, embedder.embed_documents(new_words, batch_size=256), strict=True))
    lexicon_matrix = (
        np.stack([known[w] if w in known else new_word_vectors[w] for w in lexicon]).astype(np.float32)
        if lexicon
        else np.zeros((0, embedder.dimension), np.float32)
    )
    return IndexBundle(
        documents={d.document.doc_id: d for d in docs},
        sentences=sentences,
        passages=passages,
        sentence_vectors=_vector_index(
            sentence_matrix, old_s, len(previous.sentences) if previous and appended else None, hnsw_threshold
        ),
        passage_vectors=_vector_index(
            passage_matrix, old_p, len(previous.passages) if previous and appended else None, hnsw_threshold
        ),
        sentence_lexical=LexicalIndex.build([s.text for s in sentences]),
        passage_lexical=LexicalIndex.build(passage_texts),
        model_name=embedder.name,
        lexicon=lexicon,
        lexicon_matrix=lexicon_matrix,
        sentence_tokens=sentence_tokens,
    )

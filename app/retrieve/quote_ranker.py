"""Pure: which candidate sentence answers the question. A learned ranker over measured features.

Retrieval finds the right passage far more often than the sentence that repeats the most question words is
the answer. The ranker weighs what predicts an answering sentence (fitted by `benchmarks/train.py`, logistic
regression, cross-validated by document): the sentence's cosine alone and relative to the best candidate, its
passage's cosine, its neighbours' (an answer often follows the sentence that names the topic), BM25, how much
of the question's weight (IDF) it covers alone and with its context, how much it says beyond the question
(an answer adds content), whether it holds a new thing of the asked type (a date for "when"), and its length.
Paraphrase ("the firm's boss" against "its chief executive") is met by soft coverage: a question word counts as
covered by the sentence word whose MiniLM word vector is nearest to it, when that cosine is at least
UNRELATED_SIMILARITY (the synonym check's floor), at that cosine. Late interaction (`token_match`,
`app/index/tokens.py`) compares the question's content pieces with the sentence's, each with its contextual
vector: the IDF-weighted mean of each question piece's best cosine in the sentence.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from app.embed.reference import TokenVectors
from app.index.bundle import IndexBundle, lexicon_words_of
from app.linear import LinearModel
from app.models import RankedPool
from app.retrieve.signals import UNRELATED_SIMILARITY, figures_missing_from, names_not_said
from app.text.answer_type import AnswerType, Unit, counted_words, offers_new
from app.text.normalize import stem, term_set, terms

FloatArray = npt.NDArray[np.float64]

SENTENCE_FEATURES = (
    "dense",
    "dense_gap",
    "dense_rank",
    "lexical",
    "lexical_gap",
    "lexical_rank",
    "passage_dense",
    "passage_dense_gap",
    "neighbour_dense",
    "coverage",
    "context_coverage",
    "novelty",
    "typed_answer",
    "typed_missing",
    "log_words",
    "in_list",
    "coverage_gap",
    "bigrams",
    "paragraph_dense_gap",
    "fused",
    "fused_gap",
    "soft_coverage",
    "soft_context_coverage",
    "token_match",
    "token_match_gap",
    "names_missing",
    "figures_missing",
    "count_missing",
    "token_worst",
)


@dataclass(frozen=True)
class Pool:
    """The candidate sentences a quote is chosen from, with the raw retrieval measurements of each."""

    rows: npt.NDArray[np.int64]  # sentence rows of the bundle
    dense: FloatArray  # cosine of the question and the sentence
    lexical: FloatArray  # BM25 over the best BM25 of any sentence
    passage_dense: FloatArray  # best cosine of a scored passage holding the sentence
    neighbour_dense: FloatArray  # best cosine of the previous or next sentence of the same document


@dataclass(frozen=True)
class QuestionView:
    """What the features need of the question: its terms with their IDF, its words, its answer type."""

    terms: tuple[str, ...]
    idf: Mapping[str, float]
    words: frozenset[str]
    kind: AnswerType
    unit: Unit | None = None  # the unit a quantity is asked in ("how old": an age), when the question says
    names: tuple[str, ...] = ()  # its capitalised names (`signals.question_names`): looked for in each candidate
    full_names: Mapping[str, str] = field(default_factory=dict)  # first name → surname (`signals.full_name_ends`)
    figures: tuple[str, ...] = ()  # the figures it writes (`signals.question_figures`): looked for likewise
    term_vectors: npt.NDArray[np.float32] | None = None  # one word vector per term (zeros: none), for soft coverage
    tokens: TokenVectors | None = None  # its content pieces' vectors, for late interaction (token_match)
    counted: str | None = None  # the term a "how many" question counts ("how many ships": ship), when it names one


@lru_cache(maxsize=65536)
def sentence_bigrams(text: str) -> frozenset[tuple[str, str]]:
    """Pairs of consecutive content terms: a question that copies a phrase matches its pair."""
    return frozenset(itertools.pairwise(terms(text)))


def _soft_best(question: QuestionView, bundle: IndexBundle, groups: list[list[int]]) -> FloatArray:
    """Per group of lexicon rows (one candidate's words) and question term: the best cosine, at least
    UNRELATED_SIMILARITY (else 0), of the term's word vector to the group's words. One matrix product for the
    whole pool, one segment maximum per group."""
    k = len(question.terms)
    vectors = question.term_vectors
    if vectors is None or not groups:
        return np.zeros((len(groups), k), dtype=np.float64)
    columns, flat = np.unique(np.fromiter((r for g in groups for r in g), dtype=np.int64), return_inverse=True)
    similar = np.zeros((k, len(columns) + 1), dtype=np.float64)  # the last column: 0, so no group is empty
    if len(columns):
        cosine = (vectors @ bundle.lexicon_matrix[columns].T).astype(np.float64)
        similar[:, :-1] = np.where(cosine >= UNRELATED_SIMILARITY, np.minimum(cosine, 1.0), 0.0)
    sizes = np.array([len(g) + 1 for g in groups], dtype=np.int64)
    starts = np.zeros(len(groups), dtype=np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    at = np.full(int(sizes.sum()), len(columns), dtype=np.int64)
    at[np.delete(np.arange(len(at)), starts + sizes - 1)] = flat
    return np.maximum.reduceat(similar[:, at], starts, axis=1).T


def _rank_feature(values: FloatArray, texts: Sequence[str]) -> FloatArray:
    """1 / (1 + rank) of each value, best first (ties keep their order), where a sentence whose text an earlier
    one already has takes that one's rank and moves no other down: two outlets' copies of one wire sentence
    counted apart pushed every other sentence a rank down ("how many jobs" quoted the lede's turbines ahead of
    "300 jobs", its copy second)."""
    ranks = np.empty(len(values), dtype=np.float64)
    seen: dict[str, float] = {}
    for row in np.argsort(-values, kind="stable").tolist():
        ranks[row] = seen.setdefault(texts[row], float(len(seen)))
    return np.asarray(1.0 / (1.0 + ranks), dtype=np.float64)


def _neighbours(bundle: IndexBundle, row: int) -> list[int]:
    """The previous and next sentence rows of the same document."""
    same = bundle.sentence_document
    return [o for o in (row - 1, row + 1) if 0 <= o < len(bundle.sentences) and same[o] == same[row]]


def _context_texts(bundle: IndexBundle, row: int) -> list[str]:
    """The sentence's section heading, its text and its neighbours' in the same document."""
    sentence = bundle.sentences[row]
    return [sentence.section, sentence.text, *(bundle.sentences[o].text for o in _neighbours(bundle, row))]


def paragraph_text(bundle: IndexBundle, row: int) -> str:
    """The text of the paragraph holding sentence `row` (its sentences are consecutive rows of one document)."""
    sentences, here = bundle.sentences, bundle.sentences[row]
    key = (here.doc_id, here.paragraph)
    first, last = row, row
    while first > 0 and (sentences[first - 1].doc_id, sentences[first - 1].paragraph) == key:
        first -= 1
    while last + 1 < len(sentences) and (sentences[last + 1].doc_id, sentences[last + 1].paragraph) == key:
        last += 1
    return " ".join(s.text for s in sentences[first : last + 1])


def _context_lexicon_rows(bundle: IndexBundle, row: int, section: str) -> list[int]:
    """The corpus-lexicon rows of the words of a sentence, its neighbours in the same document and its heading."""
    found = set(bundle.sentence_lexicon_rows(row))
    for other in _neighbours(bundle, row):
        found.update(bundle.sentence_lexicon_rows(other))
    known = bundle.lexicon_row
    found.update(known[w] for w in lexicon_words_of(section) if w in known)
    return sorted(found)


_AT = {name: i for i, name in enumerate(SENTENCE_FEATURES)}
# the hand-set fusion the ranker replaced (cosine + 0.3 · BM25/max + 0.05 for the asked type), kept as a feature
HAND_SET_LEXICAL_WEIGHT = 0.3
HAND_SET_TYPE_BONUS = 0.05


def pool_features(question: QuestionView, pool: Pool, bundle: IndexBundle) -> FloatArray:
    """One row of SENTENCE_FEATURES per pool sentence."""
    n = len(pool.rows)
    out = np.zeros((n, len(SENTENCE_FEATURES)), dtype=np.float64)
    if not n:
        return out
    column = {name: out[:, i] for name, i in _AT.items()}  # views: writing one fills `out`
    question_terms = frozenset(question.terms)
    question_pairs = frozenset(itertools.pairwise(question.terms))
    per_term = np.array([question.idf.get(t, 0.0) for t in question.terms], dtype=np.float64)
    total = float(per_term.sum())
    typed_kind = question.kind != "other"
    offers = bundle.offers_answer_type(question.kind)[pool.rows] if typed_kind else np.zeros(n, dtype=np.bool_)
    rows = pool.rows.tolist()
    sentences = [bundle.sentences[row] for row in rows]
    contexts = [_context_texts(bundle, row) for row in rows]
    own_terms = [term_set(s.text) for s in sentences]
    context_terms = [term_set(*texts) for texts in contexts]
    k = len(question.terms)
    own_hit = np.array([[t in own for t in question.terms] for own in own_terms], dtype=np.bool_).reshape(n, k)
    context_hit = np.array([[t in c for t in question.terms] for c in context_terms], dtype=np.bool_).reshape(n, k)
    if total > 0:
        column["coverage"][:] = own_hit @ per_term / total
        column["context_coverage"][:] = context_hit @ per_term / total
        own_words = [list(bundle.sentence_lexicon_rows(row)) for row in rows]
        context_words = [_context_lexicon_rows(bundle, row, s.section) for row, s in zip(rows, sentences, strict=True)]
        best = _soft_best(question, bundle, own_words + context_words)
        column["soft_coverage"][:] = np.where(own_hit, 1.0, best[:n]) @ per_term / total
        column["soft_context_coverage"][:] = np.where(context_hit, 1.0, best[n:]) @ per_term / total
    numbered: dict[tuple[str, int], int] = {}
    paragraph_of = np.array([numbered.setdefault((s.doc_id, s.paragraph), len(numbered)) for s in sentences])
    paragraph_best = np.full(len(numbered), -np.inf)
    np.maximum.at(paragraph_best, paragraph_of, pool.dense)
    column["paragraph_dense_gap"][:] = pool.dense - paragraph_best[paragraph_of]
    counted = counted_vector(question)
    for i, (sentence, own) in enumerate(zip(sentences, own_terms, strict=True)):
        # only a sentence offering the type at all (the bundle's flags) can offer a new thing of it
        typed = bool(offers[i]) and offers_new(sentence.text, question.kind, question.words, question.unit)
        if typed and question.counted is not None:  # a number, but a count of the thing asked?
            typed = counts_the_thing(sentence.text, question.counted, counted, bundle)
            column["count_missing"][i] = float(not typed)  # a count of another thing: no answer of the asked type
        column["novelty"][i] = len(own - question_terms) / len(own) if own else 0.0
        column["typed_answer"][i] = float(typed)
        column["typed_missing"][i] = float(typed_kind and not typed)
        column["log_words"][i] = float(np.log1p(len(sentence.text.split())))
        column["in_list"][i] = float(sentence.is_bullet or sentence.introduces_list)
        if question_pairs:
            column["bigrams"][i] = len(question_pairs & sentence_bigrams(sentence.text)) / len(question_pairs)
        if question.names:  # a name of the question that the sentence, its neighbours and heading never say
            column["names_missing"][i] = float(bool(names_not_said(question.names, " ".join(contexts[i]),
                                                                    question.full_names)))
        if question.figures:  # a figure of the question ("in 1998") that the sentence's paragraph does not hold
            held = paragraph_text(bundle, rows[i])
            column["figures_missing"][i] = float(bool(figures_missing_from(question.figures, held)))
    for name, values in (("dense", pool.dense), ("lexical", pool.lexical), ("passage_dense", pool.passage_dense)):
        column[name][:] = values
        column[f"{name}_gap"][:] = values - values.max()
    texts = [sentence.text for sentence in sentences]
    column["dense_rank"][:] = _rank_feature(pool.dense, texts)
    column["lexical_rank"][:] = _rank_feature(pool.lexical, texts)
    column["neighbour_dense"][:] = pool.neighbour_dense
    column["coverage_gap"][:] = column["coverage"] - column["coverage"].max()
    hand_set = pool.dense + HAND_SET_LEXICAL_WEIGHT * pool.lexical + HAND_SET_TYPE_BONUS * column["typed_answer"]
    column["fused"][:] = hand_set
    column["fused_gap"][:] = column["fused"] - column["fused"].max()
    if question.tokens is not None:
        matched, worst = bundle.sentence_tokens.match_both(question.tokens, pool.rows)
        column["token_match"][:], column["token_worst"][:] = matched, worst
        column["token_match_gap"][:] = column["token_match"] - column["token_match"].max()
    return out


COUNT_SIMILARITY = 0.5  # a counted word this close to the asked thing counts it ("dockworkers" for "dockers")


def counted_vector(question: QuestionView) -> FloatArray | None:
    """The word vector of the thing a "how many" question counts (`question.counted`), when it has one."""
    if question.counted is None or question.term_vectors is None or question.counted not in question.terms:
        return None
    vector = question.term_vectors[question.terms.index(question.counted)]
    return vector if float(np.abs(vector).sum()) > 0 else None


def counts_the_thing(text: str, counted: str, vector: FloatArray | None, bundle: IndexBundle) -> bool:
    """Whether the sentence puts a number before the counted term (a stem, `counted_term`) or before a word
    whose vector (`counted_vector`) is close to it ("3,100 dockworkers" for "how many dockers")."""
    for word in counted_words(text):
        if stem(word) == counted:
            return True
        row = bundle.lexicon_row.get(word)
        if vector is not None and row is not None and float(bundle.lexicon_matrix[row] @ vector) >= COUNT_SIMILARITY:
            return True
    return False


def rank_pool(question: QuestionView, pool: Pool, bundle: IndexBundle, model: LinearModel) -> RankedPool:
    """The pool sentences ordered by the ranker's logit, best first."""
    features = pool_features(question, pool, bundle)
    logits = model.logits(features) if len(pool.rows) else np.zeros(0, dtype=np.float64)
    order = np.argsort(-logits, kind="stable")
    return RankedPool(pool.rows[order], features[order], logits[order])

"""Pure: which candidate sentence answers the question. A learned ranker over measured features.

Retrieval finds the right passage far more often than the sentence that repeats the most question words is
the answer. The ranker weighs what predicts an answering sentence (fitted by `benchmarks/train.py`, logistic
regression, cross-validated by document): the sentence's cosine alone and relative to the best candidate, its
passage's cosine, its neighbours' (an answer often follows the sentence that names the topic), BM25, how much
of the question's weight (IDF) it covers alone and with its context, how much it says beyond the question
(an answer adds content), whether it holds a new thing of the asked type (a date for "when"), and its length.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from app.answer_type import AnswerType, offers_new
from app.bundle import IndexBundle
from app.linear import LinearModel
from app.normalize import terms

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


@lru_cache(maxsize=65536)  # the same sentences are candidates question after question
def sentence_terms(text: str) -> frozenset[str]:
    return frozenset(terms(text))


@lru_cache(maxsize=65536)
def sentence_bigrams(text: str) -> frozenset[tuple[str, str]]:
    """Pairs of consecutive content terms: a question that copies a phrase matches its pair."""
    found = terms(text)
    return frozenset(itertools.pairwise(found))


def _rank_feature(values: FloatArray) -> FloatArray:
    """1 / (1 + rank) of each value, best first (ties keep their order)."""
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[np.argsort(-values, kind="stable")] = np.arange(len(values), dtype=np.float64)
    return np.asarray(1.0 / (1.0 + ranks), dtype=np.float64)


def _covered(question: QuestionView, present: frozenset[str]) -> float:
    total = sum(question.idf.get(t, 0.0) for t in question.terms)
    if total <= 0:
        return 0.0
    return sum(question.idf.get(t, 0.0) for t in question.terms if t in present) / total


def _context_terms(bundle: IndexBundle, row: int) -> frozenset[str]:
    """Terms of the sentence, its neighbours in the same document and its section heading."""
    sentence = bundle.sentences[row]
    texts = [sentence.section, sentence.text]
    for other in (row - 1, row + 1):
        if 0 <= other < len(bundle.sentences) and bundle.sentences[other].doc_id == sentence.doc_id:
            texts.append(bundle.sentences[other].text)
    return _union_terms(tuple(texts))


@lru_cache(maxsize=65536)  # a sentence's context is the same every time it is a candidate
def _union_terms(texts: tuple[str, ...]) -> frozenset[str]:
    return frozenset().union(*(sentence_terms(t) for t in texts))


def pool_features(question: QuestionView, pool: Pool, bundle: IndexBundle) -> FloatArray:
    """One row of SENTENCE_FEATURES per pool sentence."""
    n = len(pool.rows)
    out = np.zeros((n, len(SENTENCE_FEATURES)), dtype=np.float64)
    if not n:
        return out
    question_terms = frozenset(question.terms)
    question_pairs = frozenset(zip(question.terms, question.terms[1:], strict=False))
    paragraph_best: dict[tuple[str, int], float] = {}
    for row, dense in zip(pool.rows.tolist(), pool.dense.tolist(), strict=True):
        key = (bundle.sentences[row].doc_id, bundle.sentences[row].paragraph)
        paragraph_best[key] = max(dense, paragraph_best.get(key, -1.0))
    for i, row in enumerate(pool.rows.tolist()):
        sentence = bundle.sentences[row]
        own = sentence_terms(sentence.text)
        typed = question.kind != "other" and offers_new(sentence.text, question.kind, question.words)
        out[i, 9] = _covered(question, own)
        context = _context_terms(bundle, row)
        out[i, 10] = _covered(question, context)
        out[i, 11] = len(own - question_terms) / len(own) if own else 0.0
        out[i, 12] = float(typed)
        out[i, 13] = float(question.kind != "other" and not typed)
        out[i, 14] = float(np.log1p(len(sentence.text.split())))
        out[i, 15] = float(sentence.is_bullet or sentence.introduces_list)
        if question_pairs:
            out[i, 17] = len(question_pairs & sentence_bigrams(sentence.text)) / len(question_pairs)
        out[i, 18] = pool.dense[i] - paragraph_best[(sentence.doc_id, sentence.paragraph)]
    out[:, 0] = pool.dense
    out[:, 1] = pool.dense - pool.dense.max()
    out[:, 2] = _rank_feature(pool.dense)
    out[:, 3] = pool.lexical
    out[:, 4] = pool.lexical - pool.lexical.max()
    out[:, 5] = _rank_feature(pool.lexical)
    out[:, 6] = pool.passage_dense
    out[:, 7] = pool.passage_dense - pool.passage_dense.max()
    out[:, 8] = pool.neighbour_dense
    out[:, 16] = out[:, 9] - out[:, 9].max()
    out[:, 19] = pool.dense + 0.3 * pool.lexical + 0.05 * out[:, 12]  # the hand-set fusion it replaces
    out[:, 20] = out[:, 19] - out[:, 19].max()
    return out


@dataclass(frozen=True)
class RankedPool:
    """The pool best first by the ranker, with each sentence's features and logit (abstention reads them)."""

    rows: npt.NDArray[np.int64]
    features: FloatArray
    logits: FloatArray


def rank_pool(question: QuestionView, pool: Pool, bundle: IndexBundle, model: LinearModel) -> RankedPool:
    """The pool sentences ordered by the ranker's logit, best first."""
    features = pool_features(question, pool, bundle)
    logits = model.logits(features) if len(pool.rows) else np.zeros(0, dtype=np.float64)
    order = np.argsort(-logits, kind="stable")
    return RankedPool(pool.rows[order], features[order], logits[order])

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
from app.models import RankedPool
from app.normalize import term_set, terms

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


@lru_cache(maxsize=65536)
def sentence_bigrams(text: str) -> frozenset[tuple[str, str]]:
    """Pairs of consecutive content terms: a question that copies a phrase matches its pair."""
    return frozenset(itertools.pairwise(terms(text)))


def _rank_feature(values: FloatArray) -> FloatArray:
    """1 / (1 + rank) of each value, best first (ties keep their order)."""
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[np.argsort(-values, kind="stable")] = np.arange(len(values), dtype=np.float64)
    return np.asarray(1.0 / (1.0 + ranks), dtype=np.float64)


def _context_terms(bundle: IndexBundle, row: int) -> frozenset[str]:
    """Terms of the sentence, its neighbours in the same document and its section heading."""
    sentence = bundle.sentences[row]
    texts = [sentence.section, sentence.text]
    for other in (row - 1, row + 1):
        if 0 <= other < len(bundle.sentences) and bundle.sentence_document[other] == bundle.sentence_document[row]:
            texts.append(bundle.sentences[other].text)
    return term_set(*texts)


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
    weight = {t: question.idf.get(t, 0.0) for t in question.terms}
    total = sum(weight.values())

    def covered(present: frozenset[str]) -> float:
        """The share of the question's IDF weight whose terms are present."""
        return sum(w for t, w in weight.items() if t in present) / total if total > 0 else 0.0

    typed_kind = question.kind != "other"
    offers = bundle.offers_answer_type(question.kind)[pool.rows] if typed_kind else np.zeros(n, dtype=np.bool_)
    paragraph_best: dict[tuple[str, int], float] = {}
    for row, dense in zip(pool.rows.tolist(), pool.dense.tolist(), strict=True):
        key = (bundle.sentences[row].doc_id, bundle.sentences[row].paragraph)
        paragraph_best[key] = max(dense, paragraph_best.get(key, -1.0))
    for i, row in enumerate(pool.rows.tolist()):
        sentence = bundle.sentences[row]
        own = term_set(sentence.text)
        # only a sentence offering the type at all (the bundle's flags) can offer a new thing of it
        typed = bool(offers[i]) and offers_new(sentence.text, question.kind, question.words)
        column["coverage"][i] = covered(own)
        column["context_coverage"][i] = covered(_context_terms(bundle, row))
        column["novelty"][i] = len(own - question_terms) / len(own) if own else 0.0
        column["typed_answer"][i] = float(typed)
        column["typed_missing"][i] = float(typed_kind and not typed)
        column["log_words"][i] = float(np.log1p(len(sentence.text.split())))
        column["in_list"][i] = float(sentence.is_bullet or sentence.introduces_list)
        if question_pairs:
            column["bigrams"][i] = len(question_pairs & sentence_bigrams(sentence.text)) / len(question_pairs)
        column["paragraph_dense_gap"][i] = pool.dense[i] - paragraph_best[(sentence.doc_id, sentence.paragraph)]
    for name, values in (("dense", pool.dense), ("lexical", pool.lexical), ("passage_dense", pool.passage_dense)):
        column[name][:] = values
        column[f"{name}_gap"][:] = values - values.max()
    column["dense_rank"][:] = _rank_feature(pool.dense)
    column["lexical_rank"][:] = _rank_feature(pool.lexical)
    column["neighbour_dense"][:] = pool.neighbour_dense
    column["coverage_gap"][:] = column["coverage"] - column["coverage"].max()
    hand_set = pool.dense + HAND_SET_LEXICAL_WEIGHT * pool.lexical + HAND_SET_TYPE_BONUS * column["typed_answer"]
    column["fused"][:] = hand_set
    column["fused_gap"][:] = column["fused"] - column["fused"].max()
    return out


def rank_pool(question: QuestionView, pool: Pool, bundle: IndexBundle, model: LinearModel) -> RankedPool:
    """The pool sentences ordered by the ranker's logit, best first."""
    features = pool_features(question, pool, bundle)
    logits = model.logits(features) if len(pool.rows) else np.zeros(0, dtype=np.float64)
    order = np.argsort(-logits, kind="stable")
    return RankedPool(pool.rows[order], features[order], logits[order])

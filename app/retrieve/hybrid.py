"""Question → ranked sentences and passages: dense and BM25 candidates (`app/index/search.py`), then the learned
quote ranker.

Candidates come from a weighted sum (sentence: cosine + w_s · BM25/max(BM25); passage: a blend of its own
fused score and its best sentence's). With a ranker (the service always passes one), every sentence of the
best passages and the best sentences are re-ranked by it (`quote_ranker.py`), and passages follow the best
ranked sentence they hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from app.embed.reference import TokenVectors
from app.index.bundle import IndexBundle
from app.index.search import BuiltinSearch, CandidateQuery, CandidateSearch, RowFilter
from app.linear import LinearModel
from app.models import AbstentionSignals, Evidence, RankedPool, ScoredPassage, ScoredSentence
from app.retrieve.quote_ranker import Pool, QuestionView, rank_pool
from app.retrieve.signals import (
    full_name_ends,
    question_figures,
    question_names,
    question_signals,
    searchable_words,
)
from app.text.acronyms import expand_question
from app.text.answer_type import counted_term, measure_unit, question_type
from app.text.normalize import stem, term_set, terms, words

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class RetrievalParams:
    """Fusion weights (measured on the dev set; benchmarks/README.md has the tables)."""

    sentence_lexical_weight: float = 0.3
    passage_lexical_weight: float = 0.2
    passage_own_weight: float = 0.3
    candidates: int = 200
    max_shared_sentences: int = 1
    ranked_passages: int = 50  # how many passages, best first, the evidence carries (the answer uses the first few)
    ranked_sentences: int = 100  # the best sentences it carries, plus every sentence of those passages
    answer_type_bonus: float = 0.05
    fusion: Literal["weighted", "rrf"] = "weighted"
    rrf_k: float = 60.0
    pool_passages: int = 5  # the quote ranker weighs every sentence of this many best passages ...
    pool_sentences: int = 10  # ... and this many best sentences by the fused score


def diversify(ranked: list[ScoredPassage], max_shared: int) -> tuple[ScoredPassage, ...]:
    """Best-first passages, moving one that repeats more than max_shared sentences of a better one to the end.

    Overlapping windows around the same sentence would otherwise fill the top ranks with one piece of text.
    """
    kept: list[ScoredPassage] = []
    later: list[ScoredPassage] = []
    seen: set[tuple[str, int]] = set()
    for scored in ranked:
        keys = {(scored.passage.doc_id, sid) for sid in scored.passage.sentence_ids}
        if len(keys & seen) > max_shared:
            later.append(scored)
        else:
            kept.append(scored)
            seen |= keys
    return tuple(kept + later)


def _restricted(scores: FloatArray, rows: npt.NDArray[np.int64] | None) -> FloatArray:
    """Scores with every row outside `rows` set to zero (None: all rows allowed)."""
    if rows is None:
        return scores
    out = np.zeros_like(scores)
    out[rows] = scores[rows]
    return out


def _normalized(scores: FloatArray) -> FloatArray:
    top = float(scores.max()) if len(scores) else 0.0
    return scores / top if top > 0 else scores


def _dense_scores(bundle: IndexBundle, kind: str, query: FloatArray, rows: npt.NDArray[np.int64]) -> FloatArray:
    matrix = bundle.sentence_matrix if kind == "sentence" else bundle.passage_matrix
    return np.asarray(matrix[rows] @ query, dtype=np.float32)


def _fuse(dense: FloatArray, lexical: FloatArray, weight: float, params: RetrievalParams) -> FloatArray:
    """Weighted sum (cosine + weight · BM25/max) or reciprocal rank fusion of the two sides' rankings."""
    if params.fusion == "rrf":
        def ranks(x: FloatArray) -> FloatArray:
            out = np.empty(len(x), dtype=np.float32)
            out[np.argsort(-x, kind="stable")] = np.arange(len(x), dtype=np.float32)
            return out

        return np.asarray(1 / (params.rrf_k + ranks(dense)) + weight / (params.rrf_k + ranks(lexical)), np.float32)
    return np.asarray(dense + weight * lexical, dtype=np.float32)


def _ranked_sentences(
    bundle: IndexBundle,
    rows: npt.NDArray[np.int64],
    scores: FloatArray,
    passage_rows: npt.NDArray[np.int64],
    params: RetrievalParams,
) -> tuple[ScoredSentence, ...]:
    """Sentences best first: the `ranked_sentences` best and every sentence of the ranked passages.

    Only these become objects; the rest of the scored candidates (a thousand in a large corpus) cannot be
    quoted, since quotes come from the top passages.
    """
    order = np.argsort(-scores, kind="stable")
    keep = np.zeros(len(rows), dtype=np.bool_)
    keep[order[: params.ranked_sentences]] = True
    keep[np.searchsorted(rows, bundle.sentences_in(passage_rows)[0])] = True
    kept = order[keep[order]]
    return tuple(
        ScoredSentence(bundle.sentences[row], score)
        for row, score in zip(rows[kept].tolist(), scores[kept].tolist(), strict=True)
    )


def _signals(
    question: str, bundle: IndexBundle, top: ScoredPassage | None, best_dense: float,
    word_vectors: Mapping[str, FloatArray], names: tuple[str, ...],
) -> AbstentionSignals:
    vocabulary = bundle.vocabulary_of(top.passage.doc_id if top else None)
    unknown_terms, unknown_mass, unknown_names = question_signals(question, vocabulary, word_vectors, names)
    all_terms = list(dict.fromkeys(terms(question)))
    covered = term_set(top.passage.section, top.passage.text) if top else frozenset()
    return AbstentionSignals(
        unknown_term_share=min(1.0, unknown_mass / len(all_terms)) if all_terms else 1.0,
        unknown_proper_nouns=unknown_names,
        unknown_terms=unknown_terms,
        best_dense=best_dense,
        best_lexical_coverage=sum(t in covered for t in all_terms) / len(all_terms) if all_terms else 0.0,
        searchable_words=searchable_words(question, bundle.corpus_vocabulary, names),
    )


def _pool(
    bundle: IndexBundle,
    query_vector: FloatArray,
    sentence_rows: npt.NDArray[np.int64],
    sentence_dense: FloatArray,
    sentence_score: FloatArray,
    sentence_lexical: FloatArray,
    passage_rows: npt.NDArray[np.int64],
    passage_dense: FloatArray,
    passage_order: npt.NDArray[np.int64],
    params: RetrievalParams,
) -> Pool:
    """Every sentence of the best passages plus the best sentences, with what the quote ranker measures."""
    top_passages = passage_rows[passage_order[: params.pool_passages]]
    best_sentences = sentence_rows[np.argsort(-sentence_score, kind="stable")[: params.pool_sentences]]
    rows = np.union1d(bundle.sentences_in(top_passages)[0], best_sentences)
    at = np.searchsorted(sentence_rows, rows)
    inside, starts = bundle.sentences_in(passage_rows)
    owner_dense = np.repeat(passage_dense, np.diff(np.append(starts, len(inside)))).astype(np.float64)
    where = np.minimum(np.searchsorted(rows, inside), len(rows) - 1)
    pooled = rows[where] == inside  # the scored passages' sentences that are in the pool
    best_passage = np.full(len(rows), -1.0, dtype=np.float64)
    np.maximum.at(best_passage, where[pooled], owner_dense[pooled])
    neighbour = _neighbour_dense(bundle, rows, query_vector)
    return Pool(
        rows=rows.astype(np.int64),
        dense=sentence_dense[at].astype(np.float64),
        lexical=sentence_lexical[rows].astype(np.float64),
        passage_dense=best_passage,
        neighbour_dense=neighbour,
    )


def _neighbour_dense(bundle: IndexBundle, rows: npt.NDArray[np.int64], query: FloatArray) -> npt.NDArray[np.float64]:
    """Best cosine of the previous or next sentence of the same document (-1 when there is none)."""
    best = np.full(len(rows), -1.0, dtype=np.float64)
    for step in (-1, 1):
        other = np.clip(rows + step, 0, len(bundle.sentences) - 1)
        same = (other != rows) & (bundle.sentence_document[other] == bundle.sentence_document[rows])
        cosine = (bundle.sentence_matrix[other] @ query).astype(np.float64)
        best = np.where(same, np.maximum(best, cosine), best)
    return best


def _reranked(
    bundle: IndexBundle, ranked: RankedPool, passages: tuple[ScoredPassage, ...], rest: tuple[ScoredSentence, ...]
) -> tuple[tuple[ScoredSentence, ...], tuple[ScoredPassage, ...]]:
    """Sentences in the ranker's order (its probability as the score), then the rest; passages ordered by the
    best ranked sentence they hold, so the first passage is the one the first quote comes from."""
    first = tuple(
        ScoredSentence(bundle.sentences[row], float(p))
        for row, p in zip(ranked.rows.tolist(), ranked.probabilities.tolist(), strict=True)
    )
    chosen = {(s.sentence.doc_id, s.sentence.sentence_id): s.score for s in first}
    sentences = first + tuple(
        ScoredSentence(s.sentence, 0.0) for s in rest if (s.sentence.doc_id, s.sentence.sentence_id) not in chosen
    )

    best_inside = [max(chosen.get((p.passage.doc_id, sid), -1.0) for sid in p.passage.sentence_ids) for p in passages]
    order = sorted(range(len(passages)), key=lambda i: (-best_inside[i], i))
    # a passage's score becomes the ranker's probability for the best sentence it holds (0: none ranked)
    return sentences, tuple(ScoredPassage(passages[i].passage, max(0.0, best_inside[i])) for i in order)


def term_vectors(
    expanded: str, unique_terms: tuple[str, ...], bundle: IndexBundle, word_vectors: Mapping[str, FloatArray]
) -> FloatArray | None:
    """One word vector per question term: of a question word with that stem, from the corpus lexicon or the
    words embedded with the question (zeros when neither holds one: the term then counts only when present)."""
    if not unique_terms or not len(bundle.lexicon_matrix):
        return None
    at = {t: i for i, t in enumerate(unique_terms)}
    out = np.zeros((len(unique_terms), bundle.lexicon_matrix.shape[1]), dtype=np.float32)
    filled: set[int] = set()
    for word in words(expanded):
        i = at.get(stem(word))
        if i is None or i in filled:
            continue
        row = bundle.lexicon_row.get(word)
        vector = bundle.lexicon_matrix[row] if row is not None else word_vectors.get(word)
        if vector is not None:
            out[i] = vector
            filled.add(i)
    return out


def question_view(
    question: str, query_terms: list[str], bundle: IndexBundle, names: tuple[str, ...],
    word_vectors: Mapping[str, FloatArray] | None = None, expanded: str | None = None,
    tokens: TokenVectors | None = None,
) -> QuestionView:
    unique = tuple(dict.fromkeys(query_terms))
    kind = question_type(question)
    return QuestionView(
        terms=unique,
        idf=bundle.sentence_lexical.idf(list(unique)),
        words=frozenset(words(question)),
        kind=kind,
        unit=measure_unit(question, kind),
        names=names,
        full_names=full_name_ends(question, names),
        figures=question_figures(question),
        term_vectors=term_vectors(expanded or question, unique, bundle, word_vectors or {}),
        tokens=tokens,
        counted=counted_term(question) if kind == "quantity" else None,
    )


def retrieve(
    question: str,
    query_vector: FloatArray,
    bundle: IndexBundle,
    params: RetrievalParams,
    word_vectors: Mapping[str, FloatArray] | None = None,
    allowed: RowFilter | None = None,
    ranker: LinearModel | None = None,
    search: CandidateSearch | None = None,
    query_tokens: TokenVectors | None = None,
) -> Evidence:
    """Fused ranking of sentences and passages for one question, plus the signals abstention needs.

    `query_tokens` are the question's content pieces with their vectors (the query encoder's run that gave
    `query_vector`), for the ranker's late-interaction feature; without them that feature is 0 for every
    candidate. With `allowed`, only those rows compete (a question asked of some briefs only). `search` proposes the
    candidate rows (default: the built-in FAISS and bm25s search); everything after that is the same for
    every backend.
    """
    expanded = expand_question(question, bundle.acronyms)
    query_terms = terms(expanded)
    names = tuple(question_names(question))  # read once: the ranker's name feature and the unknown-name signal
    limit = params.candidates
    s_allowed = allowed.sentence_rows if allowed else None
    p_allowed = allowed.passage_rows if allowed else None
    sentence_lexical = _normalized(_restricted(bundle.sentence_lexical.scores(query_terms), s_allowed))
    passage_lexical = _normalized(_restricted(bundle.passage_lexical.scores(query_terms), p_allowed))
    search = search or BuiltinSearch()
    passage_rows = search.candidates(
        bundle, CandidateQuery("passage", query_vector, query_terms, limit, allowed, passage_lexical)
    )
    sentence_rows = search.candidates(
        bundle, CandidateQuery("sentence", query_vector, query_terms, limit, allowed, sentence_lexical)
    )
    inside, inside_starts = bundle.sentences_in(passage_rows)  # their sentences need scores too
    sentence_rows = np.union1d(sentence_rows, inside)

    sentence_dense = _dense_scores(bundle, "sentence", query_vector, sentence_rows)
    sentence_score = _fuse(sentence_dense, sentence_lexical[sentence_rows], params.sentence_lexical_weight, params)
    kind = question_type(question)
    if kind != "other" and params.answer_type_bonus:
        typed = bundle.offers_answer_type(kind)[sentence_rows]
        sentence_score = (sentence_score + params.answer_type_bonus * typed).astype(np.float32)

    passage_dense = _dense_scores(bundle, "passage", query_vector, passage_rows)
    passage_own = _fuse(passage_dense, passage_lexical[passage_rows], params.passage_lexical_weight, params)
    if len(passage_rows):  # every passage has at least one sentence, so no run is empty
        inside_scores = sentence_score[np.searchsorted(sentence_rows, inside)]
        best_inside = np.maximum.reduceat(inside_scores, inside_starts)
    else:
        best_inside = np.zeros(0, dtype=np.float32)
    passage_score = params.passage_own_weight * passage_own + (1 - params.passage_own_weight) * best_inside

    passage_order = np.argsort(-passage_score, kind="stable")[: params.ranked_passages]
    ranked_passages = diversify(
        [ScoredPassage(bundle.passages[int(passage_rows[i])], float(passage_score[i])) for i in passage_order],
        params.max_shared_sentences,
    )
    ranked_sentences = _ranked_sentences(bundle, sentence_rows, sentence_score, passage_rows[passage_order], params)
    ranked_pool: RankedPool | None = None
    if ranker is not None and len(sentence_rows):
        pool = _pool(
            bundle, query_vector, sentence_rows, sentence_dense, sentence_score, sentence_lexical,
            passage_rows, passage_dense, passage_order, params,
        )
        view = question_view(question, query_terms, bundle, names, word_vectors, expanded, query_tokens)
        ranked_pool = rank_pool(view, pool, bundle, ranker)
        ranked_sentences, reordered = _reranked(bundle, ranked_pool, ranked_passages, ranked_sentences)
        ranked_passages = diversify(list(reordered), params.max_shared_sentences)
    best_dense = float(sentence_dense.max()) if len(sentence_dense) else 0.0
    top = ranked_passages[0] if ranked_passages else None
    signals = _signals(question, bundle, top, best_dense, word_vectors or {}, names)
    return Evidence(
        sentences=ranked_sentences, passages=ranked_passages, signals=signals, ranked=ranked_pool, query=query_vector,
        question=question,
    )

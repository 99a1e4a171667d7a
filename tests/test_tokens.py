"""Sentence token vectors (late interaction): the table's layout, its IDF weighting and what `match` measures.

The layout tests use small hand-made vectors (the table is pure numpy: what it stores and slices does not depend
on where the vectors came from); the match tests use the real query encoder and the session index.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from app.api.jobs import WRITE_STAGES_BEFORE_EMBEDDED
from app.embed.reference import TokenVectors
from app.index.bundle import build_bundle
from app.index.search import made_with
from app.index.store import FORMAT_VERSION
from app.index.tokens import INT8_SCALE, TokenTable
from app.ingest.chunk import CHUNKER_VERSION
from app.service import QAService
from app.text.normalize import is_content_piece

DIM = 4


def tokens(*rows: tuple[int, list[float]]) -> TokenVectors:
    vectors = np.array([v for _, v in rows], dtype=np.float32).reshape(len(rows), DIM)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return TokenVectors(np.array([i for i, _ in rows], dtype=np.int32), vectors)


E: list[list[float]] = [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]


def test_rows_and_joins_keep_every_sentence_its_own_pieces() -> None:
    first = [tokens((5, E[0]), (6, E[1])), tokens(), tokens((7, E[2]))]
    second = [tokens((8, E[3]), (5, E[0]), (9, E[1]))]
    table = TokenTable.joined([TokenTable.of(first, DIM), TokenTable.of(second, DIM)], DIM)
    assert table.sentence_count == 4
    assert table.offsets.tolist() == [0, 2, 2, 3, 6]
    assert table.ids.tolist() == [5, 6, 7, 8, 5, 9]
    assert table.vectors.dtype == np.int8 and int(np.abs(table.vectors).max()) == INT8_SCALE
    middle = table.rows(1, 3)
    assert middle.sentence_count == 2 and middle.offsets.tolist() == [0, 0, 1] and middle.ids.tolist() == [7]
    again = TokenTable.joined([table.rows(0, 2), table.rows(2, 4)], DIM)
    assert again.offsets.tolist() == table.offsets.tolist() and again.ids.tolist() == table.ids.tolist()
    assert TokenTable.of([], DIM).sentence_count == 0


def test_a_rare_piece_weighs_more_than_a_common_one() -> None:
    table = TokenTable.of([tokens((1, E[0]), (2, E[1])), tokens((1, E[0])), tokens((1, E[0]), (3, E[2]))], DIM)
    common, rare, unseen = table.idf(np.array([1, 2, 999], dtype=np.int32)).tolist()
    assert common < rare < unseen
    assert unseen == pytest.approx(np.log1p(3.0))


def test_match_is_the_weighted_mean_of_each_question_piece_best_cosine() -> None:
    table = TokenTable.of([tokens((1, E[0]), (2, E[1])), tokens((1, E[0])), tokens(), tokens((3, E[2]))], DIM)
    question = tokens((1, E[0]), (2, E[1]))
    scores = table.match(question, np.array([0, 1, 2, 3], dtype=np.int64))
    weights = table.idf(question.ids)
    assert scores[0] == pytest.approx(1.0, abs=1e-3)  # both pieces met exactly
    assert scores[1] == pytest.approx(weights[0] / weights.sum(), abs=1e-3)  # only the first
    assert scores[2] == 0.0 and scores[3] == pytest.approx(0.0, abs=1e-6)  # no pieces; orthogonal pieces
    assert table.match(tokens(), np.array([0, 1], dtype=np.int64)).tolist() == [0.0, 0.0]
    # rows in any order, repeated, give each row its own score
    np.testing.assert_allclose(table.match(question, np.array([3, 0, 0], dtype=np.int64)), scores[[3, 0, 0]])


def test_the_worst_match_is_the_weighty_piece_the_sentence_meets_least() -> None:
    # piece 2 is rarer (weightier) than piece 1; a sentence meeting piece 1 only has the mean of a partial match
    # but a worst of 0: the weighty piece it misses ("chairman" in a sentence naming a union official)
    table = TokenTable.of([tokens((1, E[0]), (2, E[1])), tokens((1, E[0])), tokens((1, E[0])), tokens()], DIM)
    question = tokens((1, E[0]), (2, E[1]))
    rows = np.array([0, 1, 3], dtype=np.int64)
    mean, worst = table.match_both(question, rows)
    np.testing.assert_allclose(mean, table.match(question, rows))
    assert worst[0] == pytest.approx(1.0, abs=1e-3)  # both met
    assert worst[1] == pytest.approx(0.0, abs=1e-6) and mean[1] > 0.2  # the weighty piece missed
    assert worst[2] == 0.0  # a sentence without pieces
    _, alone = table.match_both(tokens((2, E[1])), rows)
    assert alone[0] == pytest.approx(1.0, abs=1e-3)  # a one-piece question: that piece is the weighty half


def test_content_pieces_drop_function_words_punctuation_and_special_tokens() -> None:
    kept = [p for p in ["[CLS]", "what", "did", "pakistan", "not", "demand", "?", "istan", "##bul", "'", "s",
                        "most", "2021", "[SEP]"] if is_content_piece(p)]
    assert kept == ["pakistan", "not", "demand", "istan", "##bul", "s", "most", "2021"]  # negations, quantifiers stay


def test_late_interaction_finds_the_sentence_a_reworded_question_asks_for(service: QAService) -> None:
    """With the real encoders on the session index: "who headed the pakistani team" shares no word with its
    answer but the country's name ("Pakistan's delegation, led by Defence Minister Khawaja Asif"); piece by
    piece ("headed" against "led", "team" against "delegation") that sentence is among the three best of the
    article's 92, and no lower than the one pooled vector of each sentence puts it, which puts another first.
    (First on the machines earlier sessions ran on; third, 0.007 under the first, on an AVX2-only CPU, where
    the int8 query encoder's kernels differ: the margin is that thin.)"""
    bundle = service.bundle
    assert bundle.sentence_tokens.sentence_count == len(bundle.sentences)
    question = "who headed the pakistani team"
    vectors, (query,) = service.embedder.embed_with_tokens([question])
    every = np.arange(len(bundle.sentences), dtype=np.int64)
    scores = bundle.sentence_tokens.match(query, every)
    pooled = bundle.sentence_matrix @ vectors[0]
    answer = next(i for i, s in enumerate(bundle.sentences) if "led by Defence Minister Khawaja Asif" in s.text)

    def rank(values: np.ndarray) -> int:
        return int((values > values[answer]).sum()) + 1

    assert rank(scores) <= 3
    assert rank(scores) <= rank(pooled)
    assert "Khawaja Asif" not in bundle.sentences[int(np.argmax(pooled))].text
    pieces = np.diff(bundle.sentence_tokens.offsets)
    assert np.all((scores > 0) == (pieces > 0))  # every sentence with content pieces gets a score


def test_token_vectors_are_an_embedding_stage_before_indexing(service: QAService) -> None:
    """A job can be cancelled while embedding (app/api/jobs.py); the token pass is one of those stages, so it
    must come before "indexing" (past which a write is too late to cancel)."""
    stages: list[str] = []
    parsed = list(service.bundle.documents.values())
    bundle = build_bundle(parsed, service.embedder, 10_000, progress=lambda stage, _: stages.append(stage))
    assert stages.index("embedding sentence tokens") < stages.index("indexing")
    assert "embedding sentence tokens" in WRITE_STAGES_BEFORE_EMBEDDED
    assert bundle.sentence_tokens.sentence_count == len(bundle.sentences)


def test_the_backend_identity_does_not_follow_the_local_format(service: QAService) -> None:
    """Token vectors live in each replica's build only: they changed the local format (4) but not the rows a
    search backend holds, so the identity replicas share follows the rows' own format (5 since BM25 terms hold no
    contraction, local format 6), not the local one."""
    bundle = service.bundle
    recipe = f"{bundle.model_name}\x1f{CHUNKER_VERSION}\x1f5\x1f{bundle.sentence_matrix.shape[1]}"
    assert made_with(bundle) == hashlib.blake2b(recipe.encode(), digest_size=4).hexdigest()
    assert FORMAT_VERSION == 6

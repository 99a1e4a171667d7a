"""FAISS behind VectorIndex: flat or HNSW by size, best-first search, and a byte round trip."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from app.embed.reference import Embedder
from app.index.vectors import VectorIndex
from app.service import QAService

DIMENSION = 32


def unit_vectors(count: int, seed: int = 7) -> npt.NDArray[np.float32]:
    vectors = np.random.default_rng(seed).standard_normal((count, DIMENSION)).astype(np.float32)
    return np.asarray(vectors / np.linalg.norm(vectors, axis=1, keepdims=True), dtype=np.float32)


@pytest.mark.parametrize(("count", "threshold", "kind"), [(50, 100, "flat"), (50, 50, "flat"), (51, 50, "hnsw")])
def test_kind_follows_the_threshold(count: int, threshold: int, kind: str) -> None:
    index = VectorIndex.build(unit_vectors(count), threshold)
    assert index.kind == kind
    assert len(index) == count


@pytest.mark.parametrize("threshold", [1000, 10])
def test_search_finds_the_vector_itself_first_with_sorted_scores(threshold: int) -> None:
    vectors = unit_vectors(200)
    index = VectorIndex.build(vectors, threshold)
    result = index.search(vectors[17], 10)
    assert result.ids[0] == 17
    assert result.scores[0] == pytest.approx(1.0, abs=1e-5)
    assert len(result.ids) == len(result.scores) == 10
    assert np.all(np.diff(result.scores) <= 0)
    assert len(set(result.ids.tolist())) == 10


def test_k_larger_than_the_index_and_empty_indexes() -> None:
    index = VectorIndex.build(unit_vectors(5), 100)
    assert sorted(index.search(unit_vectors(1, seed=1)[0], 50).ids.tolist()) == [0, 1, 2, 3, 4]
    assert len(index.search(unit_vectors(1)[0], 0).ids) == 0
    empty = VectorIndex.build(np.zeros((0, DIMENSION), dtype=np.float32), 100)
    assert len(empty) == 0
    assert len(empty.search(unit_vectors(1)[0], 3).ids) == 0
    assert empty.reconstruct_all().shape == (0, DIMENSION)


@pytest.mark.parametrize("threshold", [1000, 10])
def test_bytes_round_trip(threshold: int) -> None:
    vectors = unit_vectors(120)
    index = VectorIndex.build(vectors, threshold)
    copy = VectorIndex.from_bytes(index.to_bytes(), index.kind)
    assert copy.kind == index.kind
    assert np.array_equal(copy.reconstruct_all(), vectors)
    query = unit_vectors(1, seed=3)[0]
    before, after = index.search(query, 15), copy.search(query, 15)
    assert np.array_equal(before.ids, after.ids)
    assert np.array_equal(before.scores, after.scores)


def test_hnsw_agrees_with_exact_search_on_the_article(service: QAService, embedder: Embedder) -> None:
    matrix = service.bundle.sentence_matrix
    flat, hnsw = VectorIndex.build(matrix, len(matrix)), VectorIndex.build(matrix, 10)
    assert (flat.kind, hnsw.kind) == ("flat", "hnsw")
    query = embedder.embed_query("What is the main sticking point in the negotiations?")
    exact, approximate = flat.search(query, 10), hnsw.search(query, 10)
    assert np.array_equal(exact.ids, approximate.ids)
    assert any("main sticking point" in service.bundle.sentences[int(i)].text for i in exact.ids)
    assert np.allclose(exact.scores, approximate.scores, atol=1e-5)

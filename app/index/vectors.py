"""The only importer of faiss: inner-product search over L2-normalized vectors (cosine similarity).

Small collections use an exact `IndexFlatIP`; past a size threshold an approximate HNSW graph is built.
Indexes are serialized to bytes so that `store.py` can write them atomically (faiss.write_index would not).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import faiss
import numpy as np
import numpy.typing as npt

HNSW_NEIGHBOURS = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128


@contextmanager
def omp_threads(count: int) -> Iterator[None]:
    """Run FAISS with `count` OpenMP threads in this thread (the setting is per thread), then restore it.

    One query is searched on one thread: OpenMP's team start-up and barrier waits cost more than they save for
    a single vector, and on a 2-core machine its threads fight the event loop and the encoder (a flat search
    of 10k passages measured 24 ms with the default team under load, about 1 ms alone). Builds use every core.
    """
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(count)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


@dataclass(frozen=True)
class SearchResult:
    """Row ids (into the table the vectors were built from) and their cosine scores, best first."""

    ids: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float32]


class VectorIndex:
    """A FAISS index over one table of vectors; `kind` is "flat" or "hnsw"."""

    def __init__(self, index: faiss.Index, kind: str) -> None:
        self.index = index
        self.kind = kind

    @staticmethod
    def kind_for(count: int, hnsw_threshold: int) -> str:
        return "hnsw" if count > hnsw_threshold else "flat"

    @classmethod
    def build(cls, vectors: npt.NDArray[np.float32], hnsw_threshold: int) -> VectorIndex:
        """Exact flat search up to hnsw_threshold vectors, HNSW beyond it."""
        dimension = vectors.shape[1]
        index: faiss.Index
        if cls.kind_for(len(vectors), hnsw_threshold) == "hnsw":
            hnsw = faiss.IndexHNSWFlat(dimension, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            hnsw.hnsw.efSearch = HNSW_EF_SEARCH
            index, kind = hnsw, "hnsw"
        else:
            index = faiss.IndexFlatIP(dimension)
            kind = "flat"
        if len(vectors):
            with omp_threads(os.cpu_count() or 1):
                index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index, kind)

    def extended(self, vectors: npt.NDArray[np.float32]) -> VectorIndex:
        """A copy of this index with rows appended (this one is left untouched: queries may be using it)."""
        index = faiss.clone_index(self.index)
        if len(vectors):
            with omp_threads(os.cpu_count() or 1):
                index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return VectorIndex(index, self.kind)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, query: npt.NDArray[np.float32], k: int) -> SearchResult:
        """The k nearest rows to one query vector."""
        k = min(k, len(self))
        if k <= 0:
            return SearchResult(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        # per-call parameters: nothing shared is changed, so concurrent searches cannot disturb each other
        params = faiss.SearchParametersHNSW(efSearch=max(HNSW_EF_SEARCH, k)) if self.kind == "hnsw" else None  # type: ignore[attr-defined]
        with omp_threads(1):
            scores, ids = self.index.search(
                np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k, params=params
            )
        keep = ids[0] >= 0
        return SearchResult(ids[0][keep].astype(np.int64), scores[0][keep].astype(np.float32))

    def reconstruct_all(self) -> npt.NDArray[np.float32]:
        """Every stored vector, in row order, as a read-only view of the index's own storage (no copy).

        Flat and HNSW-flat indexes both keep the exact vectors; a view instead of a copy saves the size of the
        whole table (300 MB for 200k sentences). It stays valid as long as this VectorIndex does.
        """
        if len(self) == 0:
            return np.zeros((0, self.index.d), dtype=np.float32)
        flat = faiss.downcast_index(self.index.storage) if self.kind == "hnsw" else self.index  # type: ignore[attr-defined]
        xb = flat.get_xb()  # type: ignore[attr-defined]
        view = faiss.rev_swig_ptr(xb, len(self) * self.index.d).reshape(len(self), self.index.d)
        view.flags.writeable = False
        return np.asarray(view, dtype=np.float32)

    def to_bytes(self) -> bytes:
        return bytes(faiss.serialize_index(self.index))

    @classmethod
    def from_bytes(cls, data: bytes, kind: str) -> VectorIndex:
        return cls(faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8)), kind)

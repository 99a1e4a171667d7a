"""The search-backend seam: which sentences and passages a question's scoring starts from.

Candidate generation (the dense nearest neighbours, the BM25 matches, a question's filter by brief, source
and date) is the part of retrieval that grows with the archive, so it sits behind `CandidateSearch`, with two
implementations: `BuiltinSearch` (FAISS and bm25s in this process, the default) and `MilvusSearch`
(`app/index/milvus.py`). Everything after it (scoring the candidates, the quote ranker, abstention) is the same
code for both, reading the loaded build, so an answer does not depend on the backend beyond which rows were
proposed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from app.config import Settings
from app.errors import SearchBackendRefusedError
from app.index.bundle import IndexBundle
from app.ingest.blocks import document_version
from app.ingest.chunk import CHUNKER_VERSION
from app.models import Document, DocumentFilter, ParsedDocument

FloatArray = npt.NDArray[np.float32]
RowArray = npt.NDArray[np.int64]
PieceKind = Literal["sentence", "passage"]


# What the backend's rows look like, not the local build's file layout (store.FORMAT_VERSION): format 4 added
# the token vectors, which live in each replica's build only, so the rows (and the identity replicas share)
# stayed those of format 3, and replicas of a running cluster keep copying each other's writes across it.
# Rows format 4 (local format 5): the BM25 terms a row carries are folded without accents. Rows format 5 (local
# format 6): they hold no contraction ("didnt" is a stopword).
PIECES_FORMAT_VERSION = 5


def made_with(bundle: IndexBundle) -> str:
    """A short hash of what a build's pieces and vectors were made with (model, chunker, rows' format)."""
    recipe = (
        f"{bundle.model_name}\x1f{CHUNKER_VERSION}\x1f{PIECES_FORMAT_VERSION}\x1f{bundle.sentence_matrix.shape[1]}"
    )
    return hashlib.blake2b(recipe.encode(), digest_size=4).hexdigest()


def piece_version(parsed: ParsedDocument, identity: str) -> str:
    """The version a backend's rows carry: the brief's version (text and metadata) and what its pieces and
    vectors were made with (`made_with` of its build), so a rebuild after a new model or chunker writes new
    rows instead of trusting rows cut by the old chunker or embedded by the old model."""
    return f"{document_version(parsed.document)}@{identity}"


def piece_versions(bundle: IndexBundle) -> dict[str, str]:
    """`piece_version` of every brief of a build, by doc_id, in the build's order."""
    identity = made_with(bundle)
    return {doc_id: piece_version(parsed, identity) for doc_id, parsed in bundle.documents.items()}


@dataclass(frozen=True)
class BuildHead:
    """The build every replica should serve, as the backend records it: a unique build id (what replicas
    compare: two writers that raced can commit the same generation number, never the same id), a generation
    number each write raises by one (for people), the build before it, what its pieces were made with
    (`made_with`), and how its listing of briefs is stored."""

    build: str
    generation: int
    previous: str
    identity: str
    parts: int
    documents: int


@dataclass(frozen=True)
class RowFilter:
    """The sentence and passage rows a filtered question may use (sorted row numbers), and the filter they
    came from (a backend that keeps the briefs' metadata beside its rows filters by it on its side)."""

    sentence_rows: RowArray
    passage_rows: RowArray
    where: DocumentFilter | None = None

    @classmethod
    def of_documents(cls, bundle: IndexBundle, doc_ids: list[str], where: DocumentFilter | None = None) -> RowFilter:
        spans = [bundle.doc_rows[d] for d in doc_ids]
        sentence = [np.arange(r.sentence_start, r.sentence_end, dtype=np.int64) for r in spans]
        passage = [np.arange(r.passage_start, r.passage_end, dtype=np.int64) for r in spans]
        empty = np.zeros(0, dtype=np.int64)
        return cls(
            np.sort(np.concatenate(sentence)) if sentence else empty,
            np.sort(np.concatenate(passage)) if passage else empty,
            where,
        )

    def rows(self, kind: PieceKind) -> RowArray:
        return self.sentence_rows if kind == "sentence" else self.passage_rows


@dataclass(frozen=True)
class CandidateQuery:
    """One side (sentences or passages) of one question, as candidate generation sees it.

    `lexical` is the BM25 score of every row of the loaded build (zero outside `allowed`), which scoring uses
    whichever backend proposed the rows; the built-in search reads its BM25 matches from it, Milvus runs its
    own BM25 search over the same terms.
    """

    kind: PieceKind
    vector: FloatArray
    terms: list[str]
    limit: int
    allowed: RowFilter | None
    lexical: FloatArray


class CandidateSearch(Protocol):
    """Where candidates come from, and what the backend needs to keep up with the builds."""

    name: str

    def candidates(self, bundle: IndexBundle, query: CandidateQuery) -> RowArray:
        """The rows of the loaded build a question is scored over: its `limit` nearest by cosine plus (at most)
        `limit` BM25 matches, within the question's filter, as the bundle's own row numbers."""
        ...

    def publish(
        self, bundle: IndexBundle, previous: IndexBundle | None = None, delete_stale: bool = True
    ) -> None:
        """Make the backend hold every brief of `bundle` (in its version) before the build is committed; with
        `delete_stale` (writes only: they hold the writers' lock) drop what neither it nor `previous` (the build
        before, still served by replicas that have not reloaded yet) holds. A load never deletes: it may run
        beside another replica's write, or serve an older build than others do."""
        ...

    def unreachable(self) -> str | None:
        """Why questions cannot be answered now (the backend does not answer), or None."""
        ...

    def close(self) -> None: ...

    # A backend that also stores the briefs (Milvus) is where replicas without a shared folder learn what to
    # serve: a write commits its build as the new head after publishing it; every other replica, seeing a new
    # generation, reads the head's listing and fetches the briefs (text, metadata, vectors) it lacks.

    def head(self) -> BuildHead | None:
        """The build replicas should serve (None: the backend stores no briefs, or none has been committed)."""
        ...

    def listing(self, head: BuildHead) -> list[tuple[str, str]] | None:
        """The head's briefs as (doc_id, piece version), in the build's order; None when the head moved on
        while it was read (a later write replaced that listing): the caller tries again at its next look."""
        ...

    def stored_documents(self, wanted: Sequence[tuple[str, str]]) -> dict[str, Document] | None:
        """The documents (text exactly as stored, metadata) of the (doc_id, piece version) pairs asked for, by
        doc_id; None when one is gone (deleted by a later write while the caller was behind)."""
        ...

    def stored_vectors(
        self, kind: PieceKind, wanted: Sequence[tuple[str, str, int]], dimension: int
    ) -> dict[str, FloatArray] | None:
        """The vectors of every piece of the (doc_id, piece version, piece count) asked for, in piece order, by
        doc_id; None when one is missing."""
        ...

    def commit(self, bundle: IndexBundle, current: BuildHead | None) -> BuildHead | None:
        """Make `bundle` (published already) the build every replica serves, after `current` (the head the
        caller read under the writers' lock): its listing, then the head. None for a backend that stores no
        briefs."""
        ...


def nearest_rows(
    bundle: IndexBundle, kind: PieceKind, vector: FloatArray, limit: int, allowed: RowFilter | None
) -> RowArray:
    """The nearest rows: from FAISS over everything, or exactly over the allowed rows of a filtered question
    (so a filter never loses an answer to the approximate index)."""
    if allowed is None:
        vectors = bundle.sentence_vectors if kind == "sentence" else bundle.passage_vectors
        return vectors.search(vector, limit).ids
    rows = allowed.rows(kind)
    matrix = bundle.sentence_matrix if kind == "sentence" else bundle.passage_matrix
    scores = matrix[rows] @ vector
    if len(scores) > limit:
        return rows[np.argpartition(-scores, limit)[:limit]]
    return rows


def best_matches(lexical: FloatArray, limit: int) -> RowArray:
    """The (at most `limit`) rows with the highest positive BM25 scores."""
    matched = np.flatnonzero(lexical > 0)
    if len(matched) > limit:
        matched = matched[np.argpartition(-lexical[matched], limit)[:limit]]
    return matched.astype(np.int64)


class BuiltinSearch:
    """FAISS nearest neighbours and bm25s matches over the loaded build, in this process (the default)."""

    name = "builtin"

    def candidates(self, bundle: IndexBundle, query: CandidateQuery) -> RowArray:
        dense = nearest_rows(bundle, query.kind, query.vector, query.limit, query.allowed)
        return np.union1d(dense, best_matches(query.lexical, query.limit))

    def publish(
        self, bundle: IndexBundle, previous: IndexBundle | None = None, delete_stale: bool = True
    ) -> None:
        """Nothing to write: the build on disk is the whole index."""

    def unreachable(self) -> str | None:
        return None

    def close(self) -> None:
        """Nothing held."""

    def head(self) -> BuildHead | None:
        """None: the briefs live in the corpus and index folders, which every process on the host shares."""
        return None

    def listing(self, head: BuildHead) -> list[tuple[str, str]] | None:
        return None

    def stored_documents(self, wanted: Sequence[tuple[str, str]]) -> dict[str, Document] | None:
        return None

    def stored_vectors(
        self, kind: PieceKind, wanted: Sequence[tuple[str, str, int]], dimension: int
    ) -> dict[str, FloatArray] | None:
        return None

    def commit(self, bundle: IndexBundle, current: BuildHead | None) -> BuildHead | None:
        return None


def open_search(settings: Settings) -> CandidateSearch:
    """The backend the settings name (the Milvus client connects on first use, not here)."""
    if settings.search_backend == "milvus":
        try:
            from app.index.milvus import MilvusSearch  # pymilvus is imported only by a deployment that uses it
        except ImportError as exc:  # e.g. an image built without EXTRAS=milvus
            raise SearchBackendRefusedError(
                f"NEWSQA_SEARCH_BACKEND=milvus needs the Milvus client ({exc.name or exc} is missing): "
                "pip install 'newsqa[milvus]', or build the image with EXTRAS=milvus"
            ) from None

        return MilvusSearch.from_settings(settings)
    return BuiltinSearch()


"""The BM25 side: bm25s over folded, stemmed terms (curly quotes folded, case-folded, stopwords removed)."""

from __future__ import annotations

from pathlib import Path

import bm25s
import numpy as np
import numpy.typing as npt

from app.text.normalize import terms


class LexicalIndex:
    """A bm25s index over one table of texts, rows aligned with the vector index rows."""

    def __init__(self, bm25: bm25s.BM25) -> None:
        self.bm25 = bm25

    @classmethod
    def build(cls, texts: list[str]) -> LexicalIndex:
        tokenized = [terms(t) or ["\x00empty"] for t in texts]
        bm25 = bm25s.BM25()
        bm25.index(tokenized, show_progress=False)
        return cls(bm25)

    def scores(self, query_terms: list[str]) -> npt.NDArray[np.float32]:
        """BM25 score of every row for the (already normalized) query terms; zeros when none is known.

        The sum bm25s computes, term by term over its precomputed postings, with a plain indexed add instead of
        its `np.add.at`: a term's postings name each row once, so the two agree bit for bit, and the indexed
        add is several times faster on the long postings of a common word in a large corpus.
        """
        known = [self.bm25.vocab_dict[t] for t in query_terms if t in self.bm25.vocab_dict]
        out = np.zeros(self.size, dtype=np.float32)
        if not known:
            return out
        data, indices, indptr = self.bm25.scores["data"], self.bm25.scores["indices"], self.bm25.scores["indptr"]
        for term in known:
            begin, end = int(indptr[term]), int(indptr[term + 1])
            out[indices[begin:end]] += data[begin:end]
        if self.bm25.nonoccurrence_array is not None:  # BM25L/BM25+ only; the default variant has none
            out += self.bm25.nonoccurrence_array[known].sum()
        return out

    def idf(self, query_terms: list[str]) -> dict[str, float]:
        """BM25's inverse document frequency of each term over this table's rows (an unknown term: the
        highest possible, as for a word in no row), for weighing which question words a sentence covers."""
        n = self.size
        indptr = self.bm25.scores["indptr"]
        out: dict[str, float] = {}
        for term in query_terms:
            at = self.bm25.vocab_dict.get(term)
            df = int(indptr[at + 1] - indptr[at]) if at is not None else 0
            out[term] = float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))
        return out

    @property
    def size(self) -> int:
        return int(self.bm25.scores["num_docs"])

    def save(self, folder: Path) -> None:
        self.bm25.save(str(folder))

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        return cls(bm25s.BM25.load(str(folder)))

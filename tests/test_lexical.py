"""The BM25 side: our scoring over bm25s's postings must equal bm25s's own, bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.index.lexical import LexicalIndex
from app.ingest.blocks import make_document
from app.ingest.chunk import parse_document
from app.text.normalize import terms
from tests.briefs_generator import generate_briefs


def test_scores_equal_bm25s_get_scores_on_every_query() -> None:
    article = Path("corpus/pakistan-afghanistan-talks.txt").read_text(encoding="utf-8")
    texts = [s.text for s in parse_document(make_document("a", article)).sentences]
    texts += [
        s.text for b in generate_briefs(60, seed=11) for s in parse_document(make_document(b.doc_id, b.text)).sentences
    ]
    index = LexicalIndex.build(texts)
    queries = [
        "What did Pakistan demand?",
        "council council library",  # a repeated term counts twice, as in bm25s
        "the of and",  # stopwords only: no known term
        "Istanbul talks ceasefire Taliban trade border revenue team",
        "zzzz unknown words only",
        *texts[::97],
    ]
    for query in queries:
        query_terms = terms(query)
        ours = index.scores(query_terms)
        known = [t for t in query_terms if t in index.bm25.vocab_dict]
        theirs = index.bm25.get_scores(known) if known else np.zeros(index.size, dtype=np.float32)
        assert ours.dtype == np.float32 and ours.shape == (index.size,)
        assert np.array_equal(ours, theirs), query

"""Index: the vectors, the BM25 indexes and the bundle that holds them, stored and verified on disk."""

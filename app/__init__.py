"""newsqa: retrieval-only question answering over news articles, quoting the text verbatim."""

__version__ = "0.1.0"

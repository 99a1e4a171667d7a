"""Ingest: from a file, an upload or a URL to a Document with its blocks, sentences and passages."""

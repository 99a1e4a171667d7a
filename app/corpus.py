"""Reading the corpus folder: every .txt/.md file is a document whose id is its file stem."""

from __future__ import annotations

import hashlib
from pathlib import Path

from app.errors import CorpusError
from app.ingest import make_document
from app.models import Document

DOCUMENT_SUFFIXES = (".txt", ".md")


def corpus_files(corpus_dir: Path) -> list[Path]:
    """The document files of a corpus folder, sorted by name so ids and rows are deterministic."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder not found: {corpus_dir}")
    files = sorted(p for p in corpus_dir.iterdir() if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES)
    if not files:
        raise CorpusError(f"no .txt or .md documents in {corpus_dir}")
    return files


def read_document(path: Path) -> Document:
    """One document, its text exactly as stored (UTF-8, newlines untouched so offsets match the file)."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"cannot read {path.name}: {exc}") from exc
    return make_document(path.stem, text)


def read_corpus(corpus_dir: Path) -> list[Document]:
    documents = [read_document(p) for p in corpus_files(corpus_dir)]
    ids = [d.doc_id for d in documents]
    if len(set(ids)) != len(ids):
        raise CorpusError("two corpus files share a document id (same stem, e.g. a.txt and a.md)")
    return documents


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

"""All disk I/O for the corpus folder: every .txt/.md file is a document (id = file stem), metadata beside it.

A document's metadata lives in a sidecar `<doc_id>.meta.json` (title, source, published, url, ingested_at), so
the text file holds exactly the text that offsets index into. Writes are atomic per file (temp file, fsync,
os.replace); the service rolls a failed update back by restoring what it replaced.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path

from app.errors import CorpusError
from app.files import write_bytes_atomic
from app.ingest.blocks import make_document
from app.models import Document, DocumentMeta

DOCUMENT_SUFFIXES = (".txt", ".md")
META_SUFFIX = ".meta.json"
_META_FIELDS = {f.name for f in fields(DocumentMeta)}


def require_corpus_dir(corpus_dir: Path) -> None:
    """CorpusError unless the corpus folder exists: checked before anything is written beside it (the index
    folder and its lock), so a mistyped --corpus-dir leaves nothing behind."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder not found: {corpus_dir}")


def corpus_files(corpus_dir: Path, allow_empty: bool = False) -> list[Path]:
    """The document files of a corpus folder, sorted by name so ids and rows are deterministic."""
    require_corpus_dir(corpus_dir)
    files = sorted(p for p in corpus_dir.iterdir() if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES)
    if not files and not allow_empty:
        raise CorpusError(f"no .txt or .md documents in {corpus_dir}")
    return files


def corpus_has_briefs(corpus_dir: Path) -> bool:
    """Whether the folder exists and holds a document file (a first `newsqa add` starts a corpus otherwise)."""
    return corpus_dir.is_dir() and bool(corpus_files(corpus_dir, allow_empty=True))


def read_meta(path: Path) -> DocumentMeta:
    """The sidecar metadata of a document file (none: empty metadata)."""
    sidecar = path.with_name(path.stem + META_SUFFIX)
    if not sidecar.is_file():
        return DocumentMeta()
    values = read_json_object(sidecar)
    if values is None:
        raise CorpusError(f"{sidecar.name} must hold a JSON object")
    return DocumentMeta(**{k: str(v) for k, v in values.items() if k in _META_FIELDS and v is not None})


def read_json_object(path: Path) -> dict[str, object] | None:
    """A sidecar's JSON object, or None when the file is unreadable or holds something else."""
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return values if isinstance(values, dict) else None


def read_document(path: Path) -> Document:
    """One document, its text exactly as stored (UTF-8, newlines untouched so offsets match the file)."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"cannot read {path.name}: {exc}") from exc
    return make_document(path.stem, text, read_meta(path))


def read_corpus(corpus_dir: Path, allow_empty: bool = False) -> list[Document]:
    documents = [read_document(p) for p in corpus_files(corpus_dir, allow_empty)]
    ids = [d.doc_id for d in documents]
    if len(set(ids)) != len(ids):
        raise CorpusError("two corpus files share a document id (same stem, e.g. a.txt and a.md)")
    return documents


def document_paths(corpus_dir: Path, doc_id: str) -> list[Path]:
    """Every file of one document (its text under any suffix, and its sidecar) that exists."""
    candidates = [corpus_dir / f"{doc_id}{suffix}" for suffix in DOCUMENT_SUFFIXES]
    candidates.append(corpus_dir / f"{doc_id}{META_SUFFIX}")
    return [p for p in candidates if p.is_file()]


def snapshot(corpus_dir: Path, doc_id: str) -> dict[Path, bytes]:
    """The current bytes of a document's files, so a failed update can put them back."""
    return {path: path.read_bytes() for path in document_paths(corpus_dir, doc_id)}


def restore(corpus_dir: Path, doc_id: str, saved: dict[Path, bytes]) -> None:
    """Put a document's files back as `snapshot` found them (removing files it did not find)."""
    for path in document_paths(corpus_dir, doc_id):
        if path not in saved:
            path.unlink(missing_ok=True)
    for path, data in saved.items():
        write_bytes_atomic(path, data)


def write_document(corpus_dir: Path, doc_id: str, text: str, suffix: str, meta: DocumentMeta) -> None:
    """Store a document: sidecar first, then the text; a copy under the other suffix is removed."""
    corpus_dir.mkdir(parents=True, exist_ok=True)
    values = {k: v for k, v in asdict(meta).items() if v is not None}
    write_bytes_atomic(corpus_dir / f"{doc_id}{META_SUFFIX}", json.dumps(values, indent=2).encode("utf-8"))
    write_bytes_atomic(corpus_dir / f"{doc_id}{suffix}", text.encode("utf-8"))
    for other in DOCUMENT_SUFFIXES:
        if other != suffix:
            (corpus_dir / f"{doc_id}{other}").unlink(missing_ok=True)


def delete_document(corpus_dir: Path, doc_id: str) -> None:
    """Remove a document's text (first: without it the document is gone) and then its sidecar."""
    for suffix in DOCUMENT_SUFFIXES:
        (corpus_dir / f"{doc_id}{suffix}").unlink(missing_ok=True)
    (corpus_dir / f"{doc_id}{META_SUFFIX}").unlink(missing_ok=True)

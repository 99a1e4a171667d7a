"""All disk I/O for index/: build directories written atomically, a manifest written last, verified loads.

Layout: `index/manifest.json` names one immutable `index/build-<id>/` folder and the sha256 of every file
in it. A build is written to a temporary folder, each file fsynced, the folder renamed into place, and only
then is the manifest replaced (temp file, fsync, os.replace, fsync of the folder). A crash at any point
leaves the previous manifest pointing at the previous, complete build. Loading re-hashes every file, so a
truncated or bit-flipped file is detected (IndexCorruptError) instead of serving wrong offsets.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from app.embed.export import TOKENIZER_FILE as TOKENIZER
from app.errors import IndexCorruptError, IndexWriteError
from app.files import fsync_dir, sha256_file, write_bytes_atomic
from app.index.bundle import IndexBundle
from app.index.lexical import LexicalIndex
from app.index.tokens import TokenTable
from app.index.vectors import VectorIndex
from app.ingest.blocks import make_document
from app.ingest.chunk import CHUNKER_VERSION
from app.linear import weights_versions
from app.models import Block, DocumentMeta, IndexManifest, ParsedDocument, Passage, Sentence

FORMAT_VERSION = 6  # 4: sentence token vectors (late interaction), the graphs' token output; 5: BM25 terms
# without accents ("Šerić" is "seric", not "eri"); 6: contractions ("didn't", folded "didnt") are no BM25 terms
MANIFEST = "manifest.json"
LOCK = ".write.lock"
TABLE = "table.json"
log = logging.getLogger("newsqa.store")


# the libraries whose own file formats or internals a build depends on: a saved FAISS or bm25s index, the
# ONNX graphs run by ONNX Runtime (exported beside the build)
BUILD_LIBRARIES = ("bm25s", "faiss-cpu", "onnxruntime")


@functools.cache  # installed versions do not change inside a running process
def library_versions() -> dict[str, str]:
    """The installed versions of BUILD_LIBRARIES, as the manifest records them (do not mutate the result)."""
    return {name: importlib.metadata.version(name) for name in BUILD_LIBRARIES}


def _table(bundle: IndexBundle) -> dict[str, object]:
    """The build's own copy of every document (text and metadata) and its pieces: a build is self-contained,
    so it can serve (and be updated incrementally) whatever happens to the corpus files meanwhile."""
    return {
        "lexicon": bundle.lexicon,
        "documents": [
            {
                "doc_id": d.document.doc_id,
                "sha256": d.document.sha256,
                "text": d.document.text,
                "meta": asdict(d.document.meta),
                "title": d.title,
                "sections": list(d.sections),
                "blocks": [asdict(b) for b in d.blocks],
                "sentences": [asdict(s) for s in d.sentences],
                "passages": [asdict(p) for p in d.passages],
            }
            for d in bundle.documents.values()
        ]
    }


EncoderWriter = Callable[[Path], dict[str, str]]


def save_bundle(
    bundle: IndexBundle,
    index_dir: Path,
    corpus: dict[str, str],
    hnsw_threshold: int,
    write_encoders: EncoderWriter | None = None,
) -> IndexManifest:
    """Persist a bundle as a new build folder, then switch the manifest to it; old builds are removed.

    write_encoders, when given, writes the query encoder graphs into the build folder and returns
    variant → file name; those files are hashed in the manifest like every other.
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    build_name = f"build-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    staging = Path(tempfile.mkdtemp(dir=index_dir, prefix=".staging-"))
    try:
        (staging / "sentences.faiss").write_bytes(bundle.sentence_vectors.to_bytes())
        (staging / "passages.faiss").write_bytes(bundle.passage_vectors.to_bytes())
        bundle.sentence_lexical.save(staging / "sentences.bm25")
        bundle.passage_lexical.save(staging / "passages.bm25")
        (staging / TABLE).write_text(json.dumps(_table(bundle), ensure_ascii=False), encoding="utf-8")
        tokens = bundle.sentence_tokens
        for name, array in (("lexicon.npy", bundle.lexicon_matrix), ("token_vectors.npy", tokens.vectors),
                            ("token_ids.npy", tokens.ids), ("token_offsets.npy", tokens.offsets)):
            with (staging / name).open("wb") as handle:
                np.save(handle, array, allow_pickle=False)
        encoders = write_encoders(staging) if write_encoders else {}
        files: dict[str, str] = {}
        for path in sorted(p for p in staging.rglob("*") if p.is_file()):
            with path.open("rb+") as handle:
                os.fsync(handle.fileno())
            files[path.relative_to(staging).as_posix()] = sha256_file(path)
        for folder in [staging, *(p for p in staging.rglob("*") if p.is_dir())]:
            fsync_dir(folder)
        os.rename(staging, index_dir / build_name)
        fsync_dir(index_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    manifest = IndexManifest(
        format_version=FORMAT_VERSION,
        model_name=bundle.model_name,
        dimension=int(bundle.sentence_vectors.index.d),
        chunker_version=CHUNKER_VERSION,
        corpus=corpus,
        files=files,
        build_dir=build_name,
        hnsw_threshold=hnsw_threshold,
        encoders=encoders,
        learned=weights_versions(),
        libraries=dict(library_versions()),
        vector_index={"sentences": bundle.sentence_vectors.kind, "passages": bundle.passage_vectors.kind},
        counts={
            "documents": len(bundle.documents),
            "sentences": len(bundle.sentences),
            "passages": len(bundle.passages),
        },
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    write_bytes_atomic(index_dir / MANIFEST, manifest.model_dump_json(indent=2).encode("utf-8"))
    remove_stale_builds(index_dir, keep=build_name)
    return manifest


def copy_encoders(index_dir: Path, manifest: IndexManifest, reexport: EncoderWriter | None = None) -> EncoderWriter:
    """An encoder writer that reuses the graphs of an existing build (hard links when possible).

    An incremental update changes no model, so re-exporting the graphs (seconds) would be wasted work. Each
    graph is checked against the build's manifest first: a corrupt one must not be linked into the new build
    and recorded there under its new hash (that would launder it). On a mismatch the graphs are exported
    afresh with `reexport`, or the update fails with IndexCorruptError (and the next start rebuilds).
    """
    source = index_dir / manifest.build_dir

    def write(staging: Path) -> dict[str, str]:
        names = sorted({*manifest.encoders.values(), TOKENIZER})
        try:
            verify_files(index_dir, manifest, names)
        except IndexCorruptError as exc:
            if reexport is None:
                raise
            log.warning("%s: exporting the query encoders afresh instead of reusing them", exc.message)
            return reexport(staging)
        for name in names:
            try:
                os.link(source / name, staging / name)
            except OSError:
                shutil.copy2(source / name, staging / name)
        return dict(manifest.encoders)

    return write


@contextlib.contextmanager
def write_lock(index_dir: Path, required: bool = True) -> Iterator[None]:
    """One writer at a time across processes (the server and `newsqa add` may both update the index).

    When the lock file cannot be opened (a read-only index folder), a writer gets IndexWriteError; a reader
    (`required=False`: loading a prebuilt index) goes on without it, since it will not write.
    """
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        handle = (index_dir / LOCK).open("a")
    except OSError as exc:
        if required:
            reason = exc.strerror or str(exc)
            raise IndexWriteError(f"the index folder cannot be written ({reason}); nothing changed") from exc
        log.warning("index folder %s is not writable (%s): loading it without the writers' lock", index_dir, exc)
        yield
        return
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def remove_stale_builds(index_dir: Path, keep: str) -> None:
    """Delete build folders the manifest no longer names and staging leftovers of crashed builds."""
    for path in index_dir.iterdir():
        ours = path.name.startswith(("build-", ".staging-"))
        if path.is_dir() and ours and path.name != keep:
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file() and path.name.startswith(f".{MANIFEST}."):
            path.unlink(missing_ok=True)


def read_manifest(index_dir: Path) -> IndexManifest | None:
    """The manifest, or None when there is none or it is unreadable (both mean: build afresh)."""
    path = index_dir / MANIFEST
    if not path.is_file():
        return None
    try:
        return IndexManifest.model_validate_json(path.read_bytes())
    except (ValidationError, ValueError, OSError) as exc:
        log.warning("index manifest unreadable (%s); it will be rebuilt", exc)
        return None


def verify_files(index_dir: Path, manifest: IndexManifest, names: Iterable[str] | None = None) -> Path:
    """Check files of the build (all, or the given ones) against the manifest's sha256; return the folder."""
    build = index_dir / manifest.build_dir
    if not manifest.build_dir.startswith("build-") or not build.is_dir():
        raise IndexCorruptError(f"index build folder {manifest.build_dir} is missing")
    for name in manifest.files if names is None else names:
        expected = manifest.files.get(name, "")
        path = build / name
        if not path.is_file() or sha256_file(path) != expected:
            raise IndexCorruptError(f"index file {manifest.build_dir}/{name} is truncated or corrupt")
    return build


def encoder_files(index_dir: Path, manifest: IndexManifest, variant: str) -> tuple[Path, Path]:
    """The verified (graph, tokenizer) files of one encoder variant of the build."""
    if variant not in manifest.encoders:
        raise IndexCorruptError(f"the index holds no {variant} encoder")
    graph = manifest.encoders[variant]
    build = verify_files(index_dir, manifest, [graph, TOKENIZER])
    return build / graph, build / TOKENIZER


def _token_table(build: Path, sentences: int) -> TokenTable:
    """The build's sentence token vectors, checked to fit its sentences."""
    table = TokenTable(
        np.load(build / "token_vectors.npy", allow_pickle=False),
        np.load(build / "token_ids.npy", allow_pickle=False),
        np.load(build / "token_offsets.npy", allow_pickle=False),
    )
    if table.sentence_count != sentences or len({int(table.offsets[-1]), len(table.ids), len(table.vectors)}) != 1:
        raise IndexCorruptError(f"the token vectors of {build.name} do not fit its {sentences} sentences")
    return table


def load_bundle(index_dir: Path, manifest: IndexManifest, model_name: str) -> IndexBundle:
    """Load a verified build, documents included (each text checked against its recorded sha256).

    Encoder graphs are verified when they are opened (`encoder_files`), not here: a process hashes only
    the one variant it uses.
    """
    graphs = set(manifest.encoders.values()) | {TOKENIZER}
    build = verify_files(index_dir, manifest, [n for n in manifest.files if n not in graphs])
    try:
        table = json.loads((build / TABLE).read_text(encoding="utf-8"))
        parsed: list[ParsedDocument] = []
        for entry in table["documents"]:
            text = entry["text"]
            if hashlib.sha256(text.encode("utf-8")).hexdigest() != entry["sha256"]:
                raise IndexCorruptError(f"document {entry['doc_id']} in the index does not match its hash")
            parsed.append(
                ParsedDocument(
                    document=make_document(entry["doc_id"], text, DocumentMeta(**entry["meta"])),
                    title=entry["title"],
                    sections=tuple(entry["sections"]),
                    blocks=tuple(Block(**b) for b in entry["blocks"]),
                    sentences=tuple(Sentence(**s) for s in entry["sentences"]),
                    passages=tuple(
                        Passage(**{**p, "sentence_ids": tuple(p["sentence_ids"])}) for p in entry["passages"]
                    ),
                )
            )
        kinds = manifest.vector_index
        return IndexBundle(
            documents={d.document.doc_id: d for d in parsed},
            sentences=[s for d in parsed for s in d.sentences],
            passages=[p for d in parsed for p in d.passages],
            sentence_vectors=VectorIndex.from_bytes((build / "sentences.faiss").read_bytes(), kinds["sentences"]),
            passage_vectors=VectorIndex.from_bytes((build / "passages.faiss").read_bytes(), kinds["passages"]),
            sentence_lexical=LexicalIndex.load(build / "sentences.bm25"),
            passage_lexical=LexicalIndex.load(build / "passages.bm25"),
            model_name=model_name,
            lexicon=list(table["lexicon"]),
            lexicon_matrix=np.load(build / "lexicon.npy", allow_pickle=False),
            sentence_tokens=_token_table(build, sum(len(d.sentences) for d in parsed)),
        )
    except IndexCorruptError:
        raise
    except (KeyError, TypeError, ValueError, OSError, RuntimeError) as exc:
        raise IndexCorruptError(f"index build {manifest.build_dir} cannot be loaded: {exc}") from exc

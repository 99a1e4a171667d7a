"""The index's life: load index/ and check it against the settings, build it afresh or bring it up to date with
the corpus folder incrementally, in a child process when the reference model would be needed.

Beside the store (`app.index.store`) it builds on; `QAService` (app/service.py) calls it at start-up and for
every add or remove. A serving process never loads torch here: a full build runs in a spawned child.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from app.config import Settings
from app.embed.export import export_encoders
from app.embed.reference import MODEL_NAME, Encoder
from app.errors import (
    CorpusError,
    IndexCorruptError,
    IndexWriteError,
    InvalidDocumentError,
    PayloadTooLargeError,
)
from app.index.bundle import IndexBundle, ProgressFn, build_bundle
from app.index.encoders import Encoders, configured_files
from app.index.search import (
    BuildHead,
    BuiltinSearch,
    CandidateSearch,
    made_with,
    open_search,
    piece_version,
    piece_versions,
)
from app.index.store import (
    FORMAT_VERSION,
    copy_encoders,
    library_versions,
    load_bundle,
    read_manifest,
    save_bundle,
    write_lock,
)
from app.ingest.blocks import document_version, make_document
from app.ingest.chunk import CHUNKER_VERSION, parse_document
from app.ingest.corpus import read_corpus, require_corpus_dir
from app.ingest.sources import IncomingBrief
from app.models import Document, IndexManifest, ParsedDocument

log = logging.getLogger("newsqa.index")


@dataclass(frozen=True)
class LoadedIndex:
    bundle: IndexBundle
    manifest: IndexManifest
    rebuilt: bool
    # verified (graph, tokenizer) of settings.encoder, for the query encoder made at load; a snapshot an update
    # swaps in has none (the query encoder is loaded by then)
    encoder_files: tuple[Path, Path] | None = None
    pending: bool = False  # the corpus changed since this build: being caught up on (QAService.catch_up)
    updated: bool = False  # the corpus had changed: the build was brought up to date (only changed briefs embedded)
    # the backend's head this build is (app/index/search.py BuildHead); None: not known to be any
    head: BuildHead | None = None

    @property
    def generation(self) -> int | None:
        return self.head.generation if self.head is not None else None

    def serves(self, head: BuildHead) -> bool:
        """Whether this build is that head's build."""
        return self.head is not None and self.head.build == head.build


def stale_reason(manifest: IndexManifest | None, settings: Settings) -> str:
    """Why an existing index cannot be loaded for these settings at all ("" when it can).

    A different corpus is not such a reason: the loaded build is brought up to date incrementally.
    """
    if manifest is None:
        return "no index yet"
    onnx = settings.encoder != "sentence-transformers"
    checks = [
        (manifest.format_version != FORMAT_VERSION, "index format changed"),
        (manifest.model_name != MODEL_NAME, f"index was built by {manifest.model_name}"),
        (manifest.chunker_version != CHUNKER_VERSION, "chunker version changed"),
        (manifest.hnsw_threshold != settings.hnsw_threshold, "vector index threshold changed"),
        (onnx and settings.encoder not in manifest.encoders, f"the index holds no {settings.encoder} encoder"),
        # a build from before the manifest recorded them has none: it loads (its files are verified anyway)
        (bool(manifest.libraries) and manifest.libraries != library_versions(),
         f"index was built with other library versions ({manifest.libraries})"),
    ]
    return next((reason for failed, reason in checks if failed), "")


def corpus_versions(bundle: IndexBundle) -> dict[str, str]:
    return {doc_id: document_version(parsed.document) for doc_id, parsed in bundle.documents.items()}


def holds_corpus(bundle: IndexBundle, documents: Sequence[Document]) -> bool:
    """Whether the bundle holds exactly these documents, each in this version (text and metadata)."""
    return corpus_versions(bundle) == {d.doc_id: document_version(d) for d in documents}


def reparsed(
    documents: Sequence[Document], previous: IndexBundle | None, fresh: Mapping[str, ParsedDocument] | None = None
) -> list[ParsedDocument]:
    """Parsed documents, reusing the previous parse of any text the previous bundle holds (metadata refreshed)
    and the parses already made of new ones (`fresh`, by doc_id)."""
    out: list[ParsedDocument] = []
    for document in documents:
        made = (fresh or {}).get(document.doc_id)
        if made is not None and made.document == document:
            out.append(made)
        elif previous is not None and previous.holds(document):
            out.append(replace(previous.documents[document.doc_id], document=document))
        else:
            out.append(parse_document(document))
    return out


def parsed_writes(
    held: Mapping[str, ParsedDocument], removals: Sequence[str], writes: Sequence[IncomingBrief], max_sentences: int
) -> dict[str, ParsedDocument]:
    """The new briefs parsed (once: the build reuses these parses), after the checks.

    InvalidDocumentError (422) for a brief with no sentence to quote (a title alone), and for a change that
    would leave the corpus without one (the index needs at least one sentence; bm25s cannot index none);
    PayloadTooLargeError (413) for a brief of more than `max_sentences` sentences: an add's cost is its
    embedding, so the work is bounded, not only the bytes (a 10 MiB brief of short sentences embedded for
    over ten minutes, holding the writer)."""
    new = {b.doc_id: parse_document(make_document(b.doc_id, b.text, b.meta)) for b in writes}
    for doc_id, parsed in new.items():
        if not parsed.sentences:
            raise InvalidDocumentError(f"brief {doc_id!r} has no sentence to quote (only a title?)")
        if len(parsed.sentences) > max_sentences:
            raise PayloadTooLargeError(
                f"brief {doc_id!r} has {len(parsed.sentences)} sentences; the limit is {max_sentences} "
                "(NEWSQA_MAX_BRIEF_SENTENCES): split it into several briefs"
            )
    gone = set(removals) | set(new)
    left = sum(len(p.sentences) for doc_id, p in held.items() if doc_id not in gone)
    if left + sum(len(p.sentences) for p in new.values()) == 0:
        raise InvalidDocumentError("the change would leave no sentence to quote in the corpus")
    return new


def in_bundle_order(documents: Sequence[Document], previous: IndexBundle | None) -> list[Document]:
    """Documents the previous bundle holds first, in its order, then the new ones: appends stay appends."""
    if previous is None:
        return list(documents)
    rank = {doc_id: i for i, doc_id in enumerate(previous.documents)}
    unchanged = [d for d in documents if previous.holds(d)]
    changed = [d for d in documents if not previous.holds(d)]
    return sorted(unchanged, key=lambda d: rank[d.doc_id]) + changed


class ReferenceModelNeeded(Exception):
    """Raised in a serving process where the sentence-transformers model would be loaded: build in a child."""


def _build_index(settings: Settings) -> dict[str, int]:
    """What the child process runs: load or build index/ with the reference model, in a fresh interpreter."""
    from app.logs import configure_logging  # the child logs as the server does

    configure_logging(settings)
    search = open_search(settings)
    try:
        loaded = load_or_build_index(settings, Encoders(), search=search)
    finally:
        search.close()
    return loaded.manifest.counts


def build_in_child(settings: Settings) -> dict[str, int]:
    """Build or update index/ in a spawned child process and wait for it; its errors are raised here.

    Spawned, not forked: a fresh interpreter, so the child's torch (and its threads) never touch the parent,
    and the parent never maps libtorch; the child's memory (1.5 GB at peak) goes back when it exits.
    """
    log.info("building the index in a child process (the server never loads torch)")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_build_index, settings).result()


def load_or_build_index(
    settings: Settings,
    encoders: Encoders,
    force: bool = False,
    progress: ProgressFn | None = None,
    catch_up: bool = True,
    search: CandidateSearch | None = None,
) -> LoadedIndex:
    """Load index/ and bring it up to date with the corpus folder; build it afresh when it cannot be loaded.

    A loadable build whose documents differ from the corpus (a brief added, removed or changed while the
    service was down, or an update interrupted between the corpus and the index) is updated incrementally:
    only the changed briefs are embedded; with `catch_up=False` it is returned as it is, marked `pending`, for
    the caller to serve while it catches up (a server: a large brief dropped in the folder must not keep it
    unready for minutes). `encoders.reference` (the sentence-transformers model) is asked for only for a
    full build (or an update of a build without its fp32 ONNX graph), so a process serving a prebuilt index
    never imports torch. `search` (a search backend other than the built-in) is brought up to date with the
    build that is returned, before it is: a backend that lost its rows, or never had them, is filled from it.
    """
    search = search or BuiltinSearch()
    require_corpus_dir(settings.corpus_dir)  # before the lock, which makes the index folder
    with write_lock(settings.index_dir, required=False):
        documents = read_corpus(settings.corpus_dir)
        manifest = read_manifest(settings.index_dir)
        # a backend that holds the briefs (a head: some write committed a build) is their source, not the
        # corpus folder, which then only gets the briefs written through this host: the caller brings the build
        # up to the head (`synced_index`); publishing this folder's briefs could undo other replicas' writes
        head = search.head()
        reason = "rebuild requested" if force else stale_reason(manifest, settings)
        if not reason and manifest is not None:
            try:
                bundle = load_bundle(settings.index_dir, manifest, MODEL_NAME)
                if head is not None:
                    files = configured_files(settings, manifest)
                    log.info("index loaded from %s (%s); the briefs come from the search backend",
                             settings.index_dir / manifest.build_dir, manifest.counts)
                    return LoadedIndex(bundle, manifest, rebuilt=False, encoder_files=files)
                changed = not holds_corpus(bundle, documents)
                if changed and not catch_up:
                    log.warning("the corpus changed since the index was built: serving the last good build "
                                "while the index catches up")
                    files = configured_files(settings, manifest)
                    search.publish(bundle, delete_stale=False)  # a load writes what is missing, never deletes
                    return LoadedIndex(bundle, manifest, rebuilt=False, encoder_files=files, pending=True)
                if changed:
                    log.warning("the corpus changed since the index was built: updating the index")
                    encoder = encoders.for_updates(settings, manifest)
                    updated = update_index(settings, bundle, manifest, documents, encoder, progress, search=search)
                    bundle, manifest, committed = updated.bundle, updated.manifest, updated.head
                else:
                    committed = _first_commit(search, bundle)
                files = configured_files(settings, manifest)
                log.info("index loaded from %s (%s)", settings.index_dir / manifest.build_dir, manifest.counts)
                return LoadedIndex(bundle, manifest, rebuilt=False, encoder_files=files, head=committed,
                                   updated=changed)
            except IndexCorruptError as exc:
                reason = exc.message
        log.warning("building the index: %s", reason)
        started = time.perf_counter()
        parsed = [parse_document(d) for d in documents]
        if not any(p.sentences for p in parsed):
            raise CorpusError(
                f"the corpus in {settings.corpus_dir} has no sentence to quote (only titles?): add a brief with text"
            )
        embedder = encoders.reference(settings)
        bundle = build_bundle(parsed, embedder, settings.hnsw_threshold, progress)
        # the backend holds every row before the build that needs them is committed; old rows go at the next write
        # (with a head, this folder's briefs are not the cluster's: nothing is published, the caller syncs)
        committed = _first_commit(search, bundle) if head is None else None
        if progress:
            progress("exporting the ONNX query encoders", 0)
        manifest = save_bundle(
            bundle,
            settings.index_dir,
            corpus_versions(bundle),
            settings.hnsw_threshold,
            lambda folder: export_encoders(embedder, folder),
        )
        log.info("index built in %.1f s: %s", time.perf_counter() - started, manifest.counts)
        files = configured_files(settings, manifest)
        return LoadedIndex(bundle, manifest, rebuilt=True, encoder_files=files, head=committed)


def _first_commit(search: CandidateSearch, bundle: IndexBundle) -> BuildHead | None:
    """A load where the backend has no head yet (the first replica of a cluster, or the built-in backend):
    write what the backend lacks (never delete), and make this build the head, so replicas without this
    folder can copy it."""
    search.publish(bundle, delete_stale=False)
    return search.commit(bundle, None)


def update_index(
    settings: Settings,
    previous: IndexBundle,
    manifest: IndexManifest,
    documents: Sequence[Document],
    encoder: Encoder,
    progress: ProgressFn | None = None,
    reexport: Callable[[Path], dict[str, str]] | None = None,
    fresh: Mapping[str, ParsedDocument] | None = None,
    search: CandidateSearch | None = None,
    at: BuildHead | None = None,
) -> LoadedIndex:
    """A new build holding exactly `documents`, reusing the previous build's vectors and encoder graphs (each
    checked first; a damaged one is exported afresh with `reexport`, or the update fails) and the parses of
    new documents already made (`fresh`).

    The search backend gets the new versions' rows before the build is committed (the manifest is the marker
    that makes them visible here, the backend's head for replicas without this folder) and keeps the previous
    build's, which replicas that have not reloaded yet still serve; the versions before those are deleted.

    With a backend that holds the briefs, `previous` must be its head (`at`, which the caller copied under the
    writers' lock): a write made from any other build would commit that build's briefs as everyone's, undoing
    the writes it lacks (IndexWriteError, 503: the caller retries once it has copied the head)."""
    search = search or BuiltinSearch()
    head = search.head()
    if head is not None and head.identity != made_with(previous):
        # its build would replace the head's briefs with this folder's: moving to another model or chunker is a
        # migration (docs/deployment.md), not a write
        raise IndexWriteError(
            "the search backend holds briefs made with another model, chunker or index format than this "
            "replica's; it cannot write beside them (docs/deployment.md: Writes and consistency)"
        )
    if head is not None and (at is None or at.build != head.build):
        raise IndexWriteError(
            "this replica has not copied the latest briefs from the search backend yet; retry shortly"
        )
    ordered = in_bundle_order(documents, previous)
    parsed = reparsed(ordered, previous, fresh)
    bundle = build_bundle(parsed, encoder, settings.hnsw_threshold, progress, previous)
    search.publish(bundle, previous)
    try:
        saved = save_bundle(
            bundle,
            settings.index_dir,
            corpus_versions(bundle),
            settings.hnsw_threshold,
            copy_encoders(settings.index_dir, manifest, reexport),
        )
    except OSError as exc:
        raise IndexWriteError(f"the index could not be written ({exc.strerror or exc}); nothing changed") from exc
    return LoadedIndex(bundle, saved, rebuilt=False, head=search.commit(bundle, head))


def synced_index(
    settings: Settings, current: LoadedIndex, search: CandidateSearch, encoder: Callable[[], Encoder]
) -> LoadedIndex | None:
    """The build the backend's head names, made from `current` and the briefs it lacks; None when `current`
    is that build already (or the head cannot be used now: it moved on while read, or another model made it).

    Replicas without a shared folder learn of each other's writes here: the briefs `current` does not hold in
    the head's version come from the backend (the text exactly as stored, verified against its version, and
    the vectors the writer embedded: nothing is embedded again but new lexicon words and the new sentences'
    token vectors, with `encoder`), are
    parsed by the same chunker, and the build is saved in this replica's own index folder before it serves.
    The caller holds the writers' lock of that folder."""
    head = search.head()
    if head is None or current.serves(head):
        return None
    identity = made_with(current.bundle)
    if head.identity != identity:
        log.warning("the search backend's briefs were made with another model, chunker or index format (%s, "
                    "this replica %s): not copying them", head.identity, identity)
        return None
    listing = search.listing(head)
    if listing is None:
        return None
    held = piece_versions(current.bundle)
    if list(held.items()) == listing:
        return replace(current, head=head)
    missing = [(doc_id, version) for doc_id, version in listing if held.get(doc_id) != version]
    documents = search.stored_documents(missing)
    if documents is None:
        log.info("a brief of generation %d is gone already: copying the next one", head.generation)
        return None
    parsed: list[ParsedDocument] = []
    fresh: list[tuple[ParsedDocument, str]] = []  # the fetched briefs, with their versions
    for doc_id, version in listing:
        if held.get(doc_id) == version:
            parsed.append(current.bundle.documents[doc_id])
            continue
        made = parse_document(documents[doc_id])
        if piece_version(made, identity) != version:  # whole, yet not what its version says: never served
            log.error("brief %r in the search backend does not match its version %s: not copying generation %d",
                      doc_id, version, head.generation)
            return None
        parsed.append(made)
        fresh.append((made, version))
    dimension = int(current.bundle.sentence_matrix.shape[1])
    sentences = search.stored_vectors(
        "sentence", [(p.document.doc_id, v, len(p.sentences)) for p, v in fresh], dimension
    )
    passages = search.stored_vectors("passage", [(p.document.doc_id, v, len(p.passages)) for p, v in fresh], dimension)
    if sentences is None or passages is None:
        return None
    given = {p.document.doc_id: (sentences[p.document.doc_id], passages[p.document.doc_id]) for p, _ in fresh}
    bundle = build_bundle(parsed, encoder(), settings.hnsw_threshold, previous=current.bundle, given=given)
    try:
        saved = save_bundle(
            bundle, settings.index_dir, corpus_versions(bundle), settings.hnsw_threshold,
            copy_encoders(settings.index_dir, current.manifest),
        )
    except OSError as exc:
        raise IndexWriteError(f"the copied build could not be written ({exc.strerror or exc})") from exc
    log.info("copied generation %d from the search backend: %d briefs fetched (%s)",
             head.generation, len(fresh), saved.counts)
    return LoadedIndex(bundle, saved, rebuilt=False, head=head)



"""QAService: the one thing every edge calls. Loads the model and index once, then answers questions."""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from app.abstention import ABSTENTION_FEATURES
from app.answer import AnswerParams, compose_answer
from app.bundle import IndexBundle, ProgressFn, build_bundle
from app.chunk import CHUNKER_VERSION, parse_document
from app.config import Settings
from app.corpus import delete_document, read_corpus, restore, snapshot, write_document
from app.embed import MODEL_NAME, Embedder, Encoder
from app.errors import (
    CorpusError,
    DocumentNotFoundError,
    IndexCorruptError,
    IndexWriteError,
    InvalidDocumentError,
    PayloadTooLargeError,
)
from app.ingest import document_version, make_document
from app.linear import LinearModel
from app.models import Answer, Document, DocumentFilter, Evidence, IndexManifest, ParsedDocument, Version
from app.onnx_encoder import OnnxEncoder
from app.onnx_export import TOKENIZER_FILE, export_encoders
from app.prompts import Prompts
from app.question import clean_question
from app.quote_ranker import SENTENCE_FEATURES
from app.retrieve import RetrievalParams, RowFilter, retrieve
from app.signals import lexicon_vectors, words_to_embed
from app.sources import IncomingBrief
from app.store import (
    FORMAT_VERSION,
    copy_encoders,
    encoder_files,
    load_bundle,
    read_manifest,
    save_bundle,
    write_lock,
)
from app.versions import RIVAL_FEATURES

log = logging.getLogger("newsqa.service")

WORD_VECTOR_CACHE = 2048  # question words the lexicon lacks, kept with their vectors (384 floats each)
WINDOW_VECTOR_CACHE = 8192  # windows of brief text around values (versions), with their vectors: 12 MB at most


@dataclass(frozen=True)
class LoadedIndex:
    bundle: IndexBundle
    manifest: IndexManifest
    rebuilt: bool
    encoder_files: tuple[Path, Path] | None = None  # verified (graph, tokenizer) of settings.encoder
    pending: bool = False  # the corpus changed since this build: being caught up on (QAService.catch_up)


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
    ]
    return next((reason for failed, reason in checks if failed), "")


def onnx_files(settings: Settings, manifest: IndexManifest) -> tuple[Path, Path] | None:
    """The verified graph and tokenizer of the configured ONNX encoder (None for sentence-transformers)."""
    if settings.encoder == "sentence-transformers":
        return None
    return encoder_files(settings.index_dir, manifest, settings.encoder)


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
    from app.observability import configure_logging  # the child logs as the server does

    configure_logging(settings)
    loaded = load_or_build_index(settings, lambda: Embedder.load(settings.model_dir, settings.torch_threads))
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


def update_encoder(settings: Settings, manifest: IndexManifest, reference: Callable[[], Encoder]) -> Encoder:
    """What embeds new briefs into an existing index: the build's fp32 ONNX graph (same vectors as the
    reference, no torch in the server), else the reference model. Never the int8 graph: its vectors differ."""
    if "onnx" in manifest.encoders:
        graph, tokenizer = encoder_files(settings.index_dir, manifest, "onnx")
        return OnnxEncoder.load(graph, tokenizer, "onnx", settings.write_threads)  # a core left for questions
    return reference()


def load_or_build_index(
    settings: Settings,
    builder: Callable[[], Embedder],
    force: bool = False,
    progress: ProgressFn | None = None,
    updater: Callable[[IndexManifest], Encoder] | None = None,
    catch_up: bool = True,
) -> LoadedIndex:
    """Load index/ and bring it up to date with the corpus folder; build it afresh when it cannot be loaded.

    A loadable build whose documents differ from the corpus (a brief added, removed or changed while the
    service was down, or an update interrupted between the corpus and the index) is updated incrementally:
    only the changed briefs are embedded; with `catch_up=False` it is returned as it is, marked `pending`, for
    the caller to serve while it catches up (a server: a large brief dropped in the folder must not keep it
    unready for minutes). `builder` gives the sentence-transformers model; it is called only for
    a full build (or when the build has no fp32 ONNX graph), so a process serving a prebuilt index never
    imports torch.
    """
    with write_lock(settings.index_dir, required=False):
        documents = read_corpus(settings.corpus_dir)
        manifest = read_manifest(settings.index_dir)
        reason = "rebuild requested" if force else stale_reason(manifest, settings)
        if not reason and manifest is not None:
            try:
                bundle = load_bundle(settings.index_dir, manifest, MODEL_NAME)
                changed = not holds_corpus(bundle, documents)
                if changed and not catch_up:
                    log.warning("the corpus changed since the index was built: serving the last good build "
                                "while the index catches up")
                    files = onnx_files(settings, manifest)
                    return LoadedIndex(bundle, manifest, rebuilt=False, encoder_files=files, pending=True)
                if changed:
                    log.warning("the corpus changed since the index was built: updating the index")
                    encoder = (updater or (lambda m: update_encoder(settings, m, builder)))(manifest)
                    bundle, manifest = _update(settings, bundle, manifest, documents, encoder, progress)
                files = onnx_files(settings, manifest)
                log.info("index loaded from %s (%s)", settings.index_dir / manifest.build_dir, manifest.counts)
                return LoadedIndex(bundle, manifest, rebuilt=False, encoder_files=files)
            except IndexCorruptError as exc:
                reason = exc.message
        log.warning("building the index: %s", reason)
        started = time.perf_counter()
        parsed = [parse_document(d) for d in documents]
        if not any(p.sentences for p in parsed):
            raise CorpusError(
                f"the corpus in {settings.corpus_dir} has no sentence to quote (only titles?): add a brief with text"
            )
        embedder = builder()
        bundle = build_bundle(parsed, embedder, settings.hnsw_threshold, progress)
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
        return LoadedIndex(bundle, manifest, rebuilt=True, encoder_files=onnx_files(settings, manifest))


def _update(
    settings: Settings,
    previous: IndexBundle,
    manifest: IndexManifest,
    documents: Sequence[Document],
    encoder: Encoder,
    progress: ProgressFn | None = None,
    reexport: Callable[[Path], dict[str, str]] | None = None,
    fresh: Mapping[str, ParsedDocument] | None = None,
) -> tuple[IndexBundle, IndexManifest]:
    """A new build holding exactly `documents`, reusing the previous build's vectors and encoder graphs (each
    checked first; a damaged one is exported afresh with `reexport`, or the update fails) and the parses of
    new documents already made (`fresh`)."""
    ordered = in_bundle_order(documents, previous)
    parsed = reparsed(ordered, previous, fresh)
    bundle = build_bundle(parsed, encoder, settings.hnsw_threshold, progress, previous)
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
    return bundle, saved


def query_encoder(settings: Settings, index: LoadedIndex, reference: Callable[[], Embedder]) -> Encoder:
    """The encoder that embeds questions: an ONNX graph from the index build, or the reference model."""
    if settings.encoder == "sentence-transformers":
        return reference()
    graph, tokenizer = index.encoder_files or encoder_files(settings.index_dir, index.manifest, settings.encoder)
    return OnnxEncoder.load(graph, tokenizer, settings.encoder, settings.onnx_threads(settings.encoder))


@dataclass(frozen=True)
class LearnedModels:
    """The learned steps: the quote ranker, the abstention model and the rival-version model (app/weights/,
    `make train`). Without a rival model no rival version is accepted (agreeing sources are still counted)."""

    ranker: LinearModel
    abstention: LinearModel
    rival: LinearModel | None = None

    @classmethod
    def load(cls) -> LearnedModels:
        return cls(
            LinearModel.load("quote_ranker", expected=SENTENCE_FEATURES),
            LinearModel.load("abstention", expected=ABSTENTION_FEATURES),
            LinearModel.load("version_rival", expected=RIVAL_FEATURES),
        )


@dataclass(frozen=True)
class DocumentChange:
    """What an add or remove did to one brief."""

    doc_id: str
    status: Literal["added", "replaced", "updated", "unchanged", "removed"]
    sha256: str


class QAService:
    """Answers questions over one loaded index, and updates it; construct with `QAService.load(settings)`.

    The loaded index is one immutable snapshot (`self.index`), replaced as a whole by an update: a question reads
    it once and uses that snapshot throughout, so it sees the old index or the new one, never a mix.
    """

    def __init__(
        self,
        settings: Settings,
        embedder: Encoder,
        index: LoadedIndex,
        prompts: Prompts,
        retrieval: RetrievalParams | None = None,
        answering: AnswerParams | None = None,
        learned: LearnedModels | None = None,
        reference: Callable[[], Embedder] | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self._index = index
        index.bundle.prepare()
        self.prompts = prompts
        self.retrieval = retrieval or RetrievalParams()
        self.answering = answering or AnswerParams(threshold=settings.answer_threshold)
        self.learned = learned or LearnedModels.load()
        self.reference = reference or (lambda: Embedder.load(settings.model_dir, settings.torch_threads))
        self._updates = threading.Lock()
        self._document_encoder: Encoder | None = None
        # vectors of question words the lexicon lacks: they depend on the encoder only, never on the index, and
        # questions reuse the same few words, each of which would otherwise cost one more encoder run
        self._word_vectors: dict[str, npt.NDArray[np.float32]] = {}
        self._window_vectors: dict[str, npt.NDArray[np.float32]] = {}

    @property
    def index(self) -> LoadedIndex:
        return self._index

    @index.setter
    def index(self, loaded: LoadedIndex) -> None:
        """Swap in a new snapshot, prepared first so that no question waits on its first use."""
        loaded.bundle.prepare()
        self._index = loaded

    @classmethod
    def load(
        cls,
        settings: Settings,
        progress: ProgressFn | None = None,
        embedder: Embedder | None = None,
        load_embedder: Callable[[], Embedder] | None = None,
        learned: LearnedModels | None = None,
        catch_up: bool = True,
    ) -> QAService:
        """Load the wording, the index (built when missing or stale) and the query encoder.

        With the default ONNX encoder and a prebuilt index, torch is never imported. The sentence-transformers
        model (`embedder`, or what `load_embedder` returns, called only when needed) builds the index, and
        embeds queries when settings.encoder asks for it.
        """
        prompts = Prompts.load(settings.prompts_dir)
        loaded: list[Embedder] = [embedder] if embedder else []

        def reference() -> Embedder:
            if not loaded:
                loader = load_embedder or (lambda: Embedder.load(settings.model_dir, settings.torch_threads))
                loaded.append(loader())
            return loaded[0]

        index = load_or_build_index(settings, reference, progress=progress, catch_up=catch_up)
        encoder = query_encoder(settings, index, reference)
        return cls(settings, encoder, index, prompts, learned=learned, reference=reference)

    @classmethod
    def load_serving(cls, settings: Settings) -> QAService:
        """Load for a server: whatever needs the sentence-transformers model at start-up (a first build, a
        rebuild, an update of a build without its fp32 graph) runs in a child process first (`build_in_child`),
        so a serving process never maps libtorch, not even on its first start: it would keep ~650 MB of it for
        its whole life. (`NEWSQA_ENCODER=sentence-transformers` asks for torch in the server, and gets it.)"""
        if settings.encoder == "sentence-transformers":
            return cls.load(settings)

        def in_child() -> Embedder:
            raise ReferenceModelNeeded

        try:
            service = cls.load(settings, load_embedder=in_child, catch_up=False)
        except ReferenceModelNeeded:
            build_in_child(settings)
            service = cls.load(settings, load_embedder=in_child, catch_up=False)
        # after start-up only a damaged encoder graph met during an add needs the model again (to export the
        # graph afresh): that rare repair loads it here rather than fail the add
        service.reference = lambda: Embedder.load(settings.model_dir, settings.torch_threads)
        return service

    @property
    def bundle(self) -> IndexBundle:
        return self.index.bundle

    @property
    def threshold(self) -> float:
        """The confidence at or above which questions are answered: the setting, else the learned threshold."""
        return self.answering.threshold_for(self.learned.abstention)

    # ------------------------------------------------------------------ questions

    def ask(self, question: str, top_k: int | None = None, where: DocumentFilter | None = None) -> Answer:
        """Answer one question with verbatim quotes, or abstain; raises InvalidQuestionError on bad input."""
        return self.ask_many([question], top_k, where)[0]

    def ask_many(
        self, questions: Sequence[str], top_k: int | None = None, where: DocumentFilter | None = None
    ) -> list[Answer]:
        """Answer a batch (one encoder call for all questions), optionally of some briefs only."""
        cleaned = [clean_question(q, self.settings.max_question_chars) for q in questions]
        bundle = self.index.bundle  # one snapshot for the whole batch
        allowed = self.allowed_documents(bundle, where)
        if allowed is not None and not allowed:
            message = self.prompts.render("abstention_no_match.txt")
            return [Answer(q, False, 0.0, message, (), ()) for q in cleaned]
        count = len(allowed) if allowed is not None else len(bundle.documents)
        message = self.prompts.render("abstention.txt", documents=count)
        rows = RowFilter.of_documents(bundle, allowed) if allowed is not None else None
        return [
            compose_answer(
                q, e, bundle, top_k or self.settings.top_k, self.answering, self.learned.abstention, message,
                self.versions_message, self.learned.rival, self.text_vectors,
            )
            for q, e in zip(cleaned, self.evidence_many(cleaned, bundle, rows), strict=True)
        ]

    def text_vectors(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Unit vectors of short texts: the windows of brief text around rival values (versions).

        A window depends on the sentence and its value only, not on the question, so the vectors are kept
        (bounded) and a fact asked about again costs no encoder call; the rest go in one call."""
        cache = self._window_vectors
        missing = list(dict.fromkeys(t for t in texts if t not in cache))
        if missing:
            fresh = dict(zip(missing, self.embedder.embed_documents(missing), strict=True))
            if len(cache) + len(fresh) > WINDOW_VECTOR_CACHE:
                cache = self._window_vectors = {}  # crude but bounded; a dict swap is atomic for readers
            cache.update(fresh)
        else:
            fresh = {}
        return np.asarray([fresh[t] if t in fresh else cache[t] for t in texts], dtype=np.float32)

    def versions_message(self, versions: Sequence[Version]) -> str | None:
        """What the answer says about the versions of the asked fact: that the briefs disagree (two or more),
        or how many sources agree (one, from several); None otherwise."""
        if len(versions) < 2 and (not versions or versions[0].sources < 2):
            return None
        documents = len({s.quote.doc_id for v in versions for s in v.statements})
        return self.prompts.render(
            "answer_versions.txt", versions=versions, documents=documents, sources=versions[0].sources
        ) or None

    @staticmethod
    def allowed_documents(bundle: IndexBundle, where: DocumentFilter | None) -> list[str] | None:
        """The ids a filter lets through (None: no filter, every brief)."""
        if where is None or where.is_empty:
            return None
        return [doc_id for doc_id, parsed in bundle.documents.items() if where.matches(parsed.document)]

    def evidence_many(
        self, questions: Sequence[str], bundle: IndexBundle | None = None, rows: RowFilter | None = None
    ) -> list[Evidence]:
        """Ranked evidence and abstention signals for already-cleaned questions (used by ask and by training)."""
        bundle = bundle or self.index.bundle
        questions = [bundle.corpus_vocabulary.corrected(q) for q in questions]  # typos fixed for matching
        needed = dict.fromkeys(w for q in questions for w in words_to_embed(q, bundle))
        cached = {w: v for w in needed if (v := self._word_vectors.get(w)) is not None}
        unknown = [w for w in needed if w not in cached]
        # one encoder call: the questions, then the words the synonym check may need that neither the lexicon
        # nor earlier questions hold
        vectors = self.embedder.embed_documents([*questions, *unknown], batch_size=32)
        embedded = dict(zip(unknown, vectors[len(questions) :], strict=True))
        if len(self._word_vectors) + len(embedded) > WORD_VECTOR_CACHE:
            self._word_vectors = {}  # crude but bounded (3 MB); a dict swap is atomic for concurrent readers
        self._word_vectors.update(embedded)
        word_vectors = {w: v for q in questions for w, v in lexicon_vectors(q, bundle).items()}
        word_vectors |= cached | embedded
        return [
            retrieve(q, vectors[i], bundle, self.retrieval, word_vectors, rows, self.learned.ranker)
            for i, q in enumerate(questions)
        ]

    # ------------------------------------------------------------------ documents

    def documents(self, where: DocumentFilter | None = None) -> list[ParsedDocument]:
        """The briefs, newest first (by publication date, then by ingestion), optionally filtered."""
        docs = [d for d in self.index.bundle.documents.values() if where is None or where.matches(d.document)]
        docs.sort(key=lambda d: (d.document.meta.published or "", d.document.meta.ingested_at or ""), reverse=True)
        return docs

    def document(self, doc_id: str) -> ParsedDocument:
        try:
            return self.index.bundle.documents[doc_id]
        except KeyError:
            raise DocumentNotFoundError(f"no document with id {doc_id!r}") from None

    def add_documents(
        self,
        briefs: Sequence[IncomingBrief],
        progress: ProgressFn | None = None,
        watch: Callable[[Encoder], Encoder] | None = None,
    ) -> list[DocumentChange]:
        """Store briefs and update the index with them, embedding only their text.

        Re-adding a brief with the same text and metadata changes nothing; a new version of a doc_id replaces
        the old one. The corpus files are written first, then a new index build; if anything fails, the corpus
        files are put back and the previous index keeps serving. `watch` wraps the encoder that embeds them
        (an asynchronous job counts batches and stops there when cancelled: app/jobs.py).
        """
        ids = [b.doc_id for b in briefs]
        if len(set(ids)) != len(ids):
            raise InvalidDocumentError("two briefs in one request share a doc_id")
        with self._updates:
            return self._apply(briefs, [], progress, watch)

    def check_briefs(self, briefs: Sequence[IncomingBrief]) -> None:
        """The checks an add makes before any work (a sentence to quote, the sentence cap), for a caller that
        queues the add: a bad brief is refused at once, not as a failed job."""
        parsed_writes(self.index.bundle.documents, [], briefs, self.settings.max_brief_sentences)

    def remove_document(self, doc_id: str) -> DocumentChange:
        """Delete a brief from the corpus and the index (the other briefs keep their vectors)."""
        with self._updates:
            return self._apply([], [doc_id])[0]

    def refresh(self) -> bool:
        """Load the index again if another process (e.g. `newsqa add`) changed it; True when it did."""
        manifest = read_manifest(self.settings.index_dir)
        if manifest is None or manifest.build_dir == self.index.manifest.build_dir:
            return False
        with self._updates, write_lock(self.settings.index_dir):
            self._reload_if_changed_locked()
        return True

    def catch_up(self) -> bool:
        """Bring a `pending` index up to date with the corpus folder (briefs added, changed or removed while the
        service was down), embedding only what changed, while the last good build keeps serving; True when
        an update was made. Runs on the writers' thread, like an add."""
        with self._updates, write_lock(self.settings.index_dir):
            self._reload_if_changed_locked()
            current = self.index
            documents = read_corpus(self.settings.corpus_dir)
            if holds_corpus(current.bundle, documents):
                self.stop_catching_up()
                return False
            log.info("catching up on the corpus: %d briefs in the folder", len(documents))
            encoder = self._encoder_for_updates(current.manifest)
            bundle, manifest = _update(
                self.settings, current.bundle, current.manifest, documents, encoder,
                reexport=self._reexport,
            )
            files = onnx_paths(self.settings.index_dir, manifest, self.settings.encoder)
            self.index = LoadedIndex(bundle, manifest, rebuilt=False, encoder_files=files)
            log.info("caught up on the corpus: %s", manifest.counts)
            return True

    def stop_catching_up(self) -> None:
        """No catch-up under way any more (nothing to catch up on, or it failed: the last good build serves)."""
        self.index = replace(self.index, pending=False)

    def _reexport(self, folder: Path) -> dict[str, str]:
        """Export the encoder graphs afresh into a new build (a copied graph was damaged): the reference model."""
        return export_encoders(self.reference(), folder)

    def _encoder_for_updates(self, manifest: IndexManifest) -> Encoder:
        if self._document_encoder is None:
            if (
                isinstance(self.embedder, OnnxEncoder) and self.embedder.variant == "onnx"
                and self.settings.onnx_threads("onnx") <= self.settings.write_threads
            ):
                self._document_encoder = self.embedder  # the same fp32 graph and threads: no second session
            else:
                self._document_encoder = update_encoder(self.settings, manifest, self.reference)
        return self._document_encoder

    def _apply(
        self,
        briefs: Sequence[IncomingBrief],
        removals: Sequence[str],
        progress: ProgressFn | None = None,
        watch: Callable[[Encoder], Encoder] | None = None,
    ) -> list[DocumentChange]:
        corpus_dir, index_dir = self.settings.corpus_dir, self.settings.index_dir
        with write_lock(index_dir):
            self._reload_if_changed_locked()
            current = self.index
            held = current.bundle.documents
            changes: list[DocumentChange] = []
            for doc_id in removals:
                if doc_id not in held:
                    raise DocumentNotFoundError(f"no document with id {doc_id!r}")
                changes.append(DocumentChange(doc_id, "removed", held[doc_id].document.sha256))
            writes: list[IncomingBrief] = []
            for brief in briefs:
                status = _status(brief, held.get(brief.doc_id))
                if status == "unchanged":
                    changes.append(DocumentChange(brief.doc_id, status, brief.sha256))
                else:
                    writes.append(brief)
                    changes.append(DocumentChange(brief.doc_id, status, brief.sha256))
            if not writes and not removals:
                return changes
            if len(held) - len(removals) + sum(b.doc_id not in held for b in writes) < 1:
                raise InvalidDocumentError("the corpus must keep at least one document")
            fresh = parsed_writes(held, removals, writes, self.settings.max_brief_sentences)
            touched = [*removals, *(b.doc_id for b in writes)]
            saved = {doc_id: snapshot(corpus_dir, doc_id) for doc_id in touched}
            try:
                for doc_id in removals:
                    delete_document(corpus_dir, doc_id)
                for brief in writes:
                    write_document(corpus_dir, brief.doc_id, brief.text, brief.suffix, brief.meta)
                gone = set(touched)
                documents = [p.document for doc_id, p in held.items() if doc_id not in gone]
                documents += [fresh[b.doc_id].document for b in writes]
                encoder = self._encoder_for_updates(current.manifest)
                if watch is not None:
                    encoder = watch(encoder)
                bundle, manifest = _update(
                    self.settings, current.bundle, current.manifest, documents, encoder, progress,
                    self._reexport, fresh,
                )
            except BaseException as exc:
                for doc_id, previous in saved.items():
                    restore(corpus_dir, doc_id, previous)
                if isinstance(exc, OSError):
                    reason = exc.strerror or str(exc)
                    raise IndexWriteError(f"the update could not be stored ({reason}); nothing changed") from exc
                raise
            encoders = onnx_paths(index_dir, manifest, self.settings.encoder)
            self.index = LoadedIndex(bundle, manifest, rebuilt=False, encoder_files=encoders)
            log.info("index updated: %s", ", ".join(f"{c.doc_id} {c.status}" for c in changes))
            return changes

    def _reload_if_changed_locked(self) -> None:
        """As _reload_if_changed, for a caller already holding the cross-process write lock."""
        manifest = read_manifest(self.settings.index_dir)
        if manifest is None or manifest.build_dir == self.index.manifest.build_dir:
            return
        log.info("the index changed on disk (%s): loading it", manifest.build_dir)
        bundle = load_bundle(self.settings.index_dir, manifest, MODEL_NAME)
        encoders = onnx_paths(self.settings.index_dir, manifest, self.settings.encoder)
        self.index = LoadedIndex(bundle, manifest, rebuilt=False, encoder_files=encoders)


def onnx_paths(index_dir: Path, manifest: IndexManifest, variant: str) -> tuple[Path, Path] | None:
    """Where the build's encoder files are (copied from a verified build, so not hashed again)."""
    if variant not in manifest.encoders:
        return None
    build = index_dir / manifest.build_dir
    return build / manifest.encoders[variant], build / TOKENIZER_FILE


def _status(brief: IncomingBrief, held: ParsedDocument | None) -> Literal["added", "replaced", "updated", "unchanged"]:
    if held is None:
        return "added"
    if held.document.sha256 != brief.sha256:
        return "replaced"
    new = make_document(brief.doc_id, brief.text, brief.meta)
    return "unchanged" if document_version(new) == document_version(held.document) else "updated"

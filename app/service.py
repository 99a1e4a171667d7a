"""QAService: the one thing every edge calls. Loads the model and index once, then answers questions."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from app.answer.learned import LearnedModels
from app.answer.quotes import AnswerParams, compose_answer
from app.config import Settings
from app.embed.export import export_encoders
from app.embed.reference import MODEL_NAME, Embedder, Encoder
from app.errors import (
    CorpusError,
    DocumentNotFoundError,
    IndexWriteError,
    InvalidDocumentError,
    SearchBackendUnavailableError,
)
from app.index.bundle import IndexBundle, ProgressFn
from app.index.encoders import Encoders, default_reference
from app.index.lifecycle import (
    LoadedIndex,
    ReferenceModelNeeded,
    build_in_child,
    holds_corpus,
    load_or_build_index,
    parsed_writes,
    synced_index,
    update_index,
)
from app.index.search import BuiltinSearch, CandidateSearch, RowFilter, open_search
from app.index.store import (
    load_bundle,
    read_manifest,
    write_lock,
)
from app.ingest.blocks import document_version, make_document
from app.ingest.corpus import corpus_has_briefs, delete_document, read_corpus, restore, snapshot, write_document
from app.ingest.sources import IncomingBrief
from app.models import Answer, DocumentChange, DocumentFilter, Evidence, ParsedDocument, Version
from app.prompts import Prompts
from app.retrieve.hybrid import RetrievalParams, retrieve
from app.retrieve.signals import lexicon_vectors, words_to_embed
from app.text.question import clean_question

log = logging.getLogger("newsqa.service")

WORD_VECTOR_CACHE = 2048  # question words the lexicon lacks, kept with their vectors (384 floats each)
WINDOW_VECTOR_CACHE = 8192  # windows of brief text around values (versions), with their vectors: 12 MB at most


class QAService:
    """Answers questions over one loaded index, and updates it; construct with `QAService.load(settings)`.

    The loaded index is one immutable snapshot (`self.index`), replaced as a whole by an update: a question reads
    it once and uses that snapshot throughout, so it sees the old index or the new one, never a mix. The
    constructor only stores what it is given (`load` loads; a new snapshot is prepared by assigning it to
    `index`).
    """

    def __init__(
        self,
        settings: Settings,
        encoders: Encoders,
        embedder: Encoder,
        index: LoadedIndex,
        prompts: Prompts,
        retrieval: RetrievalParams | None = None,
        answering: AnswerParams | None = None,
        learned: LearnedModels | None = None,
        search: CandidateSearch | None = None,
    ) -> None:
        self.settings = settings
        self.encoders = encoders
        self.embedder = embedder  # the query encoder
        self._index = index
        self.prompts = prompts
        self.retrieval = retrieval or RetrievalParams()
        self.answering = answering or AnswerParams(threshold=settings.answer_threshold)
        self.learned = learned or LearnedModels.load()
        self.search = search or BuiltinSearch()  # where candidates come from (app/index/search.py)
        self._updates = threading.Lock()
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
        try:
            loaded.bundle.adopt_vocabularies(self._index.bundle)
        except Exception:  # a speed-up only: never the reason a finished write is not served
            log.warning("could not carry the last snapshot's vocabularies over", exc_info=True)
        loaded.bundle.prepare()
        self._index = loaded

    @classmethod
    def load(
        cls,
        settings: Settings,
        encoders: Encoders | None = None,
        progress: ProgressFn | None = None,
        learned: LearnedModels | None = None,
        catch_up: bool = True,
        require_head: bool = False,
    ) -> QAService:
        """Load the wording, the index (built when missing or stale) and the query encoder, and prepare the index.

        With a search backend that holds the briefs, the build is brought up to its head first; with
        `require_head` (a server: it must not say ready on another set of briefs) a copy that cannot finish now
        raises SearchBackendUnavailableError, and the server loads again shortly.

        With the default ONNX encoder and a prebuilt index, torch is never imported: `encoders` (default: the
        settings' own) loads the sentence-transformers model only when a build, a repair or
        NEWSQA_ENCODER=sentence-transformers needs it.
        """
        encoders = encoders or Encoders()
        prompts = Prompts.load(settings.prompts_dir)
        search = open_search(settings)
        index = load_or_build_index(settings, encoders, progress=progress, catch_up=catch_up, search=search)
        queries = encoders.for_queries(settings, index.manifest, index.encoder_files)
        service = cls(settings, encoders, queries, index, prompts, learned=learned, search=search)
        head = search.head()
        if head is not None:  # the briefs live in the backend: start from its head
            with service._updates, write_lock(settings.index_dir, required=False):
                try:
                    service._reload_if_changed_locked()
                except IndexWriteError as exc:  # a read-only index folder: serve what it holds, and say so
                    log.warning("could not copy the search backend's head into %s: %s", settings.index_dir,
                                exc.message)
            if require_head and service.index.head is None:
                search.close()
                raise SearchBackendUnavailableError(
                    "the briefs in the search backend could not be copied yet (a write replaced them meanwhile)"
                )
        service.index = service.index  # prepared as every snapshot is, by the setter
        return service

    @classmethod
    def load_serving(cls, settings: Settings) -> QAService:
        """Load for a server: whatever needs the sentence-transformers model at start-up (a first build, a
        rebuild, an update of a build without its fp32 graph) runs in a child process first (`build_in_child`),
        so a serving process never maps libtorch, not even on its first start: it would keep ~650 MB of it for
        its whole life. (`NEWSQA_ENCODER=sentence-transformers` asks for torch in the server, and gets it.)"""
        if settings.encoder == "sentence-transformers":
            return cls.load(settings, require_head=True)

        def in_child(_settings: Settings) -> Embedder:
            raise ReferenceModelNeeded

        try:
            service = cls.load(settings, Encoders(load_reference=in_child), catch_up=False, require_head=True)
        except ReferenceModelNeeded:
            build_in_child(settings)
            service = cls.load(settings, Encoders(load_reference=in_child), catch_up=False, require_head=True)
        # after start-up only a damaged encoder graph met during an add needs the model again (to export the
        # graph afresh): that rare repair loads it here rather than fail the add
        service.encoders.load_reference = default_reference
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
            asked = dict.fromkeys(where.doc_ids or ()) if where else {}
            unknown = [doc_id for doc_id in asked if doc_id not in bundle.documents]
            message = self.prompts.render("abstention_no_match.txt", where=where, unknown_ids=unknown)
            return [Answer(q, False, 0.0, message, (), ()) for q in cleaned]
        count = len(allowed) if allowed is not None else len(bundle.documents)
        message = self.prompts.render("abstention.txt", documents=count)
        rows = RowFilter.of_documents(bundle, allowed, where) if allowed is not None else None
        return [
            compose_answer(
                q, e, bundle, top_k or self.settings.top_k, self.answering, self.learned.abstention,
                self.prompts.render("abstention_nothing_to_search.txt") if e.signals.nothing_to_search else message,
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
        # the questions' vectors with their content pieces' (one run each), then the words the synonym check may
        # need that neither the lexicon nor earlier questions hold
        vectors, tokens = self.embedder.embed_with_tokens(list(questions), batch_size=32)
        embedded = dict(zip(unknown, self.embedder.embed_documents(unknown, batch_size=32), strict=True))
        if len(self._word_vectors) + len(embedded) > WORD_VECTOR_CACHE:
            self._word_vectors = {}  # crude but bounded (3 MB); a dict swap is atomic for concurrent readers
        self._word_vectors.update(embedded)
        word_vectors = {w: v for q in questions for w, v in lexicon_vectors(q, bundle).items()}
        word_vectors |= cached | embedded
        return [
            retrieve(
                q, vectors[i], bundle, self.retrieval, word_vectors, rows, self.learned.ranker, self.search, tokens[i]
            )
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

    @staticmethod
    def start_corpus(
        settings: Settings, briefs: Sequence[IncomingBrief], encoders: Encoders | None = None,
        progress: ProgressFn | None = None,
    ) -> list[DocumentChange]:
        """A corpus begun with these briefs, in a corpus folder that is missing or holds none (a first `newsqa
        add`: an add needs an index to add to, and an index needs a brief). The briefs are checked as an add
        checks them, written, and the index built from them (as `newsqa index` builds it: no query encoder is
        loaded); if anything fails, the files written are removed."""
        _check_unique_ids(briefs)
        parsed_writes({}, [], briefs, settings.max_brief_sentences)
        corpus_dir = settings.corpus_dir
        if corpus_has_briefs(corpus_dir):
            raise InvalidDocumentError(f"{corpus_dir} already holds briefs: add to them")
        if read_manifest(settings.index_dir) is not None:  # an empty corpus beside a built index is a mistake
            # (a volume that did not mount, a mistyped folder): beginning a corpus there would replace that index
            raise CorpusError(
                f"{settings.index_dir} holds an index of briefs that {corpus_dir} does not: check the corpus folder, "
                "or give an empty --index-dir to begin a new corpus"
            )
        written: list[str] = []
        try:
            for brief in briefs:
                write_document(corpus_dir, brief.doc_id, brief.text, brief.suffix, brief.meta)
                written.append(brief.doc_id)
            search = open_search(settings)
            try:
                load_or_build_index(settings, encoders or Encoders(), progress=progress, search=search)
            finally:
                search.close()
        except BaseException as exc:
            for doc_id in written:
                delete_document(corpus_dir, doc_id)
            if isinstance(exc, OSError):
                raise _write_error(exc, "the briefs") from exc
            raise
        return [DocumentChange(b.doc_id, "added", b.sha256) for b in briefs]

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
        (an asynchronous job counts batches and stops there when cancelled: app/api/jobs.py).
        """
        _check_unique_ids(briefs)
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
        """Load the index again if another process (e.g. `newsqa add`) changed it, or another replica's write
        moved the search backend's head; True when it looked again (one read of the head, no more, when
        nothing changed)."""
        manifest = read_manifest(self.settings.index_dir)
        on_disk = manifest is not None and manifest.build_dir != self.index.manifest.build_dir
        head = self.search.head()
        if not on_disk and (head is None or self.index.serves(head)):
            return False
        with self._updates, write_lock(self.settings.index_dir):
            self._reload_if_changed_locked()
        return True

    def catch_up(self) -> bool:
        """Bring a `pending` index up to date with the corpus folder (briefs added, changed or removed while the
        service was down), embedding only what changed, while the last good build keeps serving; True when
        an update was made. Runs on the writers' thread, like an add. When it fails, the last good build goes
        on serving and no catch-up is said to be under way any more."""
        try:
            return self._catch_up()
        except BaseException:
            self.stop_catching_up()
            raise

    def _catch_up(self) -> bool:
        with self._updates, write_lock(self.settings.index_dir):
            self._reload_if_changed_locked()
            if self.search.head() is not None:  # the briefs live in the backend (a head appeared meanwhile):
                self.stop_catching_up()  # this folder is not their source, and catching up on it would undo
                return False  # the other replicas' writes
            current = self.index
            documents = read_corpus(self.settings.corpus_dir)
            if holds_corpus(current.bundle, documents):
                self.stop_catching_up()
                return False
            log.info("catching up on the corpus: %d briefs in the folder", len(documents))
            encoder = self.encoders.for_updates(self.settings, current.manifest, self.embedder)
            self.index = update_index(
                self.settings, current.bundle, current.manifest, documents, encoder,
                reexport=self._reexport, search=self.search,
            )
            log.info("caught up on the corpus: %s", self.index.manifest.counts)
            return True

    def stop_catching_up(self) -> None:
        """No catch-up under way any more (nothing to catch up on, or it failed: the last good build serves)."""
        self.index = replace(self.index, pending=False)

    def _reexport(self, folder: Path) -> dict[str, str]:
        """Export the encoder graphs afresh into a new build (a copied graph was damaged): the reference model."""
        return export_encoders(self.encoders.reference(self.settings), folder)

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
            for given in briefs:
                brief = with_held_metadata(given, held.get(given.doc_id))
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
                encoder = self.encoders.for_updates(self.settings, current.manifest, self.embedder)
                if watch is not None:
                    encoder = watch(encoder)
                updated = update_index(
                    self.settings, current.bundle, current.manifest, documents, encoder, progress,
                    self._reexport, fresh, self.search, current.head,
                )
            except BaseException as exc:
                for doc_id, previous in saved.items():
                    restore(corpus_dir, doc_id, previous)
                if isinstance(exc, OSError):
                    raise _write_error(exc, "the update") from exc
                raise
            self.index = updated
            log.info("index updated: %s", ", ".join(f"{c.doc_id} {c.status}" for c in changes))
            return changes

    def _reload_if_changed_locked(self) -> None:
        """Load the build another process saved in the index folder, then bring it up to the search backend's
        head (another replica's write, with no folder shared): for a caller holding the folder's write lock."""
        manifest = read_manifest(self.settings.index_dir)
        if manifest is not None and manifest.build_dir != self.index.manifest.build_dir:
            log.info("the index changed on disk (%s): loading it", manifest.build_dir)
            bundle = load_bundle(self.settings.index_dir, manifest, MODEL_NAME)
            self.index = LoadedIndex(bundle, manifest, rebuilt=False)
        current = self.index
        synced = synced_index(
            self.settings, current, self.search,
            lambda: self.encoders.for_updates(self.settings, current.manifest, self.embedder),
        )
        if synced is not None:
            self.index = synced


def _check_unique_ids(briefs: Sequence[IncomingBrief]) -> None:
    ids = [b.doc_id for b in briefs]
    if len(set(ids)) != len(ids):
        raise InvalidDocumentError("two briefs in one request share a doc_id")


def _write_error(exc: OSError, what: str) -> IndexWriteError:
    """A file-system error of a write that was undone, as the service reports it (a one-line 503, no traceback)."""
    return IndexWriteError(f"{what} could not be stored ({exc.strerror or exc}); nothing changed")


KEPT_METADATA = ("title", "source", "published", "url")


def with_held_metadata(brief: IncomingBrief, held: ParsedDocument | None) -> IncomingBrief:
    """A held brief sent again with the same text, with every metadata field it leaves out (None) taken from the
    held one: adding a file again without the --source or date it was first added with ("adding the same brief
    again changes nothing") must not erase them, and with them the brief from every source and date filter. A
    field given replaces the held value; one is cleared by removing the brief and adding it again. A new text
    under the id keeps nothing: its title, date and address would be another article's."""
    if held is None or held.document.sha256 != brief.sha256:  # another text: another article's title, date
        return brief
    stored = held.document.meta
    kept = {name: getattr(stored, name) for name in KEPT_METADATA if getattr(brief.meta, name) is None}
    return replace(brief, meta=replace(brief.meta, **kept)) if kept else brief


def _status(brief: IncomingBrief, held: ParsedDocument | None) -> Literal["added", "replaced", "updated", "unchanged"]:
    if held is None:
        return "added"
    if held.document.sha256 != brief.sha256:
        return "replaced"
    new = make_document(brief.doc_id, brief.text, brief.meta)
    return "unchanged" if document_version(new) == document_version(held.document) else "updated"

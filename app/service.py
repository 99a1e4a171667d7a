"""QAService: the one thing every edge calls. Loads the model and index once, then answers questions."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.answer import AnswerParams, ConfidenceModel, compose_answer
from app.bundle import IndexBundle, ProgressFn, build_bundle
from app.chunk import CHUNKER_VERSION, parse_document
from app.config import Settings
from app.corpus import read_corpus
from app.embed import MODEL_NAME, Embedder, Encoder
from app.errors import DocumentNotFoundError, IndexCorruptError
from app.models import Answer, Evidence, IndexManifest, ParsedDocument
from app.onnx_encoder import OnnxEncoder
from app.onnx_export import export_encoders
from app.prompts import Prompts
from app.question import clean_question
from app.retrieve import RetrievalParams, retrieve
from app.signals import unknown_words
from app.store import FORMAT_VERSION, encoder_files, load_bundle, read_manifest, save_bundle

log = logging.getLogger("newsqa.service")


@dataclass(frozen=True)
class LoadedIndex:
    bundle: IndexBundle
    manifest: IndexManifest
    rebuilt: bool
    encoder_files: tuple[Path, Path] | None = None  # verified (graph, tokenizer) of settings.encoder


def stale_reason(manifest: IndexManifest | None, corpus: dict[str, str], settings: Settings) -> str:
    """Why an existing index cannot serve this corpus and these settings ("" when it can)."""
    if manifest is None:
        return "no index yet"
    onnx = settings.encoder != "sentence-transformers"
    checks = [
        (manifest.format_version != FORMAT_VERSION, "index format changed"),
        (manifest.model_name != MODEL_NAME, f"index was built by {manifest.model_name}"),
        (manifest.chunker_version != CHUNKER_VERSION, "chunker version changed"),
        (manifest.corpus != corpus, "corpus files changed"),
        (manifest.hnsw_threshold != settings.hnsw_threshold, "vector index threshold changed"),
        (onnx and settings.encoder not in manifest.encoders, f"the index holds no {settings.encoder} encoder"),
    ]
    return next((reason for failed, reason in checks if failed), "")


def onnx_files(settings: Settings, manifest: IndexManifest) -> tuple[Path, Path] | None:
    """The verified graph and tokenizer of the configured ONNX encoder (None for sentence-transformers)."""
    if settings.encoder == "sentence-transformers":
        return None
    return encoder_files(settings.index_dir, manifest, settings.encoder)


def load_or_build_index(
    settings: Settings, builder: Callable[[], Embedder], force: bool = False, progress: ProgressFn | None = None
) -> LoadedIndex:
    """Load index/ if it matches the corpus and settings and verifies; otherwise rebuild it (and say why).

    `builder` gives the sentence-transformers model; it is called only when a build is needed, so a
    process serving a prebuilt index never imports torch.
    """
    documents = read_corpus(settings.corpus_dir)
    corpus = {d.doc_id: d.sha256 for d in documents}
    manifest = read_manifest(settings.index_dir)
    reason = "rebuild requested" if force else stale_reason(manifest, corpus, settings)
    if not reason and manifest is not None:
        try:
            bundle = load_bundle(settings.index_dir, manifest, {d.doc_id: d.text for d in documents}, MODEL_NAME)
            files = onnx_files(settings, manifest)
            log.info("index loaded from %s (%s)", settings.index_dir / manifest.build_dir, manifest.counts)
            return LoadedIndex(bundle, manifest, rebuilt=False, encoder_files=files)
        except IndexCorruptError as exc:
            reason = exc.message
    log.warning("building the index: %s", reason)
    started = time.perf_counter()
    parsed = [parse_document(d) for d in documents]
    embedder = builder()
    bundle = build_bundle(parsed, embedder, settings.hnsw_threshold, progress)
    if progress:
        progress("exporting the ONNX query encoders", 0)
    manifest = save_bundle(
        bundle, settings.index_dir, corpus, settings.hnsw_threshold, lambda folder: export_encoders(embedder, folder)
    )
    log.info("index built in %.1f s: %s", time.perf_counter() - started, manifest.counts)
    return LoadedIndex(bundle, manifest, rebuilt=True, encoder_files=onnx_files(settings, manifest))


def query_encoder(settings: Settings, index: LoadedIndex, reference: Callable[[], Embedder]) -> Encoder:
    """The encoder that embeds questions: an ONNX graph from the index build, or the reference model."""
    if settings.encoder == "sentence-transformers":
        return reference()
    graph, tokenizer = index.encoder_files or encoder_files(settings.index_dir, index.manifest, settings.encoder)
    return OnnxEncoder.load(graph, tokenizer, settings.encoder, settings.encoder_threads)


class QAService:
    """Answers questions over one loaded index; construct with `QAService.load(settings)`."""

    def __init__(
        self,
        settings: Settings,
        embedder: Encoder,
        index: LoadedIndex,
        prompts: Prompts,
        retrieval: RetrievalParams | None = None,
        answering: AnswerParams | None = None,
        confidence: ConfidenceModel | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.index = index
        self.prompts = prompts
        self.retrieval = retrieval or RetrievalParams()
        self.answering = answering or AnswerParams(threshold=settings.answer_threshold)
        self.confidence = confidence or ConfidenceModel()

    @classmethod
    def load(
        cls,
        settings: Settings,
        progress: ProgressFn | None = None,
        embedder: Embedder | None = None,
        load_embedder: Callable[[], Embedder] | None = None,
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

        index = load_or_build_index(settings, reference, progress=progress)
        return cls(settings, query_encoder(settings, index, reference), index, prompts)

    @property
    def bundle(self) -> IndexBundle:
        return self.index.bundle

    def ask(self, question: str, top_k: int | None = None) -> Answer:
        """Answer one question with verbatim quotes, or abstain; raises InvalidQuestionError on bad input."""
        return self.ask_many([question], top_k)[0]

    def ask_many(self, questions: Sequence[str], top_k: int | None = None) -> list[Answer]:
        """Answer a batch (one encoder call for all questions)."""
        cleaned = [clean_question(q, self.settings.max_question_chars) for q in questions]
        message = self.prompts.render("abstention.txt", documents=len(self.bundle.documents))
        return [
            compose_answer(
                q, e, self.bundle, top_k or self.settings.top_k, self.answering, self.confidence, message
            )
            for q, e in zip(cleaned, self.evidence_many(cleaned), strict=True)
        ]

    def evidence_many(self, questions: Sequence[str]) -> list[Evidence]:
        """Ranked evidence and abstention signals for already-cleaned questions (used by ask and calibration)."""
        unknown = list(dict.fromkeys(w for q in questions for w in unknown_words(q, self.bundle)))
        # one encoder call: the questions, then every word the corpus lacks (for the synonym check)
        vectors = self.embedder.embed_documents([*questions, *unknown], batch_size=32)
        word_vectors = dict(zip(unknown, vectors[len(questions) :], strict=True))
        return [
            retrieve(q, vectors[i], self.bundle, self.retrieval, word_vectors) for i, q in enumerate(questions)
        ]

    def documents(self) -> list[ParsedDocument]:
        return list(self.bundle.documents.values())

    def document(self, doc_id: str) -> ParsedDocument:
        try:
            return self.bundle.documents[doc_id]
        except KeyError:
            raise DocumentNotFoundError(f"no document with id {doc_id!r}") from None

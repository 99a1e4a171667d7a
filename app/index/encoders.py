"""The encoders one service uses, each made when it is first needed, behind one object.

- the reference model (sentence-transformers, torch): builds an index, exports its ONNX graphs, repairs a damaged
  graph, and embeds questions only when NEWSQA_ENCODER=sentence-transformers. Loaded at most once, and never in
  a process that serves a prebuilt index with the default ONNX encoder;
- the query encoder: the ONNX graph of the index build the settings name (int8 by default);
- the encoder that embeds new briefs: the build's fp32 graph (the reference's own vectors, no torch), else the
  reference model; never the int8 graph, whose vectors differ.

Constructing an `Encoders` only stores what it is given; `reference()`, `for_queries()` and `for_updates()` do
the loading, each when a caller first asks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from app.config import Settings
from app.embed.onnx import OnnxEncoder
from app.embed.reference import Embedder, Encoder
from app.index.store import encoder_files
from app.models import IndexManifest

ReferenceLoader = Callable[[Settings], Embedder]


def default_reference(settings: Settings) -> Embedder:
    """The packaged all-MiniLM-L6-v2 (or settings.model_dir), on settings.torch_threads."""
    return Embedder.load(settings.model_dir, settings.torch_threads)


def configured_files(settings: Settings, manifest: IndexManifest) -> tuple[Path, Path] | None:
    """The verified (graph, tokenizer) of the configured ONNX encoder of the build (hashed against the
    manifest), or None for sentence-transformers."""
    if settings.encoder == "sentence-transformers":
        return None
    return encoder_files(settings.index_dir, manifest, settings.encoder)


class Encoders:
    """The reference model (lazy), the query encoder and the update encoder of one service. It holds no
    settings: each call gets the settings of the index it is about."""

    def __init__(self, reference: Embedder | None = None, load_reference: ReferenceLoader | None = None) -> None:
        self._reference = reference
        # replaceable: a server loads with a loader that refuses (the build runs in a child process instead)
        self.load_reference: ReferenceLoader = load_reference or default_reference
        self._updates: Encoder | None = None

    def reference(self, settings: Settings) -> Embedder:
        """The sentence-transformers model, loaded on the first call."""
        if self._reference is None:
            self._reference = self.load_reference(settings)
        return self._reference

    def for_queries(
        self, settings: Settings, manifest: IndexManifest, files: tuple[Path, Path] | None = None
    ) -> Encoder:
        """The encoder that embeds questions: the configured ONNX graph of the build (`files`, already verified,
        or looked up and verified here), or the reference model."""
        if settings.encoder == "sentence-transformers":
            return self.reference(settings)
        graph, tokenizer = files or encoder_files(settings.index_dir, manifest, settings.encoder)
        return OnnxEncoder.load(graph, tokenizer, settings.encoder, settings.onnx_threads(settings.encoder))

    def for_updates(self, settings: Settings, manifest: IndexManifest, queries: Encoder | None = None) -> Encoder:
        """The encoder that embeds new briefs into this build, made once: the query encoder when it already is
        the fp32 graph on no more threads than writes get, else the build's fp32 graph on the writers' threads
        (a core left for questions), else the reference model."""
        if self._updates is None:
            if (
                isinstance(queries, OnnxEncoder) and queries.variant == "onnx"
                and settings.onnx_threads("onnx") <= settings.write_threads
            ):
                self._updates = queries  # the same graph and threads: no second session
            elif "onnx" in manifest.encoders:
                graph, tokenizer = encoder_files(settings.index_dir, manifest, "onnx")
                self._updates = OnnxEncoder.load(graph, tokenizer, "onnx", settings.write_threads)
            else:
                self._updates = self.reference(settings)
        return self._updates

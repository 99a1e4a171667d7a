"""The query-path encoder: all-MiniLM-L6-v2 run by ONNX Runtime, with the `tokenizers` library.

It never imports torch or sentence-transformers, so a serving process starts in about a second and holds a
fraction of the memory. It reproduces sentence-transformers exactly: the tokenizer truncates at the model's
max sequence length (256) and pads only to the longest input of a batch (the tokenizer.json shipped with
the model pads and truncates at 128, which is slower and wrong on long passages), and the graph does mean
pooling over the attention mask and L2 normalization (see `export.py`); its second output, every token's last
hidden state, gives the content pieces' vectors for late interaction in the same run.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer
from tqdm import tqdm  # type: ignore[import-untyped]

from app.embed.export import SENTENCE_OUTPUT, TOKEN_OUTPUT
from app.embed.reference import MODEL_NAME, TokenVectors, Vectors

MAX_SEQUENCE_LENGTH = 256
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
SMALL_BATCH = 8  # up to this many texts are tokenized without the tokenizer's thread pool


def length_batches(texts: list[str], size: int) -> list[list[int]]:
    """The texts' positions sorted by length, cut into batches of `size`: texts of similar lengths pad less (the
    caller writes each batch's rows back at these positions, so the input order is kept)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    return [order[first : first + size] for first in range(0, len(order), size)]


def configured_tokenizer(tokenizer_file: Path) -> Tokenizer:
    """The model's tokenizer, truncating at 256 tokens and padding to the longest input of a batch."""
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.enable_truncation(max_length=MAX_SEQUENCE_LENGTH)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # no length: pad to the longest in the batch
    return tokenizer


class OnnxEncoder:
    """One ONNX Runtime session plus its tokenizer; construct with `OnnxEncoder.load(...)`."""

    def __init__(
        self, session: ort.InferenceSession, tokenizer: Tokenizer, name: str, variant: str, threads: int = 1
    ) -> None:
        self.session = session
        self.tokenizer = tokenizer
        self.name = name
        self.variant = variant
        # A session with several intra-op threads already uses every core for one call: running two such calls
        # at once (uvicorn's threadpool would) oversubscribes the cores, so calls then take turns.
        self._turns = threading.Lock() if threads > 1 else contextlib.nullcontext()
        # A dynamically quantized graph picks each activation's int8 scale from the whole batch, padding included:
        # batched, a question's vector (and, at a near tie, its answer) would depend on the questions beside it,
        # so the CLI's batches and the API's single questions could disagree. It runs one text per call instead.
        self._one_text_per_run = variant == "onnx-int8"

    @classmethod
    def load(cls, model_file: Path, tokenizer_file: Path, variant: str, threads: int = 1) -> OnnxEncoder:
        """Open the graph with `threads` intra-op threads and no inter-op parallelism (benchmarks/README.md: Speed)."""
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # idle pool threads sleep instead of spinning: a spinning thread holds a core the event loop, the
        # retrieval code and the next request need (measured: 17 ms of CPU per question with spinning, 10 without)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        return cls(session, configured_tokenizer(tokenizer_file), MODEL_NAME, variant, threads)

    @property
    def dimension(self) -> int:
        shape = self.session.get_outputs()[0].shape
        return int(shape[-1])

    def embed_documents(self, texts: list[str], batch_size: int = 64, show_progress: bool = False) -> Vectors:
        """Vectors for many texts, one row per text, L2-normalized, in input order."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # batches of similar lengths pad less: sort by length, embed, then restore the order
        if len(texts) <= batch_size and not show_progress:  # a question (and a few words): one call, no sorting
            return self._run(texts)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        with tqdm(total=len(texts), unit="text", desc="Embedding", disable=not show_progress, leave=False) as bar:
            for rows in length_batches(texts, batch_size):
                out[rows] = self._run([texts[i] for i in rows])
                bar.update(len(rows))
        return out

    def embed_query(self, text: str) -> Vectors:
        vector: Vectors = self._run([text])[0]
        return vector

    def embed_with_tokens(self, texts: list[str], batch_size: int = 64) -> tuple[Vectors, list[TokenVectors]]:
        """The texts' vectors and their content pieces' vectors, from the same graph runs."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32), []
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        found: list[TokenVectors | None] = [None] * len(texts)
        for rows in length_batches(texts, 1 if self._one_text_per_run else batch_size):
            pooled, hidden, encodings = self._run_both([texts[i] for i in rows])
            vectors[rows] = pooled
            for at, (i, encoding) in enumerate(zip(rows, encodings, strict=True)):
                found[i] = TokenVectors.of(encoding.ids, encoding.tokens, hidden[at, : len(encoding.ids)])
        return vectors, [t for t in found if t is not None]

    def _encodings(self, texts: list[str]) -> list[Encoding]:
        """A few texts are tokenized one by one: `encode_batch` hands even one short question to its thread pool,
        whose wake-ups cost more than the tokenizing (and compete for the two cores)."""
        if len(texts) > SMALL_BATCH:
            return list(self.tokenizer.encode_batch(texts))
        return [self.tokenizer.encode(text) for text in texts]

    def _features(self, encodings: list[Encoding]) -> dict[str, npt.NDArray[np.int64]]:
        """Token ids, attention mask and type ids, padded to the longest text."""
        width = max(len(e.ids) for e in encodings)
        feeds = {name: np.zeros((len(encodings), width), dtype=np.int64) for name in INPUT_NAMES}  # pad id, type: 0
        for row, encoding in enumerate(encodings):
            length = len(encoding.ids)
            feeds["input_ids"][row, :length] = encoding.ids
            feeds["attention_mask"][row, :length] = encoding.attention_mask
            feeds["token_type_ids"][row, :length] = encoding.type_ids
        return feeds

    def _run(self, texts: list[str]) -> Vectors:
        if self._one_text_per_run and len(texts) > 1:
            return np.vstack([self._run([text]) for text in texts])
        feeds = self._features(self._encodings(texts))
        with self._turns:
            result = self.session.run([SENTENCE_OUTPUT], feeds)[0]
        return np.asarray(result, dtype=np.float32)

    def _run_both(self, texts: list[str]) -> tuple[Vectors, npt.NDArray[np.float32], list[Encoding]]:
        encodings = self._encodings(texts)
        feeds = self._features(encodings)
        with self._turns:
            pooled, hidden = self.session.run([SENTENCE_OUTPUT, TOKEN_OUTPUT], feeds)
        return np.asarray(pooled, dtype=np.float32), np.asarray(hidden, dtype=np.float32), encodings

"""Build-time only: export the packaged model to ONNX with torch's own exporter, optimize and quantize it.

Runs inside an index build (torch and sentence-transformers are already loaded there). The graph takes
input_ids, attention_mask and token_type_ids and returns the sentence embedding (BERT, mean pooling over the
attention mask, L2 normalization, exactly what sentence-transformers computes) and, as a second output, the
last hidden state of every token (late interaction, `app/index/tokens.py`). ONNX Runtime's transformer
optimizer fuses layer norms and GELUs; the int8 variant's matrix products are dynamically quantized (per
channel) on top, its embedding table left fp32.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.embed.reference import Embedder

OPSET = 17
FP32_FILE = "encoder.onnx"
INT8_FILE = "encoder.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
ENCODER_FILES = {"onnx": FP32_FILE, "onnx-int8": INT8_FILE}
SENTENCE_OUTPUT = "sentence_embedding"
TOKEN_OUTPUT = "token_embeddings"

# The export's warnings, each checked benign for this graph, so each is silenced at the call that raises it (and
# only there). tests/test_onnx_encoder.py holds the parity tests that say so, for inputs the trace did not see.
BENIGN_TRACE_WARNINGS = (
    # transformers.masking_utils: `padding_length = kv_length + kv_offset - attention_mask.shape[-1]` is traced
    # as the constant 0 (the branch not taken). It is 0 for every input this graph gets: the mask always has the
    # ids' length (the tokenizer pads both alike) and there is no key-value cache. Checked on batches and
    # lengths other than the traced 2 x 8: test_the_export_warnings_are_benign_for_untraced_shapes.
    ("Converting a tensor to a Python boolean might cause the trace to be incorrect", "transformers.masking_utils"),
    # torch's opset-11 symbolic of aten::index: wrong results only for negative indices. The indices it is
    # exported for are the mask's batch and key-position aranges, never negative (same test).
    ("Exporting aten::index operator of advanced indexing", r"torch\.onnx\..*"),
)
# onnxruntime.quantization logs on the root logger that the model should be pre-processed (shape inference and
# graph optimization) first: it is, by the transformer optimizer; the int8 graph's own parity tests hold.
BENIGN_QUANTIZATION_LOG = "Please consider to run pre-processing before quantization"
# ONNX Runtime's transformer optimizer reports its work at INFO on these module loggers (named without a package:
# onnxruntime.transformers puts its own folder on sys.path): "Fused Attention: 6", "Removed 126 nodes", "opset
# version: 17", "Model saved to …", 11 lines a build that no reader of the server log acts on.
OPTIMIZER_LOGGERS = ("fusion_base", "onnx_model", "onnx_model_bert")


@contextlib.contextmanager
def _benign_trace_warnings_silenced() -> Iterator[None]:
    with warnings.catch_warnings():
        for message, module in BENIGN_TRACE_WARNINGS:
            warnings.filterwarnings("ignore", message=message, module=module)
        yield


@contextlib.contextmanager
def _optimizer_progress_quieted() -> Iterator[None]:
    """The optimizer's own loggers at WARNING for the call (their warnings still show), restored after."""
    loggers = [logging.getLogger(name) for name in OPTIMIZER_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextlib.contextmanager
def _quantization_chatter_silenced() -> Iterator[None]:
    """Drop, for the call, what onnxruntime.quantization's own files log at INFO (42 lines a build, per tensor:
    'Quantization parameters for tensor:"…" not specified', "get_tensor_type returns DefaultTensorType for tensor
    name …") and the warning checked benign above. It logs with module-level `logging.info`, on the root logger,
    so its records are told apart by the file they come from; its other warnings still show."""
    from onnxruntime import quantization

    package = str(Path(quantization.__file__).parent) + os.sep

    def drop(record: logging.LogRecord) -> bool:  # a callable filter: False drops the record
        if not record.pathname.startswith(package):
            return True
        return record.levelno > logging.INFO and not record.getMessage().startswith(BENIGN_QUANTIZATION_LOG)

    root = logging.getLogger()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


def _export_raw(transformer: Any, path: Path) -> None:
    """torch.onnx.export of BERT + mean pooling + L2 normalization (and the token states), dynamic in batch and
    sequence length."""
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor]:
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1), hidden

    names = ["input_ids", "attention_mask", "token_type_ids"]
    sample = torch.ones(2, 8, dtype=torch.long)
    axes: dict[str, dict[int, str]] = {name: {0: "batch", 1: "tokens"} for name in names}
    with torch.no_grad(), _benign_trace_warnings_silenced():
        torch.onnx.export(
            Pooled().eval(),
            (sample, sample, torch.zeros_like(sample)),
            str(path),
            input_names=names,
            output_names=[SENTENCE_OUTPUT, TOKEN_OUTPUT],
            dynamic_axes={**axes, SENTENCE_OUTPUT: {0: "batch"}, TOKEN_OUTPUT: {0: "batch", 1: "tokens"}},
            opset_version=OPSET,
            dynamo=False,
        )


def export_encoders(embedder: Embedder, folder: Path) -> dict[str, str]:
    """Write the fp32 and int8 graphs and the tokenizer into folder; return variant → file name."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer

    transformer: Any = embedder.model[0].auto_model
    config: Any = transformer.config
    # eager attention exports as plain MatMul/Softmax, which ONNX Runtime's optimizer fuses into its Attention
    # kernel (the SDPA export stays unfused, ~10% slower); the reference model gets its setting back afterwards
    previous = config._attn_implementation
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        raw = Path(scratch) / "raw.onnx"
        transformer.set_attn_implementation("eager")
        try:
            _export_raw(transformer.eval(), raw)
        finally:
            transformer.set_attn_implementation(previous)
        with _optimizer_progress_quieted():
            optimized = optimizer.optimize_model(
                str(raw), model_type="bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size
            )
            optimized.save_model_to_file(str(folder / FP32_FILE))
    # the matrix products (the six layers' attention and feed-forward weights) in int8, per channel; the word
    # embedding table stays fp32: quantizing it (the default) cost one dev question its top passage, for no speed
    with _quantization_chatter_silenced():
        quantize_dynamic(
            str(folder / FP32_FILE),
            str(folder / INT8_FILE),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul", "Attention"],
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    shutil.copyfile(Path(embedder.model.tokenizer.name_or_path) / TOKENIZER_FILE, folder / TOKENIZER_FILE)
    return dict(ENCODER_FILES)

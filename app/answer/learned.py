"""The learned steps, loaded together: the quote ranker, the abstention model and the rival-version model."""

from __future__ import annotations

from dataclasses import dataclass

from app.answer.confidence import ABSTENTION_FEATURES
from app.answer.versions import RIVAL_FEATURES
from app.linear import LinearModel
from app.retrieve.quote_ranker import SENTENCE_FEATURES


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

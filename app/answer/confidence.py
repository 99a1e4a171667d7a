"""Pure: how sure the answer is, as a calibrated probability that the briefs answer the question.

A logistic model (fitted by `benchmarks/train.py`, cross-validated by document) over: the best candidate's
cosine, the ranker's margin between it and the next, how much of the question's weight (IDF) the best
sentence and its context cover, whether it lacks a new thing of the asked type (a "how many" question whose best
sentence has no number the question lacks is likely not covered), and whether a capitalised name of the
question is one the answering document never mentions. The shipped threshold keeps false abstention at or under
5 % in the cross-validation.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from app.linear import LinearModel
from app.models import Evidence
from app.retrieve.quote_ranker import SENTENCE_FEATURES

ABSTENTION_FEATURES = (
    "top_dense",
    "margin",
    "top_context_coverage",
    "top_typed_missing",
    "unknown_name",
)
_COLUMN = {name: i for i, name in enumerate(SENTENCE_FEATURES)}
NO_RIVAL_MARGIN = 5.0  # the margin when the best candidate has no rival


def abstention_features(evidence: Evidence) -> npt.NDArray[np.float64]:
    """One row of ABSTENTION_FEATURES for a question's evidence.

    Measured and left out (they did not generalize across documents in the grouped cross-validation): the raw
    BM25 top score (its scale follows the corpus, and SQuAD's unanswerable questions reuse the paragraph's
    words), the ranker's own logit, the share of unknown terms and the top passage's coverage.
    """
    out = np.zeros(len(ABSTENTION_FEATURES), dtype=np.float64)
    ranked = evidence.ranked
    if ranked is not None and len(ranked.rows):
        top = ranked.features[0]
        out[0] = top[_COLUMN["dense"]]
        out[1] = ranked.logits[0] - ranked.logits[1] if len(ranked.logits) > 1 else NO_RIVAL_MARGIN
        out[2] = top[_COLUMN["context_coverage"]]
        out[3] = top[_COLUMN["typed_missing"]]
    out[4] = float(bool(evidence.signals.unknown_proper_nouns))
    return out


def confidence(evidence: Evidence, model: LinearModel) -> float:
    """The calibrated probability that the corpus answers the question (0 without any candidate)."""
    if not evidence.sentences:
        return 0.0
    return float(model.probabilities(abstention_features(evidence)[None, :])[0])

"""The abstention model's fit (`benchmarks/train.py`): sign bounds, and two stages that compose into one model.

Synthetic rows, no index and no encoder: these check the fitting arithmetic itself, which the cross-validated
figures in benchmarks/README.md rest on; the shipped weights' signs are checked on the real model in
tests/test_answer.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from app.answer.confidence import ABSTENTION_FEATURES, ABSTENTION_SIGNS, EVIDENCE_KNOTS, evidence_shortfalls
from benchmarks.train import fit_abstention, fit_linear, fit_signed


def _rows(seed: int = 0, n: int = 600) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows shaped like the service's: flags in {0, 1}, cosines and coverage in [0, 1], evidence their max and
    its knots' shortfalls; answerable more likely with more evidence and fewer flags."""
    rng = np.random.default_rng(seed)
    column = {name: i for i, name in enumerate(ABSTENTION_FEATURES)}
    x = np.zeros((n, len(ABSTENTION_FEATURES)))
    x[:, column["top_dense"]] = rng.uniform(0.0, 0.9, n)
    x[:, column["top_context_coverage"]] = rng.uniform(0.0, 0.7, n)
    for flag in ("top_typed_missing", "unknown_name", "top_names_missing", "top_figures_missing",
                 "top_count_missing"):
        x[:, column[flag]] = rng.random(n) < 0.15
    evidence = np.maximum(x[:, column["top_dense"]], x[:, column["top_context_coverage"]])
    x[:, column["top_evidence"]] = evidence
    for i, value in enumerate(evidence):
        for name, shortfall in evidence_shortfalls(float(value)).items():
            x[i, column[name]] = shortfall
    flags = x[:, [column["top_typed_missing"], column["top_names_missing"]]].sum(axis=1)
    logit = 4.0 * (evidence - 0.5) - 2.0 * flags - 20.0 * np.maximum(0.0, 0.3 - evidence)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    # weights that depend on the class, as SQuAD's half weight does (its questions are answerable less often)
    return x, y, np.where(y == 1, rng.uniform(0.2, 0.6, n), rng.uniform(0.8, 1.0, n))


def test_signed_fit_without_bounds_is_the_class_balanced_logistic_regression() -> None:
    x, y, w = _rows()
    plain = fit_linear("m", ABSTENTION_FEATURES, x, y, w, 0.1, balanced=True)
    signed = fit_signed("m", ABSTENTION_FEATURES, x, y, w, 0.1, {})
    # the knots are nearly collinear, so compare what the models say rather than how they split the weight
    assert signed.probabilities(x) == pytest.approx(plain.probabilities(x), abs=2e-3)


def test_signed_fit_holds_each_weight_to_its_sign() -> None:
    x, y, w = _rows()
    column = ABSTENTION_FEATURES.index("top_context_coverage")
    # against the data: coverage made to count against answering, then held non-negative
    y_against = np.where(x[:, column] > 0.5, 0, y)
    model = fit_signed("m", ABSTENTION_FEATURES, x, y_against, w, 0.1, ABSTENTION_SIGNS)
    assert fit_signed("m", ABSTENTION_FEATURES, x, y_against, w, 0.1, {}).coef[column] < 0
    assert model.coef[column] == pytest.approx(0.0, abs=1e-9)
    for name, coef in zip(ABSTENTION_FEATURES, model.coef, strict=True):
        assert coef * ABSTENTION_SIGNS[name] >= -1e-12, name


def test_two_stage_abstention_fit_is_one_linear_model() -> None:
    """The composed model's logits are the second stage's over (first stage's logit, knots), to rounding, and
    the knots may only lower confidence; the rows under the lowest knot get the steeper slope the data has."""
    x, y, w = _rows(seed=1)
    model = fit_abstention(x, y, w, 0.1, signed=True)
    knots = np.array([name in EVIDENCE_KNOTS for name in ABSTENTION_FEATURES])
    base = fit_signed("b", tuple(np.array(ABSTENTION_FEATURES)[~knots]), x[:, ~knots], y, w, 0.1, ABSTENTION_SIGNS)
    staged = np.column_stack([base.logits(x[:, ~knots]), x[:, knots]])
    second = fit_signed("s", ("base", *EVIDENCE_KNOTS), staged, y, w, 0.1, {"base": 1, **ABSTENTION_SIGNS})
    assert model.features == ABSTENTION_FEATURES
    assert model.logits(x) == pytest.approx(second.logits(staged), abs=1e-9)
    assert model.coef[knots].min() < 0
    # where no knot is short (evidence over 0.6), the composed model orders rows as the first stage does
    over = x[:, ABSTENTION_FEATURES.index("top_evidence")] > 0.6
    assert np.array_equal(np.argsort(model.logits(x[over])), np.argsort(base.logits(x[over][:, ~knots])))


def test_unsigned_abstention_fit_leaves_the_knots_out() -> None:
    x, y, w = _rows(seed=2)
    model = fit_abstention(x, y, w, 0.1, signed=False)
    knots = np.array([name in EVIDENCE_KNOTS for name in ABSTENTION_FEATURES])
    assert np.all(model.coef[knots] == 0.0)
    free = fit_linear("m", tuple(np.array(ABSTENTION_FEATURES)[~knots]), x[:, ~knots], y, w, 0.1, balanced=True)
    assert model.logits(x) == pytest.approx(free.logits(x[:, ~knots]))

"""Measure fusion variants and calibrate the abstention model on gold question files.

Usage: .venv/bin/python benchmarks/calibrate.py [GOLD.jsonl ...]
(default: tests/data/dev.jsonl and tests/data/gold.jsonl)

Prints (1) retrieval quality of the weighted-sum fusion versus reciprocal rank fusion, abstention off, so the
comparison is about ranking alone; (2) a logistic fit of the abstention signals (class-balanced, C=3) with
leave-one-out accuracy, next to the weights the service ships in app/answer.py; (3) the trade-off curve of
the shipped confidence model: false abstention versus out-of-scope abstention at several thresholds.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import LeaveOneOut

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.answer import AnswerParams, ConfidenceModel  # noqa: E402
from app.config import get_settings  # noqa: E402
from app.evaluate import GoldRow, evaluate, parse_gold  # noqa: E402
from app.models import Evidence  # noqa: E402
from app.retrieve import RetrievalParams  # noqa: E402
from app.service import QAService  # noqa: E402

FEATURES = ("best_score", "unknown_share", "unknown_name", "coverage")


def features(evidence: Evidence) -> list[float]:
    s = evidence.signals
    best = evidence.sentences[0].score if evidence.sentences else 0.0
    return [best, s.unknown_term_share, float(bool(s.unknown_proper_nouns)), s.best_lexical_coverage]


def fusion_table(service: QAService, golds: dict[str, list[GoldRow]], documents: dict[str, str]) -> None:
    variants = {
        "weighted sum (shipped)": RetrievalParams(),
        "RRF k=60": RetrievalParams(fusion="rrf", rrf_k=60, sentence_lexical_weight=1, passage_lexical_weight=1),
        "RRF k=10": RetrievalParams(fusion="rrf", rrf_k=10, sentence_lexical_weight=1, passage_lexical_weight=1),
        "dense only": RetrievalParams(sentence_lexical_weight=0, passage_lexical_weight=0),
    }
    print("| fusion | gold file | R@1 | R@3 | MRR@10 | quote (no abstention) |")
    print("|---|---|---|---|---|---|")
    for name, params in variants.items():
        variant = QAService(service.settings, service.embedder, service.index, service.prompts,
                            retrieval=params, answering=AnswerParams(threshold=0.0))
        for label, rows in golds.items():
            report = evaluate(rows, variant.ask_many([r.question for r in rows], top_k=10), documents)
            print(f"| {name} | {label} | {report.recall_at_1:.3f} | {report.recall_at_3:.3f} | "
                  f"{report.mrr_at_10:.3f} | {report.quote_accuracy:.3f} |")


def abstention_fit(service: QAService, rows: list[GoldRow]) -> None:
    evidence = service.evidence_many([r.question for r in rows])
    x = np.array([features(e) for e in evidence])
    y = np.array([int(r.in_scope) for r in rows])
    model = LogisticRegression(C=3, class_weight="balanced", max_iter=1000)
    loo = np.zeros(len(y))
    for train, test in LeaveOneOut().split(x):
        loo[test] = model.fit(x[train], y[train]).predict_proba(x[test])[:, 1]
    model.fit(x, y)
    shipped = ConfidenceModel()
    fitted = {k: round(float(v), 2) for k, v in zip(FEATURES, model.coef_[0], strict=True)}
    print("\nlogistic fit on", len(rows), "questions:", fitted, "intercept", round(float(model.intercept_[0]), 2))
    print("shipped weights:", dataclasses.asdict(shipped))
    confidence = np.array([shipped.confidence(f[0], e.signals) for f, e in zip(x, evidence, strict=True)])
    print("\n| threshold | false abstention | out-of-scope abstained | LOO false abst. | LOO OOS abst. |")
    print("|---|---|---|---|---|")
    for t in (0.2, 0.3, 0.35, 0.4, 0.42, 0.45, 0.5, 0.6, 0.7):
        ans, ans_loo = confidence >= t, loo >= t
        print(f"| {t:.2f} | {np.mean(~ans[y == 1]):.3f} | {np.mean(~ans[y == 0]):.3f} | "
              f"{np.mean(~ans_loo[y == 1]):.3f} | {np.mean(~ans_loo[y == 0]):.3f} |")


def main(paths: list[str]) -> None:
    paths = paths or [str(ROOT / "tests/data/dev.jsonl"), str(ROOT / "tests/data/gold.jsonl")]
    service = QAService.load(get_settings())
    documents = {d.document.doc_id: d.document.text for d in service.documents()}
    golds = {Path(p).name: parse_gold(Path(p).read_text(encoding="utf-8").splitlines(), p) for p in paths}
    fusion_table(service, golds, documents)
    abstention_fit(service, [row for rows in golds.values() for row in rows])


if __name__ == "__main__":
    main(sys.argv[1:])

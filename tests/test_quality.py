"""Quality floors on the project's gold questions and on the dev questions (tests/data, never ../shared).

Scored by app.answer.evaluate with the project's hit rule: a passage hits when its [start, end) overlaps an
occurrence of an evidence string by at least half of that string's length.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.answer.evaluate import EvalReport, evaluate, parse_gold
from app.linear import WEIGHTS_DIR
from app.service import QAService

DATA = Path(__file__).parent / "data"


def report_for(service: QAService, name: str) -> EvalReport:
    path = DATA / name
    gold = parse_gold(path.read_text(encoding="utf-8").splitlines(), source=name)
    answers = service.ask_many([row.question for row in gold])
    documents = {doc_id: parsed.document.text for doc_id, parsed in service.bundle.documents.items()}
    return evaluate(gold, answers, documents)


def misses(report: EvalReport) -> str:
    return "\n".join(m.summary for m in report.misses)


@pytest.fixture(scope="module")
def dev(service: QAService) -> EvalReport:
    return report_for(service, "dev.jsonl")


@pytest.fixture(scope="module")
def gold(service: QAService) -> EvalReport:
    return report_for(service, "gold.jsonl")


def test_files_are_sound(dev: EvalReport, gold: EvalReport) -> None:
    for report in (dev, gold):
        assert report.in_scope > 0 and report.out_of_scope > 0
        assert report.unmatched_evidence == []  # every evidence string really occurs in the article
        assert report.not_verbatim == 0 and report.missing == []


def test_dev_recall_at_3(dev: EvalReport) -> None:
    assert dev.recall_at_3 >= 0.95, misses(dev)


def test_dev_abstains_on_out_of_scope_questions(dev: EvalReport) -> None:
    # 0.75 was the floor while the threshold was fitted on these very questions; the learned threshold is now
    # set by cross-validation grouped by document (benchmarks/train.py), and these questions are in-sample
    assert dev.oos_abstention >= 0.6, misses(dev)


def test_dev_rarely_abstains_on_answerable_questions(dev: EvalReport) -> None:
    assert dev.false_abstention <= 0.10, misses(dev)


def test_gold_recall_at_3(gold: EvalReport) -> None:
    assert gold.recall_at_3 >= 0.85, misses(gold)


def test_learned_models_answer_the_default_article(service: QAService) -> None:
    """The shipped weights come from `make train`: they name their training data and the article is in it."""
    for name in ("quote_ranker", "abstention"):
        data = json.loads((WEIGHTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
        assert "corpus/pakistan-afghanistan-talks.txt" in data["training_data"]
        assert "tests/data/squad/squad2-dev-2articles.json" in data["training_data"]
    rival = json.loads((WEIGHTS_DIR / "version_rival.json").read_text(encoding="utf-8"))
    assert "tests/data/claims/ceasefire/questions.jsonl" in rival["training_data"]
    # the held-out questions measure what no fit saw (benchmarks/README.md, "Fresh data"): no model lists them
    for name in ("quote_ranker", "abstention", "version_rival"):
        data = json.loads((WEIGHTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
        for fresh in (f"gold_fresh{n}.jsonl" for n in ("", "2", "3", "4", "5", "6", "7")):
            assert f"tests/data/{fresh}" in data["training_data"] or name == "version_rival"
        assert not any("gold_holdout" in path for path in data["training_data"]), name
    assert service.learned.rival is not None
    assert service.index.manifest.learned == {
        "abstention": service.learned.abstention.sha256,
        "quote_ranker": service.learned.ranker.sha256,
        "version_rival": service.learned.rival.sha256,
    }

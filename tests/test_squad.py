"""SQuAD 2.0 files as briefs (pure parsing and scoring), and `newsqa eval` of one through the real service."""

from __future__ import annotations

import json

import pytest

from app.answer.squad import SquadFileError, abstention_at_budget, auroc, is_squad, parse_squad, score_squad
from app.models import Answer, Quote

SQUAD = {
    "version": "v2.0",
    "data": [
        {
            "title": "Port_of_Alder",
            "paragraphs": [
                {
                    "context": "The port opened in 1898. It handles grain and timber.",
                    "qas": [
                        {"id": "q1", "question": "When did the port open?", "is_impossible": False,
                         "answers": [{"text": "1898", "answer_start": 19}]},
                        {"id": "q2", "question": "When did the port close?", "is_impossible": True, "answers": []},
                    ],
                },
                {
                    "context": "Its harbour master is Ana Ruiz.",
                    "qas": [
                        {"id": "q3", "question": "Who is the harbour master?", "is_impossible": False,
                         "answers": [{"text": "Ana Ruiz", "answer_start": 22}]},
                    ],
                },
            ],
        }
    ],
}


def test_articles_are_laid_out_as_briefs_with_exact_gold_spans() -> None:
    raw = json.dumps(SQUAD)
    assert is_squad(raw) and not is_squad('{"id": "x", "question": "q", "evidence": []}')
    (article,), questions = parse_squad(raw)
    assert article.doc_id == "port-of-alder" and article.title == "Port of Alder"
    assert article.text.startswith("Port of Alder\n\nThe port opened in 1898.")
    spans = {q.qid: q.gold for q in questions}
    (start, end), = spans["q1"]
    assert article.text[start:end] == "1898"
    (start, end), = spans["q3"]
    assert article.text[start:end] == "Ana Ruiz"
    assert [q.impossible for q in questions] == [False, True, False]


def test_a_file_that_is_not_squad_is_a_clear_error() -> None:
    with pytest.raises(SquadFileError):
        parse_squad('{"data": [{"title": "x"}]}')


def test_scores_count_quotes_abstentions_and_confidence() -> None:
    (article,), questions = parse_squad(json.dumps(SQUAD))
    at = article.text.index("The port opened")
    quote = Quote(article.doc_id, article.title, "", at, at + 24, article.text[at : at + 24])
    answers = [
        Answer("q1", True, 0.9, None, (quote,), ()),  # right sentence
        Answer("q2", False, 0.2, "no", (), ()),  # impossible, abstained
        Answer("q3", True, 0.8, None, (quote,), ()),  # wrong sentence
    ]
    report = score_squad(questions, answers)
    assert (report.answerable, report.impossible) == (2, 1)
    assert report.quote_at_1 == 0.5 and report.false_abstention == 0.0 and report.impossible_abstained == 1.0
    assert report.auroc == 1.0


def test_auroc_and_the_oracle_budget() -> None:
    assert auroc([0.9, 0.8], [0.1, 0.85]) == 0.75
    threshold, abstained = abstention_at_budget([0.9, 0.8, 0.7], [0.1, 0.75], budget=0.0)
    assert threshold == 0.7 and abstained == 0.5


def test_newsqa_eval_reads_a_squad_file_and_prints_the_baseline_table(tmp_path, embedder) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from app.cli import CliState, app

    path = tmp_path / "squad.json"
    path.write_text(json.dumps(SQUAD), encoding="utf-8")
    state = CliState(load_embedder=lambda settings: embedder)
    result = CliRunner().invoke(app, ["eval", "--json", str(path)], obj=state)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert (report["answerable"], report["impossible"]) == (2, 1)
    assert report["quote_at_1"] == 1.0  # two one-sentence paragraphs: the right sentence is easy to find
    assert [b["name"] for b in report["baselines"]] == ["BM25", "dense", "hybrid 0.5/0.5"]
    table = CliRunner().invoke(app, ["eval", str(path)], obj=state)
    assert table.exit_code == 0 and "| newsqa |" in table.stdout and "| BM25 (top sentence) |" in table.stdout

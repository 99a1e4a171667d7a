"""`newsqa eval`: a gold file (JSONL) asked of the corpus, or a SQuAD 2.0 file indexed on its own, scored, with
targets a newsroom can hold its CI to."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel

from app.answer.evaluate import (
    RANK_DEPTH,
    EvalReport,
    GoldRow,
    Target,
    evaluate,
    figure_names,
    missed_targets,
    parse_gold,
    parse_target,
    report_figures,
)
from app.answer.squad import SquadReport, baseline_rows, is_squad, parse_squad, score_squad
from app.cli.base import CliState, QuestionInput, app, core_errors, fail, read_lines, split_valid, state_of
from app.models import Answer
from app.service import QAService
from app.text.normalize import terms
from app.text.question import clean_question


def answer_gold(service: QAService, rows: Sequence[GoldRow]) -> list[Answer | None]:
    """One answer per gold row, in order (None where the question is rejected, which is reported on stderr)."""
    inputs = [QuestionInput(f"gold row {row.id}", row.question) for row in rows]
    valid, rejected = split_valid(inputs, service.settings.max_question_chars)
    for problem in rejected:
        fail(f"skipped {problem}")
    answers: list[Answer | None] = [None] * len(rows)
    found = service.ask_many([rows[i].question for i in valid], RANK_DEPTH)
    for position, answer in zip(valid, found, strict=True):
        answers[position] = answer
    return answers


@app.command("eval", short_help="Score the service on a gold set (JSONL) or a SQuAD 2.0 file.")
def eval_command(
    ctx: typer.Context,
    gold: Annotated[
        Path,
        typer.Argument(metavar="GOLD", exists=True, dir_okay=False, help="Gold questions: JSONL, or SQuAD 2.0 JSON."),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
    fail_under: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-under", metavar="METRIC=VALUE",
            help="Exit 1 if a figure is below VALUE, e.g. quote_accuracy=0.7 (repeatable).",
        ),
    ] = None,
    fail_over: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-over", metavar="METRIC=VALUE",
            help="Exit 1 if a lower-is-better figure is above VALUE, e.g. false_abstention=0.05 (repeatable).",
        ),
    ] = None,
) -> None:
    """Score the service on a gold set (recall, MRR, quotes, abstention, offsets).

    A JSONL gold file is asked of the configured corpus. Each line is {"id", "question", "evidence":
    [verbatim substrings]}; an empty evidence list marks a question the corpus does not answer. Prints
    recall@1/3/5, MRR@10, answer-quote accuracy, false abstention, out-of-scope abstention, the number of cited
    spans that are not verbatim, and every miss. Exit code 1 if any cited text is not verbatim, a gold
    question was rejected, or an evidence string is nowhere in the corpus (a gold file for other briefs).

    A SQuAD 2.0 file (several articles, impossible questions) brings its own documents: they are indexed as
    briefs in a temporary folder, every question is asked, and the first quote, the passages, the abstentions
    and the AUROC of `confidence` are printed beside BM25, dense and hybrid rankings of the same sentences.

    \b
    With --fail-under / --fail-over the exit code is also 1 when a figure misses its target (each miss is
    printed on stderr): a newsroom can put its own gold file in its CI.

    \b
    Examples:
      newsqa eval tests/data/gold.jsonl
      newsqa eval --json tests/data/gold.jsonl | jq .recall_at_1
      newsqa eval --fail-under quote_accuracy=0.7 --fail-over false_abstention=0.05 tests/data/gold.jsonl
      newsqa eval tests/data/squad/squad2-dev-2articles.json
    """
    state = state_of(ctx)
    with core_errors():
        lines, name = read_lines(str(gold), "'GOLD'")
        raw = "\n".join(lines)
        squad = is_squad(raw)
        targets = _targets(SquadReport if squad else EvalReport, fail_under or [], fail_over or [])
        if squad:
            if _missed_any(targets, _eval_squad(state, raw, gold, as_json)):
                raise typer.Exit(1)
            return
        rows = parse_gold(lines, name)
        if not rows:
            raise typer.BadParameter(f"{name} holds no questions", param_hint="'GOLD'")
        service = state.service(state.settings())
        texts = {doc_id: parsed.document.text for doc_id, parsed in service.bundle.documents.items()}
        report = evaluate(rows, answer_gold(service, rows), texts)
        if as_json:
            typer.echo(report.model_dump_json())
        else:
            typer.echo(service.prompts.render("cli_eval.txt", report=report, gold=gold))
        missed = _missed_any(targets, report)
        if unmatched := report.unmatched_evidence:  # a gold file for other briefs, or evidence not copied verbatim
            named = ", ".join(unmatched[:10]) + (f" and {len(unmatched) - 10} more" if len(unmatched) > 10 else "")
            fail(f"evidence not in the corpus for {len(unmatched)} question(s): {named}")
        if not report.passed or missed:
            raise typer.Exit(1)


def _targets(report: type[BaseModel], under: list[str], over: list[str]) -> list[Target]:
    """The --fail-under / --fail-over targets, checked against the report's figures before anything runs."""
    names = figure_names(report)
    try:
        return [parse_target(t, names) for t in under] + [parse_target(t, names, ceiling=True) for t in over]
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--fail-under/--fail-over") from None


def _missed_any(targets: list[Target], report: BaseModel) -> bool:
    """Whether the report misses a target; each miss is one line on stderr."""
    missed = missed_targets(targets, report_figures(report))
    for line in missed:
        fail(f"target missed: {line}")
    return bool(missed)


def _eval_squad(state: CliState, raw: str, gold: Path, as_json: bool) -> SquadReport:
    """Index a SQuAD file's articles in a temporary folder, ask every question, print the table."""
    articles, questions = parse_squad(raw)
    if not questions:
        raise typer.BadParameter(f"{gold} holds no questions", param_hint="'GOLD'")
    with tempfile.TemporaryDirectory(prefix="newsqa-eval-") as work:
        corpus = Path(work) / "corpus"
        corpus.mkdir()
        for article in articles:
            (corpus / f"{article.doc_id}.txt").write_text(article.text, encoding="utf-8", newline="")
        service = state.service(state.settings(corpus_dir=corpus, index_dir=Path(work) / "index"))
        inputs = [QuestionInput(f"question {q.qid}", q.question) for q in questions]
        valid, rejected = split_valid(inputs, service.settings.max_question_chars)
        kept = [questions[i] for i in valid]
        answers = service.ask_many([q.question for q in kept], RANK_DEPTH)
        report = score_squad(kept, answers)
        bundle = service.bundle
        vectors = service.embedder.embed_documents([clean_question(q.question, 10_000) for q in kept])
        baselines = baseline_rows(
            kept,
            [(s.doc_id, s.start, s.end) for s in bundle.sentences],
            [bundle.sentence_lexical.scores(terms(q.question)) for q in kept],
            [bundle.sentence_matrix @ v for v in vectors],
        )
        if as_json:
            typer.echo(json.dumps({**report.model_dump(), "baselines": [b.model_dump() for b in baselines],
                                   "rejected": len(rejected)}))
        else:
            typer.echo(service.prompts.render(
                "cli_eval_squad.txt", report=report, baselines=baselines, gold=gold, skipped=len(rejected)
            ))
        return report

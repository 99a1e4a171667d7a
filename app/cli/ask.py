"""`newsqa ask`: questions from arguments, a file or stdin (plain lines or JSONL), answered in one batch."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated

import typer

from app.api.schemas import AskResponse, document_filter
from app.cli.base import QuestionInput, app, core_errors, fail, read_lines, split_valid, state_of
from app.models import Answer
from app.prompts import Prompts


def questions_from_lines(lines: Iterable[str], source: str) -> tuple[list[QuestionInput], list[str]]:
    """Questions from plain lines or JSONL (a line starting with `{` must hold a "question" string), and problems."""
    lines = list(lines)
    if problem := _json_array_problem(lines, source):  # a .json file's array, one line or pretty-printed
        return [], [problem]
    found: list[QuestionInput] = []
    problems: list[str] = []
    for number, line in enumerate(lines, start=1):
        where, text = f"{source}:{number}", line.strip()
        if problem := _json_array_problem([text], where, whole_file=False):  # an array on one line of a file
            problems.append(problem)
            continue
        if not text.startswith("{"):
            if text:
                found.append(QuestionInput(where, text))
            continue
        try:
            question = json.loads(text).get("question")
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: not valid JSON ({exc.msg})")
            continue
        if isinstance(question, str):
            found.append(QuestionInput(where, question))
        else:
            problems.append(f'{where}: a JSON line needs a "question" string')
    return found, problems


def _json_array_problem(lines: list[str], source: str, whole_file: bool = True) -> str | None:
    """Why lines that hold a JSON array cannot be read as questions (None: they do not hold one). Only a file
    whose first line opens one is parsed whole; "[Update] who won?" is a question. A file that opens an array
    ("[" or '[{') and ends with "]" but does not parse (a trailing comma) is refused too; a single line only
    when it parses as an array."""
    first = next((line.strip() for line in lines if line.strip()), "")
    if not first.startswith("["):
        return None
    advice = 'give one question per line, or JSONL with a "question" field'
    text = "\n".join(lines)
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError; "[[[[…" nests past the stack
        opens_array = first == "[" or first.startswith("[{")
        if whole_file and opens_array and text.rstrip().endswith("]"):
            return f"{source}: looks like a JSON array but does not parse; {advice}"
        return None
    return f"{source}: a JSON array; {advice}" if isinstance(parsed, list) else None


def render_answer(answer: Answer, prompts: Prompts, as_json: bool, show_passages: bool = False) -> str:
    """One answer for the terminal (or its HTTP body as JSON); `show_passages` lists the supporting passages
    under the quotes (an abstention always lists the closest ones)."""
    if as_json:
        return AskResponse.from_answer(answer).model_dump_json()
    template = "cli_answer.txt" if answer.answered else "cli_abstention.txt"
    return prompts.render(template, answer=answer, show_passages=show_passages) + "\n"


@app.command(short_help="Answer questions with verbatim quotes, or abstain.")
def ask(
    ctx: typer.Context,
    questions: Annotated[
        list[str] | None,
        typer.Argument(metavar="QUESTION", show_default=False, help="Questions to answer, each one argument."),
    ] = None,
    file: Annotated[
        str | None, typer.Option("--file", "-f", metavar="FILE", help="Questions, one per line or JSONL; - for stdin.")
    ] = None,
    top_k: Annotated[
        int | None,
        typer.Option(
            "--top-k", "-k", min=1, max=10, metavar="N",
            help="Passages to retrieve and list under the quotes (1-10) [default: 3, not listed].",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line (the HTTP body).")] = False,
    doc: Annotated[
        list[str] | None, typer.Option("--doc", metavar="DOC_ID", help="Ask only this brief (repeatable).")
    ] = None,
    source: Annotated[str | None, typer.Option(metavar="SOURCE", help="Ask only briefs from this source.")] = None,
    published_from: Annotated[
        datetime | None, typer.Option("--from", formats=["%Y-%m-%d"], help="Only briefs published on or after.")
    ] = None,
    published_to: Annotated[
        datetime | None, typer.Option("--to", formats=["%Y-%m-%d"], help="Only briefs published on or before.")
    ] = None,
) -> None:
    """Answer questions with verbatim quotes, or say the article doesn't answer them.

    The model is loaded once for the whole batch. A rejected question (empty, too long, control characters)
    is reported on stderr, the others are still answered, and the exit code is 1.

    \b
    Examples:
      newsqa ask "What did Pakistan demand in Istanbul?"
      newsqa ask --top-k 5 "Who mediated?" "When was the ceasefire agreed?"
      newsqa ask --json --file questions.txt      # one question per line, or JSONL with a "question" field
      echo "Who mediated the talks?" | newsqa ask --json --file -
      newsqa ask --source Reuters --from 2026-10-01 "What did the minister announce?"
    """
    if file is None and not questions:
        ctx.fail("give at least one QUESTION, or --file FILE")
    if published_from and published_to and published_from > published_to:
        raise typer.BadParameter("the date range is backwards: --from is after --to", param_hint="'--from'")
    state = state_of(ctx)
    with core_errors():
        inputs = [QuestionInput(f"argument {n}", q) for n, q in enumerate(questions or [], start=1)]
        problems: list[str] = []
        if file is not None:
            found, problems = questions_from_lines(*read_lines(file))
            inputs += found
        settings = state.settings()
        valid, rejected = split_valid(inputs, settings.max_question_chars)
        for problem in problems + rejected:
            fail(f"skipped {problem}")
        if valid:
            service = state.service(settings)
            where = document_filter(
                doc,
                source,
                published_from.date() if published_from else None,
                published_to.date() if published_to else None,
            )
            for answer in service.ask_many([inputs[i].text for i in valid], top_k, where):
                typer.echo(render_answer(answer, service.prompts, as_json, show_passages=top_k is not None))
        if problems or rejected:
            raise typer.Exit(1)

"""`newsqa`, the command line edge: parse arguments, call QAService, format the answers. Nothing else.

Exit codes: 0 all went well; 1 a question (or gold row) was rejected, an answer was not verbatim, or the core
raised a NewsQAError (one line on stderr, no traceback); 2 usage error (bad option, missing argument).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel, ValidationError
from tqdm import tqdm  # type: ignore[import-untyped]

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
from app.api.schemas import AskResponse, document_filter
from app.api.writer import ReplicaWriteLock
from app.config import Settings, get_settings
from app.errors import InvalidDocumentError, InvalidQuestionError, NewsQAError, validation_message
from app.index.encoders import Encoders, ReferenceLoader, default_reference
from app.index.lifecycle import load_or_build_index
from app.index.search import open_search
from app.ingest.corpus import corpus_has_briefs, read_json_object
from app.ingest.sources import SUPPORTED_SUFFIXES, BriefMetadata, decode, format_of, make_brief, metadata
from app.models import Answer, DocumentChange
from app.prompts import Prompts
from app.service import QAService
from app.text.normalize import terms
from app.text.question import clean_question


def report_progress(stage: str, count: int) -> None:
    """Index-build stages on stderr; tqdm.write keeps them apart from the embedding bars of a large corpus."""
    tqdm.write(f"newsqa: {stage} ({count})", file=sys.stderr)


@dataclass(frozen=True)
class CliState:
    """What the root options decided, handed to every command as `ctx.obj`.

    `load_embedder` is the one seam: tests pass `CliState(load_embedder=...)` as `obj` to reuse a loaded model.
    """

    overrides: Mapping[str, object] = field(default_factory=dict)
    load_embedder: ReferenceLoader = default_reference

    def settings(self, **extra: object) -> Settings:
        return get_settings(**{**self.overrides, **extra})

    def encoders(self) -> Encoders:
        return Encoders(load_reference=self.load_embedder)

    def service(self, settings: Settings) -> QAService:
        return QAService.load(settings, self.encoders(), progress=report_progress)


@dataclass(frozen=True, slots=True)
class QuestionInput:
    """A question and where it came from ("argument 2", "questions.txt:7"), for error messages."""

    where: str
    text: str


def fail(message: str) -> None:
    typer.echo(f"newsqa: {message}", err=True)


@contextmanager
def core_errors() -> Iterator[None]:
    """The CLI's one translation of core errors: a one-line message on stderr and exit code 1."""
    try:
        yield
    except NewsQAError as exc:
        fail(f"error: {exc.message}")
        raise typer.Exit(1) from None
    except ValidationError as exc:  # a NEWSQA_* variable or an option that Settings rejects
        first = exc.errors()[0]
        fail(f"error: invalid setting {'.'.join(str(p) for p in first['loc'])}: {validation_message(first)}")
        raise typer.Exit(1) from None


def read_lines(name: str, param_hint: str = "'--file'") -> tuple[list[str], str]:
    """The lines of a file, or of stdin for "-"; an unreadable file is a usage error of the option or argument
    that named it."""
    if name == "-":
        return sys.stdin.read().removeprefix("\ufeff").split("\n"), "stdin"
    try:
        return Path(name).read_text(encoding="utf-8-sig").split("\n"), name  # a byte-order mark is no text
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {name}: {exc.strerror or exc}", param_hint=param_hint) from None
    except UnicodeDecodeError:
        raise typer.BadParameter(f"cannot read {name}: not UTF-8 text", param_hint=param_hint) from None


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


def split_valid(inputs: Sequence[QuestionInput], max_chars: int) -> tuple[list[int], list[str]]:
    """Positions of the questions the service will accept, and a message for each one it would reject."""
    valid: list[int] = []
    problems: list[str] = []
    for position, item in enumerate(inputs):
        try:
            clean_question(item.text, max_chars)
            valid.append(position)
        except InvalidQuestionError as exc:
            problems.append(f"{item.where}: {exc.message}")
    return valid, problems


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


def render_answer(answer: Answer, prompts: Prompts, as_json: bool, show_passages: bool = False) -> str:
    """One answer for the terminal (or its HTTP body as JSON); `show_passages` lists the supporting passages
    under the quotes (an abstention always lists the closest ones)."""
    if as_json:
        return AskResponse.from_answer(answer).model_dump_json()
    template = "cli_answer.txt" if answer.answered else "cli_abstention.txt"
    return prompts.render(template, answer=answer, show_passages=show_passages) + "\n"


def _configure_logging(verbose: int) -> None:
    """Warnings only by default, -v adds info, -vv debug (third-party libraries included).

    The threshold sits on our stderr handler because some libraries (bm25s) set their own loggers to DEBUG.
    When logging is already configured (an embedding program, pytest), it is left alone.
    """
    threshold = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    if verbose == 0:  # the model loader's "Loading weights" bar is noise for a command-line user
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("newsqa: %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(threshold)
    root.addHandler(handler)
    root.setLevel(threshold)


def _state(ctx: typer.Context) -> CliState:
    state = ctx.obj
    assert isinstance(state, CliState), "the root callback sets ctx.obj"
    return state


app = typer.Typer(
    name="newsqa",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


@app.callback()
def root(
    ctx: typer.Context,
    corpus_dir: Annotated[
        Path | None, typer.Option(metavar="DIR", help="Folder of .txt/.md articles [env NEWSQA_CORPUS_DIR].")
    ] = None,
    index_dir: Annotated[
        Path | None, typer.Option(metavar="DIR", help="Where the index is kept [env NEWSQA_INDEX_DIR].")
    ] = None,
    verbose: Annotated[
        int, typer.Option("-v", "--verbose", count=True, show_default=False, help="Log more (-vv: debug).")
    ] = 0,
) -> None:
    """Answer questions about news articles with verbatim quotes (character offsets included), or abstain.

    \b
    Examples:
      newsqa ask "Where did the first round of talks happen?"
      newsqa ask --json --file questions.txt > answers.jsonl
      newsqa index --force
      newsqa eval tests/data/gold.jsonl
      newsqa --corpus-dir ~/articles --index-dir ~/articles-index serve --port 8080
    """
    _configure_logging(verbose)
    base = ctx.obj if isinstance(ctx.obj, CliState) else CliState()
    given = {"corpus_dir": corpus_dir, "index_dir": index_dir}
    ctx.obj = replace(base, overrides={**base.overrides, **{k: v for k, v in given.items() if v is not None}})


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
    state = _state(ctx)
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


@app.command(short_help="Build or check the index and show what it holds.")
def index(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if the index is up to date.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as one JSON object.")] = False,
) -> None:
    """Build the index if missing or stale (or --force), and show what it holds.

    \b
    Examples:
      newsqa index
      newsqa index --force
      newsqa --corpus-dir ~/articles --index-dir ~/articles-index index --json
    """
    state = _state(ctx)
    with core_errors():
        settings = state.settings()
        prompts = Prompts.load(settings.prompts_dir)
        search = open_search(settings)
        try:
            loaded = load_or_build_index(
                settings, state.encoders(), force=force, progress=report_progress, search=search
            )
        finally:
            search.close()
        build = settings.index_dir / loaded.manifest.build_dir
        if as_json:
            summary = {"rebuilt": loaded.rebuilt, "updated": loaded.updated, "build": str(build),
                       "manifest": loaded.manifest.model_dump()}
            typer.echo(json.dumps(summary, ensure_ascii=False))
        else:
            typer.echo(prompts.render("cli_index.txt", manifest=loaded.manifest, build=build, rebuilt=loaded.rebuilt,
                                      updated=loaded.updated))


def brief_files(paths: Sequence[Path]) -> list[Path]:
    """The files to add: each file given, and every supported file inside each folder given (sorted)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(SUPPORTED_SUFFIXES))
        elif path.is_file():
            found.append(path)
        else:
            raise typer.BadParameter(f"{path}: no such file or folder", param_hint="'PATH'")
    return found


def sidecar_metadata(path: Path) -> BriefMetadata:
    """Metadata from `<file>.meta.json` or `<stem>.meta.json` beside the file, when there is one."""
    for sidecar in (path.with_name(path.name + ".meta.json"), path.with_name(path.stem + ".meta.json")):
        if sidecar.is_file():
            values = read_json_object(sidecar)
            if values is None:
                raise InvalidDocumentError(f"{sidecar}: not a readable JSON object")
            return metadata(values, str(sidecar))
    return BriefMetadata.model_validate({})


@app.command(short_help="Add briefs (.txt, .md, .html files or folders) to the corpus and the index.")
def add(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(metavar="PATH", help="Files, or folders to add every brief of.")],
    source: Annotated[str | None, typer.Option(metavar="SOURCE", help="Source of every brief added.")] = None,
    published: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Publication date of every brief added.")
    ] = None,
    title: Annotated[str | None, typer.Option(help="Title (one file only).")] = None,
    url: Annotated[str | None, typer.Option(help="Original URL (one file only).")] = None,
    doc_id: Annotated[str | None, typer.Option("--doc-id", help="Document id (one file only).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per brief.")] = False,
) -> None:
    """Add briefs, or new versions of them; only the briefs added or changed are embedded.

    Metadata comes from these options, then a `<file>.meta.json` sidecar, then YAML front matter (.txt/.md)
    or the page itself (.html). Adding the same brief again changes nothing; a field left out keeps the value
    stored with the brief. Into a corpus folder that is missing or empty, the first add starts the corpus.

    \b
    Examples:
      newsqa add briefs/                                   # every .txt, .md and .html inside
      newsqa add --source Reuters --published 2026-10-03 storm.html
      newsqa add --doc-id talks-day-3 --title "Talks, day 3" notes.md
    """
    state = _state(ctx)
    with core_errors():
        files = brief_files(paths)
        if not files:
            searched = ", ".join(str(p) for p in paths)
            raise typer.BadParameter(f"no .txt, .md or .html files in {searched}", param_hint="'PATH'")
        if len(files) > 1 and (title or url or doc_id):
            raise typer.BadParameter("--title, --url and --doc-id need exactly one file")
        given = metadata(
            {
                "source": source,
                "published": published.date() if published else None,
                "title": title,
                "url": url,
                "doc_id": doc_id,
            },
            "options",
        )
        now = datetime.now(UTC)
        briefs = [
            make_brief(
                decode(path.read_bytes(), str(path)),
                format_of(path.name),
                given.merged(sidecar_metadata(path)),
                path.stem,
                str(path),
                now,
            )
            for path in files
        ]
        settings = state.settings()
        if settings.search_backend == "builtin" and not corpus_has_briefs(settings.corpus_dir):
            # a first add: the corpus begins with these briefs (the folder is made if missing)
            changes = QAService.start_corpus(settings, briefs, state.encoders(), report_progress)
        else:
            service = state.service(settings)
            with ReplicaWriteLock.from_settings(settings).held():  # NEWSQA_REDIS_URL: in turn with every replica
                changes = service.add_documents(briefs, report_progress)
        for change in changes:
            typer.echo(render_change(change, as_json))


@app.command(short_help="Remove briefs from the corpus and the index.")
def remove(
    ctx: typer.Context,
    doc_ids: Annotated[list[str], typer.Argument(metavar="DOC_ID", help="Ids of the briefs to remove.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per brief.")] = False,
) -> None:
    """Remove briefs; the others keep their vectors.

    \b
    Examples:
      newsqa remove storm                                  # the brief added from storm.html
    """
    state = _state(ctx)
    with core_errors():
        settings = state.settings()
        service = state.service(settings)
        lock = ReplicaWriteLock.from_settings(settings)
        for doc_id in doc_ids:
            with lock.held():
                change = service.remove_document(doc_id)
            typer.echo(render_change(change, as_json))


def render_change(change: DocumentChange, as_json: bool) -> str:
    if as_json:
        return json.dumps({"doc_id": change.doc_id, "status": change.status, "sha256": change.sha256})
    return f"{change.status:<9} {change.doc_id}  sha256 {change.sha256[:12]}"


@app.command(short_help="Run the HTTP API.")
def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(metavar="HOST", help="Address to bind [env NEWSQA_HOST, default 127.0.0.1].")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, metavar="PORT", help="Port to listen on [env NEWSQA_PORT, default 8000]."),
    ] = None,
) -> None:
    """Run the HTTP API with uvicorn (one worker).

    The model and the index load in the background at start-up; /readyz says when they are ready.

    \b
    Examples:
      newsqa serve
      newsqa serve --host 0.0.0.0 --port 8080
    """
    from app.api.server import run_server  # imported here: only `serve` needs FastAPI and uvicorn

    state = _state(ctx)
    with core_errors():
        given = {"host": host, "port": port}
        settings = state.settings(**{k: v for k, v in given.items() if v is not None})
        run_server(settings)


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
    state = _state(ctx)
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


def main() -> None:
    """Console-script entry point (`newsqa`, `python -m app`)."""
    app(prog_name="newsqa")

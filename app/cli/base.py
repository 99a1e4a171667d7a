"""What every `newsqa` command shares: the Typer app and its root options, the settings and service a command
loads (`CliState`), reading a file of lines, refusing a question as the service would, and the one translation
of core errors into a message and an exit code."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from tqdm import tqdm  # type: ignore[import-untyped]

from app.config import Settings, get_settings
from app.errors import InvalidQuestionError, NewsQAError, validation_message
from app.index.encoders import Encoders, ReferenceLoader, default_reference
from app.service import QAService
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


def state_of(ctx: typer.Context) -> CliState:
    """The root callback's CliState, as every command reads it."""
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

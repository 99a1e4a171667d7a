"""`newsqa`, the command line edge: parse arguments, call QAService, format the answers. Nothing else.

One module per command family, registered on the one Typer app of `base` in the order `--help` lists them:
`ask`, `corpus` (index, add, remove), `evaluation` (eval), `serve`.

Exit codes: 0 all went well; 1 a question (or gold row) was rejected, an answer was not verbatim, or the core
raised a NewsQAError (one line on stderr, no traceback); 2 usage error (bad option, missing argument).
"""

from __future__ import annotations

from app.cli import ask, corpus, evaluation, serve  # noqa: F401  (each registers its commands on `app`)
from app.cli.base import CliState, app

__all__ = ["CliState", "app", "main"]


def main() -> None:
    """Console-script entry point (`newsqa`, `python -m app`)."""
    app(prog_name="newsqa")

"""The parts of docs/ generated from the code: the CLI reference (`--help` of every command) and the settings
table (the `Settings` fields, their defaults and descriptions). tests/test_docs.py fails when the docs differ
from what this renders; `make docs` (python -m tests.docs_reference --write) rewrites them.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from pydantic import SecretStr
from pydantic_core import PydanticUndefined
from typer.main import get_command
from typer.testing import CliRunner

from app.cli import app
from app.config import PROJECT_ROOT, Settings

DOCS = PROJECT_ROOT / "docs"
BEGIN = "<!-- generated: {name} (make docs) -->"
END = "<!-- end generated: {name} -->"


def _default(name: str) -> str:
    field = Settings.model_fields[name]
    value = field.default_factory() if field.default is PydanticUndefined and field.default_factory else field.default  # type: ignore[call-arg]
    if value is None or isinstance(value, SecretStr):
        return "unset"
    if isinstance(value, Path):
        return f"`{value.relative_to(PROJECT_ROOT)}/`" if value.is_relative_to(PROJECT_ROOT) else f"`{value}`"
    if isinstance(value, list):
        return f"`{value}`"
    return f"`{value}`"


def settings_table() -> str:
    """Every setting as a Markdown table row: its environment variable, default and description."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        meaning = (field.description or "").replace("|", "\\|")
        rows.append(f"| `NEWSQA_{name.upper()}` | {_default(name)} | {meaning} |")
    return "\n".join(rows)


def cli_reference() -> str:
    """`newsqa --help` and `newsqa COMMAND --help` for every command, as the terminal shows them at 100 columns."""
    runner = CliRunner()
    commands = list(get_command(app).commands)  # type: ignore[attr-defined]
    parts = []
    for command in [None, *commands]:
        args = [command, "--help"] if command else ["--help"]
        result = runner.invoke(app, args, terminal_width=100, env={"COLUMNS": "100", "NO_COLOR": "1"})
        assert result.exit_code == 0, result.output
        title = f"newsqa {command}" if command else "newsqa"
        parts.append(f"### `{title}`\n\n```text\n{result.output.rstrip()}\n```")
    return "\n\n".join(parts)


GENERATED = {"cli.md": ("cli", cli_reference), "configuration.md": ("settings", settings_table)}


def block(text: str, name: str) -> str | None:
    """The generated part of a doc between its markers, or None when the markers are missing."""
    pattern = re.escape(BEGIN.format(name=name)) + r"\n(.*?)\n" + re.escape(END.format(name=name))
    found = re.search(pattern, text, re.DOTALL)
    return found.group(1) if found else None


def rewrite(text: str, name: str, content: str) -> str:
    begin, end = BEGIN.format(name=name), END.format(name=name)
    if block(text, name) is None:
        return f"{text.rstrip()}\n\n{begin}\n{content}\n{end}\n"
    pattern = re.escape(begin) + r"\n.*?\n" + re.escape(end)
    return re.sub(pattern, lambda _: f"{begin}\n{content}\n{end}", text, count=1, flags=re.DOTALL)


def main() -> None:
    if "--write" not in sys.argv:
        raise SystemExit("usage: python -m tests.docs_reference --write")
    for file, (name, render) in GENERATED.items():
        path = DOCS / file
        path.write_text(rewrite(path.read_text(encoding="utf-8"), name, render()), encoding="utf-8")
        print(f"wrote the {name} reference into {path.relative_to(PROJECT_ROOT)}")


if __name__ == "__main__":
    main()

"""Run the examples of README.md and docs/*.md: every ```console block, each `$ command` in it, against a
real server (curl) or the CLI, with the output shown under it checked against what the command prints.

Conventions of a ```console block (docs/operations.md, "Development", gives writers the short form):
- `$ command` lines (a trailing backslash continues the command on the next line) are run by bash in a
  scratch folder holding the example files of tests/data/docs/ and a link to the repository's tests/;
  `http://127.0.0.1:8000` is the test's server, `$KEY` its admin key, `newsqa` the installed CLI.
- The lines under a command are its expected output: JSON (one object, possibly pretty-printed) must match the
  printed JSON field by field ("..." stands for any value, a trailing "..." in a list for more items, numbers
  within 0.01); text must appear line by line, in order ("..." skips lines). `[exit N]` expects exit code N
  (else 0).
```sh blocks are instructions (make, docker, podman), not run here: tests/test_docs.py checks what they name
exists.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FENCE = re.compile(r"^```(\w*)\s*$")
WILDCARD = "..."


@dataclass
class Example:
    """One `$ command` of a doc, with the output it shows."""

    path: Path
    line: int
    command: str
    expected: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        for line in self.expected:
            if found := re.fullmatch(r"\[exit (\d+)\]", line.strip()):
                return int(found.group(1))
        return 0

    @property
    def output(self) -> list[str]:
        return [line for line in self.expected if not re.fullmatch(r"\[exit \d+\]", line.strip())]

    def where(self) -> str:
        return f"{self.path.name}:{self.line}"


def blocks(text: str, language: str) -> list[tuple[int, list[str]]]:
    """(first line number, lines) of every fenced block of that language."""
    found: list[tuple[int, list[str]]] = []
    inside: str | None = None
    start = 0
    lines: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if inside is None:
            if fence := FENCE.match(line):
                inside, start, lines = fence.group(1), number + 1, []
        elif line.startswith("```"):
            if inside == language:
                found.append((start, lines))
            inside = None
        else:
            lines.append(line)
    return found


def examples(path: Path) -> list[Example]:
    out: list[Example] = []
    for start, lines in blocks(path.read_text(encoding="utf-8"), "console"):
        i, first_of_block = 0, len(out)  # output lines belong to a command of this block only
        while i < len(lines):
            line = lines[i]
            if line.startswith("$ "):
                command, number = line[2:], start + i
                while command.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    command = command[:-1] + " " + lines[i].strip()
                out.append(Example(path, number, command))
            elif len(out) > first_of_block and line.strip():
                out[-1].expected.append(line)
            i += 1
    return out


def matches(expected: Any, actual: Any, where: str = "$") -> list[str]:
    """Where `actual` departs from the fields `expected` shows (empty when it matches)."""
    if expected == WILDCARD:
        return []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {actual!r}"]
        problems = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{where}.{key}: missing")
            else:
                problems += matches(value, actual[key], f"{where}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{where}: expected a list, got {actual!r}"]
        open_ended = bool(expected) and expected[-1] == WILDCARD
        items = expected[:-1] if open_ended else expected
        if len(actual) < len(items) or (not open_ended and len(actual) != len(items)):
            return [f"{where}: {len(actual)} items, the doc shows {len(items)}{' or more' if open_ended else ''}"]
        return [p for i, item in enumerate(items) for p in matches(item, actual[i], f"{where}[{i}]")]
    if isinstance(expected, float) and isinstance(actual, int | float) and not isinstance(actual, bool):
        return [] if abs(expected - actual) <= 0.01 else [f"{where}: {actual} (the doc shows {expected})"]
    return [] if expected == actual else [f"{where}: {actual!r} (the doc shows {expected!r})"]


def check_output(example: Example, stdout: str, combined: str) -> list[str]:
    """What is wrong with a command's output against the doc (empty when nothing)."""
    shown = "\n".join(example.output).strip()
    if not shown:
        return []
    if shown.startswith(("{", "[")):
        try:
            expected = json.loads(shown)
        except json.JSONDecodeError as exc:
            return [f"the doc's JSON does not parse: {exc}"]
        text = stdout.strip()
        try:
            actual = json.loads(text)
        except json.JSONDecodeError:
            try:
                actual = json.loads(text.splitlines()[0]) if text else None
            except json.JSONDecodeError:
                return [f"the command printed no JSON: {text[:300]!r}"]
        return matches(expected, actual)
    printed = [line.rstrip() for line in combined.splitlines()]
    at = 0
    for line in example.output:
        if line.strip() == WILDCARD:
            continue
        pattern = re.compile(".*".join(re.escape(part) for part in line.rstrip().split(WILDCARD)))
        at = next((i + 1 for i in range(at, len(printed)) if pattern.fullmatch(printed[i])), -1)
        if at < 0:
            return [f"line not printed (in order): {line!r}\n--- printed:\n{combined}"]
    return []


@dataclass
class Ran:
    example: Example
    exit_code: int
    stdout: str
    combined: str

    def problems(self) -> list[str]:
        found = check_output(self.example, self.stdout, self.combined)
        if self.exit_code != self.example.exit_code:
            found.insert(0, f"exit code {self.exit_code}, the doc expects {self.example.exit_code}")
        return found


def run(example: Example, url: str, env: dict[str, str], workdir: Path, timeout: float = 300) -> Ran:
    """Run one example with bash in `workdir`, against the server at `url`."""
    import subprocess

    command = example.command.replace("http://127.0.0.1:8000", url)
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], cwd=workdir, env=env, capture_output=True, text=True,
        timeout=timeout, check=False,
    )
    return Ran(example, done.returncode, done.stdout, done.stdout + done.stderr)

"""The docs cannot drift: every console example of README.md and docs/ runs against a real server (or the CLI)
and prints what the doc shows; the CLI reference and the settings table are what the code renders; the README
stays a front door; every make target, file and link the docs name exists."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from app.api.app import create_app
from app.config import PROJECT_ROOT, get_settings
from app.embed.reference import Embedder
from app.index.encoders import Encoders
from app.service import QAService
from tests.docs_examples import blocks, examples, run
from tests.docs_reference import GENERATED, block
from tests.support import copy_folders, running_uvicorn

README = PROJECT_ROOT / "README.md"
DOC_FILES = [README, *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
WITH_EXAMPLES = [p for p in DOC_FILES if examples(p)]
EXAMPLE_FILES = Path(__file__).parent / "data" / "docs"
KEY = "docs-example-key"
README_LIMIT = 12 * 1024


@pytest.fixture
def live(article_index: Path, tmp_path: Path, embedder: Embedder) -> Iterator[tuple[str, dict[str, str], Path]]:
    """A server on a copy of the default article (admin key $KEY), the environment the examples run in (the
    CLI on the same folders) and their scratch folder."""
    root = copy_folders(article_index, tmp_path / "root")
    settings = get_settings(
        corpus_dir=root / "corpus", index_dir=root / "index", admin_api_key=SecretStr(KEY), reload_seconds=0.2,
        rate_limit="off",
    )
    work = tmp_path / "work"
    shutil.copytree(EXAMPLE_FILES, work)
    (work / "tests").symlink_to(PROJECT_ROOT / "tests")
    env = {
        **os.environ,
        "PATH": f"{PROJECT_ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
        "HF_HUB_OFFLINE": "1",
        "NEWSQA_CORPUS_DIR": str(root / "corpus"),
        "NEWSQA_INDEX_DIR": str(root / "index"),
        "NEWSQA_RELOAD_SECONDS": "0",
        "KEY": KEY,
        "COLUMNS": "100",
    }
    service = QAService.load(settings, encoders=Encoders(embedder))
    with running_uvicorn(create_app(settings, service=service)) as url:
        yield url, env, work


@pytest.mark.e2e
@pytest.mark.parametrize("doc", WITH_EXAMPLES, ids=[p.name for p in WITH_EXAMPLES])
def test_every_console_example_prints_what_the_doc_shows(doc: Path, live: tuple[str, dict[str, str], Path]) -> None:
    url, env, work = live
    failures = []
    for example in examples(doc):
        ran = run(example, url, env, work)
        if problems := ran.problems():
            failures.append(f"{example.where()}: $ {example.command}\n  " + "\n  ".join(problems))
    assert not failures, "\n\n".join(failures)


def test_the_output_checks_catch_what_differs() -> None:
    """The checker itself (a unit test of tests/docs_examples.py, on made-up outputs)."""
    from tests.docs_examples import Example, check_output, matches

    assert matches({"a": 1, "b": [1, "..."], "c": "..."}, {"a": 1, "b": [1, 2, 3], "c": {"x": 1}, "d": 0}) == []
    assert matches({"a": 0.5}, {"a": 0.52})  # beyond 0.01
    assert matches({"a": [1, 2]}, {"a": [1, 2, 3]})  # a closed list must have exactly its items
    assert matches({"a": 1}, {}) == ["$.a: missing"]
    text = Example(Path("x.md"), 1, "cmd", ["first ... line", "...", "last"])
    assert check_output(text, "", "first of all line\nmiddle\nlast\n") == []
    assert check_output(text, "", "last\nfirst x line\n")  # out of order


def test_the_readme_and_the_cli_and_api_docs_have_examples() -> None:
    names = {p.name for p in WITH_EXAMPLES}
    assert {"README.md", "api.md", "cli.md", "briefs.md"} <= names, names


@pytest.mark.parametrize("file", sorted(GENERATED))
def test_generated_references_match_the_code(file: str) -> None:
    name, render = GENERATED[file]
    shown = block((PROJECT_ROOT / "docs" / file).read_text(encoding="utf-8"), name)
    assert shown is not None, f"docs/{file} lacks its generated {name} block"
    assert shown == render(), f"docs/{file} differs from the code: run `make docs`"


def test_the_readme_is_a_front_door() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.encode("utf-8")) <= README_LIMIT
    first_block = blocks(text, "sh")[0][1]
    assert first_block[:2] == ["make run    # set up and serve the default article on http://127.0.0.1:8000",
                               "make test   # set up and run every check"][: len(first_block[:2])]


@pytest.mark.parametrize("doc", DOC_FILES, ids=[p.name for p in DOC_FILES])
def test_what_the_docs_name_exists(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    assert "../shared" not in text  # users get the repository alone
    targets = set(re.findall(r"^([a-z][a-z-]*):", (PROJECT_ROOT / "Makefile").read_text(), re.MULTILINE))
    for _, lines in blocks(text, "sh"):
        for line in lines:
            for target in re.findall(r"\bmake ([a-z][a-z-]*)", line):
                assert target in targets, f"{doc.name}: `make {target}` is not a Makefile target"
    prose = re.sub(r"`[^`\n]*`", "", text)  # a link inside a code span is an example, not a link
    for link in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", prose):
        if not re.match(r"[a-z]+:", link):
            assert (doc.parent / link).exists(), f"{doc.name}: link to {link}, which does not exist"

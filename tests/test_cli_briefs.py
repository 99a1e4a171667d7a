"""`newsqa add`, `newsqa remove` and `newsqa ask` filters, in-process over a private copy of the corpus and index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from app.api.schemas import AskResponse
from app.cli import CliState, app
from app.embed.reference import Embedder
from tests.support import DOC_ID, copy_folders

STORM_MD = """---
source: Coast Weekly
published: 2026-10-02
---
# Storm closes the harbour
The harbour master closed the port on Thursday after waves reached six metres.
"""
FERRY_TXT = "Ferry Strike Ends\nFerry crews returned to work on Monday after a three-day strike over pay.\n"
STORM_HTML = """<html><head><title>Gale warning | Daily Planet</title>
<meta property="og:site_name" content="Daily Planet"><meta property="article:published_time" content="2026-10-05">
</head><body><nav>Home | World | Sport</nav><article><h1>Gale warning for the coast</h1>
<p>Forecasters issued a gale warning for the whole northern coast for the weekend, with gusts of 90 km/h.</p>
</article><footer>Subscribe to the Daily Planet</footer></body></html>"""


@pytest.fixture
def root(article_index: Path, tmp_path: Path) -> Path:
    return copy_folders(article_index, tmp_path)


def run(root: Path, embedder: Embedder, *args: str) -> Result:
    options = ["--corpus-dir", str(root / "corpus"), "--index-dir", str(root / "index")]
    result = CliRunner().invoke(app, [*options, *args], obj=CliState(load_embedder=lambda _s: embedder))
    assert "Traceback" not in result.stderr
    return result


def briefs_folder(root: Path) -> Path:
    folder = root / "incoming"
    (folder / "nested").mkdir(parents=True)
    (folder / "storm.md").write_text(STORM_MD, encoding="utf-8")
    (folder / "nested" / "ferry.txt").write_text(FERRY_TXT, encoding="utf-8")
    (folder / "nested" / "ferry.txt.meta.json").write_text('{"source": "Harbour Desk"}', encoding="utf-8")
    (folder / "gale.html").write_text(STORM_HTML, encoding="utf-8")
    (folder / "notes.pdf").write_bytes(b"%PDF")  # not a brief: skipped inside a folder
    return folder


def test_add_a_folder_then_again_is_a_no_op(root: Path, embedder: Embedder) -> None:
    folder = briefs_folder(root)
    first = run(root, embedder, "add", "--json", str(folder))
    assert first.exit_code == 0, first.stderr
    changes = [json.loads(line) for line in first.stdout.splitlines()]
    assert sorted(c["status"] for c in changes) == ["added", "added", "added"]
    assert {c["doc_id"] for c in changes} == {"storm", "ferry", "gale"}  # ids from the file names
    stored = {p.name for p in (root / "corpus").iterdir()}
    assert {"storm.md", "ferry.txt", "gale.md", "storm.meta.json", "ferry.meta.json", "gale.meta.json"} <= stored
    assert (root / "corpus" / "storm.md").read_text(encoding="utf-8").startswith("# Storm closes the harbour")
    again = run(root, embedder, "add", "--json", str(folder))
    assert [json.loads(line)["status"] for line in again.stdout.splitlines()] == ["unchanged"] * 3


def test_added_briefs_answer_with_their_metadata_and_filters_apply(root: Path, embedder: Embedder) -> None:
    run(root, embedder, "add", str(briefs_folder(root)))
    result = run(root, embedder, "ask", "--json", "When did ferry crews return to work?")
    answer = AskResponse.model_validate_json(result.stdout)
    assert answer.answered and answer.quotes[0].source == "Harbour Desk"
    stored = (root / "corpus" / f"{answer.quotes[0].doc_id}.txt").read_text(encoding="utf-8")
    assert stored[answer.quotes[0].start : answer.quotes[0].end] == answer.quotes[0].text
    storm = run(root, embedder, "ask", "--json", "--source", "coast weekly", "Why was the port closed?")
    quote = AskResponse.model_validate_json(storm.stdout).quotes[0]
    assert (quote.source, quote.published) == ("Coast Weekly", "2026-10-02")
    article_only = run(root, embedder, "ask", "--json", "--doc", DOC_ID, "Why was the port closed?")
    assert all(p.doc_id == DOC_ID for p in AskResponse.model_validate_json(article_only.stdout).passages)
    later = run(root, embedder, "ask", "--json", "--from", "2026-10-04", "Is a gale expected?")
    assert {p.source for p in AskResponse.model_validate_json(later.stdout).passages} == {"Daily Planet"}


def test_a_brief_without_headings_is_cited_without_an_empty_section(root: Path, embedder: Embedder) -> None:
    """A brief whose body has no heading line has no section: its citation line ends at the offsets (or goes on
    to the source), with no dangling " · " where the section would be."""
    brief = root / "ferry-note.txt"
    brief.write_text("The Lindmoor ferry resumed service on Tuesday after a week of repairs.\n", encoding="utf-8")
    assert run(root, embedder, "add", "--source", "Valley Courier", str(brief)).exit_code == 0
    result = run(root, embedder, "ask", "--doc", "ferry-note", "When did the Lindmoor ferry resume service?")
    citation = next(line for line in result.stdout.splitlines() if line.strip().startswith("— ferry-note["))
    assert "·  ·" not in citation and not citation.rstrip().endswith("·"), citation
    assert citation.strip().endswith("· Valley Courier"), citation


def test_a_first_add_starts_a_corpus_in_a_missing_folder(tmp_path: Path, embedder: Embedder) -> None:
    """`newsqa add` needs no corpus to exist: the first briefs begin one (they failed with "corpus folder not
    found" or "no .txt or .md documents" until 2026-12-07). A brief with nothing to quote leaves no file behind."""
    root = tmp_path / "newsroom"
    title_only = tmp_path / "title.txt"
    title_only.write_text("Only A Title\n", encoding="utf-8")
    refused = run(root, embedder, "add", str(title_only))
    assert refused.exit_code == 1 and "no sentence to quote" in refused.stderr, refused.stderr
    assert not (root / "corpus").exists() or not any((root / "corpus").iterdir())
    folder = briefs_folder(tmp_path)
    added = run(root, embedder, "add", "--json", str(folder))
    assert added.exit_code == 0, added.stderr
    assert sorted(json.loads(line)["status"] for line in added.stdout.splitlines()) == ["added"] * 3
    answer = AskResponse.model_validate_json(run(root, embedder, "ask", "--json", "Why was the port closed?").stdout)
    assert answer.answered and answer.quotes[0].doc_id == "storm"
    again = run(root, embedder, "add", "--json", str(folder))  # now an ordinary add to the corpus begun
    assert [json.loads(line)["status"] for line in again.stdout.splitlines()] == ["unchanged"] * 3
    # an empty corpus folder beside that index is a mistake (a volume that did not mount), not a new corpus:
    # beginning one there would replace the index of the three briefs
    ferry = tmp_path / "ferry-note.txt"
    ferry.write_text("The Lindmoor ferry resumed service on Tuesday.\n", encoding="utf-8")
    elsewhere = CliRunner().invoke(
        app, ["--corpus-dir", str(tmp_path / "unmounted"), "--index-dir", str(root / "index"), "add", str(ferry)],
        obj=CliState(load_embedder=lambda _s: embedder),
    )
    assert elsewhere.exit_code == 1 and "holds an index of briefs" in elsewhere.stderr, elsewhere.stderr
    still = AskResponse.model_validate_json(run(root, embedder, "ask", "--json", "Why was the port closed?").stdout)
    assert still.answered and still.quotes[0].doc_id == "storm"


def test_options_override_file_metadata_and_need_one_file(root: Path, embedder: Embedder) -> None:
    path = root / "ferry.txt"
    path.write_text(FERRY_TXT, encoding="utf-8")
    result = run(root, embedder, "add", "--doc-id", "ferry-1", "--source", "Port Radio", "--published",
                 "2026-09-30", str(path))
    assert result.exit_code == 0, result.stderr
    meta = json.loads((root / "corpus" / "ferry-1.meta.json").read_text(encoding="utf-8"))
    assert (meta["source"], meta["published"]) == ("Port Radio", "2026-09-30")
    two = run(root, embedder, "add", "--doc-id", "x", str(path), str(path))
    assert two.exit_code == 2 and "exactly one file" in two.stderr


def test_adding_a_brief_again_without_its_options_keeps_its_metadata(root: Path, embedder: Embedder) -> None:
    # "Adding the same brief again changes nothing": a second add that leaves --source and --published out
    # must not erase them (the source and date filters would lose the brief); a field given again replaces
    path = _write(root / "ferry.txt", FERRY_TXT)
    first = run(root, embedder, "add", "--json", "--source", "Port Radio", "--published", "2026-09-30", str(path))
    assert first.exit_code == 0, first.stderr
    again = run(root, embedder, "add", "--json", str(path))
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["status"] == "unchanged"
    meta = json.loads((root / "corpus" / "ferry.meta.json").read_text(encoding="utf-8"))
    assert (meta["source"], meta["published"]) == ("Port Radio", "2026-09-30")
    moved = run(root, embedder, "add", "--json", "--published", "2026-10-01", str(path))
    assert json.loads(moved.stdout)["status"] == "updated"
    meta = json.loads((root / "corpus" / "ferry.meta.json").read_text(encoding="utf-8"))
    assert (meta["source"], meta["published"]) == ("Port Radio", "2026-10-01")
    # another article saved under the same name keeps nothing of the first one's metadata
    _write(path, "Harbour Bridge Reopens\nThe harbour bridge reopened to traffic on Friday after repairs.\n")
    other = run(root, embedder, "add", "--json", str(path))
    assert json.loads(other.stdout)["status"] == "replaced", other.stderr
    meta = json.loads((root / "corpus" / "ferry.meta.json").read_text(encoding="utf-8"))
    assert meta.get("source") is None and meta.get("published") is None


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [("report.pdf", b"%PDF", "unsupported file type"), ("bad.txt", b"\xff\xfe\xfa", "not UTF-8")],
)
def test_bad_files_fail_with_one_line(root: Path, embedder: Embedder, name: str, content: bytes, message: str) -> None:
    path = root / name
    path.write_bytes(content)
    result = run(root, embedder, "add", str(path))
    assert result.exit_code == 1
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_missing_path_is_a_usage_error(root: Path, embedder: Embedder) -> None:
    result = run(root, embedder, "add", str(root / "nowhere"))
    assert result.exit_code == 2 and "no such file or folder" in result.stderr


def test_remove(root: Path, embedder: Embedder) -> None:
    run(root, embedder, "add", "--doc-id", "ferry", str(_write(root / "f.txt", FERRY_TXT)))
    result = run(root, embedder, "remove", "ferry")
    assert result.exit_code == 0 and result.stdout.startswith("removed")
    assert not (root / "corpus" / "ferry.txt").exists() and not (root / "corpus" / "ferry.meta.json").exists()
    unknown = run(root, embedder, "remove", "ferry")
    assert unknown.exit_code == 1 and "no document with id 'ferry'" in unknown.stderr
    last = run(root, embedder, "remove", DOC_ID)
    assert last.exit_code == 1 and "at least one document" in last.stderr


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path

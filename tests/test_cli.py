"""The `newsqa` command line over the real model and the session's index: output, batches, exit codes.

Most tests run the Typer app in-process with the session's corpus and index folders passed as options, and
hand it the session's loaded model through `CliState`, so nothing is built or loaded twice. Two tests run a
real process (`python -m app`) to prove the entry point and `serve` work end to end.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from app.answer.evaluate import EvalReport, evaluate, parse_gold
from app.api.schemas import AskResponse
from app.cli import CliState, app
from app.config import PROJECT_ROOT, Settings
from app.embed.reference import Embedder
from app.service import QAService
from tests.support import NOT_IN_ARTICLE, free_port

GOLD = PROJECT_ROOT / "tests" / "data" / "gold.jsonl"
ANSWERED = "What did Pakistan's proposed framework include?"
ANSWERED_TOO = "Where did the first round of talks happen?"
Invoke = Callable[..., Result]


@pytest.fixture(scope="module")
def state(embedder: Embedder) -> CliState:
    return CliState(load_embedder=lambda _settings: embedder)


def dir_options(settings: Settings, index_dir: Path | None = None) -> list[str]:
    return ["--corpus-dir", str(settings.corpus_dir), "--index-dir", str(index_dir or settings.index_dir)]


@pytest.fixture
def newsqa(settings: Settings, service: QAService, state: CliState) -> Invoke:
    """Run `newsqa --corpus-dir … --index-dir … ARGS` in-process (`service` ensures the index is built)."""

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(app, [*dir_options(settings), *args], input=input, obj=state)

    return invoke


def json_lines(result: Result) -> list[AskResponse]:
    return [AskResponse.model_validate_json(line) for line in result.stdout.splitlines()]


def assert_verbatim(response: AskResponse, article: str) -> None:
    for item in [*response.quotes, *response.passages]:
        assert item.text == article[item.start : item.end]


def assert_clean_exit(result: Result, code: int) -> None:
    """The exit code is `code` and nothing escaped as a traceback."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.stderr


def test_ask_json_is_one_http_body_per_line_with_verbatim_offsets(
    newsqa: Invoke, service: QAService, article_text: str
) -> None:
    result = newsqa("ask", "--json", ANSWERED, NOT_IN_ARTICLE)
    assert_clean_exit(result, 0)
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    expected = [AskResponse.from_answer(a).model_dump_json() for a in service.ask_many([ANSWERED, NOT_IN_ARTICLE])]
    assert lines == expected
    for line in lines:
        body = json.loads(line)
        assert set(body) == set(AskResponse.model_fields)
        assert_verbatim(AskResponse.model_validate(body), article_text)
    answered, abstained = json_lines(result)
    assert answered.answered and answered.quotes and answered.message is None
    assert not abstained.answered and not abstained.quotes and abstained.message


def test_top_k_sets_how_many_passages_come_back(newsqa: Invoke) -> None:
    result = newsqa("ask", "--json", "--top-k", "5", ANSWERED)
    assert_clean_exit(result, 0)
    assert len(json_lines(result)[0].passages) == 5


def test_top_k_lists_that_many_supporting_passages_under_the_quotes(newsqa: Invoke, service: QAService) -> None:
    answer = service.ask(ANSWERED_TOO, top_k=4)
    assert answer.answered, "precondition: the service answers this question"
    result = newsqa("ask", "--top-k", "4", ANSWERED_TOO)
    assert_clean_exit(result, 0)
    listed = result.stdout.split("supporting passages:\n", 1)[1]
    for number, passage in enumerate(answer.passages, start=1):
        assert f"[{number}] {passage.doc_id}[{passage.start}:{passage.end}] · {passage.section}\n" in listed
    assert "[5]" not in listed
    assert "supporting passages" not in newsqa("ask", ANSWERED_TOO).stdout  # without the flag: quotes only


def test_human_output_shows_each_quote_with_its_offsets(newsqa: Invoke, service: QAService) -> None:
    answer = service.ask(ANSWERED_TOO)
    assert answer.answered, "precondition: the service answers this question"
    result = newsqa("ask", ANSWERED_TOO)
    assert_clean_exit(result, 0)
    assert result.stdout.startswith(f"Q: {answer.question}\n")
    for quote in answer.quotes:
        assert f"> {quote.text}\n" in result.stdout
        assert f"{quote.doc_id}[{quote.start}:{quote.end}]" in result.stdout
    assert f"confidence {answer.confidence:.2f}" in result.stdout


def test_human_output_of_an_abstention_gives_the_message_and_closest_passages(
    newsqa: Invoke, service: QAService
) -> None:
    answer = service.ask(NOT_IN_ARTICLE)
    assert not answer.answered and answer.message, "precondition: the service abstains on this question"
    result = newsqa("ask", NOT_IN_ARTICLE)
    assert_clean_exit(result, 0)
    assert answer.message in result.stdout
    assert "The article doesn't say." in result.stdout
    for passage in answer.passages:
        assert f"(not an answer): {passage.doc_id}[{passage.start}:{passage.end}]" in result.stdout


def test_file_of_plain_lines_skips_blank_lines(newsqa: Invoke, tmp_path: Path) -> None:
    questions = tmp_path / "questions.txt"
    questions.write_text(f"{ANSWERED}\n\n   \n  {NOT_IN_ARTICLE}  \n", encoding="utf-8")
    result = newsqa("ask", "--json", "--file", str(questions))
    assert_clean_exit(result, 0)
    assert [r.question for r in json_lines(result)] == [ANSWERED, NOT_IN_ARTICLE]


def test_file_of_jsonl_uses_the_question_field_and_may_mix_in_plain_lines(newsqa: Invoke, tmp_path: Path) -> None:
    questions = tmp_path / "questions.jsonl"
    rows = [
        json.dumps({"id": "x1", "question": ANSWERED, "evidence": []}),
        NOT_IN_ARTICLE,
        json.dumps({"question": ANSWERED_TOO}),
    ]
    questions.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = newsqa("ask", "--json", "-f", str(questions))
    assert_clean_exit(result, 0)
    assert [r.question for r in json_lines(result)] == [ANSWERED, NOT_IN_ARTICLE, ANSWERED_TOO]


def test_file_dash_reads_stdin_after_the_argument_questions(newsqa: Invoke) -> None:
    result = newsqa(
        "ask", "--json", "--file", "-", ANSWERED, input=f'{NOT_IN_ARTICLE}\n\n{{"question": "{ANSWERED_TOO}"}}\n'
    )
    assert_clean_exit(result, 0)
    assert [r.question for r in json_lines(result)] == [ANSWERED, NOT_IN_ARTICLE, ANSWERED_TOO]


def test_an_invalid_question_is_reported_and_the_others_still_answered(newsqa: Invoke) -> None:
    result = newsqa("ask", "--json", ANSWERED, "   ", "x" * 501, "bad\x01char")
    assert_clean_exit(result, 1)
    assert [r.question for r in json_lines(result)] == [ANSWERED]
    problems = result.stderr.splitlines()
    assert problems == [
        "newsqa: skipped argument 2: the question is empty",
        "newsqa: skipped argument 3: the question is 501 characters long; the limit is 500",
        "newsqa: skipped argument 4: the question contains control characters (U+0001)",
    ]


def test_bad_jsonl_lines_are_reported_with_their_line_number(newsqa: Invoke, tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(f'{{"q": "no question field"}}\n{{broken\n{ANSWERED}\n', encoding="utf-8")
    result = newsqa("ask", "--json", "--file", str(questions))
    assert_clean_exit(result, 1)
    assert [r.question for r in json_lines(result)] == [ANSWERED]
    assert f'{questions}:1: a JSON line needs a "question" string' in result.stderr
    assert f"{questions}:2: not valid JSON" in result.stderr


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (f'[{{"question": "{ANSWERED}"}}]\n', "a JSON array"),
        (f'[\n  {{"question": "{ANSWERED}"}},\n  "Who?"\n]\n', "a JSON array"),
        (f'[\n  {{"question": "{ANSWERED}"}},\n]\n', "looks like a JSON array but does not parse"),  # a trailing comma
    ],
)
def test_a_json_array_file_is_refused_not_asked_as_a_question(
    newsqa: Invoke, tmp_path: Path, content: str, problem: str
) -> None:
    # a .json file holding an array, on one line or pretty-printed: asked line by line, its brackets and
    # objects would be questions ("[{"question": ...}]" was answered with a quote)
    questions = tmp_path / "questions.json"
    questions.write_text(content, encoding="utf-8")
    result = newsqa("ask", "--json", "--file", str(questions))
    assert_clean_exit(result, 1)
    assert result.stdout == ""
    assert result.stderr == (
        f'newsqa: skipped {questions}: {problem}; give one question per line, or JSONL with a "question" field\n'
    )


def test_brackets_nested_past_the_stack_are_a_skipped_line_not_a_traceback(newsqa: Invoke, tmp_path: Path) -> None:
    questions = tmp_path / "questions.txt"
    questions.write_text("[" * 100_000 + "\n", encoding="utf-8")
    result = newsqa("ask", "--json", "--file", str(questions))
    assert_clean_exit(result, 1)
    assert result.stderr.startswith(f"newsqa: skipped {questions}:1:") and "Traceback" not in result.stderr


def test_a_question_starting_with_a_bracket_is_still_a_question(newsqa: Invoke, tmp_path: Path) -> None:
    result = newsqa("ask", "--json", "--file", "-", input=f"[Update] {ANSWERED}\n")
    assert_clean_exit(result, 0)
    assert [r.question for r in json_lines(result)] == [f"[Update] {ANSWERED}"]
    # a file saved with a byte-order mark: the mark is no part of its first question
    marked = tmp_path / "questions.txt"
    marked.write_bytes(b"\xef\xbb\xbf" + ANSWERED.encode("utf-8") + b"\n")
    assert [r.question for r in json_lines(newsqa("ask", "--json", "--file", str(marked)))] == [ANSWERED]
    # a file of questions whose first one opens with brackets is still a file of questions
    quoted = tmp_path / "quoted.txt"
    quoted.write_text(f'["We will not yield" – who said it?]\n{ANSWERED}\n', encoding="utf-8")
    assert [r.question for r in json_lines(newsqa("ask", "--json", "--file", str(quoted)))][1:] == [ANSWERED]


def test_only_invalid_questions_exit_1_with_no_output(newsqa: Invoke) -> None:
    result = newsqa("ask", "--json", "")
    assert_clean_exit(result, 1)
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args",
    [["ask"], ["ask", "--top-k", "11", ANSWERED], ["ask", "--file", "/no/such/file"], ["eval", "/no/such/gold.jsonl"]],
)
def test_usage_errors_exit_2(newsqa: Invoke, args: list[str]) -> None:
    result = newsqa(*args)
    assert_clean_exit(result, 2)
    assert "Usage:" in result.stderr


def test_a_backwards_date_range_is_a_usage_error_named_by_the_flags(newsqa: Invoke) -> None:
    result = newsqa("ask", "--from", "2026-01-01", "--to", "2025-01-01", ANSWERED)
    assert_clean_exit(result, 2)
    assert "--from is after --to" in result.stderr and "published_from" not in result.stderr


def test_an_unreadable_gold_file_is_named_as_the_gold_argument(newsqa: Invoke, tmp_path: Path) -> None:
    binary = tmp_path / "gold.jsonl"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    result = newsqa("eval", str(binary))
    assert_clean_exit(result, 2)
    assert "Invalid value for 'GOLD'" in result.stderr and "not UTF-8 text" in result.stderr, result.stderr


@pytest.mark.parametrize("command", [["ask", ANSWERED], ["index"]])
def test_a_core_error_is_one_line_on_stderr_and_exit_1(state: CliState, tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "no-corpus"
    args = ["--corpus-dir", str(missing), "--index-dir", str(tmp_path / "index"), *command]
    result = CliRunner().invoke(app, args, obj=state)
    assert_clean_exit(result, 1)
    assert result.stderr == f"newsqa: error: corpus folder not found: {missing}\n"
    assert result.stdout == ""
    assert not (tmp_path / "index").exists()  # a mistyped --corpus-dir leaves no index folder behind


def test_index_builds_then_loads_then_rebuilds_on_force(settings: Settings, state: CliState, tmp_path: Path) -> None:
    def index(*args: str) -> Result:
        return CliRunner().invoke(app, [*dir_options(settings, tmp_path / "index"), "index", *args], obj=state)

    built = index()
    assert_clean_exit(built, 0)
    assert built.stdout.startswith("Built a new index.")
    assert "embedding sentences" in built.stderr
    loaded = index("--json")
    assert_clean_exit(loaded, 0)
    summary = json.loads(loaded.stdout)
    assert summary["rebuilt"] is False
    assert Path(summary["build"]).is_dir()
    assert Path(summary["build"]).parent == tmp_path / "index"
    counts = summary["manifest"]["counts"]
    assert counts["documents"] == 1 and counts["sentences"] > 0 and counts["passages"] > 0
    assert f"passages    {counts['passages']}\n" in built.stdout
    assert "vectors     sentences: flat, passages: flat" in built.stdout
    assert str(summary["build"]) in built.stdout
    forced = index("--force", "--json")
    assert_clean_exit(forced, 0)
    assert json.loads(forced.stdout)["rebuilt"] is True
    assert json.loads(forced.stdout)["build"] != summary["build"]


def test_index_after_the_corpus_changed_says_it_updated(settings: Settings, state: CliState, tmp_path: Path) -> None:
    """A changed corpus is caught up on by embedding only the changed briefs: the summary says so, not "nothing
    rebuilt" (which it printed after the update until 2026-12-07)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for brief in settings.corpus_dir.glob("*.txt"):
        shutil.copy(brief, corpus / brief.name)
    options = ["--corpus-dir", str(corpus), "--index-dir", str(tmp_path / "index"), "index"]
    assert_clean_exit(CliRunner().invoke(app, options, obj=state), 0)
    (corpus / "harbour-note.txt").write_text("Harbour Note\n\nThe harbour reopened on Monday after repairs.\n",
                                             encoding="utf-8")
    updated = CliRunner().invoke(app, [*options, "--json"], obj=state)
    assert_clean_exit(updated, 0)
    summary = json.loads(updated.stdout)
    assert summary["rebuilt"] is False and summary["updated"] is True
    assert summary["manifest"]["counts"]["documents"] == 2
    again = CliRunner().invoke(app, options, obj=state)
    assert_clean_exit(again, 0)
    assert again.stdout.startswith("The index is up to date (loaded and verified, nothing rebuilt).")
    (corpus / "harbour-note.txt").unlink()
    removed = CliRunner().invoke(app, options, obj=state)
    assert_clean_exit(removed, 0)
    assert removed.stdout.startswith("Updated the index (only the changed briefs were embedded).")


def test_eval_prints_every_metric_for_the_gold_file(newsqa: Invoke) -> None:
    result = newsqa("eval", str(GOLD))
    assert_clean_exit(result, 0)
    for label in (
        "recall@1",
        "recall@3",
        "recall@5",
        "MRR@10",
        "answer quote correct",
        "false abstention",
        "out-of-scope abstained",
        "not verbatim (must be 0)  0\n",
        "score: R@1=",
    ):
        assert label in result.stdout
    assert "in-scope questions        40\n" in result.stdout
    assert "out-of-scope questions    20\n" in result.stdout


def test_eval_fails_under_a_missed_target_and_passes_one_that_is_met(newsqa: Invoke) -> None:
    report = json.loads(newsqa("eval", "--json", str(GOLD)).stdout)
    quote, false_abstention = report["quote_accuracy"], report["false_abstention"]
    met = newsqa(
        "eval", "--fail-under", f"quote_accuracy={quote}", "--fail-over", f"false_abstention={false_abstention}",
        str(GOLD),
    )
    assert_clean_exit(met, 0)
    missed = newsqa(
        "eval", "--fail-under", f"quote_accuracy={quote + 0.001}", "--fail-under", "recall_at_3=0", str(GOLD)
    )
    assert missed.exit_code == 1
    assert f"target missed: quote_accuracy = {quote:.3f}, target >= {quote + 0.001:g}" in missed.stderr
    assert "recall_at_3" not in missed.stderr  # only the missed one is named
    over = newsqa("eval", "--fail-over", "false_abstention=-1", str(GOLD))
    assert over.exit_code == 1 and "target missed: false_abstention" in over.stderr


@pytest.mark.parametrize(
    ("option", "target", "message"),
    [
        ("--fail-under", "bogus=1", "not a figure of this report"),
        ("--fail-under", "false_abstention=0.1", "lower is better"),
        ("--fail-over", "quote_accuracy=0.1", "higher is better"),
        ("--fail-under", "quote_accuracy=high", "not a number"),
        ("--fail-under", "quote_accuracy", "expected METRIC=VALUE"),
    ],
)
def test_eval_targets_are_checked_before_anything_runs(
    newsqa: Invoke, option: str, target: str, message: str
) -> None:
    result = newsqa("eval", option, target, str(GOLD))
    assert result.exit_code == 2
    assert message in result.stderr and "recall@1" not in result.stdout


def test_eval_json_is_the_report_of_the_pure_scorer(newsqa: Invoke, service: QAService) -> None:
    result = newsqa("eval", "--json", str(GOLD))
    assert_clean_exit(result, 0)
    report = EvalReport.model_validate_json(result.stdout)
    gold = parse_gold(GOLD.read_text(encoding="utf-8").splitlines())
    texts = {doc_id: parsed.document.text for doc_id, parsed in service.bundle.documents.items()}
    expected = evaluate(gold, list(service.ask_many([g.question for g in gold], top_k=10)), texts)
    assert report == expected
    assert (report.in_scope, report.out_of_scope, report.not_verbatim, report.missing) == (40, 20, 0, [])
    assert report.unmatched_evidence == []


def test_eval_reports_a_rejected_gold_question_and_exits_1(newsqa: Invoke, tmp_path: Path) -> None:
    gold = tmp_path / "gold.jsonl"
    rows = [{"id": "ok", "question": ANSWERED, "evidence": ["Pakistan’s proposed framework included:"]}]
    rows.append({"id": "empty", "question": " ", "evidence": []})
    gold.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    result = newsqa("eval", "--json", str(gold))
    assert_clean_exit(result, 1)
    assert result.stderr == "newsqa: skipped gold row empty: the question is empty\n"
    report = EvalReport.model_validate_json(result.stdout)
    assert report.missing == ["empty"] and report.in_scope == 1


@pytest.mark.parametrize("content", ["", "\n\n"])
def test_eval_of_a_gold_file_with_no_questions_is_a_usage_error(newsqa: Invoke, tmp_path: Path, content: str) -> None:
    gold = tmp_path / "gold.json"
    gold.write_text(content, encoding="utf-8")
    result = newsqa("eval", str(gold))
    assert_clean_exit(result, 2)
    assert "Invalid value for 'GOLD'" in result.stderr and "holds no questions" in result.stderr
    assert result.stdout == ""


def test_eval_with_evidence_the_corpus_lacks_exits_1_and_names_the_questions(newsqa: Invoke, tmp_path: Path) -> None:
    # a gold file written for other briefs (or evidence not copied verbatim) cannot be scored: not a pass
    gold = tmp_path / "gold.jsonl"
    rows = [{"id": "ok", "question": ANSWERED, "evidence": ["Pakistan’s proposed framework included:"]},
            {"id": "elsewhere", "question": "Who won the match?", "evidence": ["a sentence of another brief"]}]
    gold.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    result = newsqa("eval", str(gold))
    assert_clean_exit(result, 1)
    assert result.stderr == "newsqa: evidence not in the corpus for 1 question(s): elsewhere\n"
    assert "evidence not in corpus    1: elsewhere" in result.stdout


def test_eval_of_a_malformed_gold_file_names_the_line(newsqa: Invoke, tmp_path: Path) -> None:
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"id": "a", "question": "Where?", "evidence": []}\n{"id": "b"}\n', encoding="utf-8")
    result = newsqa("eval", str(gold))
    assert_clean_exit(result, 1)
    assert result.stderr.startswith(f"newsqa: error: {gold}:2: Field required")


@pytest.mark.parametrize("command", ["ask", "index", "serve", "eval"])
def test_every_command_has_help_with_examples(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])
    assert_clean_exit(result, 0)
    assert "Examples:" in result.stdout
    assert f"newsqa {command}" in result.stdout


def test_top_level_help_lists_the_commands_and_global_options() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert_clean_exit(result, 0)
    for word in ("ask", "index", "serve", "eval", "--corpus-dir", "--index-dir", "--verbose", "Examples:"):
        assert word in result.stdout


def run_newsqa(settings: Settings, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "app", *dir_options(settings), *args]
    return subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout, check=False)


def test_python_m_app_ask_json_end_to_end(settings: Settings, service: QAService, article_text: str) -> None:
    done = run_newsqa(settings, "ask", "--json", ANSWERED)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stdout.splitlines()
    response = AskResponse.model_validate_json(line)
    assert response.answered and response.question == ANSWERED
    assert_verbatim(response, article_text)


@pytest.mark.e2e
def test_serve_runs_the_api_on_the_given_port(settings: Settings, service: QAService) -> None:
    port = free_port()
    command = [sys.executable, "-m", "app", *dir_options(settings), "serve", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, ready = time.monotonic() + 120, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        assert ready is not None and ready.status_code == 200, server.poll()
        assert ready.json()["documents"] == 1
        answer = httpx.post(f"http://127.0.0.1:{port}/ask", json={"question": ANSWERED}, timeout=30)
        assert answer.status_code == 200 and answer.json()["answered"] is True
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert "Traceback" not in output

"""The scoring rule of app/answer/evaluate.py on hand-made answers over a hand-made corpus (no model needed)."""

from __future__ import annotations

import pytest

from app.answer.evaluate import (
    EvidenceSpan,
    GoldFileError,
    GoldRow,
    evaluate,
    evidence_spans,
    first_hit_rank,
    is_hit,
    parse_gold,
)
from app.errors import NewsQAError
from app.models import Answer, CitedPassage, Quote

NEWS = "The talks were held in Doha. A second round followed in Istanbul. No agreement was reached in Istanbul."
OTHER = "Weather report: rain in Doha. Sun in Istanbul."
DOCS = {"news": NEWS, "other": OTHER}
FILLER = "The talks were held in Doha."  # a sentence that is not the evidence of the rows below
EVIDENCE = "A second round followed in Istanbul"


def passage(fragment: str, doc_id: str = "news") -> CitedPassage:
    start = DOCS[doc_id].index(fragment)
    return CitedPassage(doc_id, "Title", "Section", start, start + len(fragment), fragment, 1.0)


def quote(fragment: str, doc_id: str = "news") -> Quote:
    start = DOCS[doc_id].index(fragment)
    return Quote(doc_id, "Title", "Section", start, start + len(fragment), fragment)


def answer(passages: list[CitedPassage], quotes: list[Quote] | None = None, answered: bool = True) -> Answer:
    quotes = quotes if quotes is not None else []
    return Answer("q", answered, 0.9 if answered else 0.1, None if answered else "no", tuple(quotes), tuple(passages))


def row(evidence: list[str], row_id: str = "r1") -> GoldRow:
    return GoldRow(id=row_id, question=f"question {row_id}", evidence=tuple(evidence))


class Span:
    """A bare span for the overlap rule, independent of the answer models."""

    def __init__(self, doc_id: str, start: int, end: int) -> None:
        self.doc_id, self.start, self.end, self.text = doc_id, start, end, ""


def test_evidence_spans_finds_every_occurrence_in_every_document() -> None:
    spans = evidence_spans(DOCS, ["Istanbul", "nowhere"])
    assert sorted((s.doc_id, s.start) for s in spans) == sorted(
        [("news", NEWS.index("Istanbul")), ("news", NEWS.rindex("Istanbul")), ("other", OTHER.index("Istanbul"))]
    )
    assert evidence_spans({"d": "aaa"}, ["aa"]) == [EvidenceSpan("d", 0, 2), EvidenceSpan("d", 1, 3)]


def test_a_hit_overlaps_at_least_half_of_the_evidence_occurrence() -> None:
    spans = [EvidenceSpan("news", 10, 20)]
    assert is_hit(Span("news", 15, 40), spans)  # exactly half (5 of 10)
    assert not is_hit(Span("news", 16, 40), spans)  # 4 of 10
    assert is_hit(Span("news", 0, 100), spans)  # a long passage containing the evidence
    assert not is_hit(Span("other", 10, 20), spans)  # same offsets, another document


def test_first_hit_rank_counts_from_one_and_stops_at_depth_ten() -> None:
    spans = evidence_spans(DOCS, [EVIDENCE])
    hit, miss = passage(EVIDENCE), passage(FILLER)
    assert first_hit_rank([miss, hit], spans) == 2
    assert first_hit_rank([miss] * 10 + [hit], spans) is None
    assert first_hit_rank([], spans) is None


@pytest.mark.parametrize(
    ("rank", "r1", "r3", "r5", "mrr"),
    [(1, 1.0, 1.0, 1.0, 1.0), (2, 0.0, 1.0, 1.0, 0.5), (4, 0.0, 0.0, 1.0, 0.25), (7, 0.0, 0.0, 0.0, 1 / 7)],
)
def test_recall_and_mrr_follow_the_rank_of_the_first_evidence_passage(
    rank: int, r1: float, r3: float, r5: float, mrr: float
) -> None:
    ranked = [passage(FILLER)] * (rank - 1) + [passage(EVIDENCE)]
    report = evaluate([row([EVIDENCE])], [answer(ranked, [quote(EVIDENCE)])], DOCS)
    assert (report.recall_at_1, report.recall_at_3, report.recall_at_5) == (r1, r3, r5)
    assert report.mrr_at_10 == pytest.approx(mrr)


def test_recall_is_over_passages_not_quotes() -> None:
    report = evaluate([row([EVIDENCE])], [answer([passage(FILLER)], [quote(EVIDENCE)])], DOCS)
    assert report.recall_at_5 == 0.0
    assert report.quote_accuracy == 1.0


def test_a_quote_is_correct_only_when_answered_and_the_first_quote_hits() -> None:
    ranked = [passage(EVIDENCE)]
    first_hits = answer(ranked, [quote(EVIDENCE), quote(FILLER)])
    second_hits = answer(ranked, [quote(FILLER), quote(EVIDENCE)])
    abstained = answer(ranked, [quote(EVIDENCE)], answered=False)
    assert evaluate([row([EVIDENCE])], [first_hits], DOCS).quote_accuracy == 1.0
    assert evaluate([row([EVIDENCE])], [second_hits], DOCS).quote_accuracy == 0.0
    assert evaluate([row([EVIDENCE])], [abstained], DOCS).quote_accuracy == 0.0


def test_abstention_rates_and_misses() -> None:
    gold = [row([EVIDENCE], "in-ok"), row([EVIDENCE], "in-abstained"), row([], "oos-ok"), row([], "oos-answered")]
    answers = [
        answer([passage(EVIDENCE)], [quote(EVIDENCE)]),
        answer([passage(FILLER), passage(EVIDENCE)], answered=False),
        answer([passage(FILLER)], answered=False),
        answer([passage(FILLER)], [quote(FILLER)]),
    ]
    report = evaluate(gold, answers, DOCS)
    assert (report.in_scope, report.out_of_scope) == (2, 2)
    assert report.false_abstention == 0.5
    assert report.oos_abstention == 0.5
    assert report.quote_accuracy == 0.5
    assert [(m.id, m.kind, m.rank, m.answered) for m in report.misses] == [
        ("in-abstained", "in_scope", 2, False),
        ("oos-answered", "out_of_scope", None, True),
    ]
    assert report.misses[0].top == FILLER
    assert report.passed


def test_every_span_that_is_not_verbatim_is_counted_and_fails_the_report() -> None:
    good = passage(EVIDENCE)
    shifted = CitedPassage("news", "T", "S", good.start + 1, good.end + 1, good.text, 1.0)
    unknown_doc = Quote("gone", "T", "S", 0, 3, "The")
    edited = Quote("news", "T", "S", good.start, good.end, good.text.upper())
    gold = [row([EVIDENCE], "a"), row([], "b")]
    answers = [answer([good, shifted], [edited]), answer([good], [unknown_doc], answered=True)]
    report = evaluate(gold, answers, DOCS)
    assert report.not_verbatim == 3
    assert not report.passed


def test_a_missing_answer_is_listed_and_left_out_of_the_rates() -> None:
    gold = [row([EVIDENCE], "answered"), row([EVIDENCE], "rejected")]
    report = evaluate(gold, [answer([passage(EVIDENCE)], [quote(EVIDENCE)]), None], DOCS)
    assert report.missing == ["rejected"]
    assert report.in_scope == 1
    assert report.recall_at_1 == 1.0
    assert not report.passed


def test_evidence_the_corpus_does_not_contain_is_flagged_and_never_hits() -> None:
    report = evaluate([row(["words that appear nowhere"])], [answer([passage(EVIDENCE)], [quote(EVIDENCE)])], DOCS)
    assert report.unmatched_evidence == ["r1"]
    assert report.recall_at_5 == 0.0
    assert not report.passed  # a gold file for other briefs cannot pass
    # one mistyped alternative among good ones is flagged too, though the question can still be scored
    typo = evaluate([row([EVIDENCE, "a mistyped alternativ"])], [answer([passage(EVIDENCE)], [quote(EVIDENCE)])], DOCS)
    assert typo.unmatched_evidence == ["r1"] and typo.recall_at_1 == 1.0 and not typo.passed


def test_no_questions_gives_zero_rates_not_a_division_error() -> None:
    report = evaluate([], [], DOCS)
    assert (report.in_scope, report.recall_at_1, report.oos_abstention) == (0, 0.0, 0.0)


def test_answers_must_line_up_with_the_gold_rows() -> None:
    with pytest.raises(ValueError, match="2 gold rows but 1 answers"):
        evaluate([row([EVIDENCE]), row([])], [None], DOCS)


def test_parse_gold_skips_blank_lines_and_keeps_order() -> None:
    lines = [
        '{"id": "a", "question": "Where?", "evidence": ["Doha"]}',
        "",
        "  ",
        '{"id": "b", "question": "Who?", "evidence": []}',
    ]
    rows = parse_gold(lines)
    assert [(r.id, r.in_scope) for r in rows] == [("a", True), ("b", False)]
    assert rows[0].evidence == ("Doha",)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"id": "b", "question": "Where?"}', "gold.jsonl:2: Field required (evidence)"),
        ("not json", "gold.jsonl:2:"),
        # an empty evidence string is in every text: every first quote would hit it
        ('{"id": "b", "question": "Where?", "evidence": [""]}', "gold.jsonl:2: an evidence string must hold some"),
        ('{"id": "b", "question": "Where?", "evidence": ["  "]}', "gold.jsonl:2: an evidence string must hold some"),
        # the report names questions by id: two of one id could not be told apart
        ('{"id": "a", "question": "Who?", "evidence": []}', "gold.jsonl:2: id 'a' is already the id of line 1"),
    ],
)
def test_parse_gold_names_the_bad_line(line: str, expected: str) -> None:
    good = '{"id": "a", "question": "Where?", "evidence": []}'
    with pytest.raises(GoldFileError) as caught:
        parse_gold([good, line], "gold.jsonl")
    assert caught.value.message.startswith(expected)
    assert isinstance(caught.value, NewsQAError)

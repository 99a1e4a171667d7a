"""Pure scoring of answers against a gold set: recall@k, MRR@10, quote accuracy, abstention and verbatim checks.

The rule is the project's scoring rule: a passage or quote is a *hit* when its [start, end) span overlaps an
occurrence of one of the gold evidence strings by at least half of that string's length. Recall and MRR look
at the ranked passages (the first ten); a quote is correct when the question was answered and its *first*
quote is a hit. A gold row with no evidence is out of scope: the right reply is an abstention. Every cited
span must be verbatim (`text == document[start:end]`). With several documents, an evidence occurrence
belongs to one document and only a span of that document can hit it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from app.errors import NewsQAError, validation_message
from app.models import Answer

RANK_DEPTH = 10  # MRR@10: passages below this rank do not count


class GoldFileError(NewsQAError):
    """A gold file line that is not a JSON object with `id`, `question` and `evidence`."""

    status_code = 422
    code = "invalid_gold"


def _not_blank(evidence: str) -> str:
    """An evidence string with some text (kept as written: it must occur verbatim)."""
    if not evidence.strip():
        raise ValueError("an evidence string must hold some text")
    return evidence


class GoldRow(BaseModel):
    """One gold question; an empty `evidence` list marks a question the corpus does not answer."""

    model_config = ConfigDict(frozen=True)

    id: str
    question: str
    # an empty or blank string would be "found" everywhere, and every first quote would hit it
    evidence: tuple[Annotated[str, AfterValidator(_not_blank)], ...]

    @property
    def in_scope(self) -> bool:
        return bool(self.evidence)


class Span(Protocol):
    """What a quote and a cited passage share: a located, verbatim piece of a document."""

    @property
    def doc_id(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def text(self) -> str: ...


@dataclass(frozen=True, slots=True)
class EvidenceSpan:
    """One occurrence of an evidence string in one document."""

    doc_id: str
    start: int
    end: int


class Miss(BaseModel):
    """A gold question the service did not get fully right, with what it did instead."""

    model_config = ConfigDict(frozen=True)

    id: str
    question: str
    kind: Literal["in_scope", "out_of_scope"]
    rank: int | None
    quote_hit: bool
    answered: bool
    confidence: float
    top: str

    @property
    def summary(self) -> str:
        if self.kind == "out_of_scope":
            return f"{self.id}: answered out-of-scope question (confidence {self.confidence})"
        return f'{self.id}: rank={self.rank} quote_hit={self.quote_hit} answered={self.answered} top="{self.top}"'


class EvalReport(BaseModel):
    """Metrics over a gold set; rates are fractions of the in-scope (or out-of-scope) questions answered."""

    model_config = ConfigDict(frozen=True)

    in_scope: int
    out_of_scope: int
    recall_at_1: float
    recall_at_3: float
    recall_at_5: float
    mrr_at_10: float
    quote_accuracy: float
    false_abstention: float
    oos_abstention: float
    not_verbatim: int
    missing: list[str]
    unmatched_evidence: list[str]
    misses: list[Miss]

    @property
    def passed(self) -> bool:
        """True when every cited span is verbatim, every gold question got an answer, and every evidence string
        is in the corpus (one that is not was written for other briefs, or not copied verbatim, and scores its
        question as a miss whatever the answer)."""
        return self.not_verbatim == 0 and not self.missing and not self.unmatched_evidence


def parse_gold(lines: Iterable[str], source: str = "gold") -> list[GoldRow]:
    """Gold rows from JSONL lines (blank lines skipped); GoldFileError names the first bad line."""
    rows: list[GoldRow] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = GoldRow.model_validate_json(line)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            named = f" ({where})" if where else ""
            raise GoldFileError(f"{source}:{number}: {validation_message(first)}{named}") from None
        if row.id in seen:  # the report names questions by id: two of one id could not be told apart
            raise GoldFileError(f"{source}:{number}: id {row.id!r} is already the id of line {seen[row.id]}")
        seen[row.id] = number
        rows.append(row)
    return rows


def evidence_spans(documents: Mapping[str, str], evidence: Sequence[str]) -> list[EvidenceSpan]:
    """Every occurrence (overlapping ones included) of every evidence string in every document."""
    spans: list[EvidenceSpan] = []
    for doc_id, text in documents.items():
        for needle in evidence:
            at = text.find(needle) if needle else -1
            while at != -1:
                spans.append(EvidenceSpan(doc_id, at, at + len(needle)))
                at = text.find(needle, at + 1)
    return spans


def is_hit(item: Span, spans: Sequence[EvidenceSpan]) -> bool:
    """The item overlaps some evidence occurrence of its own document by at least half that occurrence."""
    return any(
        item.doc_id == span.doc_id
        and min(item.end, span.end) - max(item.start, span.start) >= 0.5 * (span.end - span.start)
        for span in spans
    )


def first_hit_rank(passages: Sequence[Span], spans: Sequence[EvidenceSpan], depth: int = RANK_DEPTH) -> int | None:
    """1-based rank of the first passage that hits the evidence, or None if none of the first `depth` does."""
    return next((rank for rank, p in enumerate(passages[:depth], start=1) if is_hit(p, spans)), None)


def is_verbatim(item: Span, documents: Mapping[str, str]) -> bool:
    text = documents.get(item.doc_id)
    return text is not None and 0 <= item.start <= item.end and text[item.start : item.end] == item.text


def count_not_verbatim(answer: Answer, documents: Mapping[str, str]) -> int:
    items: list[Span] = [*answer.passages, *answer.quotes]
    return sum(not is_verbatim(item, documents) for item in items)


@dataclass
class _Tally:
    in_scope: int = 0
    out_of_scope: int = 0
    r1: int = 0
    r3: int = 0
    r5: int = 0
    reciprocal: float = 0.0
    quote_hits: int = 0
    false_abstentions: int = 0
    oos_abstentions: int = 0


def _top_text(answer: Answer) -> str:
    return answer.passages[0].text[:70].replace("\n", " ") if answer.passages else "-"


def _score_in_scope(row: GoldRow, answer: Answer, spans: Sequence[EvidenceSpan], tally: _Tally) -> Miss | None:
    tally.in_scope += 1
    rank = first_hit_rank(answer.passages, spans)
    tally.r1 += rank == 1
    tally.r3 += rank is not None and rank <= 3
    tally.r5 += rank is not None and rank <= 5
    tally.reciprocal += 1 / rank if rank else 0.0
    quote_hit = bool(answer.quotes) and is_hit(answer.quotes[0], spans)
    tally.quote_hits += quote_hit and answer.answered
    tally.false_abstentions += not answer.answered
    if rank == 1 and quote_hit and answer.answered:
        return None
    return Miss(
        id=row.id,
        question=row.question,
        kind="in_scope",
        rank=rank,
        quote_hit=quote_hit,
        answered=answer.answered,
        confidence=answer.confidence,
        top=_top_text(answer),
    )


def _score_out_of_scope(row: GoldRow, answer: Answer, tally: _Tally) -> Miss | None:
    tally.out_of_scope += 1
    tally.oos_abstentions += not answer.answered
    if not answer.answered:
        return None
    return Miss(
        id=row.id,
        question=row.question,
        kind="out_of_scope",
        rank=None,
        quote_hit=False,
        answered=True,
        confidence=answer.confidence,
        top=_top_text(answer),
    )


def _rate(count: float, total: int) -> float:
    return count / total if total else 0.0


def evaluate(gold: Sequence[GoldRow], answers: Sequence[Answer | None], documents: Mapping[str, str]) -> EvalReport:
    """Score `answers[i]` against `gold[i]` (None: no answer, e.g. the question was rejected).

    `documents` maps each doc_id to its text exactly as stored; offsets are checked against it.
    """
    if len(gold) != len(answers):
        raise ValueError(f"{len(gold)} gold rows but {len(answers)} answers")
    tally = _Tally()
    missing: list[str] = []
    unmatched: list[str] = []
    misses: list[Miss] = []
    not_verbatim = 0
    for row, answer in zip(gold, answers, strict=True):
        if answer is None:
            missing.append(row.id)
            continue
        not_verbatim += count_not_verbatim(answer, documents)
        if row.in_scope:
            found = [evidence_spans(documents, [one]) for one in row.evidence]
            if not all(found):  # a typo in one alternative too
                unmatched.append(row.id)
            spans = [span for each in found for span in each]
            miss = _score_in_scope(row, answer, spans, tally)
        else:
            miss = _score_out_of_scope(row, answer, tally)
        if miss is not None:
            misses.append(miss)
    n = tally.in_scope
    return EvalReport(
        in_scope=n,
        out_of_scope=tally.out_of_scope,
        recall_at_1=_rate(tally.r1, n),
        recall_at_3=_rate(tally.r3, n),
        recall_at_5=_rate(tally.r5, n),
        mrr_at_10=_rate(tally.reciprocal, n),
        quote_accuracy=_rate(tally.quote_hits, n),
        false_abstention=_rate(tally.false_abstentions, n),
        oos_abstention=_rate(tally.oos_abstentions, tally.out_of_scope),
        not_verbatim=not_verbatim,
        missing=missing,
        unmatched_evidence=unmatched,
        misses=misses,
    )


LOWER_IS_BETTER = frozenset({"false_abstention", "not_verbatim"})


@dataclass(frozen=True)
class Target:
    """One `--fail-under METRIC=VALUE` (or `--fail-over`) of `newsqa eval`: a floor, or a ceiling."""

    metric: str
    value: float
    ceiling: bool = False

    def missed_by(self, measured: float) -> bool:
        return measured > self.value if self.ceiling else measured < self.value

    def describe(self, measured: float) -> str:
        sign = "<=" if self.ceiling else ">="
        return f"{self.metric} = {measured:.3f}, target {sign} {self.value:g}"


def parse_target(text: str, metrics: Iterable[str], ceiling: bool = False) -> Target:
    """METRIC=VALUE against the figures a report has; ValueError naming what is wrong (unknown metric, a floor
    on a lower-is-better figure or the reverse, a value that is not a number)."""
    name, sep, raw = text.partition("=")
    name, metrics = name.strip(), set(metrics)
    if not sep or not name:
        raise ValueError(f"{text!r}: expected METRIC=VALUE, e.g. quote_accuracy=0.7")
    if name not in metrics:
        raise ValueError(f"{name!r} is not a figure of this report; one of: {', '.join(sorted(metrics))}")
    if name in LOWER_IS_BETTER and not ceiling:
        raise ValueError(f"{name}: lower is better, so it takes a ceiling: --fail-over {name}={raw}")
    if name not in LOWER_IS_BETTER and ceiling:
        raise ValueError(f"{name}: higher is better, so it takes a floor: --fail-under {name}={raw}")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{text!r}: {raw!r} is not a number") from None
    return Target(name, value, ceiling)


SIZES = frozenset({"in_scope", "out_of_scope", "answerable", "impossible"})  # counts of questions, not scores


def figure_names(report: type[BaseModel]) -> list[str]:
    """The figures of a report kind a target can name: its int and float fields, question counts left out."""
    return [
        name for name, field in report.model_fields.items() if field.annotation in (int, float) and name not in SIZES
    ]


def report_figures(report: BaseModel) -> dict[str, float]:
    return {name: float(getattr(report, name)) for name in figure_names(type(report))}


def missed_targets(targets: Sequence[Target], figures: Mapping[str, float]) -> list[str]:
    """One line per target the report misses, in the order given."""
    return [t.describe(figures[t.metric]) for t in targets if t.missed_by(figures[t.metric])]

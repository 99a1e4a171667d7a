"""Pure: SQuAD 2.0 files as briefs and questions, and the scores of answers to them.

A newsroom measures the service on its own briefs in SQuAD's format (several documents, questions the
paragraph does not answer marked `is_impossible`). Each article becomes one brief laid out as the SQuAD
benchmark lays it out: the title (underscores as spaces), a blank line, the paragraphs separated by blank
lines. A gold answer is the span (paragraph offset + answer_start, + len(text)); a quote or passage *hits* when
it overlaps a gold span of its question's own document by at least one character (SQuAD's gold spans point
into the question's own paragraph only). Confidence is scored by AUROC (answerable against impossible) and by
the abstention it reaches with false abstention at most 5 %.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict

from app.errors import NewsQAError
from app.models import Answer

FA_BUDGET = 0.05


class SquadFileError(NewsQAError):
    """A file that is not SQuAD 2.0 JSON (a `data` list of articles with paragraphs and qas)."""

    status_code = 422
    code = "invalid_squad"


@dataclass(frozen=True, slots=True)
class SquadArticle:
    doc_id: str
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class SquadQuestion:
    qid: str
    question: str
    doc_id: str
    impossible: bool
    gold: tuple[tuple[int, int], ...]  # answer spans in the article's text


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def is_squad(raw: str) -> bool:
    """True when the text looks like a SQuAD JSON file (an object with a `data` list), not JSONL."""
    head = raw.lstrip()[:200]
    return head.startswith("{") and '"data"' in raw[:100_000] and '"paragraphs"' in raw[:100_000]


def parse_squad(raw: str) -> tuple[list[SquadArticle], list[SquadQuestion]]:
    """Articles and questions of a SQuAD 2.0 file; an answer whose span does not match its text is dropped."""
    try:
        data = json.loads(raw)["data"]
        articles: list[SquadArticle] = []
        questions: list[SquadQuestion] = []
        for article in data:
            title = str(article["title"]).replace("_", " ")
            doc_id = slug(str(article["title"])) or f"article-{len(articles) + 1}"
            pieces, offsets, at = [title, "\n\n"], [], len(title) + 2
            for i, paragraph in enumerate(article["paragraphs"]):
                if i:
                    pieces.append("\n\n")
                    at += 2
                offsets.append(at)
                pieces.append(paragraph["context"])
                at += len(paragraph["context"])
            text = "".join(pieces) + "\n"
            articles.append(SquadArticle(doc_id, title, text))
            for i, paragraph in enumerate(article["paragraphs"]):
                for qa in paragraph["qas"]:
                    spans = set()
                    for answer in qa.get("answers", []):
                        start = offsets[i] + int(answer["answer_start"])
                        end = start + len(answer["text"])
                        if text[start:end] == answer["text"]:
                            spans.add((start, end))
                    impossible = bool(qa.get("is_impossible"))
                    if impossible or spans:
                        questions.append(SquadQuestion(str(qa["id"]), str(qa["question"]), doc_id, impossible,
                                                       tuple(sorted(spans))))
    except (ValueError, KeyError, TypeError) as exc:
        raise SquadFileError(f"not a SQuAD 2.0 file: {exc}") from None
    return articles, questions


def overlaps(doc_id: str, start: int, end: int, question: SquadQuestion) -> bool:
    return doc_id == question.doc_id and any(start < ge and gs < end for gs, ge in question.gold)


def auroc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """P(an answerable question's confidence > an impossible one's), ties counting half (Mann-Whitney)."""
    if not positive or not negative:
        return float("nan")
    pos, neg = np.asarray(positive, dtype=np.float64), np.asarray(negative, dtype=np.float64)
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def abstention_at_budget(
    positive: Sequence[float], negative: Sequence[float], budget: float = FA_BUDGET
) -> tuple[float, float]:
    """(threshold, share of impossible questions abstained) for the largest threshold whose false abstention
    (answerable questions below it) stays within budget; chosen on these same questions, so an oracle figure."""
    pos, neg = np.asarray(positive, dtype=np.float64), np.asarray(negative, dtype=np.float64)
    best = (float("-inf"), 0.0)
    for t in sorted({*pos.tolist(), *neg.tolist(), float("inf")}):
        if (pos < t).mean() <= budget + 1e-12:
            best = (t, float((neg < t).mean()) if len(neg) else 0.0)
    return best


class SquadReport(BaseModel):
    """newsqa's figures on a SQuAD file (rates over answerable questions unless named otherwise)."""

    model_config = ConfigDict(frozen=True)

    answerable: int
    impossible: int
    quote_at_1: float
    recall_at_1: float
    recall_at_3: float
    mrr_at_10: float
    false_abstention: float
    impossible_abstained: float
    auroc: float
    oracle_abstained_at_fa5: float


def score_squad(questions: Sequence[SquadQuestion], answers: Sequence[Answer]) -> SquadReport:
    """Score `answers[i]` (asked with at least ten passages) against `questions[i]`."""
    quote = r1 = r3 = answered = 0
    reciprocal = 0.0
    positive: list[float] = []
    negative: list[float] = []
    abstained_impossible = 0
    for question, answer in zip(questions, answers, strict=True):
        if question.impossible:
            negative.append(answer.confidence)
            abstained_impossible += not answer.answered
            continue
        positive.append(answer.confidence)
        answered += answer.answered
        first = answer.quotes[0] if answer.quotes else None
        quote += bool(answer.answered and first and overlaps(first.doc_id, first.start, first.end, question))
        hits = [overlaps(p.doc_id, p.start, p.end, question) for p in answer.passages[:10]]
        rank = hits.index(True) + 1 if True in hits else None
        r1 += rank == 1
        r3 += rank is not None and rank <= 3
        reciprocal += 1 / rank if rank else 0.0
    n, m = len(positive), len(negative)
    return SquadReport(
        answerable=n,
        impossible=m,
        quote_at_1=quote / n if n else 0.0,
        recall_at_1=r1 / n if n else 0.0,
        recall_at_3=r3 / n if n else 0.0,
        mrr_at_10=reciprocal / n if n else 0.0,
        false_abstention=1 - answered / n if n else 0.0,
        impossible_abstained=abstained_impossible / m if m else 0.0,
        auroc=auroc(positive, negative),
        oracle_abstained_at_fa5=abstention_at_budget(positive, negative)[1],
    )


class BaselineRow(BaseModel):
    """A plain sentence ranking scored like newsqa's first quote: the share of answerable questions whose
    top sentence hits (no abstention), and the AUROC of its top score."""

    model_config = ConfigDict(frozen=True)

    name: str
    quote_at_1: float
    auroc: float


BASELINES = ("BM25", "dense", "hybrid 0.5/0.5")


def plain_top_sentences(lexical: np.ndarray, dense: np.ndarray) -> dict[str, tuple[int, float]]:
    """(row, score) of the top sentence of each plain ranking: BM25, dense, and their 0.5/0.5 min-max sum."""

    def minmax(a: np.ndarray) -> np.ndarray:
        low, high = float(a.min()), float(a.max())
        return (a - low) / (high - low) if high > low else np.zeros_like(a)

    bm, de = np.asarray(lexical, np.float64), np.asarray(dense, np.float64)
    scores = dict(zip(BASELINES, (bm, de, 0.5 * minmax(bm) + 0.5 * minmax(de)), strict=True))
    return {name: (int(np.argmax(s)), float(s.max())) for name, s in scores.items()}


def baseline_rows(
    questions: Sequence[SquadQuestion],
    sentences: Sequence[tuple[str, int, int]],
    lexical: Sequence[np.ndarray],
    dense: Sequence[np.ndarray],
) -> list[BaselineRow]:
    """BM25, dense and a 0.5/0.5 min-max hybrid over the same sentences newsqa quotes from.

    `sentences` are (doc_id, start, end); `lexical[i]` and `dense[i]` score every sentence for question i.
    """

    picks = [plain_top_sentences(bm, de) for bm, de in zip(lexical, dense, strict=True)]
    rows = []
    for name in BASELINES:
        hits = 0
        positive: list[float] = []
        negative: list[float] = []
        for question, pick in zip(questions, picks, strict=True):
            best, top_score = pick[name]
            (negative if question.impossible else positive).append(top_score)
            if not question.impossible:
                doc_id, start, end = sentences[best]
                hits += overlaps(doc_id, start, end, question)
        answerable = sum(not q.impossible for q in questions)
        rows.append(BaselineRow(name=name, quote_at_1=hits / answerable if answerable else 0.0,
                                auroc=auroc(positive, negative)))
    return rows

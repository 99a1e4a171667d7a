"""Pure: ranked evidence → the answer (verbatim quotes), its confidence, or an abstention.

Quotes are whole sentences from the top passages. A sentence that introduces a list ("... included:") is
quoted together with its bullet items, as one verbatim span. A second or third quote is added when another
sentence scores nearly as well (the evidence is spread, or the article gives two versions of a fact).

Confidence is a logistic model over a handful of signals, fitted on the dev set plus the project's own gold
questions (`benchmarks/calibrate.py` prints the fit and the trade-off curve): how well the best sentence
matches (dense + BM25), the share of question terms the corpus never uses, whether a capitalised name in the
question is absent from the corpus, and how much of the question the top passage covers. It is monotone in
each signal's "sureness" direction and is the probability the service answers from the right place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.bundle import IndexBundle
from app.models import AbstentionSignals, Answer, CitedPassage, Evidence, Quote, Sentence


@dataclass(frozen=True)
class AnswerParams:
    """Quote selection and abstention settings."""

    quote_pool: int = 3
    max_quotes: int = 3
    extra_quote_ratio: float = 0.93
    threshold: float = 0.42


@dataclass(frozen=True)
class ConfidenceModel:
    """Logistic weights over the abstention signals (fitted by benchmarks/calibrate.py)."""

    intercept: float = -2.68
    best_score: float = 2.91
    unknown_share: float = -1.65
    unknown_name: float = -2.27
    coverage: float = 1.44

    def confidence(self, best_score: float, signals: AbstentionSignals) -> float:
        z = (
            self.intercept
            + self.best_score * best_score
            + self.unknown_share * signals.unknown_term_share
            + self.unknown_name * min(1, len(signals.unknown_proper_nouns))
            + self.coverage * signals.best_lexical_coverage
        )
        return 1.0 / (1.0 + math.exp(-z))


def _quote(bundle: IndexBundle, sentence: Sentence) -> Quote:
    """A sentence as a quote; a list-introducing sentence takes its bullet items along in one span."""
    start, end = sentence.start, sentence.end
    if sentence.introduces_list:
        for follower in bundle.documents[sentence.doc_id].sentences[sentence.sentence_id + 1 :]:
            if not follower.is_bullet:
                break
            end = follower.end
    text = bundle.documents[sentence.doc_id].document.text[start:end]
    return Quote(sentence.doc_id, bundle.title(sentence.doc_id), sentence.section, start, end, text)


def select_quotes(evidence: Evidence, bundle: IndexBundle, params: AnswerParams) -> list[Quote]:
    """The best sentence(s) inside the top passages, best first, never overlapping each other."""
    pool = {(p.passage.doc_id, sid) for p in evidence.passages[: params.quote_pool] for sid in p.passage.sentence_ids}
    candidates = [s for s in evidence.sentences if (s.sentence.doc_id, s.sentence.sentence_id) in pool]
    if not candidates:
        return []
    best = candidates[0].score
    quotes: list[Quote] = []
    for scored in candidates:
        if len(quotes) == params.max_quotes or (quotes and scored.score < best * params.extra_quote_ratio):
            break
        quote = _quote(bundle, scored.sentence)
        if any(q.doc_id == quote.doc_id and q.start < quote.end and quote.start < q.end for q in quotes):
            continue
        quotes.append(quote)
    return quotes


def cite(bundle: IndexBundle, evidence: Evidence, top_k: int) -> tuple[CitedPassage, ...]:
    return tuple(
        CitedPassage(
            doc_id=p.passage.doc_id,
            title=bundle.title(p.passage.doc_id),
            section=p.passage.section,
            start=p.passage.start,
            end=p.passage.end,
            text=p.passage.text,
            score=round(p.score, 6),
        )
        for p in evidence.passages[:top_k]
    )


def compose_answer(
    question: str,
    evidence: Evidence,
    bundle: IndexBundle,
    top_k: int,
    params: AnswerParams,
    model: ConfidenceModel,
    abstention_message: str,
) -> Answer:
    """Quotes and confidence for one question; below the threshold, an abstention with the closest passages."""
    passages = cite(bundle, evidence, top_k)
    best = evidence.sentences[0].score if evidence.sentences else 0.0
    confidence = model.confidence(best, evidence.signals) if evidence.sentences else 0.0
    quotes = select_quotes(evidence, bundle, params) if confidence >= params.threshold else []
    if not quotes:
        return Answer(question, False, round(confidence, 4), abstention_message, (), passages)
    return Answer(question, True, round(confidence, 4), None, tuple(quotes), passages)

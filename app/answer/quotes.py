"""Pure: ranked evidence → the answer (verbatim quotes), its confidence, or an abstention.

Quotes are whole sentences from the top passages. A sentence that introduces a list ("... included:") is
quoted together with its bullet items, as one verbatim span. A second or third quote is added when another
sentence scores nearly as well (the evidence is spread, or the article gives two versions of a fact).

The sentences arrive ranked by the learned quote ranker (`quote_ranker.py`); confidence is the learned
abstention model's calibrated probability (`abstention.py`), and below its cross-validated threshold the
service abstains.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from app.answer.confidence import confidence
from app.answer.versions import (
    Rivals,
    TextVectors,
    accepted,
    group_versions,
    quotes_with_versions,
    split_rivals,
    stated_values,
)
from app.index.bundle import IndexBundle
from app.linear import LinearModel
from app.models import Answer, CitedPassage, Evidence, Quote, Sentence, Version
from app.retrieve.signals import full_name_ends, question_names
from app.text.normalize import term_set, words


@dataclass(frozen=True)
class AnswerParams:
    """Quote selection and abstention settings."""

    quote_pool: int = 3
    max_quotes: int = 3
    extra_quote_ratio: float = 0.93
    threshold: float | None = None  # None: the abstention model's own (cross-validated) threshold
    duplicate_overlap: float = 0.9  # share of the shorter text's words that makes two quotes copies
    recency_margin: float = 0.05  # ranker probabilities this close to the best count as equally relevant (newest first)
    version_pool: int = 5  # versions of the asked fact are sought among the sentences of this many best passages
    version_candidates: int = 8  # ... the best-ranked of them (reading values costs regexes per sentence)

    def threshold_for(self, model: LinearModel) -> float:
        """The confidence at or above which a question is answered: this setting, else the model's own."""
        return model.threshold if self.threshold is None else self.threshold


def _quote(bundle: IndexBundle, sentence: Sentence) -> Quote:
    """A sentence as a quote; a list-introducing sentence takes its bullet items along in one span."""
    start, end = sentence.start, sentence.end
    parsed = bundle.documents[sentence.doc_id]
    if sentence.introduces_list:
        for follower in parsed.sentences[sentence.sentence_id + 1 :]:
            if not follower.is_bullet:
                break
            end = follower.end
    document = parsed.document
    return Quote(
        sentence.doc_id,
        bundle.title(sentence.doc_id),
        sentence.section,
        start,
        end,
        document.text[start:end],
        document.sha256,
        document.meta.source,
        document.meta.published,
    )


@lru_cache(maxsize=8192)  # the same passages come up question after question; a str caches its own hash
def _shingles(text: str) -> frozenset[str]:
    return frozenset(words(text))


_CALENDAR = frozenset(
    """january february march april june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday""".split()
)  # "may" left out: far more often the verb


@lru_cache(maxsize=8192)  # a frozenset keeps its hash: looking a word set up again is cheap
def _facts(shingles: frozenset[str]) -> frozenset[str]:
    """The figures and dates of a text: where two tellings of one story disagree."""
    return frozenset(w for w in shingles if w in _CALENDAR or any(c.isdigit() for c in w))


def near_duplicate(a: frozenset[str], b: frozenset[str], threshold: float) -> bool:
    """Two texts whose word sets overlap almost entirely and that give the same figures and dates: syndicated
    copies of one wire sentence. Texts that differ in a number or a date disagree, and both are shown."""
    if not a or not b:
        return a == b
    return _facts(a) == _facts(b) and len(a & b) / min(len(a), len(b)) >= threshold


def _newest_first(quotes: list[tuple[Quote, float]], margin: float) -> list[Quote]:
    """Quotes in score order, except that those within `margin` of the best are ordered newest first.

    Several briefs answering equally well are shown by date; a clearly better answer still comes first.
    """
    if len({q.published for q, _ in quotes}) < 2:
        return [q for q, _ in quotes]
    best = quotes[0][1]
    tied = [(q, score) for q, score in quotes if score >= best - margin]
    rest = [q for q, score in quotes if score < best - margin]
    tied.sort(key=lambda item: item[0].published or "", reverse=True)  # stable: equal dates keep score order
    return [q for q, _ in tied] + rest


def select_quotes(evidence: Evidence, bundle: IndexBundle, params: AnswerParams) -> list[Quote]:
    """The best sentence(s) inside the top passages, never overlapping or repeating each other.

    A sentence from a brief not quoted yet is preferred for the second and third place (when it scores nearly
    as well), so when two sources tell a fact differently, both appear. A near-copy of a quote already chosen
    in another brief (the same wire sentence, syndicated) is skipped.
    """
    pool = {(p.passage.doc_id, sid) for p in evidence.passages[: params.quote_pool] for sid in p.passage.sentence_ids}
    candidates = [s for s in evidence.sentences if (s.sentence.doc_id, s.sentence.sentence_id) in pool]
    if not candidates:
        return []
    best = candidates[0].score
    # the best sentence always; others when nearly as good (a ratio above 1, or a negative best, must not drop it)
    strong = candidates[:1] + [c for c in candidates[1:] if c.score >= best * params.extra_quote_ratio]
    chosen: list[tuple[Quote, float]] = []
    seen: list[tuple[str, frozenset[str]]] = []
    quoted_docs: set[str] = set()
    for new_documents_only in (True, False):
        for scored in strong:
            if len(chosen) == params.max_quotes:
                break
            if new_documents_only and scored.sentence.doc_id in quoted_docs:
                continue
            quote = _quote(bundle, scored.sentence)
            if any(q.overlaps(quote) for q, _ in chosen):
                continue
            shingles = _shingles(quote.text)
            if any(
                doc != quote.doc_id and near_duplicate(shingles, other, params.duplicate_overlap)
                for doc, other in seen
            ):
                continue
            chosen.append((quote, scored.score))
            seen.append((quote.doc_id, shingles))
            quoted_docs.add(quote.doc_id)
    chosen.sort(key=lambda item: -item[1])
    return _newest_first(chosen, params.recency_margin)


def cite(
    bundle: IndexBundle, evidence: Evidence, top_k: int, duplicate_overlap: float = 0.9
) -> tuple[CitedPassage, ...]:
    """The top passages, best first, skipping near-copies (in another brief) of a passage already listed."""
    cited: list[CitedPassage] = []
    seen: list[tuple[str, frozenset[str]]] = []
    for p in evidence.passages:
        if len(cited) == top_k:
            break
        shingles = _shingles(p.passage.text)
        doc_id = p.passage.doc_id
        if any(doc != doc_id and near_duplicate(shingles, other, duplicate_overlap) for doc, other in seen):
            continue
        document = bundle.documents[p.passage.doc_id].document
        cited.append(
            CitedPassage(
                doc_id=p.passage.doc_id,
                title=bundle.title(p.passage.doc_id),
                section=p.passage.section,
                start=p.passage.start,
                end=p.passage.end,
                text=p.passage.text,
                score=round(p.score, 6),
                sha256=document.sha256,
                source=document.meta.source,
                published=document.meta.published,
            )
        )
        seen.append((doc_id, shingles))
    return tuple(cited)


def version_candidates(evidence: Evidence, bundle: IndexBundle, params: AnswerParams) -> list[tuple[Quote, float]]:
    """The sentences of the best passages, best first, as quotes with their ranker score."""
    pool = {
        (p.passage.doc_id, sid) for p in evidence.passages[: params.version_pool] for sid in p.passage.sentence_ids
    }
    inside = [s for s in evidence.sentences if (s.sentence.doc_id, s.sentence.sentence_id) in pool]
    return [(_quote(bundle, s.sentence), s.score) for s in inside[: params.version_candidates]]


def rival_candidates(
    question: str, evidence: Evidence, bundle: IndexBundle, best: Quote, params: AnswerParams,
    vectors: TextVectors,
) -> Rivals | None:
    """The candidates agreeing with the best answer and the measured rivals (see `versions.py`), read off the
    question as retrieval matched it (typos fixed, compounds joined: `Evidence.question`) when it has one."""
    if evidence.query is None:
        return None
    matched = evidence.question or question
    stated = stated_values(matched, version_candidates(evidence, bundle, params), best)
    question_terms = list(term_set(matched))
    names = question_names(matched)
    return split_rivals(
        stated, best, vectors, evidence.query, bundle.sentence_lexical.idf(question_terms),
        names=names, full_names=full_name_ends(matched, names),
    )


def syndicated_copy(params: AnswerParams) -> Callable[[Quote, Quote], bool]:
    """Whether two quotes in two briefs are one wire sentence, for counting sources: the near-duplicate rule in
    both directions (a short sentence that a longer one merely contains is another telling, not a copy)."""

    def is_copy(a: Quote, b: Quote) -> bool:
        if a.doc_id == b.doc_id:
            return False
        left, right = _shingles(a.text), _shingles(b.text)
        # the longer text's share implies the shorter one's, which near_duplicate checks
        return bool(left and right) and _facts(left) == _facts(right) and (
            len(left & right) / max(len(left), len(right)) >= params.duplicate_overlap
        )

    return is_copy


def answer_versions(
    question: str, evidence: Evidence, bundle: IndexBundle, best: Quote, params: AnswerParams,
    rival_model: LinearModel | None, vectors: TextVectors,
) -> tuple[Version, ...]:
    """The versions of the asked fact among the sentences of the best passages (see `versions.py`)."""
    rivals = rival_candidates(question, evidence, bundle, best, params, vectors)
    if rivals is None:
        return ()
    return group_versions(accepted(rivals, rival_model), syndicated_copy(params), best)


def no_versions_message(versions: Sequence[Version]) -> str | None:
    """The default wording about versions: none (the service passes its own, from prompts/)."""
    return None


def compose_answer(
    question: str,
    evidence: Evidence,
    bundle: IndexBundle,
    top_k: int,
    params: AnswerParams,
    model: LinearModel,
    abstention_message: str,
    versions_message: Callable[[Sequence[Version]], str | None] = no_versions_message,
    rival_model: LinearModel | None = None,
    vectors: TextVectors | None = None,
) -> Answer:
    """Quotes and confidence for one question; below the threshold, an abstention with the closest passages.

    When the quotes give two or more versions of the asked fact, one quote per version comes first and
    `versions_message` says so (it also words corroboration: one version from several sources)."""
    passages = cite(bundle, evidence, top_k, params.duplicate_overlap)
    sure = confidence(evidence, model)
    quotes = select_quotes(evidence, bundle, params) if sure >= params.threshold_for(model) else []
    if not quotes:
        return Answer(question, False, round(sure, 4), abstention_message, (), passages)
    versions = (
        answer_versions(question, evidence, bundle, quotes[0], params, rival_model, vectors)
        if vectors is not None
        else ()
    )
    shown = quotes_with_versions(quotes, versions, params.max_quotes)
    return Answer(question, True, round(sure, 4), versions_message(versions), tuple(shown), passages, versions)

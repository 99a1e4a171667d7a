"""Pure: who says what. The versions of the asked fact among the answering sentences, each with its sources.

The sentences of the best passages are read for the value each states next to a question word the best
answer shares (`claims.claim`). Candidates stating the best answer's value corroborate it. A candidate
stating another value is a rival, and most rivals are not about the asked fact at all ("41 people were taken
to hospital" beside "19 people remain missing"): a rival becomes a version only when the learned rival model
(`app/weights/version_rival.json`, fitted by `benchmarks/train_versions.py` with cross-validation grouped by
document) accepts it, from how its window (WINDOW_WORDS words each side of the value) compares with the
question and with the best answer's (features listed at `split_rivals`).

A month or a part of one ("mid-October") joins the one specific date of that month when there is exactly one,
and is left out when there are several (it cannot say which it supports). Syndicated copies of one sentence
count once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.answer.claims import (
    ANCHOR_WINDOW,
    KIND_OF,
    WORD,
    Value,
    claim,
    currency_beside,
    display,
    is_yes_no,
    polarity_in,
    same_value,
    vague_fits,
)
from app.linear import LinearModel
from app.models import Quote, Statement, Version
from app.retrieve.signals import calendar_name, names_not_said
from app.text.answer_type import measure_unit, question_type
from app.text.normalize import STOPWORDS, content_words, fold, term_forms, term_set, words

WINDOW_WORDS = 6
RIVAL_FEATURES = (
    "window_cosine", "window_cosine_gap", "frame_cosine", "frame_overlap", "unit_match", "window_coverage_gap",
    "adjacent_weight", "neighbour_words", "same_document", "names_question_thing", "yes_no", "names_unsaid",
    "dated_question_thing",
)
# The direction each feature may push a rival's probability (`benchmarks/train_versions.py` fits within these
# signs, as the abstention model's `ABSTENTION_SIGNS`): a rival closer to the question, alone or against the best
# answer, counting the same unit, said in the same content words or about the asked thing never makes a version
# less likely; said in the best answer's own brief, or without the names the best answer says, never more
# likely. The frame's cosine and shared terms, and a yes or a no, are left free: a near-identical frame is as
# often a list of other figures ("5, 4 and 3 million") as the same fact told two ways. Held to its sign, the
# rival window's cosine gap to the best answer's takes no weight (the window's own cosine barely any): the
# question's share of the window (`window_coverage_gap`) says it better.
RIVAL_SIGNS = {
    "window_cosine": 1, "window_cosine_gap": 1, "unit_match": 1, "window_coverage_gap": 1,
    "adjacent_weight": 1, "neighbour_words": 1, "same_document": -1, "names_question_thing": 1,
    "names_unsaid": -1, "dated_question_thing": 1,
}
NEIGHBOURS = 2  # words each side of a value that say what it is ("agreed on …", "… hospitals and")
MAX_RIVALS = 3  # the best-ranked rivals weighed (each costs two short texts in the one encoder call)
_AT = {name: i for i, name in enumerate(RIVAL_FEATURES)}
TextVectors = Callable[[Sequence[str]], npt.NDArray[np.float32]]  # texts -> unit vectors (the MiniLM encoder)
# "that" is left out: "said that 41 people" is a clause, not a determiner
_DETERMINERS = frozenset({"a", "an", "the", "its", "their", "his", "her", "this", "these", "those"})
# one name per currency, so "£18 million" and "$3 million" are two units ("18 million pounds" is the first)
_CURRENCY_NAME = {"$": "dollar", "€": "euro", "£": "pound", "¥": "yuan"}


@dataclass(frozen=True)
class Stated:
    """A candidate quote, its ranker score and the value it states."""

    quote: Quote
    score: float
    value: Value

    @property
    def statement(self) -> Statement:
        """The candidate as the answer gives it: the quote and its value's document offsets."""
        start = self.quote.start + self.value.start
        return Statement(self.quote, self.value.text, start, start + len(self.value.text))


def stated_values(question: str, candidates: Sequence[tuple[Quote, float]], best: Quote) -> list[Stated]:
    """The candidates (best first) that state a value of the asked type next to a question word that the best
    answer uses too, or for a yes/no question, those that say yes or no to it (`claims.polarity_in`). Empty for
    a question of no such type, or when the best answer states no value itself."""
    if is_yes_no(question):  # first: "might the number of jobs cut rise" asks yes or no, not for a number
        forms, needed = term_forms(question), min(2, len(set(content_words(words(question)))))
        return [Stated(q, s, v) for q, s in candidates if (v := polarity_in(q.text, forms, needed)) is not None]
    asked = question_type(question)  # "what is the death toll" asks for a number as "how many died" does
    kind = KIND_OF.get(asked)
    if kind is None:
        return []
    question_words = frozenset(words(question))
    unit = measure_unit(question, asked)  # None but for a quantity asked in a unit
    anchors = term_forms(question) & term_forms(best.text) or term_forms(question)
    found: list[Stated] = []
    for quote, score in candidates:
        # the best answer is known to answer: its value may lie further from the question's words
        value = claim(quote.text, kind, anchors, question_words, None if quote == best else ANCHOR_WINDOW, unit)
        if value is not None:
            found.append(Stated(quote, score, value))
    return found


def value_window(text: str, value: Value, width: int = WINDOW_WORDS) -> tuple[str, str]:
    """The value with up to `width` words either side of it, cut from the sentence (what it is said about),
    and the same window without the value (its frame: "shares fell … in New York on Tuesday")."""
    tokens = list(WORD.finditer(text))
    inside = [i for i, m in enumerate(tokens) if m.start() < value.end and value.start < m.end()]
    if not inside:
        return value.text, ""
    low, high = max(0, inside[0] - width), min(len(tokens) - 1, inside[-1] + width)
    start, end = tokens[low].start(), tokens[high].end()
    window = text[start:end]
    frame = (text[start : value.start] + " " + text[value.end : end]).strip()
    return window, frame


def neighbours(text: str, value: Value) -> tuple[list[str], list[str]]:
    """The NEIGHBOURS words right before and right after the value, folded."""
    before = [fold(m.group(0)) for m in WORD.finditer(text[: value.start])][-NEIGHBOURS:]
    after = [fold(m.group(0)) for m in WORD.finditer(text[value.end :])][:NEIGHBOURS]
    return before, after


def names_question_thing(text: str, value: Value, question_terms: frozenset[str]) -> bool:
    """Whether the value is said as an attribute of something the question asks about: a determiner or a
    possessive right before it and a question word right after it ("followed an October 16 ceasefire", "the
    12 injured workers", "the $52 million repair"; not "the 14-kilometre line"). Such a value is the asked
    thing's own, wherever in the brief it stands."""
    before, after = neighbours(text, value)
    if not before or not (before[-1] in _DETERMINERS or before[-1].endswith(("'s", "’s"))):
        return False
    return bool(term_set(" ".join(after[:1])) & question_terms)


def unit_of(text: str, value: Value) -> tuple[str, bool]:
    """What a number counts: the currency named next to it ("" for none), whether it is a percentage."""
    found = currency_beside(text, value)
    currency = ""
    if found:
        named = found.group(0).lower()
        currency = _CURRENCY_NAME.get(named, named.removesuffix("s"))
    return currency, value.kind == "number" and value.key[2] == "percent"


@dataclass(frozen=True)
class Rivals:
    """The candidates stating another value than the best answer, with the rival model's features."""

    best: Stated
    agreeing: list[Stated]  # the best answer and every candidate stating its value (or fitting it, if vague)
    rivals: list[Stated]
    features: npt.NDArray[np.float64]  # one row of RIVAL_FEATURES per rival


def split_rivals(
    stated: Sequence[Stated], best: Quote, vectors: TextVectors, query: npt.NDArray[np.float32],
    weight: Mapping[str, float], *, names: Sequence[str], full_names: Mapping[str, str],
) -> Rivals | None:
    """Candidates that agree with the best answer, and rivals measured for the rival model (None: the best
    answer states no value). Per rival: how close its window is to the question, alone and against the best
    answer's; how close its frame is to the best answer's frame, by MiniLM cosine and by shared terms; and
    whether it counts the same thing (money or not, a percentage or not); and how much more or less of the
    question's weight (`weight`: IDF per question term) its window holds than the best answer's (a rival
    about another subject lacks the question's own names); how weighty a question word right next to it is
    ("an October 16 ceasefire"; "41 people" is next to a common one); and how many of the content words right
    around it are the best answer's ("agreed on …", "… hospitals and": "agreed", "hospitals"; a stopword such as
    the "more than" of "more than 2,000 people" is shared by any two counts); whether it is in the best answer's own
    brief (one article seldom contradicts itself: another number there is most often another fact); and
    whether it is said as an attribute of a thing the question names ("an October 16 ceasefire"), and whether
    that value is a date (a date so said dates that very ceasefire; "the 41 people on board" may count other
    people); whether it is a yes or a no (a flipped answer to a yes/no question is weighed apart from a
    differing value); and of the question's names (`names`, months and days aside) that the best answer says,
    the share the rival does not (a surname alone says a full name: `full_names`; "who led Pakistan's
    delegation": "The Afghan delegation was led by ..." is about another delegation)."""
    top = next((s for s in stated if s.quote == best), None)
    if top is None:
        return None
    if not top.value.specific:  # "mid-October", "in 2025": too vague to tell a rival from a detail; no versions
        same = [s for s in stated if same_value(s.value, top.value)]
        return Rivals(top, same, [], np.zeros((0, len(RIVAL_FEATURES))))
    differing = [s for s in stated if s.value.specific and not same_value(s.value, top.value)]
    rivals = differing[:MAX_RIVALS]  # candidates come best-ranked first
    agreeing = [s for s in stated if s not in differing]
    features = np.zeros((len(rivals), len(RIVAL_FEATURES)), dtype=np.float64)
    if rivals:
        cut = [value_window(s.quote.text, s.value) for s in (top, *rivals)]
        embedded = np.asarray(vectors([w for w, _ in cut] + [f for _, f in cut]), dtype=np.float64)
        windows, frames = embedded[: len(cut)], embedded[len(cut) :]
        to_question = windows @ np.asarray(query, dtype=np.float64)
        features[:, _AT["window_cosine"]] = to_question[1:]
        features[:, _AT["window_cosine_gap"]] = to_question[1:] - to_question[0]
        features[:, _AT["frame_cosine"]] = frames[1:] @ frames[0]
        top_terms = term_set(cut[0][1])
        total = sum(weight.values())

        def covered(window: str) -> float:
            present = term_set(window)
            return sum(w for t, w in weight.items() if t in present) / total if total > 0 else 0.0

        top_covered = covered(cut[0][0])
        heaviest = max(weight.values(), default=0.0)
        top_before, top_after = neighbours(top.quote.text, top.value)
        top_near = {("b", w) for w in top_before} | {("a", w) for w in top_after}
        top_unit = unit_of(top.quote.text, top.value)
        asked = frozenset(weight)  # the question's terms
        # the question's names the best answer says (months and days aside: no sentence need say a date's name)
        named = [n for n in names if not calendar_name(n)]
        unsaid_by_best = set(names_not_said(named, top.quote.text, full_names))
        best_says = [n for n in named if n not in unsaid_by_best]
        for i, (rival, (window, frame)) in enumerate(zip(rivals, cut[1:], strict=True)):
            before, after = neighbours(rival.quote.text, rival.value)
            near = {("b", w) for w in before} | {("a", w) for w in after}
            shared = [word for _, word in near & top_near if word not in STOPWORDS]  # a side each: twice
            features[i, _AT["neighbour_words"]] = len(shared) / (2 * NEIGHBOURS)
            features[i, _AT["same_document"]] = float(rival.quote.doc_id == top.quote.doc_id)
            close = term_set(" ".join(before[-1:] + after[:1])) | term_set(" ".join(before + after[:1]))
            if heaviest > 0:
                features[i, _AT["adjacent_weight"]] = max((weight.get(t, 0.0) for t in close), default=0.0) / heaviest
            terms_here = term_set(frame)
            union = top_terms | terms_here
            features[i, _AT["frame_overlap"]] = len(top_terms & terms_here) / len(union) if union else 0.0
            features[i, _AT["unit_match"]] = float(top_unit == unit_of(rival.quote.text, rival.value))
            features[i, _AT["window_coverage_gap"]] = covered(window) - top_covered
            features[i, _AT["names_question_thing"]] = float(names_question_thing(rival.quote.text, rival.value, asked))
            features[i, _AT["yes_no"]] = float(rival.value.kind == "yesno")
            features[i, _AT["dated_question_thing"]] = features[i, _AT["names_question_thing"]] * float(
                rival.value.kind == "date")
            if best_says:
                unsaid = names_not_said(best_says, rival.quote.text, full_names)
                features[i, _AT["names_unsaid"]] = len(unsaid) / len(best_says)
    return Rivals(top, agreeing, rivals, features)


def accepted(rivals: Rivals, model: LinearModel | None) -> list[Stated]:
    """The agreeing candidates plus the rivals the model accepts (none without a model)."""
    if model is None or not rivals.rivals:
        return list(rivals.agreeing)
    keep = model.probabilities(rivals.features) >= model.threshold
    return list(rivals.agreeing) + [r for r, k in zip(rivals.rivals, keep.tolist(), strict=True) if k]


def group_versions(
    stated: Sequence[Stated], is_copy: Callable[[Quote, Quote], bool], best: Quote | None = None
) -> tuple[Version, ...]:
    """Versions, the best answer's first, then in the order of their best candidate; statements newest source
    first (then by score). With one version the quotes keep the ranker's order (`quotes_with_versions`); with
    two or more, the best answer leads and each other version's newest statement follows it."""
    groups: list[list[Stated]] = []
    for item in (s for s in stated if s.value.specific):
        # a version's statements agree with each other, not only with its first ("October 15" joins either of
        # "October 15, 2025" and "October 15, 2024", which are two versions)
        home = next((g for g in groups if all(same_value(o.value, item.value) for o in g)), None)
        if home is None:
            groups.append([item])
        elif not any(o.quote.overlaps(item.quote) for o in home):
            home.append(item)
    specific_groups = len(groups)
    for item in (s for s in stated if not s.value.specific):
        fitting = [g for g in groups[:specific_groups] if vague_fits(item.value, g[0].value)]
        if len(fitting) == 1:
            fitting[0].append(item)
        elif not specific_groups:  # only vague values: they group among themselves
            home = next((g for g in groups if same_value(g[0].value, item.value)), None)
            if home is None:
                groups.append([item])
            else:
                home.append(item)
    # the best answer's version first (it holds the first quote), then by the best candidate of each
    groups.sort(key=lambda g: (not any(s.quote == best for s in g), -max(s.score for s in g)))
    versions: list[Version] = []
    for group in groups:
        kept: list[Stated] = []
        for item in group:  # a syndicated copy of a statement already kept counts once
            if not any(is_copy(item.quote, other.quote) for other in kept):
                kept.append(item)
        # newest source first (undated sources last), then by score: with no dates the best answer leads
        kept.sort(key=lambda s: (s.quote.published or "", s.score), reverse=True)
        sources = len({s.quote.source or f"doc:{s.quote.doc_id}" for s in kept})
        specific = next((s.value for s in kept if s.value.specific), kept[0].value)
        versions.append(Version(specific.kind, display(specific), sources, tuple(s.statement for s in kept)))
    return tuple(versions)


def quotes_with_versions(quotes: Sequence[Quote], versions: Sequence[Version], limit: int) -> list[Quote]:
    """With two or more versions: one quote per version first (the best answer for its own version, the newest
    statement for each other), then the other quotes, at most max(limit, number of versions). With one version
    or none: the quotes as chosen."""
    if len(versions) < 2:
        return list(quotes)
    # the best answer's version is the first; its quote is the best answer itself (the quote that passed the
    # confidence check), whatever its date; every other version shows its newest statement
    first = [quotes[0] if quotes else versions[0].statements[0].quote, *(v.statements[0].quote for v in versions[1:])]
    rest = [q for q in quotes if not any(q.overlaps(f) for f in first)]
    return (first + rest)[: max(limit, len(versions))]

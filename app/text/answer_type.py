"""Expected answer type of a question (when / how many / where / who) and whether a sentence offers one.

A sentence that contains the kind of thing the question asks for (a date for "when", a number for "how
many", a place after a preposition for "where", a person's name or role for "who") gets a small bonus in
ranking. This is ordinary question-answering knowledge, not tuned to any particular question.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
import numpy.typing as npt

from app.text.normalize import words

AnswerType = Literal["when", "quantity", "where", "who", "other"]
ANSWER_TYPES: tuple[AnswerType, ...] = ("when", "quantity", "where", "who")  # the types a sentence can offer

_MONTHS = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
_DAYS = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_PATTERNS: dict[AnswerType, re.Pattern[str]] = {
    "when": re.compile(
        rf"\b(?:{_MONTHS}|{_DAYS}|(?:19|20)\d\d|yesterday|today|tonight|last (?:week|month|year)|"
        r"(?:earlier|later|this|next) (?:this )?(?:week|month|year)|decades?|years? ago)\b"
    ),
    "quantity": re.compile(
        r"\b(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|dozens?|hundreds?|thousands?|"
        r"millions?|billions?|percent|half|several)\b",
        re.IGNORECASE,
    ),
    "where": re.compile(r"\b(?:in|at|from|near|to|inside|across)\s+(?:the\s+)?[A-Z][a-z]+"),
    "who": re.compile(
        r"(?:\b[A-Z][a-z]+(?:-[a-z]-)?\s+[A-Z][a-z]+\b)|\b(?:minister|president|official|analyst|diplomat|"
        r"spokesman|spokeswoman|spokesperson|economist|negotiators?|delegation|envoy|leaders?)\b"
    ),
}
_NAMED = (
    r"firm|company|companies|university|college|school|party|organization|organisation|agency|bank|"
    r"team|club|newspaper|network|hospital|brand|ministry|department"
)
_LEAD = r"^\s*(?:(?:by|in|on|at|for|from|to|until|since|of|with)\s+)?"  # "by how much", "on what date", "to whom"
_QUESTION_TYPES: list[tuple[re.Pattern[str], AnswerType]] = [
    (re.compile(_LEAD + r"(?:when|what (?:date|day|time|year|month)|which (?:date|day|year|month)|since when)\b",
                re.I), "when"),
    (re.compile(_LEAD + r"(?:how (?:many|much|long|often)|what (?:percentage|share|number|amount))\b", re.I),
     "quantity"),
    (re.compile(_LEAD + r"(?:where|which (?:city|country|place|town))\b", re.I), "where"),
    (re.compile(_LEAD + r"(?:who|whom|whose)\b", re.I), "who"),
    # "how old", "how deep", "how far": a measure, so a number answers it
    (re.compile(_LEAD + r"how (?:old|far|deep|tall|high|big|large|wide|fast|heavy|close)\b", re.I), "quantity"),
    # "what is the name of ...", "which firm ...": a proper name answers it
    (re.compile(_LEAD + r"(?:what|which)\s+(?:(?:is|was|are|were)\s+)?(?:the\s+)?names?\s+of\b", re.I), "who"),
    (re.compile(_LEAD + r"(?:what|which)\s+(?:[\w-]+\s+){0,2}?(?:" + _NAMED + r")\b", re.I), "who"),
]
# what a quantity is called: "the price of", "its population", "the death toll"; asked with a copula ("what is
# the current exchange rate") or written as keywords ("green line ticket price"), a number answers it
_MEASURES = (
    r"price|prices|cost|costs|fare|fares|fee|fees|population|rate|capacity|salary|salaries|wage|wages|budget|"
    r"revenue|profit|income|worth|age|magnitude|percentage|share|amount|total|size|height|depth|length|width|"
    r"distance|speed|temperature|turnout|margin|toll|tally|rating|score|count|number"
)
_COPULA_MEASURE = re.compile(
    _LEAD + r"(?:what|which)\s+(?:is|was|are|were|will\s+be|'s)\s+(?:[\w'’-]+\s+){0,4}?(?:" + _MEASURES + r")\b",
    re.I,
)
_ASKING = re.compile(
    r"^\s*(?:what|who|whom|whose|when|where|why|how|which|did|does|do|is|are|was|were|can|could|will|would|has|"
    r"have|had|should|tell|explain|describe|list)\b",
    re.I,
)
_MEASURE_WORD = re.compile(r"\b(?:" + _MEASURES + r")\b", re.I)


def question_type(question: str) -> AnswerType:
    """The kind of thing that answers the question, from its opening words.

    Beyond the wh-word ("when", "how many", "where", "who"), a question that asks for a measure by its name
    ("what was the vote share", "how old is", or keywords only: "ticket price") asks for a quantity, and one
    that asks for a name ("what is the name of", "which firm") asks for a who-like proper name.
    """
    for pattern, kind in _QUESTION_TYPES:
        if pattern.search(question):
            return kind
    if _COPULA_MEASURE.search(question):
        return "quantity"
    if not _ASKING.search(question) and _MEASURE_WORD.search(question):
        return "quantity"  # keywords only: "population of varosh", "earthquake magnitude"
    return "other"


def offers(sentence: str, kind: AnswerType) -> bool:
    """True when the sentence contains something of the expected answer type."""
    pattern = _PATTERNS.get(kind)
    return bool(pattern and pattern.search(sentence))


_SEPARATOR = "\x00"  # neither a word character nor a space: no pattern matches across it, \b behaves as at an edge


def offering_rows(sentences: list[str], kind: AnswerType) -> npt.NDArray[np.bool_]:
    """`offers(s, kind)` for every sentence at once: one regex scan over the joined texts, not one per sentence.

    No pattern can match the separator or span it, and a word boundary next to it is one at a text's edge,
    so a match in the joined text is exactly a match inside one sentence.
    """
    flags = np.zeros(len(sentences), dtype=np.bool_)
    pattern = _PATTERNS.get(kind)
    if pattern is None or not sentences:
        return flags
    lengths = np.fromiter((len(s) + 1 for s in sentences), dtype=np.int64, count=len(sentences))
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    found = np.fromiter((m.start() for m in pattern.finditer(_SEPARATOR.join(sentences))), dtype=np.int64)
    flags[np.searchsorted(starts, found, side="right") - 1] = True
    return flags


Unit = Literal["age", "money", "percent", "duration"]
_NUMBER = r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a few|several|dozens? of)"
_UNIT_QUESTIONS: list[tuple[re.Pattern[str], Unit]] = [
    (re.compile(r"\bhow old\b|\bages?\b", re.I), "age"),
    (re.compile(r"\b(?:prices?|costs?|costing|fares?|fees?|salary|salaries|wages?|paid|pay|budget|revenue|profits?|"
                r"income|worth|invest(?:ed|ment)?|spen[dt]|fined?|damages|compensation|money|earn(?:ed|s)?)\b", re.I),
     "money"),
    (re.compile(r"\b(?:percentage|percent|per cent|share)\b", re.I), "percent"),
    (re.compile(r"^\s*(?:for\s+)?how long\b", re.I), "duration"),
]
# what states a measure of that unit: an age ("Elena Brask, 54," / "the 61-year-old" / "aged 70"), an amount of
# money, a percentage, a span of time
_UNIT_PATTERNS: dict[Unit, re.Pattern[str]] = {
    "age": re.compile(r"\b\d{1,3}-year-old\b|\baged? \d{1,3}\b|, \d{1,3},|\b\d{1,3} years old\b|\bin (?:his|her|their) "
                      r"(?:early |mid-|late )?\d0s\b", re.I),
    "money": re.compile(r"[$€£¥₹]|\b(?:dollars?|euros?|pounds?|rupees?|yen|yuan|francs?|crowns?|kroner|pesos?)\b|"
                        r"\b\d[\d,.]*\s?(?:m|bn|k)\b", re.I),
    "percent": re.compile(r"%|\bper ?cent\b|\bpercentage points?\b|\b(?:half|a third|a quarter|two-thirds)\b", re.I),
    "duration": re.compile(_NUMBER + r"[\s-]+(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?)\b|"
                           r"\b(?:since|until|for)\b", re.I),
}


def measure_unit(question: str) -> Unit | None:
    """The unit a quantity question asks in, when its words say ("how old": an age, "the ticket price": money,
    "vote share": a percentage, "how long": a span of time); None for a plain count or any other question."""
    if question_type(question) != "quantity":
        return None
    for pattern, unit in _UNIT_QUESTIONS:
        if pattern.search(question):
            return unit
    return None


def offers_new(
    sentence: str, kind: AnswerType, question_words: frozenset[str], unit: Unit | None = None
) -> bool:
    """True when the sentence holds something of the expected type that the question does not already say.

    "How many died in the April 22 attack?" is not answered by a sentence whose only date or number is the
    question's own "April 22": the typed thing must bring a word the question lacks. A quantity asked in a unit
    must be stated in it: "how old is the mayor" is not answered by "3,400 people were moved".
    """
    pattern = _PATTERNS.get(kind)
    if pattern is None:
        return False
    if unit is not None and not _UNIT_PATTERNS[unit].search(sentence):
        return False
    return any(not set(words(match.group(0))) <= question_words for match in pattern.finditer(sentence))

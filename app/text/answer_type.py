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
_LEAD = r"^\s*(?:(?:by|in|on|at|for|from|to|until|since|of|with)\s+)?"  # "by how much", "on what date", "to whom"
_QUESTION_TYPES: list[tuple[re.Pattern[str], AnswerType]] = [
    (re.compile(_LEAD + r"(?:when|what (?:date|day|time|year|month)|which (?:date|day|year|month)|since when)\b",
                re.I), "when"),
    (re.compile(_LEAD + r"(?:how (?:many|much|long|often)|what (?:percentage|share|number|amount))\b", re.I),
     "quantity"),
    (re.compile(_LEAD + r"(?:where|which (?:city|country|place|town))\b", re.I), "where"),
    (re.compile(_LEAD + r"(?:who|whom|whose)\b", re.I), "who"),
]


def question_type(question: str) -> AnswerType:
    for pattern, kind in _QUESTION_TYPES:
        if pattern.search(question):
            return kind
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


def offers_new(sentence: str, kind: AnswerType, question_words: frozenset[str]) -> bool:
    """True when the sentence holds something of the expected type that the question does not already say.

    "How many died in the April 22 attack?" is not answered by a sentence whose only date or number is the
    question's own "April 22": the typed thing must bring a word the question lacks.
    """
    pattern = _PATTERNS.get(kind)
    if pattern is None:
        return False
    return any(not set(words(match.group(0))) <= question_words for match in pattern.finditer(sentence))

"""Pure typo tolerance: a question word the corpus never uses, mapped to the corpus word it misspells.

A newsroom question is typed fast ("ceasfire", "Hatmanis"). A word the corpus lacks matches nothing on the
lexical side, and the unknown-name check would take a misspelled name for a name the briefs never mention. A
word is corrected to a corpus word of the same first letter at Damerau-Levenshtein distance 1 (2 for words
of 8+ letters), and only when exactly one corpus word is that close: an ambiguous near-miss is left alone, so
"weather" does not become "whether", and a word of under five letters is never touched. A word of the English
dictionary (lemminflect's) is spelled right whatever the corpus says: "price" asked of a text that never
says it stays "price" instead of becoming the text's "prime". RapidFuzz computes the distances (C++, far
faster than a Python edit distance over a large vocabulary).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

from app.text.normalize import is_english_word

MIN_LENGTH = 5
LONG_WORD = 8


def max_edits(word: str) -> int:
    return 2 if len(word) >= LONG_WORD else 1


def buckets_by_initial(words: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Corpus words grouped by first letter (alphabetic words of MIN_LENGTH - 1 letters or more)."""
    grouped: dict[str, list[str]] = {}
    for word in words:
        if word.isalpha() and len(word) >= MIN_LENGTH - 1:
            grouped.setdefault(word[0], []).append(word)
    return {letter: tuple(sorted(group)) for letter, group in grouped.items()}


def correction(word: str, buckets: Mapping[str, tuple[str, ...]]) -> str | None:
    """The one corpus word `word` misspells, or None (no close word, or more than one equally close)."""
    if len(word) < MIN_LENGTH or not word.isalpha():
        return None
    choices = buckets.get(word[0], ())
    limit = max_edits(word)
    found = process.extract(
        word, choices, scorer=DamerauLevenshtein.distance, score_cutoff=limit, limit=3
    )
    if not found:
        return None
    best = min(score for _, score, _ in found)
    closest = [choice for choice, score, _ in found if score == best]
    return closest[0] if len(closest) == 1 and best > 0 else None


_WORD = re.compile(r"[A-Za-z]+")


def corrected_text(
    text: str, known: frozenset[str], buckets: Mapping[str, tuple[str, ...]], keep: frozenset[str]
) -> str:
    """`text` with each word the corpus lacks (folded: `known` holds the corpus's words) replaced by the one
    corpus word it misspells, capitalisation of its first letter kept. Words in `keep` (stopwords) stay."""

    def fix(match: re.Match[str]) -> str:
        word = match.group(0)
        folded = word.lower()
        if folded in known or folded in keep or is_english_word(folded):
            return word
        found = correction(folded, buckets)
        if found is None:
            return word
        return found[0].upper() + found[1:] if word[0].isupper() else found

    return _WORD.sub(fix, text)

"""Pure typo tolerance: a question word the corpus never uses, mapped to the corpus word it misspells.

A newsroom question is typed fast ("ceasfire", "Hatmanis"). A word the corpus lacks matches nothing on the
lexical side, and the unknown-name check would take a misspelled name for a name the briefs never mention. A
word is corrected to a corpus word of the same first letter at Damerau-Levenshtein distance 1 (2 for words
of 8+ letters), and only when exactly one corpus word is that close: an ambiguous near-miss is left alone, so
"weather" does not become "whether", and a word of under five letters is never touched. A word of the English
dictionary (lemminflect's, or written in lower case by Webster's or GCIDE) is spelled right whatever the
corpus says: "price" asked of a text that never says it stays "price" instead of becoming the text's "prime",
and "among" does not become "along". RapidFuzz computes the distances (C++, far
faster than a Python edit distance over a large vocabulary).

A word typed in lower case that neither the corpus nor the dictionary holds, and that no one corpus word is
close to, may still be a slip on an English word the briefs do not use ("ivnestigating", "nubmer"): it
becomes the one word of lemminflect's dictionary at distance 1 with the same first letter, when exactly one
is, so that the encoder and the synonym checks read the word that was meant. A capitalised word, or one
English writes only as a name, is corrected to a corpus word or left as it is. A name no list holds, typed in
lower case, can be taken for a slip ("hamas" becomes "hams"): a name the briefs lack is unknown to them
either way, so the question is declined all the same, but its nearest passages are those of the other word.

A capitalised word of four letters, too short for the rule above (four-letter words lie one edit from many
others), is a name typed wrong when exactly one of the words the briefs write only as names is one edit from
it with the same first letter ("Ryek" for "Reyk", "Asef" for "Asif"), and the word is no name English knows
("Iran" stays "Iran" in a brief about "Iraq": a question about another country is not a typo). Not an acronym
("NATO", "OPEC": written in capitals, it is meant as written) nor the stem of a contraction ("Hasn't"). The
risk is the rule's own: a surname the briefs never mention, one letter from one they do ("Lund", "Lind"), is
read as that one, as any misspelling is at five letters and more.

Two words the briefs write as one ("air strikes" where they write "airstrikes", "cease fire" for "ceasefire")
are joined (`compounds_joined`), when neither is a stopword and the joined word is one the corpus uses: apart,
the question's words matched nothing on the lexical side, and a yes/no question ("did pakistan carry out air
strikes") was answered from the sentence that repeated its other words.

A contraction typed without its apostrophe ("whats", "whos", "didnt") gets it back first: as typed it is no
word, so it counted as a word the briefs never use, and "whos the boss" was not a "who" question. A brief
that writes "didn't" holds "didnt" among its folded words, so a form is restored whatever the briefs hold.
Forms that are English words without the apostrophe stay as typed ("cant", "wont", "its", "were", "ill",
"well", "hows", "wheres").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

from app.text.lexicon import lexicon
from app.text.proper_nouns import is_ordinary_word, written_as_name

MIN_LENGTH = 5
SHORT_NAME_LENGTH = 4  # a capitalised word this long is corrected to a name of the briefs only
MAX_ENGLISH_LENGTH = 20  # longer is no slip on a common word; its edits would only cost time
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


def correction(word: str, buckets: Mapping[str, tuple[str, ...]], min_length: int = MIN_LENGTH) -> str | None:
    """The one corpus word `word` misspells, or None (no close word, or more than one equally close)."""
    if len(word) < min_length or not word.isalpha():
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


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def one_edit_away(word: str) -> set[str]:
    """Every string one letter dropped, added, changed or two neighbours swapped from `word` (Norvig's edits)."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    dropped = {a + b[1:] for a, b in splits if b}
    swapped = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    changed = {a + c + b[1:] for a, b in splits if b for c in _LETTERS}
    added = {a + c + b for a, b in splits for c in _LETTERS}
    return (dropped | swapped | changed | added) - {word}


@lru_cache(maxsize=4096)  # about a millisecond a word: a question repeated (or a chat retry) pays it once
def english_correction(word: str) -> str | None:
    """The one English word (lemminflect's dictionary, the common words) one edit from `word` with its first
    letter, or None (none, or more than one: "droopped" could be "dropped" or "drooped")."""
    if not MIN_LENGTH <= len(word) <= MAX_ENGLISH_LENGTH or not word.isalpha():
        return None
    english = lexicon().english  # not the cached is_english_word: hundreds of one-off look-ups would fill its cache
    found = [c for c in one_edit_away(word) if c[0] == word[0] and c in english]
    return found[0] if len(found) == 1 else None


_WORD = re.compile(r"[A-Za-z]+")
_CONTRACTED = re.compile(r"['’]t\b")  # "Hasn't" reads as "Hasn" and "t": the stem of a contraction, no name
# contractions typed without the apostrophe, restored (see above); none of these is a word without it
APOSTROPHE_DROPPED = {
    **{w + "s": w + "'s" for w in ("what", "who", "when", "why", "that", "there", "here")},
    **{w + "nt": w + "n't" for w in ("is", "are", "was", "were", "did", "does", "do", "has", "have", "had",
                                     "would", "could", "should")},
}


def corrected_text(
    text: str, known: frozenset[str], buckets: Mapping[str, tuple[str, ...]], keep: frozenset[str],
    name_buckets: Mapping[str, tuple[str, ...]] | None = None,
) -> str:
    """`text` with each word the corpus lacks (folded: `known` holds the corpus's words) replaced by the one
    corpus word it misspells, or, typed in lower case and no name, by the one English word it misspells, or,
    capitalised and four letters long, by the one name of the briefs (`name_buckets`, by initial) it misspells
    (see above); capitalisation of its first letter kept. Words in `keep` (stopwords) and English words stay."""

    def fix(match: re.Match[str]) -> str:
        word = match.group(0)
        folded = word.lower()
        if folded in APOSTROPHE_DROPPED:
            restored = APOSTROPHE_DROPPED[folded]
            return restored[0].upper() + restored[1:] if word[0].isupper() else restored
        if folded in known or folded in keep or is_ordinary_word(folded):
            return word
        found = correction(folded, buckets)
        if found is None and word.islower() and not written_as_name(folded):
            found = english_correction(folded)
        if (found is None and name_buckets and len(folded) == SHORT_NAME_LENGTH and word[0].isupper()
                and not word.isupper() and not written_as_name(folded)
                and not _CONTRACTED.match(text, match.end())):
            found = correction(folded, name_buckets, SHORT_NAME_LENGTH)
        if found is None:
            return word
        return found[0].upper() + found[1:] if word[0].isupper() else found

    return _WORD.sub(fix, text)


MIN_COMPOUND_LENGTH = 6  # shorter joins are left as typed ("e mail" stays: five letters, and a guess)
_WHOLE_WORD = re.compile(r"(?<![\w'’-])[A-Za-z]+(?![\w'’-])")  # not a piece of "they're", "pre-war", "Zürich"


def compounds_joined(
    text: str, known: frozenset[str], keep: frozenset[str], names: frozenset[str] = frozenset()
) -> str:
    """`text` with each pair of adjacent whole words (apart by spaces only) that the corpus writes as one word
    (folded: `known` holds the corpus's words) written as that word, when neither is in `keep` (stopwords) and
    the joined word is no name of the corpus (`names`) unless both words are capitalised ("new port" is not
    "Newport"; "New Port" may be)."""
    tokens = list(_WHOLE_WORD.finditer(text))
    out: list[str] = []
    at = 0
    i = 0
    while i < len(tokens):
        first = tokens[i]
        if i + 1 < len(tokens):
            second = tokens[i + 1]
            left, right = first.group(0), second.group(0)
            joined = (left + right).lower()
            if (text[first.end():second.start()].isspace() and len(joined) >= MIN_COMPOUND_LENGTH
                    and joined in known and left.lower() not in keep and right.lower() not in keep
                    and (joined not in names or (left[0].isupper() and right[0].isupper()))):
                out += [text[at:first.start()], left + right.lower()]
                at = second.end()
                i += 2
                continue
        i += 1
    return "".join(out) + text[at:]

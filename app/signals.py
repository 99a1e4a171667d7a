"""Pure: does the corpus speak of what the question asks about? Signals the abstention model weighs.

A question term counts as unknown when no corpus word shares its stem *and* no corpus word is a close
synonym of it (cosine ≥ SYNONYM_SIMILARITY between the word embeddings: "percentage" ~ "percent",
"affected" ~ "impacted" are known; "population", "weather", "bitcoin" are not). A capitalised name in the
question that the corpus never mentions ("Iran", "FIFA") is a strong sign the question is about something else.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from app.bundle import IndexBundle
from app.normalize import STOPWORDS, stem, terms, words

SYNONYM_SIMILARITY = 0.75
_STRIP = "?!.,;:\"'()\u201c\u201d\u2018\u2019"


def unknown_words(question: str, bundle: IndexBundle) -> list[str]:
    """Content words of the question whose stem the corpus never uses (candidates for the synonym check)."""
    found = []
    for word in dict.fromkeys(words(question)):
        if word in STOPWORDS or len(word) < 2:
            continue
        if stem(word) not in bundle.vocabulary:
            found.append(word)
    return found


def _has_synonym(vector: npt.NDArray[np.float32], bundle: IndexBundle) -> bool:
    if not len(bundle.lexicon_matrix):
        return False
    return float((bundle.lexicon_matrix @ vector).max()) >= SYNONYM_SIMILARITY


def _known_name(word: str, bundle: IndexBundle) -> bool:
    """A capitalised question word is known if the corpus has it, or (stems of 4+ letters) a word starting
    with its stem ("Turks" → "Turkey"). Only the capitalised parts of a hyphenated word count."""
    capitalised = " ".join(part for part in word.split("-") if part[:1].isupper())
    folded = words(capitalised)
    if not folded or all(w in bundle.surface_words for w in folded):
        return True
    stems = [stem(w) for w in folded]
    return all(len(s) >= 4 and any(v.startswith(s) for v in bundle.surface_words) for s in stems)


def question_signals(
    question: str, bundle: IndexBundle, word_vectors: Mapping[str, npt.NDArray[np.float32]]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(unknown terms, unknown capitalised names) of a question.

    word_vectors holds the embeddings of `unknown_words(question)`; a word with a close synonym in the
    corpus is not counted as unknown. Words without a vector are counted as unknown.
    """
    unknown = tuple(
        stem(w)
        for w in unknown_words(question, bundle)
        if w not in word_vectors or not _has_synonym(word_vectors[w], bundle)
    )
    names: list[str] = []
    for position, token in enumerate(question.split()):
        core = token.strip(_STRIP)
        if position > 0 and core[:1].isupper() and not _known_name(core, bundle):
            names.append(core)
    return tuple(dict.fromkeys(unknown)), tuple(dict.fromkeys(names))


def question_term_count(question: str) -> int:
    return len(dict.fromkeys(terms(question)))

"""Pure: does the corpus speak of what the question asks about? Signals the abstention model weighs.

A question term whose stem the corpus never uses weighs by how far it is from the corpus vocabulary: 0 when
some corpus word is a close synonym (word-embedding cosine ≥ SYNONYM_SIMILARITY: "percentage" ~ "percent",
"affected" ~ "impacted"), 1 when nothing comes near (≤ UNRELATED_SIMILARITY: "weather", "bitcoin"), linear in
between. A capitalised name in the question that the corpus never mentions ("Iran", "FIFA") is a strong sign
the question is about something else.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from app.bundle import IndexBundle
from app.normalize import STOPWORDS, stem, terms, words

SYNONYM_SIMILARITY = 0.8
UNRELATED_SIMILARITY = 0.5
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


def unknownness(vector: npt.NDArray[np.float32] | None, bundle: IndexBundle) -> float:
    """1 for a word with no near synonym in the corpus, 0 for one with a close synonym, linear in between."""
    if vector is None or not len(bundle.lexicon_matrix):
        return 1.0
    best = float((bundle.lexicon_matrix @ vector).max())
    return min(1.0, max(0.0, (SYNONYM_SIMILARITY - best) / (SYNONYM_SIMILARITY - UNRELATED_SIMILARITY)))


def _known_name(word: str, bundle: IndexBundle) -> bool:
    """A capitalised question word is known if the corpus has it, or (stems of 4+ letters) a word starting
    with its stem ("Turks" → "Turkey"). Only the capitalised parts of a hyphenated word count."""
    capitalised = " ".join(part for part in word.split("-") if part[:1].isupper())
    folded = words(capitalised)
    if not folded or all(w in bundle.surface_words for w in folded):
        return True
    stems = [stem(w) for w in folded]
    return all(len(s) >= 4 and bundle.has_word_starting(s) for s in stems)


def question_signals(
    question: str, bundle: IndexBundle, word_vectors: Mapping[str, npt.NDArray[np.float32]]
) -> tuple[tuple[str, ...], float, tuple[str, ...]]:
    """(unknown terms, their summed unknownness, unknown capitalised names) of a question.

    word_vectors holds the embeddings of `unknown_words(question)`; a word with a close synonym in the
    corpus weighs little or nothing. Words without a vector weigh 1.
    """
    weights = {stem(w): unknownness(word_vectors.get(w), bundle) for w in unknown_words(question, bundle)}
    unknown = tuple(t for t, weight in weights.items() if weight >= 0.5)
    names: list[str] = []
    for position, token in enumerate(question.split()):
        core = token.strip(_STRIP)
        if position > 0 and core[:1].isupper() and not _known_name(core, bundle):
            names.append(core)
    return unknown, sum(weights.values()), tuple(dict.fromkeys(names))


def question_term_count(question: str) -> int:
    return len(dict.fromkeys(terms(question)))

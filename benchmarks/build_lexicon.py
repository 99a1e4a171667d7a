"""Builds `app/text/data/lexicon.npz`, the English word lists the question reader consults, from the packages
that ship them (`make lexicon`; see `app/text/lexicon.py` for why a serving process reads this file instead).

lemminflect's dictionary (which words are English, which are verb forms, the lemma of an irregular one),
Webster's Second and GCIDE through english-words (words written in lower case, words written only as names),
ISO 3166 through pycountry and the Unicode CLDR through Babel (one-word names of countries and regions; the
rules are those `app/text/proper_nouns.py` describes). The four are pinned in pyproject.toml's dev extra, and
`tests/test_lexicon.py` checks that the shipped file is exactly what this builds.

Usage: .venv/bin/python -m benchmarks.build_lexicon
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pycountry
from babel import Locale
from english_words import get_english_words_set
from lemminflect import getAllLemmas
from lemminflect.core.Lemmatizer import Lemmatizer

from app.text.lexicon import LEXICON_FILE, HashedWords, Lexicon, lexicon_bytes
from app.text.normalize import STOPWORDS, stem

MIN_NAME_LETTERS = 4  # three-letter words written as names are mostly short forms in a question ("max fine")
SHIPPED = Path(__file__).resolve().parent.parent / "app" / "text" / "data" / LEXICON_FILE


def build_lexicon() -> Lexicon:
    """The lists as the pinned packages give them today: what `make lexicon` writes and the test compares with
    the shipped file. Needs the four packages (pyproject.toml's dev extra); about two seconds."""
    lemmatizer = Lemmatizer()
    # getAllLemmas lower-cases what it is asked, so a key with a capital (the dictionary's "O.K.") is never found
    keys = {w for w in (*lemmatizer._getLemmaDict(), *lemmatizer._getOverridesDict()) if w == w.lower()}
    lemmas_of = {w: getAllLemmas(w) for w in keys}
    english = [w for w, lemmas in lemmas_of.items() if lemmas]
    verb_lemmas = {w: tuple(lemmas["VERB"]) for w, lemmas in lemmas_of.items() if lemmas.get("VERB")}
    irregular = {
        w: lemmas for w, lemmas in verb_lemmas.items() if any(stem(lemma) != stem(w) for lemma in lemmas)
    }

    listed = get_english_words_set(["web2", "gcide"], lower=False, alpha=True)
    ordinary = {w for w in listed if w.islower()}
    names = {w.lower() for w in listed if w[:1].isupper() and w[1:].islower()} - ordinary
    places = [name for c in pycountry.countries for name in (c.name, getattr(c, "common_name", None)) if name]
    places += Locale("en").territories.values()  # CLDR: "Russia" (ISO: "Russian Federation"), "Europe", "Asia"
    names.update(place.lower() for place in places if len(place.split()) == 1)
    english_words = frozenset(english)
    kept_names = (
        w for w in names if len(w) >= MIN_NAME_LETTERS and w.isalpha() and w not in STOPWORDS and w not in english_words
    )
    return Lexicon(
        english=HashedWords.of(english),
        ordinary=HashedWords.of(ordinary),
        names=HashedWords.of(kept_names),
        verbs=HashedWords.of(verb_lemmas),
        inflected_verbs=HashedWords.of(w for w, lemmas in verb_lemmas.items() if w not in lemmas),
        irregular_verb_lemmas=irregular,
    )


def main() -> None:
    """`python -m benchmarks.build_lexicon`: rewrite the shipped file from the installed packages."""
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    SHIPPED.write_bytes(lexicon_bytes(build_lexicon()))
    print(f"wrote {SHIPPED} ({SHIPPED.stat().st_size:,} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()

"""Text folding and tokenization for matching. Works on copies: the stored text is never changed."""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

import Stemmer

from app.text.lexicon import lexicon

_FOLD = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
        "\u2013": "-", "\u2014": " - ", "\u2012": "-", "\u2212": "-", "\u00a0": " ",
    }
)
# Acronyms written with dots ("U.S.", "U.N.") become one token ("us", "un").
_ACRONYM = re.compile(r"\b(?:[A-Za-z]\.){2,}")
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")

# English function words plus question scaffolding: words that say how a question is asked, not what
# it is about. "us" is deliberately absent: after acronym folding it stands for "U.S.".
_STOPWORDS_AS_WRITTEN = frozenset(
    """a about above after again against all am an and any are aren't as at be because been before being
    below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down
    during each few for from further had hadn't has hasn't have haven't having he he'd he'll he's her here
    here's hers herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself
    let's me more most mustn't my myself no nor not of off on once only or other ought our ours ourselves
    out over own same shan't she she'd she'll she's should shouldn't so some such than that that's the their
    theirs them themselves then there there's these they they'd they'll they're they've this those through
    to too under until up very was wasn't we we'd we'll we're we've were weren't what what's when when's
    where where's which while who who's whom why why's will with won't would wouldn't you you'd you'll
    you're you've your yours yourself yourselves also just s t did say said says tell told according
    does kind sort thing things anything something happen happened many much name
    think mean means meant make makes made want wants get gets got go goes going come comes next""".split()
)
# `words` drops apostrophes ("didn't" is "didnt"), so the contractions are listed as it folds them too; not the
# "'d", "'ll" and "'m" ones, whose folded forms are words or names ("we'll": "well", "she'll": "shell", "i'd":
# "id", "i'm": "im", which as "Im" is a surname, and a stopword there would hide the question's names)
STOPWORDS = _STOPWORDS_AS_WRITTEN | {
    w.replace("'", "") for w in _STOPWORDS_AS_WRITTEN if w.endswith(("n't", "'re", "'ve"))
}


def _without_accents(text: str) -> str:
    """Latin letters without their accents ("Šerić" → "Seric", "Zürich" → "Zurich"): the tokenizer keeps ASCII
    letters only, and a name typed without its accents, as questions usually are, must meet the text's."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def fold(text: str) -> str:
    """NFKC, accents dropped, ASCII quotes and dashes, dotted acronyms joined, lower case: a copy fit for
    matching."""
    folded = _without_accents(unicodedata.normalize("NFKC", text)).translate(_FOLD)
    folded = _ACRONYM.sub(lambda m: m.group(0).replace(".", "") + " ", folded)
    return folded.lower()


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    """Folded word tokens, possessive "'s" dropped, in order."""
    return [_word(token) for token in _TOKEN.findall(fold(text))]


def word_set(text: str) -> frozenset[str]:
    """The distinct `words` of a text, each distinct token folded once (a long text repeats its words)."""
    return frozenset(_word(token) for token in set(_TOKEN.findall(fold(text))))


def _word(token: str) -> str:
    if token.endswith("'s"):
        token = token[:-2]
    return token.replace("'", "")


def content_words(tokens: Iterable[str]) -> list[str]:
    """The folded tokens that are not stopwords or single letters, in order."""
    return [w for w in tokens if w not in STOPWORDS and len(w) > 1]


def content_stems(tokens: Iterable[str]) -> list[str]:
    """Stems of the content words among the folded tokens, in order."""
    return list(_stemmer().stemWords(content_words(tokens)))


def terms(text: str) -> list[str]:
    """Stemmed content terms (stopwords removed): what BM25 indexes and abstention compares."""
    return content_stems(words(text))


@lru_cache(maxsize=65536)  # the same sentences and passages come up question after question
def term_set(*texts: str) -> frozenset[str]:
    """The distinct terms of the texts together (a str caches its own hash, so a repeat look-up is cheap)."""
    return frozenset(terms(" ".join(texts)))


def stem(word: str) -> str:
    """The stem of one folded word."""
    return str(_stemmer().stemWord(word))


def is_verb_form(word: str) -> bool:
    """Whether a folded word is a verb form in lemminflect's dictionary ("close", "sank", "arrested")."""
    return word in lexicon().verbs


def is_inflected_verb(word: str) -> bool:
    """Whether a folded word is a verb form that is not its own lemma ("sank", "arrested"; not "close")."""
    return word in lexicon().inflected_verbs


def verb_lemma_stems(word: str) -> tuple[str, ...]:
    """The stems of a folded word's verb lemmas ("began": begin; "arrested": arrest; none for a word that is no
    verb). Only an irregular form's lemmas are stored (`app/text/lexicon.py`): a regular one's share its stem."""
    irregular = lexicon().irregular_verb_lemmas.get(word)
    if irregular is not None:
        return tuple(stem(lemma) for lemma in irregular)
    return (stem(word),) if is_verb_form(word) else ()


def has_word_starting(sorted_words: tuple[str, ...], prefix: str) -> bool:
    """Whether some word of a sorted tuple starts with `prefix` (a binary search, not a scan)."""
    at = bisect.bisect_left(sorted_words, prefix)
    return at < len(sorted_words) and sorted_words[at].startswith(prefix)


@lru_cache(maxsize=65_536)
def is_english_word(word: str) -> bool:
    """Whether a folded word is in lemminflect's English dictionary ("price", "password"; not "guage",
    "bitcoin", "okafor"): a word spelled right, which a typo corrector must leave alone."""
    return word in lexicon().english


@lru_cache(maxsize=65_536)
def word_forms(word: str) -> frozenset[str]:
    """The stem of a folded word and the stems of its verb lemmas ("began": begin, "broke": break, "led":
    lead), so that an irregular verb the stemmer cannot join still meets the question's word (a value's
    anchor in claims.py)."""
    return frozenset({stem(word), *verb_lemma_stems(word)})


@lru_cache(maxsize=65_536)  # like term_set: the same sentences come up question after question
def term_forms(text: str) -> frozenset[str]:
    """`word_forms` of every content word of the text."""
    return frozenset(f for w in content_words(words(text)) for f in word_forms(w))


SPECIAL_PIECES = frozenset({"[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"})
# Words that only hold a sentence together: articles, prepositions, conjunctions, auxiliaries, question words,
# pronouns. Narrower than STOPWORDS on purpose: negations, quantifiers and comparatives ("not", "most", "few",
# "before", "only") carry what a question asks, and a piece-by-piece comparison should see them (measured with
# cross-validation grouped by document: with STOPWORDS instead, late interaction added nothing; docs/answers.md).
FUNCTION_WORDS = frozenset(
    """a an the of in on at to for by with from and or is are was were be been being did do does what which who
    whom whose when where why how that this these those it its as into about than then there their they he she
    his her i we you""".split()
)


def is_content_piece(piece: str) -> bool:
    """A wordpiece of the encoder's tokenizer that carries content: not a special token, not punctuation, not a
    function word ("##" continuation pieces count by their letters). Late interaction (`app/index/tokens.py`)
    keeps only these pieces of a sentence and weighs only these of a question."""
    if piece in SPECIAL_PIECES:
        return False
    letters = piece.removeprefix("##")
    return any(c.isalnum() for c in letters) and (piece.startswith("##") or letters.lower() not in FUNCTION_WORDS)

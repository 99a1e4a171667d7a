"""Folding and tokenization for matching: a curly-quoted, dotted, accented text matches its plain spelling."""

from __future__ import annotations

import pytest

from app.text.normalize import STOPWORDS, fold, stem, terms, words


def test_fold_straightens_quotes_and_dashes() -> None:
    assert fold("“Open War” – Pakistan’s ‘final position’") == "\"open war\" - pakistan's 'final position'"
    assert fold("delegation—led") == "delegation - led"  # an em-dash separates words


def test_fold_applies_nfkc() -> None:
    assert fold("ﬁnal ＡＢＣ") == "final abc"


def test_fold_joins_dotted_acronyms() -> None:
    assert words("U.S. President Donald Trump") == ["us", "president", "donald", "trump"]
    assert words("the U.N. Security Council") == ["the", "un", "security", "council"]


def test_fold_works_on_a_copy() -> None:
    original = "Pakistan’s “final position”"
    fold(original)
    terms(original)
    assert original == "Pakistan’s “final position”"


def test_words_drop_possessives_and_keep_contractions_whole() -> None:
    assert words("Pakistan’s Taliban's don't") == ["pakistan", "taliban", "dont"]


def test_terms_drop_question_scaffolding_and_stem() -> None:
    assert terms("What is the main sticking point in the negotiations?") == ["main", "stick", "point", "negoti"]
    assert terms("What did they say about it?") == []


def test_contractions_are_stopwords_as_words_folds_them() -> None:
    """`words` drops the apostrophe, so "didn't" is "didnt": that form is the stopword too, with or without the
    apostrophe typed. It used to count as a content term, one no brief uses, weighing towards "not covered"."""
    assert terms("Why didn't the talks work?") == terms("why didnt the talks work") == ["talk", "work"]
    assert terms("Isn't the truce holding? They're not sure") == ["truce", "hold", "sure"]
    assert terms("We'll see how well it went") == ["well", "see", "well", "went"]  # "we'll" folds to a word: kept
    assert terms("Im said so") == ["im"]  # "I'm" folds to a surname: kept


def test_us_survives_as_the_country() -> None:
    assert "us" not in STOPWORDS
    assert terms("What did the U.S. offer?") == ["us", "offer"]


@pytest.mark.parametrize(
    ("plain", "typeset"),
    [
        ('Taliban\'s "illogical" stance', "Taliban’s “illogical” stance"),
        ("negotiation", "Negotiations"),
        ("US mediation", "U.S. mediation"),
    ],
)
def test_typographic_variants_give_the_same_terms(plain: str, typeset: str) -> None:
    assert terms(plain) == terms(typeset)


def test_stem_matches_terms() -> None:
    assert stem("negotiations") == stem("negotiation") == terms("negotiations")[0]
    assert stem("ceasefire") == terms("ceasefire")[0]


def test_single_letters_are_not_terms() -> None:
    assert terms("a b c x I") == []

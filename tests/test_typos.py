"""Typo tolerance against the corpus vocabulary (pure), and the unknown-name check that relies on it."""

from __future__ import annotations

from app.index.bundle import IndexBundle
from app.retrieve.signals import _known_name
from app.service import QAService
from app.text.typos import buckets_by_initial, correction
from tests.support import vocabulary_of


def test_a_misspelled_word_becomes_the_one_corpus_word_it_misspells() -> None:
    buckets = buckets_by_initial(["ceasefire", "hartmanis", "brokered", "istanbul"])
    assert correction("ceasfire", buckets) == "ceasefire"  # a letter dropped
    assert correction("hatmanis", buckets) == "hartmanis"
    assert correction("brokerd", buckets) == "brokered"
    assert correction("itsanbul", buckets) == "istanbul"  # two letters swapped: one Damerau edit


def test_short_words_ambiguous_or_far_words_are_left_alone() -> None:
    buckets = buckets_by_initial(["whether", "leather", "kabul", "peace", "place"])
    assert correction("weather", buckets) is None  # two edits from "whether": too far for 7 letters
    assert correction("kabl", buckets) is None  # under five letters
    assert correction("pjace", buckets) is None  # one edit from both "peace" and "place"
    assert correction("bitcoin", buckets) is None


def test_corrected_text_keeps_known_words_stopwords_and_case() -> None:
    words = vocabulary_of("what", "did", "hartmanis", "say", "about", "the", "ceasefire")
    assert words.corrected("What did Hatmanis say about the ceasfire?") == "What did Hartmanis say about the ceasefire?"


def test_a_word_of_the_dictionary_is_never_corrected_into_another() -> None:
    words = vocabulary_of("what", "is", "the", "prime", "of", "minister", "governor")
    assert words.corrected("What is the price of it?") == "What is the price of it?"  # not "prime"
    assert words.corrected("what did the governer say") == "what did the governor say"  # no such word: a typo


def test_demonyms_dotted_abbreviations_and_derived_names_are_known() -> None:
    words = vocabulary_of("us", "australia", "turkey", "afghanistan")
    for name in ("U.S", "U.S.", "Australian", "Turkish", "Afghan", "Turks"):
        assert _known_name(name, words), name
    for name in ("Iran", "Kenyan", "Hartmanis"):
        assert not _known_name(name, words), name


def test_a_misspelled_question_is_answered_like_the_right_one(service: QAService) -> None:
    right = service.ask("When was the ceasefire agreed?")
    typed = service.ask("when was the ceasfire agred")
    assert typed.quotes and right.quotes
    assert typed.quotes[0].start == right.quotes[0].start
    assert typed.question == "when was the ceasfire agred"  # the answer names the question as asked


def test_bundle_vocabulary_corrects_against_the_article(service: QAService) -> None:
    bundle: IndexBundle = service.bundle
    assert bundle.corpus_vocabulary.corrected("Khawja Asif") == "Khawaja Asif"

"""Typo tolerance against the corpus vocabulary (pure), and the unknown-name check that relies on it."""

from __future__ import annotations

from app.index.bundle import IndexBundle
from app.retrieve.signals import _known_name
from app.service import QAService
from app.text.normalize import STOPWORDS
from app.text.typos import buckets_by_initial, compounds_joined, correction, english_correction
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


def test_a_four_letter_name_typed_wrong_becomes_the_briefs_one_name_that_close() -> None:
    """Under the five-letter floor, a capitalised word is corrected to a name the briefs write (only), not to any
    of the many corpus words one edit from a four-letter word, and never when English knows it as a name."""
    names = frozenset({"reyk", "asif", "iraq"})
    words = vocabulary_of("what", "did", "tomas", "reyk", "asif", "iraq", "say", "hand", "rely", names=names)
    assert words.corrected("what did Tomas Ryek say") == "what did Tomas Reyk say"  # two letters swapped
    assert words.corrected("What did Asef say?") == "What did Asif say?"
    assert words.corrected("What did Iran say?") == "What did Iran say?"  # another country, not a typo of Iraq
    assert words.corrected("what did ryek say") == "what did ryek say"  # lower case: too short to tell
    acronyms = vocabulary_of("what", "did", "say", "hans", "left", names=frozenset({"nate", "hans"}))
    assert acronyms.corrected("What did NATO say?") == "What did NATO say?"  # capitals: meant as written
    assert acronyms.corrected("Hasn't Hans left?") == "Hasn't Hans left?"  # a contraction's stem
    no_names = vocabulary_of("what", "did", "tomas", "reyk", "say")
    assert no_names.corrected("what did Tomas Ryek say") == "what did Tomas Ryek say"  # "reyk" no name there


def test_corrected_text_keeps_known_words_stopwords_and_case() -> None:
    words = vocabulary_of("what", "did", "hartmanis", "say", "about", "the", "ceasefire")
    assert words.corrected("What did Hatmanis say about the ceasfire?") == "What did Hartmanis say about the ceasefire?"


def test_a_contraction_typed_without_its_apostrophe_gets_it_back() -> None:
    words = vocabulary_of("who", "led", "the", "talks", "cant", "well", "didnt")  # a brief that wrote "didn't"
    assert words.corrected("whos leading the talks") == "who's leading the talks"
    assert words.corrected("Whats the plan, and why didnt it work") == "What's the plan, and why didn't it work"
    assert words.corrected("cant say, well, the hows") == "cant say, well, the hows"  # words as typed: left alone


def test_a_word_of_the_dictionary_is_never_corrected_into_another() -> None:
    words = vocabulary_of("what", "is", "the", "prime", "of", "minister", "governor")
    assert words.corrected("What is the price of it?") == "What is the price of it?"  # not "prime"
    assert words.corrected("what did the governer say") == "what did the governor say"  # no such word: a typo


def test_a_word_the_dictionary_lists_in_lower_case_is_spelled_right() -> None:
    """lemminflect lacks function words; Webster's lists them: "among" asked of a text that says "along"."""
    words = vocabulary_of("were", "any", "kids", "along", "the", "dead", "despise")
    assert words.corrected("were any kids among the dead") == "were any kids among the dead"
    assert words.corrected("Despite the ruling") == "Despite the ruling"


def test_a_slip_on_an_english_word_the_briefs_lack_becomes_that_word() -> None:
    assert english_correction("ivnestigating") == "investigating"  # two letters swapped
    assert english_correction("nubmer") == "number"
    assert english_correction("aduults") == "adults"  # a letter doubled
    assert english_correction("droopped") is None  # "dropped" or "drooped": ambiguous, left alone
    assert english_correction("biryani") is None and english_correction("bitcoin") is None  # nothing near
    words = vocabulary_of("which", "regulator", "is", "looking", "into", "harbourline")
    assert words.corrected("which regulator is ivnestigating harbourline") == (
        "which regulator is investigating harbourline"
    )
    # a name is never made an English word: a word capitalised inside the question stays as written
    assert words.corrected("what did Nubmer say") == "what did Nubmer say"
    assert words.corrected("Nubmer of boxes") == "Nubmer of boxes"  # capitalised, even first: maybe a name


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


def test_two_words_the_briefs_write_as_one_are_joined() -> None:
    known = frozenset({"airstrikes", "ceasefire", "firefight", "air", "strikes", "anyone", "into", "email",
                       "returning", "removed", "wartime", "newport"})
    joined = compounds_joined("Did Pakistan carry out air strikes?", known, STOPWORDS)
    assert joined == "Did Pakistan carry out airstrikes?"
    assert compounds_joined("did air strikes hit", known, STOPWORDS) == "did airstrikes hit"
    assert compounds_joined("Cease fire held", known, STOPWORDS) == "Ceasefire held"
    # left to right, each word joined once: "cease fire fight" is not also "fire fight"
    assert compounds_joined("cease fire fight", known, STOPWORDS) == "ceasefire fight"
    # stopwords are not joined ("any one", "in to"), nor words apart by punctuation, nor words the corpus lacks,
    # nor a join of under MIN_COMPOUND_LENGTH letters ("e mail"), nor pieces of a word ("they're", "pre-war")
    for text in ("any one of them", "went in to talks", "air, strikes", "air raids", "send an e mail",
                 "They're turning back", "we're moved", "pre-war time"):
        assert compounds_joined(text, known, STOPWORDS) == text
    # a name of the briefs is made only of capitalised words: "new port" is not "Newport"
    names = frozenset({"newport"})
    assert compounds_joined("the new port opened", known, STOPWORDS, names) == "the new port opened"
    assert compounds_joined("talks in New Port", known, STOPWORDS, names) == "talks in Newport"


def test_a_compound_typed_apart_is_found_like_the_one_word(service: QAService) -> None:
    assert service.bundle.corpus_vocabulary.corrected("did pakistan carry out air strikes") == (
        "did Pakistan carry out airstrikes"
    )
    apart, joined = service.evidence_many(["Did Pakistan carry out air strikes on Afghan territory?",
                                           "Did Pakistan carry out airstrikes on Afghan territory?"])
    assert apart.ranked is not None and joined.ranked is not None
    assert apart.ranked.rows.tolist() == joined.ranked.rows.tolist()
    assert any("airstrikes inside Afghanistan" in service.bundle.sentences[row].text
               for row in apart.ranked.rows[:3].tolist())

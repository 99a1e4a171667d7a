"""Names typed in lower case: the word lists that tell a name from a word, the corpus's own names, accents.

Pure functions over the real word lists (english-words, pycountry, lemminflect), then the real service on the
default article: a newsroom types "what did iran say about the talks", and the answer must be the one
"What did Iran say about the talks?" gets.
"""

from __future__ import annotations

from app.retrieve.signals import _known_name, question_names
from app.service import QAService
from app.text.normalize import words
from app.text.proper_nouns import is_ordinary_word, names_written, proper_noun_words, with_names_capitalised
from tests.support import vocabulary_of


def test_words_english_writes_only_as_names() -> None:
    names = proper_noun_words()
    for name in ("iran", "france", "germany", "dublin", "kenya", "iranian"):
        assert name in names, name
    # ordinary words too ("china", "turkey"), short forms ("max"), and plain words are not names
    for word in ("china", "turkey", "max", "border", "talks", "among", "ceasefire"):
        assert word not in names, word


def test_countries_and_regions_by_their_common_english_names() -> None:
    """ISO 3166 names Russia "Russian Federation", and Webster's lists "russia" (a leather) in lower case, so
    before CLDR's territory names "what did russia say" read as a question with no name in it."""
    names = proper_noun_words()
    for place in ("russia", "syria", "europe", "africa", "asia", "caribbean"):
        assert place in names, place
    assert "world" not in names  # CLDR's region 001, an ordinary word


def test_ordinary_words_include_function_words_the_lemma_dictionary_lacks() -> None:
    assert is_ordinary_word("despite") and is_ordinary_word("border") and is_ordinary_word("minister")
    assert not is_ordinary_word("taliban") and not is_ordinary_word("iran")


def test_names_written_are_capitalised_inside_a_sentence_and_never_in_lower_case() -> None:
    sentences = [
        "Talks in Istanbul stalled as the Taliban delegation left.",
        "Border crossings stayed shut, Defence Minister Khawaja Asif said.",
        "- Rehabilitation of TTP-linked groups.",
        "The border reopened on Monday.",
    ]
    found = names_written(sentences)
    assert {"istanbul", "taliban", "khawaja", "asif", "ttp", "monday"} <= found
    assert "border" not in found  # written "border" in the last sentence
    assert "talks" not in found and "rehabilitation" not in found  # a sentence's first word tells nothing
    assert "defence" not in found and "minister" not in found  # titles: ordinary words


def test_a_lower_case_question_gets_the_corpus_names_capitalised() -> None:
    names = frozenset({"taliban", "istanbul", "ttp"})
    assert (with_names_capitalised("who led the taliban delegation in istanbul?", names)
            == "who led the Taliban delegation in Istanbul?")
    assert with_names_capitalised("What is the TTP?", names) == "What is the TTP?"  # written capitals stay
    vocabulary = vocabulary_of("taliban", "delegation", names=frozenset({"taliban"}))
    assert vocabulary.corrected("who headed the talban delegation") == "who headed the Taliban delegation"


def test_a_lower_case_question_names_its_names() -> None:
    assert question_names("what did iran say about the talks") == ["iran"]
    assert question_names("WHAT DID IRAN SAY") == ["IRAN"]  # capitals tell nothing, the word list does
    assert question_names("what did the governor say") == []
    said = vocabulary_of("pakistan", "afghanistan")
    assert not _known_name("iran", said)
    assert _known_name("afghan", said)  # a lower-case ordinary word is not a name: nothing to look up


def test_accents_are_folded_for_matching() -> None:
    assert words("Anton Šerić said in Zürich") == ["anton", "seric", "said", "in", "zurich"]
    assert _known_name("Seric", vocabulary_of(*words("Šerić")))


def test_a_question_typed_in_lower_case_is_answered_like_the_written_one(service: QAService) -> None:
    pairs = [
        ("What did Iran say about the talks?", "what did iran say about the talks"),
        ("What did Germany say about the talks?", "what did germany say about the talks"),
        ("Who led Pakistan's delegation in Istanbul?", "who led pakistans delegation in istanbul"),
    ]
    for written, typed in pairs:
        a, b = service.ask(written), service.ask(typed)
        assert a.answered == b.answered, (written, a.confidence, b.confidence)
        assert abs(a.confidence - b.confidence) < 0.05, (written, a.confidence, b.confidence)
    assert not service.ask("what did iran say about the talks").answered

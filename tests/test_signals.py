"""Does the corpus speak of what a question asks about? Unknown words and names, over the real index and model."""

from __future__ import annotations

import numpy as np
import pytest

from app.embed.reference import Embedder
from app.index.bundle import IndexBundle
from app.retrieve.signals import (
    figures_not_held,
    full_name_ends,
    names_not_said,
    question_names,
    question_signals,
    question_term_count,
    searchable_words,
    unknown_words,
)
from app.service import QAService
from app.text.normalize import stem
from tests.support import CountingEncoder


@pytest.fixture(scope="module")
def bundle(service: QAService) -> IndexBundle:
    return service.bundle


def weighed(question: str, bundle: IndexBundle, embedder: Embedder) -> tuple[tuple[str, ...], float, tuple[str, ...]]:
    """question_signals with real word vectors, as the service computes them."""
    unknown = unknown_words(question, bundle.corpus_vocabulary)
    vectors = embedder.embed_documents(unknown)
    return question_signals(question, bundle.corpus_vocabulary, dict(zip(unknown, vectors, strict=True)))


def signals(question: str, bundle: IndexBundle, embedder: Embedder) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(unknown terms, unknown names), without the summed unknownness."""
    terms, _, names = weighed(question, bundle, embedder)
    return terms, names


def test_words_of_the_article_are_known(bundle: IndexBundle, embedder: Embedder) -> None:
    question = "Who led Pakistan's delegation to the Istanbul talks?"
    assert unknown_words(question, bundle.corpus_vocabulary) == []
    assert signals(question, bundle, embedder) == ((), ())


def test_a_name_the_article_never_mentions_is_unknown(bundle: IndexBundle, embedder: Embedder) -> None:
    question = "What did Iran say about the talks?"
    assert unknown_words(question, bundle.corpus_vocabulary) == ["iran"]
    _, mass, names = weighed(question, bundle, embedder)
    assert names == ("Iran",)
    assert mass > 0.2  # "Iran" is only loosely like the article's "Arabia"/"Pakistan"


def test_off_topic_words_stay_unknown_even_with_synonym_search(bundle: IndexBundle, embedder: Embedder) -> None:
    terms, names = signals("What is the price of bitcoin today?", bundle, embedder)
    assert {"bitcoin", "price"} <= set(terms) and names == ()
    terms, _ = signals("What is the population of Kabul?", bundle, embedder)
    assert terms == (stem("population"),)
    terms, names = signals("Who won the 2022 FIFA World Cup?", bundle, embedder)
    assert "fifa" in terms and "FIFA" in names


def test_percentage_is_known_through_its_synonym_percent(bundle: IndexBundle, embedder: Embedder) -> None:
    question = "What percentage of the first-round agreement has been implemented?"
    assert unknown_words(question, bundle.corpus_vocabulary) == ["percentage"]  # no shared stem with "percent"
    assert signals(question, bundle, embedder) == ((), ())
    assert weighed(question, bundle, embedder)[1] < 0.1
    # without a vector for the word there is no synonym check: it counts as unknown
    assert question_signals(question, bundle.corpus_vocabulary, {}) == ((stem("percentage"),), 1.0, ())


def test_off_topic_words_weigh_more_than_near_synonyms(bundle: IndexBundle, embedder: Embedder) -> None:
    assert weighed("What is the price of bitcoin today?", bundle, embedder)[1] > 2.0
    assert weighed("How was trade affected?", bundle, embedder)[1] < 0.2


def test_affected_is_known_through_impacted(bundle: IndexBundle, embedder: Embedder) -> None:
    terms, _ = signals("How was trade affected?", bundle, embedder)
    assert terms == ()


def test_turks_is_a_known_name_via_turkey(bundle: IndexBundle) -> None:
    # no word vectors: the name rule alone must recognise "Turks" as the "Turkey"/"Turkish" of the article
    terms, _, names = question_signals("What do the Turks want?", bundle.corpus_vocabulary, {})
    assert terms == (stem("turks"),)
    assert names == ()


def test_known_names_and_the_first_word_are_not_flagged(bundle: IndexBundle) -> None:
    vocabulary = bundle.corpus_vocabulary
    assert question_signals("Did Pakistan and the Tehreek-e-Taliban Pakistan talk?", vocabulary, {})[2] == ()
    assert question_signals("Did Khawaja Asif warn of war?", vocabulary, {})[2] == ()
    assert question_signals("What did France say?", vocabulary, {})[2] == ("France",)


def test_a_question_with_nothing_anything_could_match_has_no_searchable_words(bundle: IndexBundle) -> None:
    vocabulary = bundle.corpus_vocabulary
    for nothing in ("xyzzy", "asdf qwerty", "the", "?", "what is it", "qwertyuiop zxcvbnm?"):
        assert searchable_words(nothing, vocabulary) == 0, nothing
    # a word of the article, of English, or one English writes only as a name: something to look for
    assert searchable_words("taliban", vocabulary) == 1
    assert searchable_words("how many were hurt", vocabulary) == 1  # English, though the article never says it
    assert searchable_words("what did iran demand", vocabulary) == 2
    assert searchable_words("xyzzy taliban", vocabulary) == 1
    # a name the question writes capitalised, or a figure: something to look for (the name check weighs it)
    assert searchable_words("What about Hamas?", vocabulary, ("Hamas",)) == 1
    assert searchable_words("What about NATO?", vocabulary, ("NATO",)) == 1
    assert searchable_words("2024?", vocabulary) == 1


def test_gibberish_is_declined_and_a_terse_paraphrase_is_not(service: QAService) -> None:
    for nothing in ("xyzzy", "asdf", "?"):
        declined = service.ask(nothing)
        assert not declined.answered and declined.confidence == 0.0 and declined.quotes == ()
        assert declined.message is not None and declined.message.startswith("There is nothing in this question")
    assert service.ask("who led pakistans delegation").answered


def test_question_term_count() -> None:
    assert question_term_count("What is the main sticking point in the negotiations?") == 4
    assert question_term_count("What did they say?") == 0


def test_words_of_other_briefs_do_not_make_a_question_covered(bundle: IndexBundle) -> None:
    """With many briefs, the vocabulary that counts is the answering document's, not the whole corpus's."""
    from app.index.bundle import Vocabulary

    article = bundle.corpus_vocabulary
    crowded = Vocabulary(article.stems | {stem("population")}, article.surface_words, article.sorted_words,
                         article.lexicon_matrix)
    question = "What is the population of Kabul?"
    assert unknown_words(question, article) == ["population"]
    assert unknown_words(question, crowded) == []


def test_words_the_lexicon_lacks_are_embedded_once_then_reused(
    service: QAService, bundle: IndexBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    question = "How many soldiers perished in the skirmishes?"
    lacking = unknown_words(question, bundle.corpus_vocabulary)
    assert lacking, "the question must hold words the article never uses"
    first = service.ask(question)
    spy = CountingEncoder(service.embedder)
    monkeypatch.setattr(service, "embedder", spy)
    again = service.ask(question)
    assert spy.texts == [question]  # the words' vectors came from the first question
    assert again == first
    fresh = spy.inner.embed_documents(lacking)
    for word, vector in zip(lacking, fresh, strict=True):
        np.testing.assert_array_equal(service._word_vectors[word], vector)


def test_a_name_the_best_sentence_does_not_say_is_listed() -> None:
    sentence = "Pakistan's delegation was led by Defence Minister Khawaja Asif."
    assert names_not_said(question_names("Who led Pakistan's delegation?"), sentence) == ()
    assert names_not_said(question_names("Who led the Taliban delegation?"), sentence) == ("Taliban",)
    assert question_names("what did asif say") == []  # no capitalised word after the first: nothing to check
    # capitals tell no names apart; the word lists of names still do (tests/test_proper_nouns.py)
    assert question_names("WHAT DID PAKISTAN DEMAND AT THE TALKS") == ["PAKISTAN"]
    assert question_names("How do I reset what I've sent to Asif?") == ["Asif"]  # "I" names no one
    assert question_names("Who won the 2022 FIFA World Cup?") == ["FIFA", "World", "Cup"]
    assert names_not_said(["U.S", "Oct."], "The U.S. said talks resume on October 15.") == ()
    assert names_not_said(question_names("Did the Pakistani side agree?"), sentence) == ()  # "Pakistan's" says it
    assert names_not_said(question_names("Who led the delegation in October?"), sentence) == ()  # a date, no name


def test_a_figure_the_paragraph_does_not_hold_is_listed() -> None:
    paragraph = "The ceasefire was agreed on October 15. More than 1,200 people were moved."
    assert figures_not_held("What happened on October 15?", paragraph) == ()
    assert figures_not_held("how many were moved after the 1200 mark", paragraph) == ()  # 1200 is 1,200
    assert figures_not_held("What happened on October 16?", paragraph) == ("16",)
    assert figures_not_held("What did the 2019 report say?", paragraph) == ("2019",)
    assert figures_not_held("Was it agreed on October 15, 2025?", paragraph) == ()  # the date's year, implied


def test_a_full_name_is_said_by_its_surname() -> None:
    """A news text names a person in full once, then by the surname alone: a sentence that says "Sharif" says
    the question's "Shehbaz Sharif". Not the other way round (a first name alone is not the person), and not
    two names that merely stand apart in the question."""
    question = "What did Shehbaz Sharif call Trump?"
    names = question_names(question)
    ends = full_name_ends(question, names)
    assert ends == {"Shehbaz": "Sharif"}
    assert names_not_said(names, "Sharif had called Trump “a man of peace.”", ends) == ()
    assert names_not_said(names, "Sharif had called Trump “a man of peace.”") == ("Shehbaz",)
    assert names_not_said(names, "Shehbaz praised Trump.", ends) == ("Sharif",)
    chain = "Which university does Dr. Khalid Mahmood work for?"
    chain_names = question_names(chain)
    assert names_not_said(chain_names, "said economist Mahmood", full_name_ends(chain, chain_names)) == ()
    assert full_name_ends("Who met Asif in Doha?", question_names("Who met Asif in Doha?")) == {}

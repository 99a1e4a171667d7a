"""Corpus-defined acronyms: "Tehreek-e-Taliban Pakistan (TTP)" lets a question use either form."""

from __future__ import annotations

from app.text.acronyms import expand_question, find_acronyms


def test_the_article_defines_ttp(article_text: str) -> None:
    assert find_acronyms([article_text]) == {"ttp": "Tehreek-e-Taliban Pakistan"}


def test_definitions_with_connecting_words() -> None:
    found = find_acronyms(
        [
            "Ibraheem Bahiss of the International Crisis Group (ICG) said so.",
            "The North Atlantic Treaty Organization (NATO) met.",
            "Talks with the Islamic Emirate of Afghanistan (IEA) went on.",
        ]
    )
    assert found == {
        "icg": "International Crisis Group",
        "nato": "North Atlantic Treaty Organization",
        "iea": "Islamic Emirate of Afghanistan",
    }


def test_lower_case_phrases_and_plain_parentheses_define_nothing() -> None:
    assert find_acronyms(["officials of the world health body (WHO) spoke", "costs rose (sharply)"]) == {}


def test_first_definition_wins() -> None:
    found = find_acronyms(["Tehreek-e-Taliban Pakistan (TTP) first.", "Totally Tiny Party (TTP) second."])
    assert found == {"ttp": "Tehreek-e-Taliban Pakistan"}


def test_expand_question_appends_the_long_form_once() -> None:
    acronyms = {"ttp": "Tehreek-e-Taliban Pakistan"}
    assert expand_question("What is the TTP?", acronyms) == "What is the TTP? (Tehreek-e-Taliban Pakistan)"
    assert (
        expand_question("Does ttp talk to the TTP?", acronyms)
        == "Does ttp talk to the TTP? (Tehreek-e-Taliban Pakistan)"
    )


def test_expand_question_leaves_other_questions_alone() -> None:
    assert expand_question("Who mediates?", {"ttp": "Tehreek-e-Taliban Pakistan"}) == "Who mediates?"
    assert expand_question("What is the TTP?", {}) == "What is the TTP?"
    # a word that merely contains the acronym is not a use of it
    assert expand_question("Is the buttpress open?", {"ttp": "X"}) == "Is the buttpress open?"

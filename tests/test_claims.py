"""Value extraction and normalization (`app/answer/claims.py`) and grouping into versions
(`app/answer/versions.py`): pure, on sentence shapes the briefs really use."""

from __future__ import annotations

import numpy as np
import pytest

from app.answer.claims import (
    claim,
    dates_in,
    display,
    is_yes_no,
    names_in,
    number_value,
    numbers_in,
    polarity_in,
    same_value,
    vague_fits,
    values_in,
)
from app.answer.versions import (
    RIVAL_FEATURES,
    RIVAL_SIGNS,
    Stated,
    group_versions,
    names_question_thing,
    quotes_with_versions,
    split_rivals,
    stated_values,
    unit_of,
)
from app.models import Quote
from app.text.answer_type import question_type
from app.text.normalize import term_forms, term_set, word_forms


def date_keys(text: str) -> list[tuple[object, ...]]:
    return [v.key for v in dates_in(text)]


@pytest.mark.parametrize(
    "text",
    ["agreed on October 15", "agreed on Oct. 15", "agreed on 15 October", "agreed on October 15th", "on Oct 15"],
)
def test_one_date_however_it_is_written(text: str) -> None:
    assert date_keys(text) == [(None, 10, 15, None)]


def test_a_year_is_kept_and_never_invented() -> None:
    assert date_keys("signed on October 15, 2025 in Doha") == [(2025, 10, 15, None)]
    assert date_keys("signed on 15 October 2025") == [(2025, 10, 15, None)]
    with_year, without = dates_in("October 15, 2025")[0], dates_in("October 15")[0]
    assert same_value(with_year, without)  # a missing year is no conflict
    assert not same_value(dates_in("October 15, 2025")[0], dates_in("October 15, 2024")[0])


def test_ranges_vague_parts_and_years() -> None:
    assert date_keys("talks ran October 15-17") == [(None, 10, 15, 17)]
    assert display(dates_in("talks ran October 15-17")[0]) == "October 15–17"
    mid = dates_in("border skirmishes in mid-October")[0]
    assert mid.key == (None, 10, None, "mid") and not mid.specific
    assert vague_fits(mid, dates_in("on October 16")[0])
    assert not vague_fits(mid, dates_in("on November 16")[0])
    assert date_keys("since the Taliban’s return to power in 2021") == [(2021, None, None, "year")]
    assert date_keys("prices rose in October 2025") == [(2025, 10, None, None)]
    # a year before 1900 is no date here: "On October 15, 1500 people marched" counts people, not 1500
    assert date_keys("On October 15, 1500 people marched") == [(None, 10, 15, None)]


@pytest.mark.parametrize("text", ["on Saturday", "last week", "earlier this month", "yesterday", "May be later"])
def test_relative_dates_and_weekdays_are_left_alone(text: str) -> None:
    assert dates_in(text) == []


def test_numbers_in_digits_and_words() -> None:
    assert [v.key for v in numbers_in("cut 1,200 jobs")] == [(1200.0, None, "")]
    assert [v.key for v in numbers_in("twenty-three soldiers died")] == [(23.0, None, "")]
    assert [v.key for v in numbers_in("two hundred people")] == [(200.0, None, "")]
    assert [v.key for v in numbers_in("a dozen villages")] == [(12.0, None, "")]
    assert [v.key for v in numbers_in("about 3.5 million euros")] == [(3_500_000.0, None, "")]
    assert [v.key for v in numbers_in("80 percent of points")] == [(80.0, None, "percent")]
    assert [v.key for v in numbers_in("up 9%")] == [(9.0, None, "percent")]
    assert [v.key for v in numbers_in("20 to 30 dead")] == [(20.0, 30.0, "")]
    assert number_value("forty-two") == 42.0 and number_value("dozens") is None


@pytest.mark.parametrize("text", ["dozens of people", "several hundred", "hundreds were hurt", "in 2021"])
def test_not_numbers(text: str) -> None:
    assert numbers_in(text) == []


def test_a_year_as_attribute_and_a_unit_conversion_are_not_counts() -> None:
    assert [v.text for v in numbers_in("Prior to the 2006 election, the council had 44 members.")] == ["44"]
    assert [v.text for v in numbers_in("More than 26,000 square kilometres (10,000 sq mi) of farmland")] == ["26,000"]
    assert [v.text for v in numbers_in("It cost 5 million dollars (about 4 million euros).")] == ["5 million"]
    assert [v.text for v in numbers_in("About 2000 people came to the hall (built for 300 people).")] == ["2000", "300"]


def test_a_percentage_is_not_a_count() -> None:
    assert not same_value(numbers_in("80 percent")[0], numbers_in("80 people")[0])
    assert same_value(numbers_in("80 percent")[0], numbers_in("80%")[0])


def test_numbers_inside_dates_are_not_counts() -> None:
    assert [v.text for v in numbers_in("agreed on October 15 after 3 days")] == ["3"]


def test_names_drop_determiners_possessives_and_the_question_own_words() -> None:
    asked = frozenset({"who", "led", "pakistan's", "delegation"})
    text = "During the Istanbul talks, Pakistan’s delegation—led by Defence Minister Khawaja Asif—submitted it."
    names = [v.text for v in names_in(text, "name", asked)]
    assert names == ["Defence Minister Khawaja Asif"]
    assert same_value(names_in("led by Khawaja Asif", "name", frozenset())[0],
                      names_in("said Defence Minister Khawaja Asif", "name", frozenset())[0])


def test_a_place_may_be_one_word_after_a_preposition() -> None:
    assert [v.text for v in names_in("The round was held in Istanbul.", "place", frozenset({"where"}))] == ["Istanbul"]
    assert names_in("The round was held in Istanbul.", "name", frozenset({"who"})) == []


def test_a_name_after_a_preposition_of_place_and_the_is_a_place_not_who() -> None:
    """"Who is mediating?" read "ASEAN Summit" as a version of who (the outside probe, 2026-12-07)."""
    text = "Trump, speaking at the ASEAN Summit in Malaysia, offered to mediate, as did Foreign Minister Hakan Fidan."
    assert [v.text for v in names_in(text, "name", frozenset({"who", "mediating"}))] == ["Foreign Minister Hakan Fidan"]
    assert [v.text for v in names_in("Talks were held in the White House.", "place", frozenset({"where"}))] == [
        "White House"
    ]
    # "to the" is not a place: a letter sent to the European Commission names who received it
    assert [v.text for v in names_in("He wrote to the European Commission.", "name", frozenset({"who"}))] == [
        "European Commission"
    ]


def test_the_claim_is_the_value_next_to_the_question_words() -> None:
    question = "When was the ceasefire agreed?"
    text = "Following the ceasefire agreed on October 15, renewed on October 17 and October 19, both sides met."
    value = claim(text, "date", term_set(question), frozenset(question.lower().split()))
    assert value is not None and value.text == "October 15"
    assert text[value.start : value.end] == "October 15"


def test_a_value_far_from_every_question_word_is_no_claim() -> None:
    question = "When was the ceasefire agreed?"
    text = "The ceasefire held, officials said, and in a separate development a trade fair opened on March 3."
    assert claim(text, "date", term_set(question), frozenset()) is None
    assert claim(text, "date", term_set(question), frozenset(), window=None) is not None  # the best answer's rule


def test_a_name_ending_in_the_question_own_word_is_the_subject_not_the_answer() -> None:
    asked = frozenset({"who", "led", "pakistan", "delegation"})
    text = ("Pakistan’s delegation—led by Defence Minister Khawaja Asif—called for action against the "
            "Tehreek-e-Taliban Pakistan (TTP).")
    assert [v.text for v in values_in(text, "name", asked)] == ["Defence Minister Khawaja Asif"]
    value = claim(text, "name", term_set("who led pakistan's delegation"), asked, window=None)
    assert value is not None and value.text == "Defence Minister Khawaja Asif"


def test_irregular_verbs_meet_the_question_word() -> None:
    assert "begin" in word_forms("began") and "break" in word_forms("broke") and "lead" in word_forms("led")
    question = "When did the strike begin?"
    text = "A mediator meets both sides on Thursday, the first talks since the September 9 walkout began."
    value = claim(text, "date", term_forms(question), frozenset(question.lower().split()))
    assert value is not None and value.text == "September 9"


def test_the_best_answer_worded_otherwise_states_its_one_value() -> None:
    question = "when did the fire break out"
    text = "The blaze started on March 3 in a conveyor gallery between the silos."
    # no question word in it: the best answer (window None) still states its one date; a rival (window) does not
    value = claim(text, "date", term_forms(question), frozenset(question.split()), window=None)
    assert value is not None and value.text == "March 3"
    assert claim(text, "date", term_forms(question), frozenset(question.split())) is None
    two = "The blaze started on March 3 and was put out on March 5."
    assert claim(two, "date", term_forms(question), frozenset(question.split()), window=None) is None


@pytest.mark.parametrize(
    ("text", "value_text", "expected"),
    [
        ("Talks in Doha followed an October 16 ceasefire ending the clashes.", "October 16", True),
        ("The 12 injured workers were taken to hospital.", "12", True),
        ("The union's 6 percent demand would cost millions.", "6 percent", False),  # "demand" is no question word
        ("The 14-kilometre line will link the airport.", "14", False),  # a measure, not the thing
        ("The agency said that 41 people had been taken to hospital.", "41", False),  # "that" opens a clause
        ("A ceasefire was agreed on October 15.", "October 15", False),  # no determiner before it
    ],
)
def test_a_value_said_as_an_attribute_of_the_asked_thing(text: str, value_text: str, expected: bool) -> None:
    question_terms = term_set("when was the ceasefire agreed how many injured workers people line")
    values = dates_in(text) + numbers_in(text)
    value = next(v for v in values if v.text == value_text)
    assert names_question_thing(text, value, question_terms) is expected


def test_the_question_own_value_is_not_an_answer() -> None:
    question = "how many died in the April 22 attack"
    text = "Twelve people died in the April 22 attack."
    value = claim(text, "date", term_set(question), frozenset(question.lower().split()))
    assert value is None
    count = claim(text, "number", term_set(question), frozenset(question.lower().split()))
    assert count is not None and count.key == (12.0, None, "")


def test_review_findings_on_values() -> None:
    assert number_value("0.5 million") == 500_000.0 and number_value("two dozen") == 24.0
    assert number_value("three hundred and fifty") == 350.0 and number_value("9" * 400) is None
    assert display(numbers_in("will cost $4.1 billion")[0]) == "4.1 billion"
    assert same_value(numbers_in("$4.1 billion")[0], numbers_in("4,100 million")[0])
    assert [v.key for v in numbers_in("About 2000 people were evacuated")] == [(2000.0, None, "")]
    assert dates_in("About 2000 people were evacuated") == []
    assert [v.text for v in dates_in("October 15 and 16 people died")] == ["October 15"]
    assert dates_in("on February 31") == [] and [v.text for v in dates_in("October 15-39")] == []
    assert [v.text for v in names_in("sworn in at City Hall, said Amara Whitfield", "name", frozenset())] == [
        "Amara Whitfield"
    ]
    assert [v.text for v in names_in("“During the Istanbul talks, Mevlüt Çavuşoğlu said", "name", frozenset())] == [
        "Mevlüt Çavuşoğlu"
    ]


# ----------------------------------------------------------------------------- grouping (pure, hand-made quotes)


def stated(text: str, doc: str, score: float, published: str | None = None) -> Stated:
    value = dates_in(text)[0]
    return Stated(Quote(doc, doc, "", 0, len(text), text, "", doc, published), score, value)


def no_copies(a: Quote, b: Quote) -> bool:
    return False


def test_a_vague_best_answer_weighs_no_rival() -> None:
    best = stated("talks resumed in mid-October", "a", 0.9)
    others = [stated("a fair opened on October 3", "b", 0.5), stated("boats left on November 9", "c", 0.4)]
    rivals = split_rivals([best, *others], best.quote, lambda texts: np.zeros((len(texts), 4), np.float32),
                          np.zeros(4, np.float32), {}, names=(), full_names={})
    assert rivals is not None and rivals.rivals == [] and rivals.agreeing == [best]
    versions = group_versions(rivals.agreeing, no_copies, best.quote)
    assert [v.value for v in versions] == ["mid-October"]


def rival_features(
    best: Stated, others: list[Stated], names: tuple[str, ...] = (), full_names: dict[str, str] | None = None,
    asked: str = "",
) -> list[dict[str, float]]:
    """The rival features of `others` against `best`, with a stand-in encoder (pure: the features read here use
    no vector) and the terms of `asked` as the question's, each of weight 1."""
    weight = dict.fromkeys(term_set(asked), 1.0)
    rivals = split_rivals([best, *others], best.quote, lambda texts: np.zeros((len(texts), 4), np.float32),
                          np.zeros(4, np.float32), weight, names=names, full_names=full_names or {})
    assert rivals is not None
    return [dict(zip(RIVAL_FEATURES, row.tolist(), strict=True)) for row in rivals.features]


def test_a_rival_that_leaves_out_the_names_the_best_answer_says_is_marked() -> None:
    best = stated("Pakistan's delegation arrived on October 14", "a", 0.9)
    other = stated("The Afghan delegation arrived on October 16", "b", 0.5)
    same = stated("Pakistan's team came back on October 16", "c", 0.5)
    assert [f["names_unsaid"] for f in rival_features(best, [other, same], ("Pakistan",))] == [1.0, 0.0]
    assert rival_features(best, [other])[0]["names_unsaid"] == 0.0  # a question with no names
    # a name the best answer does not say either, and a month, weigh nothing
    assert rival_features(best, [other], ("Kabul", "October"))[0]["names_unsaid"] == 0.0
    assert rival_features(best, [other], ("Pakistan", "October"))[0]["names_unsaid"] == 1.0
    # a surname alone says the full name ("Shehbaz Sharif" asked, "Sharif" in the rival)
    sharif = stated("Shehbaz Sharif spoke on October 14", "a", 0.9)
    surname = stated("Sharif spoke again on October 16", "b", 0.5)
    names, full = ("Shehbaz", "Sharif"), {"Shehbaz": "Sharif"}
    assert rival_features(sharif, [surname], names, full)[0]["names_unsaid"] == 0.0


def test_a_date_said_as_the_asked_things_own_is_marked_a_count_is_not() -> None:
    best = stated("the ceasefire was agreed on October 15", "a", 0.9)
    attribute = stated("talks followed an October 16 ceasefire", "a", 0.5)
    plain = stated("fighting resumed on October 17 near the border", "a", 0.4)
    features = rival_features(best, [attribute, plain], asked="When was the ceasefire agreed?")
    assert [f["names_question_thing"] for f in features] == [1.0, 0.0]
    assert [f["dated_question_thing"] for f in features] == [1.0, 0.0]
    # a count so said is an attribute, but not a date: "the 41 people" may count other people
    count = Stated(Quote("b", "b", "", 0, 30, "none of the 41 people on board", "", "b", None), 0.5,
                   numbers_in("none of the 41 people on board")[0])
    best_count = Stated(Quote("a", "a", "", 0, 30, "23 people were taken to hospital", "", "a", None), 0.9,
                        numbers_in("23 people were taken to hospital")[0])
    counted = rival_features(best_count, [count], asked="How many people were on the plane?")[0]
    assert (counted["names_question_thing"], counted["dated_question_thing"]) == (1.0, 0.0)


def test_a_version_holds_only_values_that_agree_with_each_other() -> None:
    items = [stated("on October 15", "a", 0.9), stated("on October 15, 2025", "b", 0.8),
             stated("on October 15, 2024", "c", 0.7)]
    for order in (items, [items[1], items[0], items[2]]):
        versions = group_versions(order, no_copies, order[0].quote)
        assert all(len({st.quote.doc_id for st in v.statements}) == len(v.statements) for v in versions)
        assert len(versions) == 2  # 2025 and 2024 are two versions whichever comes first


def test_within_a_version_the_newest_source_leads() -> None:
    best = stated("agreed on October 15", "a", 0.9, "2025-10-01")
    newer = stated("signed on October 15", "b", 0.3, "2025-10-20")
    undated = stated("struck on October 15", "c", 0.8)
    versions = group_versions([best, newer, undated], no_copies, best.quote)
    assert [st.quote for st in versions[0].statements] == [newer.quote, best.quote, undated.quote]
    assert quotes_with_versions([best.quote], versions, 3) == [best.quote]  # one version: the quotes as ranked
    rival = stated("agreed on October 14", "d", 0.5, "2025-10-05")
    versions = group_versions([best, newer, rival], no_copies, best.quote)
    assert [v.value for v in versions] == ["October 15", "October 14"]  # the best answer's version first
    # among the quotes the best answer stands for its own version (it passed the confidence check); the other
    # version shows its newest statement
    assert quotes_with_versions([best.quote, rival.quote], versions, 3) == [best.quote, rival.quote]


def test_without_dates_the_best_answer_leads_its_version() -> None:
    best = stated("agreed on October 15", "a", 0.9)
    other = stated("signed on October 15", "b", 0.3)
    versions = group_versions([other, best], no_copies, best.quote)
    assert versions[0].statements[0].quote == best.quote


@pytest.mark.parametrize(
    ("question", "text", "polarity", "said"),
    [
        ("did the ferry sink", "The ferry sank within minutes of the collision.", "yes", "ferry sank"),
        ("did the ferry sink", "The ferry did not sink and was towed into the harbour.", "no", "ferry did not sink"),
        ("have any jobs been cut at the mill", "A spokeswoman said no jobs had been cut at the mill so far.", "no",
         "no jobs had been cut at the mill"),
        ("did the union agree to the plan", "The union rejected the company's closure plan on Tuesday.", "no",
         "rejected the company's closure plan"),
        ("will the sorvik mill close", "The Sorvik paper mill will close at the end of March.", "yes",
         "Sorvik paper mill will close"),
        ("was the captain arrested", "Police said the captain hadn't been arrested.", "no",
         "captain hadn't been arrested"),
    ],
)
def test_yes_or_no_is_read_from_the_words_that_say_it(question: str, text: str, polarity: str, said: str) -> None:
    assert is_yes_no(question)
    value = polarity_in(text, term_forms(question), 2)
    assert value is not None and value.key == (polarity,) and value.text == said
    assert text[value.start : value.end] == said  # the version is shown by these words, verbatim


def test_a_sentence_that_does_not_speak_to_the_yes_no_question_states_nothing() -> None:
    question = "did the ferry sink"
    assert polarity_in("Eleven passengers were injured, two of them seriously.", term_forms(question), 2) is None
    assert polarity_in("The ferry carried enough life jackets.", term_forms(question), 2) is None  # "ferry" alone
    assert not is_yes_no("when did the ferry sink") or question_type("when did the ferry sink") == "when"


def test_only_content_words_count_as_the_neighbours_a_rival_shares() -> None:
    # "more than … people" is shared by any two counts; "agreed on …" shares "agreed", a content word
    best = stated("talks agreed on October 15 in Doha", "a", 0.9)
    agreed = stated("officials agreed on October 16 after midnight", "b", 0.5)
    other = stated("a fair that began on October 16 at noon", "c", 0.5)
    features = rival_features(best, [agreed, other])
    assert [f["neighbour_words"] for f in features] == [0.25, 0.0]  # "agreed"; "on" is a stopword
    # a word shared on both sides counts twice, as a word shared twice
    both = stated("in Doha October 16 in Doha", "d", 0.5)
    assert rival_features(stated("in Doha October 15 in Doha", "a", 0.9), [both])[0]["neighbour_words"] == 0.5
    # a curly apostrophe is a stopword's as well as a straight one
    curly = stated("it’s not October 16 it’s", "e", 0.5)
    assert rival_features(stated("it's not October 15 it's", "a", 0.9), [curly])[0]["neighbour_words"] == 0.0


def test_every_rival_sign_names_a_rival_feature() -> None:
    # fit_signed reads signs.get(feature, 0): a misspelt key would leave its feature free without a word
    assert set(RIVAL_SIGNS) <= set(RIVAL_FEATURES)


def test_a_time_of_day_is_no_count_and_two_currencies_are_two_units() -> None:
    # "how many households lost water" read the "7" of "by 7 a.m." as a rival count of 1,200
    assert [v.text for v in numbers_in("crews shut off the water by 7 a.m. on Tuesday")] == []
    assert [v.text for v in numbers_in("at 10:40 p.m., and again at 14:30")] == []
    assert [v.text for v in numbers_in("7 people in 9 amendments, by 7 am 40 homes")] == ["7", "9", "40"]
    # "how much did the school cost": £18 million for the school, $3 million for a water main
    pounds, dollars = "cost £18 million", "a $3 million repair"
    assert unit_of(pounds, numbers_in(pounds)[0]) == ("pound", False)
    assert unit_of(dollars, numbers_in(dollars)[0]) == ("dollar", False)
    assert unit_of("18 million pounds", numbers_in("18 million pounds")[0]) == ("pound", False)
    assert unit_of("40 per cent", numbers_in("40 per cent")[0]) == ("", True)


def test_a_former_value_is_no_version_of_the_current_one() -> None:
    # "A monthly pass will go up from €58 to €64" and "will cost €64, up from €58" agree: 64 both times
    assert [v.text for v in numbers_in("A monthly pass will go up from €58 to €64, and fares")] == ["64"]
    assert [v.text for v in numbers_in("A monthly pass will cost €64, up from €58.")] == ["64"]
    assert [v.key for v in numbers_in("the toll fell from 14 to 12 on Monday")] == [(12.0, None, "")]
    assert [v.text for v in numbers_in("rose from 12 per cent to 15 per cent")] == ["15 per cent"]
    assert [v.text for v in numbers_in("will cost EUR 64, up from EUR 58")] == ["64"]
    # a "from" that starts no change keeps its number, and a range stays a range
    assert [v.text for v in numbers_in("samples from 20 points on the site")] == ["20"]
    assert [v.key for v in numbers_in("12 to 14 people died")] == [(12.0, 14.0, "")]
    assert [v.text for v in numbers_in("Estimates range from 300 to 400 people")] == ["300 to 400"]
    assert [v.text for v in numbers_in("children aged from 7 to 12")] == ["7 to 12"]
    assert [v.text for v in numbers_in("Smoke rose from 3 buildings")] == ["3"]
    assert [v.text for v in numbers_in("buses picked up from 12 schools")] == ["12"]


@pytest.mark.parametrize(
    "text, age",
    [
        ("Dr Tomas Reinholt, 44, said the laboratory was working through the night.", "44"),
        ("A 41-year-old man was arrested in Drennick.", "41"),
        ("a passenger aged 67 died in hospital", "67"),
        ("the striker, twenty years old, scored twice", "twenty"),
    ],
)
def test_an_age_is_read_as_an_age(text: str, age: str) -> None:
    (value,) = numbers_in(text)
    assert (value.text, value.key[2]) == (age, "age")
    assert display(value) == f"aged {display(numbers_in(age)[0])}"


@pytest.mark.parametrize(
    "text",
    [
        "In March, 44 people were hurt.",
        "The school, 12 miles away, was shut.",
        "killing 5, injuring 12",
        # one capitalised word before the comma is a place, a day or a team, not a person's name
        "In Kharkiv, 12, including three children, were killed.",
        "By Friday, 17, including two children, had been rescued.",
        "Rangers, 3, Celtic, 0",
    ],
)
def test_a_count_after_a_comma_is_still_a_count(text: str) -> None:
    assert all(v.key[2] == "" for v in numbers_in(text))


def test_an_age_answers_no_count_question() -> None:
    text = "Resident Anna Brask, 71, said about 300 people were evacuated from the old town."
    asked = frozenset({"how", "many", "people", "were", "evacuated", "from", "the", "old", "town"})
    assert [v.text for v in values_in(text, "number", asked)] == ["300"]
    assert [v.key[2] for v in numbers_in("a man aged 45, from Drennick, was held")] == ["age"]
    # an age is no version of a count: "a 41-year-old" and "41 people" are two different things
    assert not same_value(numbers_in("a 41-year-old man")[0], numbers_in("41 people")[0])


def test_a_number_asked_in_a_unit_is_one_stated_in_it() -> None:
    # "how old" is answered by the age, "what was the turnout" by the percentage, never by the other numbers
    text = "Resident Anna Brask, 71, said about 300 people, 40 percent of the village, were evacuated."
    how_old = frozenset({"how", "old", "is", "anna", "brask"})
    assert [v.text for v in values_in(text, "number", how_old, "age")] == ["71"]
    turnout = frozenset({"what", "share", "of", "the", "village", "was", "evacuated"})
    assert [display(v) for v in values_in(text, "number", turnout, "percent")] == ["40 percent"]
    assert [v.text for v in values_in(text, "number", turnout)] == ["300", "40 percent"]


def test_a_measure_asked_without_how_many_has_versions() -> None:
    # "what is the death toll" asks for a number as "how many died" does (question_type, not the wh-word alone)
    best_text = "The number of people killed has risen to 29, officials said."
    other_text = "At least 27 people were killed in the landslide, police said."
    best = Quote("a", "a", "", 0, len(best_text), best_text, "", "a", None)
    other = Quote("b", "b", "", 0, len(other_text), other_text, "", "b", None)
    stated = stated_values("what is the landslide death toll", [(best, 1.0), (other, 0.9)], best)
    assert [s.value.text for s in stated] == ["29", "27"]
    assert stated_values("how old is the mayor", [(best, 1.0)], best) == []  # no age: no version


def test_money_asked_is_an_amount_not_a_count_beside_it() -> None:
    text = "The trial, run at 36 hospitals, is expected to cost about $52 million."
    cost = frozenset({"cost", "of", "the", "trial"})
    assert [v.text for v in values_in(text, "number", cost, "money")] == ["52 million"]
    assert [v.text for v in values_in(text, "number", cost)] == ["36", "52 million"]


def test_a_number_word_joined_to_a_word_is_no_count() -> None:
    assert numbers_in("a ten-year bond, a two-party coalition and two-thirds of a kilometre") == []
    assert [v.text for v in numbers_in("twenty-three people died in a 12-day strike")] == ["twenty-three", "12"]
    assert [v.key[2] for v in numbers_in("a ten-year-old girl")] == ["age"]


def test_a_yes_no_question_about_a_number_is_answered_yes_or_no() -> None:
    # "might" opens a yes/no question that question_type would read as keywords asking for a quantity
    best_text = "No jobs had been cut at the mill so far, the company said."
    best = Quote("a", "a", "", 0, len(best_text), best_text, "", "a", None)
    stated = stated_values("might the number of jobs cut at the mill rise", [(best, 1.0)], best)
    assert [s.value.kind for s in stated] == ["yesno"]

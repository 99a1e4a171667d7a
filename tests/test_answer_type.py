"""Expected answer type of a question, and whether a sentence of the article offers that kind of thing."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.ingest.blocks import make_document
from app.ingest.chunk import parse_document
from app.text.answer_type import (
    AnswerType,
    Unit,
    calendar_numbers_blanked,
    counted_term,
    counted_words,
    measure_unit,
    offering_rows,
    offers,
    offers_new,
    question_type,
)
from tests.briefs_generator import generate_briefs


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("When was the ceasefire agreed?", "when"),
        ("What date did the talks start?", "when"),
        ("Since when have the borders been closed?", "when"),
        ("How many people died in the clashes?", "quantity"),
        ("How much trade is lost daily?", "quantity"),
        ("What percentage of the agreement was implemented?", "quantity"),
        ("Where was the second round held?", "where"),
        ("In which city did the talks take place?", "where"),
        # a place noun behind words that qualify it; not one that qualifies another noun, nor a list of places
        ("in which afghan province did the airstrikes hit", "where"),
        ("which malaysian city hosted the summit", "where"),
        ("what port town did the ferry leave from", "where"),
        ("What state in Australia is the center of dairy farming?", "where"),
        ("which region of afghanistan was hit", "where"),
        ("what city council voted for the cap", "other"),
        ("which city council voted for the cap", "other"),
        ("which town's mayor resigned", "other"),
        ("which border crossings were sealed", "other"),
        ("which vellan county towns sent fire engines", "other"),  # the place qualifies the towns asked for
        ("which village elder spoke", "other"),
        ("What kind of place is the camp?", "other"),
        # another sense of the noun: a condition, a ranking, money
        ("what state of emergency was declared", "other"),
        ("what state is the economy in", "other"),
        ("what place did the sprinter finish", "other"),
        ("what capital did the company raise", "other"),
        ("what caused city flooding", "other"),  # a verb is no qualifier
        ("which state-run newspaper reported it", "who"),  # an organisation, not its state
        ("Who led Pakistan's delegation?", "who"),
        ("Whose refugees did Pakistan host?", "who"),
        ("What did Pakistan demand?", "other"),
        ("Why did the talks stall?", "other"),
        ("Tell me when the ceasefire was agreed", "other"),  # only the question's opening decides
        # a measure asked for by its name, with a copula or as keywords: a number answers it
        ("how old is the new chief executive", "quantity"),
        ("How far is the camp from the border?", "quantity"),
        ("What was the ruling party's vote share in the last election?", "quantity"),
        ("what is the current interest rate", "quantity"),
        ("bus fare from the airport", "quantity"),
        ("population of the valley", "quantity"),
        ("number of ttp hideouts hit in pakistani airstrikes", "quantity"),  # keywords opening with the measure
        ("ttp attacks in pakistan this year number", "quantity"),  # keywords ending in it
        ("the significance of the rate cut", "other"),  # a measure word, not what the keywords ask for
        ("key points of the budget", "other"),  # topic keywords that end in a measure ask for none
        ("age of consent law changed after the vote", "other"),
        ("What drove the share price down?", "other"),  # a measure named, but not asked for
        ("Did the price of fuel rise?", "other"),
        # a name asked for: a proper name answers it
        ("What is the name of the bridge that collapsed?", "who"),
        ("which law firm represents the union", "who"),
        ("name of turkish official who said gap remains wide", "who"),  # as keywords
        ("what's the name of the new ceo", "who"),
        ("in the name of national security, what powers did the government take?", "other"),
        ("Which countries mediated?", "other"),
        # a date asked for by its name, as keywords or after "what is": a date answers it
        ("inauguration date", "when"),
        ("date of the next round", "when"),
        ("What is the date of the vote?", "when"),
        ("what's the new deadline", "when"),
        ("what is the deadline set by the council", "when"),
        ("is the report up to date", "other"),  # a yes/no question, not keywords
        ("what was the reason for the date change", "other"),  # a date named, not asked for
        ("what is the status of the deadline", "other"),  # asked about the date, past a preposition
        ("what is the story behind the date", "other"),
        ("what is the total cost to date", "other"),  # "to date": so far
        ("death toll to date", "other"),
        ("number of missed deadlines", "quantity"),  # a count of them
        # a measure or a kind of organisation named, but not what is asked
        ("What did the bank say?", "other"),
        ("What kind of company is Kestrel?", "other"),
        ("What is the team's plan?", "other"),
        ("What is the significance of the rate cut?", "other"),
        ("Summarize the budget debate", "other"),
        ("What's the price of bread?", "quantity"),
        # an amount asked by the verb, or by a measure after a longer subject
        ("what did the renovation cost", "quantity"),
        ("What will the repairs cost?", "quantity"),
        ("what did the cost of living do", "other"),
        ("What was the statuette stolen in 2009 worth?", "quantity"),
        ("what is the impact on the price of fuel", "other"),
        # not an amount: a value that is no money, a measure deep inside a longer question
        ("What is the value of peace to the region, according to Mahmood?", "other"),
        ("What was the strategic value of the Istanbul talks?", "other"),
        ("What was the reason the company cut prices in Europe?", "other"),
        ("What was the main argument against raising the age of retirement?", "other"),
        ("What did the scandal cost him?", "other"),
    ],
)
def test_question_type(question: str, kind: AnswerType) -> None:
    assert question_type(question) == kind


@pytest.mark.parametrize(
    ("sentence", "kind", "expected"),
    [
        ("Following the ceasefire agreed on October 15, renewed on October 17.", "when", True),
        ("By Monday, as talks entered their third day, no agreement had been reached.", "when", True),
        ("The Taliban's return to power in Kabul in 2021.", "when", True),
        ("Kabul accused Pakistan of violating its sovereignty.", "when", False),
        ("Days later, still in 1851 gold was discovered near Ballarat.", "when", True),  # a year before 1900
        ("The colony of New South Wales was founded in 1788.", "when", True),
        ("The slide struck at about 4:40 a.m., when most residents were asleep.", "when", True),  # a time of day
        ("Dockworkers walked off the job at 6 a.m.", "when", True),
        ("The vote closed at 18:30 and was counted by midnight.", "when", True),
        ("The team scored 3.5 points and I am sure of it.", "when", False),  # a decimal, "am" with no hour
        ("The board hoped to name a new chief executive within six months.", "when", True),  # counted from now
        ("Talks will resume in the next two weeks.", "when", True),
        ("In the days ahead, the talks will resume.", "when", False),  # no count of days: no time given
        ("80 percent of points from the first-round agreement already implemented.", "quantity", True),
        ("Border skirmishes left dozens dead and hundreds wounded.", "quantity", True),
        ("Kabul accused Pakistan of violating its sovereignty.", "quantity", False),
        ("They have about a week of imported produce left.", "quantity", True),  # a span may answer "how long"
        ("The second round of negotiations, held in Istanbul on Saturday.", "where", True),
        ("the gap remains wide", "where", False),
        ("Pakistan's delegation was led by Defence Minister Khawaja Asif.", "who", True),
        ("said one senior Pakistani diplomat", "who", True),
        ("the gap remains wide", "who", False),
        ("Following the ceasefire agreed on October 15.", "other", False),
        # a point of the compass, or a bearing from a named place, is a place; a time counted from another a time
        ("The Victorian Alps in the northeast are the coldest part of the state.", "where", True),
        ("Victoria is a state in the south-east of Australia.", "where", True),
        ("Rain fell across northern districts.", "where", True),
        ("Prices rose in the first half.", "where", False),
        ("The cutter stopped the trawler 38 nautical miles north of the island of Drevik.", "where", True),
        ("The ruling came two days after a judge rejected the lawsuit.", "when", True),
        ("Net income fell from $136 million a year earlier.", "when", True),
        ("Two days of talks ended without a deal.", "when", False),
        # names with accented letters, two capitalised words joined by "of", "for" or "and", the agent of a
        # passive; a lone capitalised place is no "who"
        ("“Every hour makes that harder,” said Anton Šerić, the agency’s director.", "who", True),
        ("Afghanistan’s Chamber of Commerce and Industry estimated losses in the millions.", "who", True),
        ("Earlier this month, Qatar and Turkey helped broker a fragile truce.", "who", True),
        ("The talks in Istanbul ended without a deal.", "who", False),
        ("The slide buried homes in Šibenik overnight.", "where", True),
        ("The recount was paid for by the Haskins campaign.", "who", True),
        ("The filing is due by Monday.", "who", False),
        ("Prices rose by 3 percent.", "who", False),
        # calendar words are neither names nor places
        ("The vote moved from Monday and Tuesday to Friday.", "who", False),
        ("The report is due by Oct. 15.", "who", False),
        ("Talks resume in March.", "where", False),
        ("The ferry ran north of the port on Monday.", "where", False),
    ],
)
def test_offers(sentence: str, kind: AnswerType, expected: bool) -> None:
    assert offers(sentence, kind) is expected


@pytest.mark.parametrize("kind", ["when", "quantity", "where", "who", "other"])
def test_one_scan_over_all_sentences_agrees_with_offers_sentence_by_sentence(kind: AnswerType) -> None:
    """offering_rows joins the texts and scans once; a match must never cross from one sentence to the next."""
    article = Path("corpus/pakistan-afghanistan-talks.txt").read_text(encoding="utf-8")
    sentences = [s.text for s in parse_document(make_document("a", article)).sentences]
    sentences += [b.text for b in generate_briefs(20, seed=3)]  # whole briefs: many lines, figures and names
    edges = ["", "in", "Istanbul", "2025", "in\nParis", "Ali\x00Khan", "at the", "The", "Ahmed Khan"]  # a match
    # that could only form across a boundary ("at the" + "Istanbul", "The" + "Ahmed Khan") must not count
    texts = sentences + edges + ["at the", "Istanbul talks", "Ahmed", "Khan said"]
    flags = offering_rows(texts, kind)
    assert flags.tolist() == [offers(t, kind) for t in texts]
    assert offering_rows([], kind).tolist() == []


@pytest.mark.parametrize(
    ("question", "unit"),
    [
        ("how old is the mayor", "age"),
        ("ticket price", "money"),
        ("how much did the repairs cost", "money"),
        ("what was the turnout share", "percent"),
        ("how long did the strike last", "duration"),
        ("how many ships are waiting", None),  # a count: any number
        ("How many workers were paid overtime?", None),
        ("What percentage of the budget goes to defence?", "percent"),
        ("How much did fuel prices rise?", None),  # a change: a percentage or an amount
        ("How much did the company earn?", "money"),
        ("what did the renovation cost", "money"),
        ("What was the statuette stolen in 2009 worth?", "money"),
        ("how much rain fell", None),
        ("Who led the talks?", None),
    ],
)
def test_measure_unit(question: str, unit: str | None) -> None:
    assert measure_unit(question) == unit


@pytest.mark.parametrize(
    ("sentence", "unit", "expected"),
    [
        ("said Elena Brask, 54, who escaped through a window", "age", True),
        ("the 61-year-old founder stepped down", "age", True),
        ("More than 3,400 people were moved to shelters", "age", False),
        ("drainage works costing about 1.8 million euros", "money", True),
        ("shares fell to $21.35", "money", True),
        ("the group earned 3.2 billion last year", "money", True),
        ("More than 3,400 people were moved to shelters", "money", False),
        ("the union wants 9 percent in a single year", "percent", True),
        ("the strike lasted 19 days", "duration", True),
        ("the strike ended with a pay award", "duration", False),
    ],
)
def test_a_quantity_asked_in_a_unit_must_be_stated_in_it(sentence: str, unit: Unit, expected: bool) -> None:
    assert offers_new(sentence, "quantity", frozenset({"how", "much"}), unit) is expected


@pytest.mark.parametrize(
    ("question", "counted"),
    [
        ("How many Pakistani soldiers were killed on October 12?", "soldier"),  # an adjective before the thing
        ("how many dockers walked out", "docker"),  # up to an inflected verb
        ("how many council seats did her allies win", "seat"),  # "seats" is a noun here, not a verb form
        ("how many people is Kestrel laying off", "peopl"),
        ("How many tonnes of potatoes does Victoria produce?", "tonn"),  # the measure counted, as written
        ("how many people work at the Kilvarra plant", "peopl"),  # up to the question's verb, uninflected too
        ("how many stations open in the first stage", "station"),
        ("how many mail-in ballots were rejected", "ballot"),  # a hyphenated word whole
        ("how many striking workers were there", "worker"),  # a participle before the noun: an adjective
        ("how many work permits", "permit"),  # a verb form first is the phrase's own word
        ("how many died in the attack", None),
        ("how many were hurt", None),  # names no thing
        ("How much did it cost?", None),  # no count
    ],
)
def test_the_thing_a_how_many_question_counts(question: str, counted: str | None) -> None:
    assert counted_term(question) == counted


@pytest.mark.parametrize(
    ("sentence", "blanked"),
    [
        ("became chief executive in 2019, told employees", "became chief executive in year, told employees"),
        ("Since 1998 the plant has closed twice", "Since year the plant has closed twice"),
        ("It takes effect on March 31, 2024, the filing said", "It takes effect on March day, year, the filing said"),
        ("agreed on 14 October and renewed on October 17", "agreed on day October and renewed on October day"),
        ("about 3,100 workers walked out in 12 ports", "about 3,100 workers walked out in 12 ports"),
        ("the 2019 budget cut 1,500 jobs", "the 2019 budget cut 1,500 jobs"),
        ("In March 2,000 workers left", "In March 2,000 workers left"),
        ("output fell in early 2019 and in 2019\u20132020", "output fell in early year and in year"),
        ("It opened Feb. 3, 2021, with 40 beds", "It opened Feb. day, year, with 40 beds"),
        ("prices may 2020 rise", "prices may 2020 rise"),
    ],
)
def test_calendar_numbers_are_no_counts(sentence: str, blanked: str) -> None:
    """A year after a preposition of time or a month, and a day beside a month, are dates: hidden from the
    quantity pattern and the count check. Counts (with or without a preposition before a short number) and a
    year used as a modifier stay."""
    assert calendar_numbers_blanked(sentence) == blanked


def test_a_year_is_no_answer_to_how_many() -> None:
    """A real sentence shape from a brief: its only numbers are years, and "told employees" follows the second,
    so before, 2019 counted the employees and "how many people" was answered with it."""
    sentence = ("Okafor, who joined Kestrel in 2016 as head of strategy and became chief executive in 2019, told "
                "employees in an internal memo that she had decided to leave.")
    assert not offers_new(sentence, "quantity", frozenset({"how", "many", "people"}))
    assert "employees" not in counted_words(sentence)
    assert offers_new("Kestrel will cut about 350 positions by 2026.", "quantity", frozenset({"people"}))
    assert "positions" in counted_words("Kestrel will cut about 350 positions by 2026.")


@pytest.mark.parametrize(
    ("question", "sentence", "answers"),
    [
        # "how long" is answered by a span without a number, or by the point it runs to
        ("how long before supermarkets run low", "They have about a week of imported produce left.", True),
        ("how long will okafor stay on as adviser", "Okafor will remain an adviser until June 30.", True),
        ("how long can the union stay out", "The ballot gave a legal mandate to strike until the end of May.", True),
        ("how long did the strike last", "The union said the strike would last.", False),
        ("how long did the strike last", "Dockworkers walked out on Monday over pay.", False),
        # what is no span of time
        ("how long will the ban last", "The tablets are taken once a day.", False),  # a rate, not a span
        ("how long will the ban last", "Dockers earn $40,000 a year.", False),
        ("how long will the ban last", "The ban will stay until the end of the year.", True),
        ("how long will the ban last", "The curfew holds until this is resolved.", False),
        ("how long will the ban last", "Restrictions on fishing until may be lifted.", False),  # "may": no month
        ("how long will the ban last", "Talks often weeks apart have stalled.", False),  # "often" holds no "ten"
    ],
)
def test_a_span_of_time_answers_how_long(question: str, sentence: str, answers: bool) -> None:
    words = frozenset(question.split())
    assert offers_new(sentence, "quantity", words, measure_unit(question)) is answers

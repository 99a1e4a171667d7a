"""Expected answer type of a question (when / how many / where / who) and whether a sentence offers one.

A sentence that contains the kind of thing the question asks for (a date for "when", a number for "how
many", a place after a preposition for "where", a person's name or role for "who") gets a small bonus in
ranking. This is ordinary question-answering knowledge, not tuned to any particular question.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

import numpy as np
import numpy.typing as npt

from app.text.normalize import STOPWORDS, is_inflected_verb, is_verb_form, stem, words

AnswerType = Literal["when", "quantity", "where", "who", "other"]
ANSWER_TYPES: tuple[AnswerType, ...] = ("when", "quantity", "where", "who")  # the types a sentence can offer

_MONTHS = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
_DAYS = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
# with their short forms ("Oct.", "Sept", "Tues"): what a calendar word may look like in a question
MONTH_NAMES = r"(?:" + _MONTHS[3:-1] + r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)"
DAY_NAMES = r"(?:" + _DAYS[3:-1] + r"|Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)"
# the letters of a capitalised word, accented ones too ("Šerić", "Ödegaard"), which [A-Z][a-z] alone would miss
_UPPER = "A-Z" + "".join(c for c in map(chr, range(0xC0, 0x250)) if c.isupper())
_LOWER = "a-z" + "".join(c for c in map(chr, range(0xC0, 0x250)) if c.islower())
_CAPITALISED = rf"[{_UPPER}][{_LOWER}]+"
# a capitalised word that is no month or weekday (short forms too: "Oct.", "Tues")
_NAME_WORD = rf"(?!(?:{MONTH_NAMES}|{DAY_NAMES})\b){_CAPITALISED}"
_PATTERNS: dict[AnswerType, re.Pattern[str]] = {
    # a year is 1000 to 2099: "in 1851 gold was discovered" answers "when" (the pattern once stopped at 1900)
    "when": re.compile(
        rf"\b(?:{_MONTHS}|{_DAYS}|(?:1\d|20)\d\d|yesterday|today|tonight|last (?:week|month|year)|"
        r"(?:earlier|later|this|next) (?:this )?(?:week|month|year)|decades?|years? ago|noon|midnight)\b"
        # a time of day ("6 a.m.", "4:40 p.m.", "10pm", "18:30"): what "what time" asks for
        r"|\b\d{1,2}(?:[:.]\d{2})?\s?(?:a\.m\.|p\.m\.|am\b|pm\b)|\b\d{1,2}:\d{2}\b"
        # a time counted from now ("within six months", "in two weeks"): a "when" of the future
        r"|\b(?:within|in|after)\s+(?:the\s+next\s+)?(?:\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|"
        r"eleven|twelve|a few|several)\s+(?:days?|weeks?|months?|years?)\b"
        # a time counted from another ("two days after a judge rejected", "a year earlier")
        r"|\b(?i:\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a few|several)\s+"
        r"(?:hours?|days?|weeks?|months?|years?)\s+(?:after|before|later|earlier)\b"
    ),
    "quantity": re.compile(
        r"\b(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|dozens?|hundreds?|thousands?|"
        r"millions?|billions?|percent|half|several)\b",
        re.IGNORECASE,
    ),
    # a named place after a preposition (not a month or a day: "in March"), or a point of the compass ("in the
    # northeast", "in the south-east of Australia", "in northern Victoria")
    "where": re.compile(r"\b(?:in|at|from|near|to|inside|across)\s+(?:the\s+)?" + _NAME_WORD
                        + r"|\b(?:in|to|across)\s+(?:the\s+)?(?:far\s+)?(?:north|south|east|west)(?:-?(?:east|west))?"
                        r"(?:ern)?\b"
                        # a bearing from a named place ("38 nautical miles north of the island of Drevik"), not
                        # from a date ("north of the port on Monday" names no place after "of")
                        r"|\b(?:north|south|east|west)(?:-?(?:east|west))?\s+of\s+(?:(?:the|island|city|town|village|"
                        r"port|province|region|state|county|district|capital|coast|border|of)\s+){0,4}?" + _NAME_WORD),
    "who": re.compile(
        # two capitalised words ("Anton Šerić", "Tehreek-e-Taliban Pakistan"), or joined by "of", "for", "and",
        # "de", "al" ("Chamber of Commerce", "Qatar and Turkey"), neither a month nor a day ("Monday and
        # Tuesday"). A capitalised word that opens the sentence counts ("In Istanbul"): barring those words was
        # measured, and lost more right answers than it saved (benchmarks/README.md)
        rf"\b{_NAME_WORD}(?:-[a-z]-)?\s+(?:(?:of|for|and|de|al)\s+(?:the\s+)?)?{_NAME_WORD}\b"
        # the agent of a passive ("paid for by the Haskins campaign", "shown by Ladner"), not a date ("by Monday",
        # "by Oct. 15")
        rf"|\bby\s+(?:the\s+)?{_NAME_WORD}\b"
        r"|\b(?:minister|president|official|analyst|diplomat|spokesman|spokeswoman|spokesperson|economist|"
        r"negotiators?|delegation|envoy|leaders?)\b"
    ),
}
_NAMED = (
    r"firm|company|companies|university|college|school|party|organization|organisation|agency|bank|"
    r"team|club|newspaper|network|hospital|brand|ministry|department"
)
# A place asked for by its kind behind words that qualify it ("in which afghan province did", "which malaysian
# city hosted"). The place noun must end the thing asked: the question goes on with an auxiliary, a verb in -ed, a
# preposition or nothing ("which city council voted", "which state-run paper", "which county towns sent", "which
# village elder spoke" ask for no place). One place, not a list: "which countries mediated" asks for names, mostly
# written without the preposition a place answer offers ("Turkey and Qatar helped"). "state" and "port" have other
# senses ("what state is the economy in", "what state of emergency", "what place did she finish"), so after "what"
# they count only before "in" or "near" ("what state in Australia"), and never before "of"; "capital" (money,
# punishment) not at all.
_PLACES = r"city|country|town|village|province|region|county|district|island|venue|location"
_PLACES_OTHER_SENSES = r"state|port|place"
_AUXILIARY = r"is|was|are|were|do|does|did|has|have|had|will|would|can|could|should"
# a word that is not the asked thing's own: "what did the bank say", "what kind of company", "the party's plan"
_NOT_A_MODIFIER = r"(?!(?:" + _AUXILIARY + r"|the|a|an|kind|type|sort|of)\b)"
# a word that qualifies a place: nor a preposition or a verb in -ed either ("what caused city flooding")
_PLACE_QUALIFIER = (
    _NOT_A_MODIFIER + r"(?!(?:may|might|in|on|at|to|from|by|with|for|about|into)\b)(?![\w-]+ed\b)[\w-]+\s+"
)
_PLACE_ENDS = r"(?:\s*[?.!]?\s*$|\s+(?:" + _AUXILIARY + r"|may|might)\b|\s+[\w-]+ed\b|\s+(?:in|at|near|on)\b)"
_LEAD = r"^\s*(?:(?:by|in|on|at|for|from|to|until|since|of|with)\s+)?"  # "by how much", "on what date", "to whom"
# the wh-word types (`wh_type`), which `question_type` widens with measures and names asked by other words
_WH_TYPES: list[tuple[re.Pattern[str], AnswerType]] = [
    (re.compile(_LEAD + r"(?:when|what (?:date|day|time|year|month)|which (?:date|day|year|month)|since when)\b",
                re.I), "when"),
    (re.compile(_LEAD + r"(?:how (?:many|much|long|often)|what (?:percentage|share|number|amount))\b", re.I),
     "quantity"),
    (re.compile(_LEAD + r"where\b", re.I), "where"),
    (re.compile(_LEAD + r"(?:which|what)\s+(?:" + _PLACE_QUALIFIER + r"){0,2}?(?:" + _PLACES + r")(?="
                + _PLACE_ENDS + r"|\s+of\b)", re.I), "where"),
    (re.compile(_LEAD + r"(?:which\s+(?:" + _PLACE_QUALIFIER + r"){0,2}?(?:" + _PLACES_OTHER_SENSES + r")(?="
                + _PLACE_ENDS + r")|what\s+(?:" + _PLACES_OTHER_SENSES + r")(?=\s+(?:in|near)\b))", re.I), "where"),
    (re.compile(_LEAD + r"(?:who|whom|whose)\b", re.I), "who"),
]
_MEASURE_TYPES: list[tuple[re.Pattern[str], AnswerType]] = [
    # "how old", "how deep", "how far": a measure, so a number answers it
    (re.compile(_LEAD + r"how (?:old|far|deep|tall|wide|heavy)\b", re.I), "quantity"),
    # "what did the renovation cost", "what will the repairs cost", "what was the statuette stolen in 2009
    # worth": the verb, or "worth" closing the question, asks for an amount
    (re.compile(_LEAD + r"what\s+(?:did|does|do|will|would|could|might)\s+(?:[\w'’-]+\s+){1,6}?cost\s*[?.!]?\s*$",
                re.I), "quantity"),
    (re.compile(_LEAD + r"what(?:\s+(?:is|was|are|were|will\s+be)|['’]s)\s+(?:[\w'’-]+\s+){1,6}?worth\s*[?.!]?\s*$",
                re.I), "quantity"),
    # "what is the name of ...", "what's the name of", "which firm ...", or as keywords opening the query ("name
    # of the turkish official"; not "in the name of national security"): a proper name answers it
    (re.compile(_LEAD + r"(?:what|which)(?:\s+(?:is|was|are|were)|['’]s)?\s+(?:the\s+)?names?\s+of\b", re.I), "who"),
    (re.compile(r"^\s*(?:the\s+)?names?\s+of\b", re.I), "who"),
    (re.compile(_LEAD + r"(?:what|which)\s+(?:" + _NOT_A_MODIFIER + r"[\w-]+\s+){0,2}?(?:" + _NAMED
                + r")\b(?!['’]s)", re.I), "who"),
]
# what a quantity is called: "the price of", "its population", "the death toll"; asked as the thing a copula
# asks for ("what is the current exchange rate", "what's the death toll") or written as a few keywords ("green
# line ticket price"), a number answers it
_MONEY_MEASURES = (
    r"price|prices|cost|costs|fare|fares|fee|fees|salary|salaries|wage|wages|budget|revenue|profit|income|worth"
)
_MEASURES = (
    _MONEY_MEASURES + r"|population|rate|capacity|age|magnitude|percentage|share|amount|total|size|height|depth|"
    r"length|width|distance|speed|temperature|turnout|margin|toll|tally|rating|score|count|number|percent"
)
# the measure is the head of what is asked: followed by a preposition ("the price of", "the fare from"), a time
# ("salary last year", "the rate today") or the end of the question
_AFTER_HEAD = r"(?=\s+(?:of|for|per|in|at|on|from|between|last|this|next|today|now|so)\b|\s*[?.!]?\s*$)"
_HEAD = r"(?:" + _MEASURES + r")\b" + _AFTER_HEAD
_COPULA_MEASURE = re.compile(
    _LEAD + r"(?:what|which)(?:\s+(?:is|was|are|were|will\s+be)|['’]s)\s+"
    r"(?:(?!(?:of|about|to|on|with)\b)[\w'’-]+\s+){0,4}?" + _HEAD,
    re.I,
)
# a few keywords ending in the measure or naming it first ("green line ticket price", "population of varosh");
# a word that asks for a figure and nothing else ends longer keywords too ("ttp attacks in pakistan this year
# number"), or opens them at any length ("number of ttp hideouts hit in pakistani airstrikes"). Not any measure:
# "key points of the budget", "age of consent law changed" name one and ask for none
_KEYWORDS_HEAD = re.compile(r"^\s*(?:[\w'’-]+\s+){0,3}?" + _HEAD, re.I)
_FIGURE_WORDS = r"number|count|total|tally|figure|toll|amount"
_KEYWORDS_MEASURE = re.compile(r"^\s*(?:[\w'’-]+\s+){4,6}?(?:" + _FIGURE_WORDS + r")\s*[?.!]?\s*$", re.I)
_KEYWORDS_OPENING_MEASURE = re.compile(r"^\s*(?:the\s+)?(?:" + _FIGURE_WORDS + r")\s+of\b", re.I)
# a date asked for by its name: "what is the date of the vote", "what's the new deadline", or keywords ending in it
# or naming it first ("inauguration date", "date of the next round"): a date answers it. Not "to date" ("the
# death toll to date": so far), and not past a preposition ("the status of the deadline", "the story behind the
# date": another thing is asked about the date)
_DATE_WORDS = r"(?<!\bto\s)(?:date|deadline)s?"
_WORD_BEFORE_DATE = r"(?:(?!(?:of|about|to|on|with|behind|for|in|from)\b)[\w'’-]+\s+)"
_COPULA_DATE = re.compile(
    _LEAD + r"(?:what|which)(?:\s+(?:is|was|are|were|will\s+be)|['’]s)\s+(?:the\s+)?" + _WORD_BEFORE_DATE
    + r"{0,3}?" + _DATE_WORDS + r"\b(?=\s+(?:of|for|to|set)\b|\s*[?.!]?\s*$)",
    re.I,
)
_KEYWORDS_DATE = re.compile(
    r"^\s*" + _WORD_BEFORE_DATE + r"{0,4}?" + _DATE_WORDS + r"\s*[?.!]?\s*$"
    r"|^\s*(?:the\s+)?" + _DATE_WORDS + r"\s+(?:of|for)\b",
    re.I,
)
_ASKING = re.compile(
    r"^\s*(?:what|who|whom|whose|when|where|why|how|which|did|does|do|is|are|was|were|can|could|will|would|has|"
    r"have|had|should|tell|explain|describe|list|give|show|summarize|summarise|any|please)\b",
    re.I,
)
KEYWORD_QUERY_WORDS = 7  # a keyword query ("population of varosh") is short and asks nothing in words


def wh_type(question: str) -> AnswerType:
    """The type its wh-word asks for ("when", "how many", "where", "who"), or "other"."""
    for pattern, kind in _WH_TYPES:
        if pattern.search(question):
            return kind
    return "other"


def question_type(question: str) -> AnswerType:
    """The kind of thing that answers the question.

    Beyond the wh-word (`wh_type`), a question that asks for a measure by its name ("what was the vote share",
    "how old is", or a few keywords ending in one: "ticket price", "population of varosh") asks for a quantity,
    and one that asks for a name ("what is the name of", "which firm") asks for a who-like proper name.
    """
    kind = wh_type(question)
    if kind != "other":
        return kind
    for pattern, measured in _MEASURE_TYPES:
        if pattern.search(question):
            return measured
    if _COPULA_MEASURE.search(question):
        return "quantity"
    keywords = not _ASKING.search(question)
    if keywords and (
        _KEYWORDS_OPENING_MEASURE.search(question)
        or _KEYWORDS_MEASURE.search(question)  # five to seven words: a keyword query by its own pattern
        or (len(question.split()) <= KEYWORD_QUERY_WORDS and _KEYWORDS_HEAD.search(question))
    ):
        return "quantity"  # before a date: "number of missed deadlines" counts them
    if _COPULA_DATE.search(question) or (keywords and _KEYWORDS_DATE.search(question)):
        return "when"
    return "other"


def offers(sentence: str, kind: AnswerType) -> bool:
    """True when the sentence contains something that may be of the expected answer type (`_OFFERING`): the
    check before `offers_new`, which decides."""
    pattern = _OFFERING.get(kind)
    return bool(pattern and pattern.search(sentence))


_SEPARATOR = "\x00"  # neither a word character nor a space: no pattern matches across it, \b behaves as at an edge


def offering_rows(sentences: list[str], kind: AnswerType) -> npt.NDArray[np.bool_]:
    """`offers(s, kind)` for every sentence at once: one regex scan over the joined texts, not one per sentence.

    No pattern can match the separator or span it, and a word boundary next to it is one at a text's edge,
    so a match in the joined text is exactly a match inside one sentence.
    """
    flags = np.zeros(len(sentences), dtype=np.bool_)
    pattern = _OFFERING.get(kind)
    if pattern is None or not sentences:
        return flags
    lengths = np.fromiter((len(s) + 1 for s in sentences), dtype=np.int64, count=len(sentences))
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    found = np.fromiter((m.start() for m in pattern.finditer(_SEPARATOR.join(sentences))), dtype=np.int64)
    flags[np.searchsorted(starts, found, side="right") - 1] = True
    return flags


Unit = Literal["age", "money", "percent", "duration"]
_NUMBER = r"\b(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a few|several|dozens? of)"
# the unit a measure question asks in, from the words that ask it (checked in this order: a percentage's "share of
# the revenue" is a percentage, not money)
_UNIT_QUESTIONS: list[tuple[re.Pattern[str], Unit]] = [
    (re.compile(r"\bhow old\b|\bwhat age\b|\bage of\b", re.I), "age"),
    (re.compile(r"\b(?:percentage|percent|per cent)\b|\bshare\b" + _AFTER_HEAD, re.I), "percent"),
    (re.compile(r"^\s*(?:for\s+)?how long\b(?!\s+(?:is|was|are|were)\s+the\s+\w+\s*\??$)", re.I), "duration"),
    (re.compile(r"\bhow much\b.*\b(?:cost|costs|costing|pay|paid|earn|earned|earns|spend|spent|invest|invested|"
                r"fined?|worth|charge|charged)\b|\b(?:" + _MONEY_MEASURES + r")\b" + _AFTER_HEAD, re.I), "money"),
]
# what states a measure of that unit: an age ("Elena Brask, 54," / "the 61-year-old" / "aged 70"), an amount of
# money, a percentage, a span of time
_UNIT_PATTERNS: dict[Unit, re.Pattern[str]] = {
    "age": re.compile(r"\b\d{1,3}-year-old\b|\baged? \d{1,3}\b|, \d{1,3},|\b\d{1,3} years old\b|\bin (?:his|her|their) "
                      r"(?:early |mid-|late )?\d0s\b", re.I),
    "money": re.compile(r"[$€£¥₹]|\b(?:dollars?|euros?|pounds?|rupees?|yen|yuan|francs?|crowns?|kroner|pesos?)\b|"
                        r"\b\d[\d,.]*\s?(?:m|bn|k|million|billion|trillion)\b", re.I),
    "percent": re.compile(r"%|\bper ?cent\b|\bpercentage points?\b|\b(?:half|a third|a quarter|two-thirds)\b", re.I),
    # a span ("three weeks", "about a week": not a rate, "once a day", "$40,000 a year") or the point it runs to
    # ("until June 30", "until the end of May", "until the end of the year", "through next week")
    "duration": re.compile(
        _NUMBER + r"[\s-]+(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?)\b"
        r"|\b(?:about|around|roughly|nearly|almost|over|under|for|within|just|only|than|least|most)\s+an?\s+"
        r"(?:second|minute|hour|day|week|month|year|decade)\b(?!\s+(?:ago|earlier|later))"
        r"|\b(?:until|till|through)\s+(?:the\s+(?:end|middle|start|beginning)\s+of\s+)?"
        rf"(?:(?-i:{_MONTHS}|{_DAYS})\b|(?:1\d|20)\d\d\b|the\s+(?:year|month|week|season|decade|summer|winter)\b|"
        r"(?:this|next)\s+(?:week|month|year|spring|summer|autumn|fall|winter|season)\b)",
        re.I,
    ),
}


# what may offer each type, for `offers` and the flags the bundle keeps (`offering_rows`): the type's own pattern,
# and for a quantity also a span of time, whose words alone may state one ("about a week", "until June 30")
_OFFERING: dict[AnswerType, re.Pattern[str]] = {
    **_PATTERNS,
    "quantity": re.compile(_PATTERNS["quantity"].pattern + "|" + _UNIT_PATTERNS["duration"].pattern, re.I),
}


def measure_unit(question: str, kind: AnswerType | None = None) -> Unit | None:
    """The unit a quantity question asks in, when its words say ("how old": an age, "the ticket price": money,
    "vote share": a percentage, "how long did it last": a span of time); None for a count ("how many"), a
    change ("how much did prices rise") or any other question. `kind`: its `question_type`, when known."""
    if (kind or question_type(question)) != "quantity" or re.search(r"\bhow many\b", question, re.I):
        return None
    for pattern, unit in _UNIT_QUESTIONS:
        if pattern.search(question):
            return unit
    return None


# numbers that put something on the calendar, not counts, though their digits look like one: a year after a
# preposition of time or a month ("joined in 2016", "since 1998", "in early 2019", "in 2019-20", "March 31,
# 2024"), and a day beside a month ("March 31", "31 March", "Oct. 15"), but not "March 2,000 workers". Month
# names count capitalised only ("prices may 2020" is no date). A count written so ("cut in 1500 homes") is
# misread; news writes those "1,500".
_YEAR = r"(?:1\d|20)\d\d(?:\s?[-\u2013]\s?(?:1\d|20)?\d\d)?\b"
_DATED_YEAR = re.compile(
    rf"\b((?i:in|since|until|during)\s+(?:(?i:early|late|mid)[\s-]+)?|{MONTH_NAMES}\.?\s+(?:\d{{1,2}},?\s+)?)"
    + _YEAR
)
_MONTH_DAY = re.compile(
    rf"\b({MONTH_NAMES}\.?\s+)\d{{1,2}}(?:st|nd|rd|th)?\b(?![,.]\d)|\b\d{{1,2}}(?:st|nd|rd|th)?(\s+{MONTH_NAMES}\b)"
)


@lru_cache(maxsize=65_536)  # read for every candidate of a quantity question, and the same sentences come up again
def calendar_numbers_blanked(sentence: str) -> str:
    """The sentence with its calendar numbers (`_DATED_YEAR`, `_MONTH_DAY`) written as the words "year" and
    "day", so that the quantity pattern and the count check do not read "became chief executive in 2019, told
    employees" as 2019 employees. For those checks only: the quote is always the sentence as written."""
    without_years = _DATED_YEAR.sub(r"\1year", sentence)
    return _MONTH_DAY.sub(lambda m: f"{m.group(1)}day" if m.group(1) else f"day{m.group(2)}", without_years)


_HOW_MANY = re.compile(r"\bhow many\b", re.I)
_COUNT_TOKEN = re.compile(r"[A-Za-z][A-Za-z'\u2019-]*")  # a hyphenated word whole ("mail-in")
COUNT_REACH = 4  # a number among the four words before the thing it counts ("3,100 striking port workers")
_COUNT_NUMBER = re.compile(r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|"
                           r"hundreds?|thousands?|millions?|billions?|several|few)")


def counted_term(question: str) -> str | None:
    """The term of the thing a "how many" question counts, or None when it names none ("how many were hurt").

    English puts it right after "how many", as a noun phrase that ends at a function word or at the verb of the
    question: the last word of at most three before either ("how many Pakistani soldiers were killed":
    soldier; "how many people work at the plant": people; "how many mail-in ballots": ballot). A verb form
    ending in -s is taken for a plural noun ("seats", "jobs"), and a participle before any noun for an
    adjective ("how many striking workers": worker)."""
    found = _HOW_MANY.search(question)
    if found is None:
        return None
    phrase: list[str] = []
    for token in _COUNT_TOKEN.findall(question[found.end() :])[:5]:
        word = token.lower().replace("\u2019", "'").removesuffix("'s")
        if word in STOPWORDS:
            break
        verb = not word.endswith("s") and is_verb_form(word)
        if verb and phrase:  # the question's verb: the noun phrase has ended
            break
        if verb and is_inflected_verb(word):  # "striking", "injured" before the noun: an adjective
            continue
        phrase.append(word)
        if len(phrase) == 3:
            break
    parts = words(phrase[-1]) if phrase else []
    return stem(parts[-1]) if parts else None


@lru_cache(maxsize=65_536)  # like the other per-sentence tables: the same sentences come up question after question
def counted_words(sentence: str) -> tuple[str, ...]:
    """The folded words of a sentence that a number counts: those with a number among the COUNT_REACH words
    before them ("3,100 dockworkers walked out": dockworkers, walked, out)."""
    tokens = words(calendar_numbers_blanked(sentence))
    return tuple(
        token for i, token in enumerate(tokens)
        if any(_COUNT_NUMBER.fullmatch(t) for t in tokens[max(0, i - COUNT_REACH) : i])
    )


def offers_new(
    sentence: str, kind: AnswerType, question_words: frozenset[str], unit: Unit | None = None
) -> bool:
    """True when the sentence holds something of the expected type that the question does not already say.

    "How many died in the April 22 attack?" is not answered by a sentence whose only date or number is the
    question's own "April 22": the typed thing must bring a word the question lacks. A quantity asked in a unit
    must be stated in it: "how old is the mayor" is not answered by "3,400 people were moved".
    """
    pattern = _PATTERNS.get(kind)
    if pattern is None:
        return False
    if unit is not None:
        stated = [match.group(0) for match in _UNIT_PATTERNS[unit].finditer(sentence)]
        if not stated:
            return False
        if unit == "duration" and any(not set(words(span)) <= question_words for span in stated):
            return True  # "about a week", "until June 30": the span is the answer, with or without a number
    if kind == "quantity":
        sentence = calendar_numbers_blanked(sentence)
    return any(not set(words(match.group(0))) <= question_words for match in pattern.finditer(sentence))

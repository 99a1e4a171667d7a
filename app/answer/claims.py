"""Pure: the value a quoted sentence states for the asked type, so that versions of one fact can be told apart.

Newsrooms live with conflicting reports ("agreed on October 15" in one paragraph, "an October 16 ceasefire" in
another, "October 14" in a wire brief). Values are read deterministically from the sentence, never inferred:

- dates ("when"): a month with a day ("October 15", "Oct. 15", "15 October", "October 15, 2025"), a day range
  ("October 15-17"), a month with a year, or a vague part of a month ("mid-October", "early October"). Weekdays
  and relative dates ("last week", "on Saturday") are left alone: the sentence does not say which date they are.
  A missing year is never filled in: "October 15" and "October 15, 2025" are the same date.
- numbers ("how many", "how much"): digits ("1,200", "3.5"), ranges ("20 to 30"), percentages, and numbers
  written in words ("twenty-three", "two hundred", "a dozen"). "Dozens", "several", "hundreds" are not numbers.
- names ("who"): a run of two or more capitalised words the question does not contain ("Defence Minister
  Khawaja Asif"); places ("where"): the same, one word allowed after a preposition ("in Istanbul").

A sentence's value is the one nearest a question word it shares with the best answer (its anchor), within a
few words: "Following the ceasefire agreed on October 15, renewed on October 17" states October 15 for "When was
the ceasefire agreed?", and a date far from any anchor is about something else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from app.models import ValueKind
from app.text.answer_type import AnswerType, Unit
from app.text.normalize import STOPWORDS, is_inflected_verb, is_verb_form, word_forms

KIND_OF: dict[AnswerType, ValueKind] = {"when": "date", "quantity": "number", "who": "name", "where": "place"}
ANCHOR_WINDOW = 5  # at most this many words between a value and a question word for the value to be the claim

_MONTH_NAMES = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november",
    "december",
)
_MONTH_OF = {name: i + 1 for i, name in enumerate(_MONTH_NAMES)} | {
    name[:3]: i + 1 for i, name in enumerate(_MONTH_NAMES)
} | {"sept": 9}
_MONTH = (
    r"(?P<{g}>January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan\.?|Feb\.?|Mar\.?|Apr\.?|Jun\.?|Jul\.?|Aug\.?|Sept?\.?|Oct\.?|Nov\.?|Dec\.?)"
)
_DAY = r"(?P<{g}>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR_WORDS = "in|In|since|Since|by|until|before|after|from|of|during|early|late|mid|spring|summer|autumn|fall|winter"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_DATE = re.compile(
    "|".join(
        (
            # October 15, October 15-17, October 15 to 17, Oct. 15, 2025
            rf"\b{_MONTH.format(g='m1')}\s+{_DAY.format(g='d1')}(?:\s*(?:-|–|to)\s*{_DAY.format(g='d1b')})?"
            rf"(?!\d)(?:,?\s+(?P<y1>(?:19|20)\d\d))?\b",
            # 15 October, 15 October 2025
            rf"\b{_DAY.format(g='d2')}\s+{_MONTH.format(g='m2')}(?:,?\s+(?P<y2>(?:19|20)\d\d))?\b",
            # mid-October, early October 2025, late Oct.
            rf"\b(?P<part>mid|early|late)[-\s]+{_MONTH.format(g='m3')}(?:\s+(?P<y3>(?:19|20)\d\d))?",
            # October 2025
            rf"\b{_MONTH.format(g='m4')}\s+{_YEAR}\b",
            # in 2021 (a year alone, after a word that dates: "About 2000 people" is a count)
            rf"\b(?:{_YEAR_WORDS})\s+(?P<y5>(?:19|20)\d\d)(?![\w%]|\s*(?:percent|per cent))",
        )
    )
)
_SMALL = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}
_SCALE = {"dozen": 12, "hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_UNITS = "|".join(k for k, v in _SMALL.items() if v < 10)
_NUMBER_WORD = r"(?:(?:" + "|".join(_SMALL) + r")(?:[-\s](?:" + _UNITS + r"))?)"
# "twenty-three", "two hundred", "three hundred and fifty", "a dozen", "two dozen"
_WORD_NUMBER = (
    r"(?:(?:a|" + _NUMBER_WORD + r")\s+dozen|" + _NUMBER_WORD + r"(?:\s+(?:" + "|".join(_SCALE)
    + r")(?:\s+and\s+" + _NUMBER_WORD + r")?)*)"
)
LARGEST = 1e15  # past this a run of digits is an identifier or noise, not a count
_DIGITS = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_AMOUNT = rf"(?:{_DIGITS})(?:\s+(?:{'|'.join(_SCALE)}))?|{_WORD_NUMBER}"
_NUMBER = re.compile(
    rf"(?<![\w.,])(?P<a>{_AMOUNT})(?:\s*(?:-|–|to)\s*(?P<b>{_AMOUNT}))?(?![\w])(?P<unit>\s*(?:%|percent|per cent))?",
    re.IGNORECASE,
)
# a time of day is no count: "by 7 a.m.", "at 10:40 p.m." (both numbers), "the 7 o'clock news", "at 14:30"
_CLOCK_AFTER = re.compile(r"(?::\d{2}\b)?\s*(?:[ap]\.\s?m\.?|[ap]m\b|o[’']clock\b)|:\d{2}\b", re.IGNORECASE)
_CLOCK_BEFORE = re.compile(r"\b\d{1,2}:$")
# a former value is no version of the current one: ", up from €58" (after a comma: "smoke rose from 3 buildings"
# is no change), and the first figure of a change "rose from 12 to 15" / "went up from €58 to €64" (not a range:
# "estimates range from 300 to 400", "aged from 7 to 12")
_MONEY_MARK = r"(?:[$€£¥]|\b(?:EUR|USD|GBP)\s?)?"
_FORMER_BEFORE = re.compile(rf",\s*(?:up|down)\s+from\s*{_MONEY_MARK}\s*$", re.IGNORECASE)
_CHANGE_FROM_BEFORE = re.compile(
    r"\b(?:rose|rise[sn]?|rising|fell|falls?|fallen|falling|went|goes|going|grew|grown|growing|jumped|climbed|"
    r"increased|decreased|dropped|cut|reduced|raised|up|down)\s+from\s*" + _MONEY_MARK + r"\s*$",
    re.IGNORECASE,
)
# an age is no count, and no version of one ("Tomas Reinholt, 44, said", "a 41-year-old man", "aged 67"): it
# is read with the unit "age", and `values_in` gives it to no count question
_AGE_AFTER = re.compile(r"-?\s*years?[- ]old\b|\s*,(?!\d)", re.IGNORECASE)
_AGE_BEFORE = re.compile(r"\baged\s+$", re.IGNORECASE)
# a person right before the comma: a title and a name ("Ms Brask, 54,") or two capitalised words ("Anna Brask,
# 71,"), not one ("In Kharkiv, 12, were killed", "NATO, 32, members", "Rangers, 3, Celtic")
_WEEKDAYS = frozenset({"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"})
_PERSON_COMMA_BEFORE = re.compile(r"\b(?:(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.?\s+)?([A-Z][\w’'-]*)\s+([A-Z][\w’'-]*),\s*$")
_TO_AFTER = re.compile(r"\s*(?:per\s*cent|percent|%|euros?|dollars?|pounds?)?\s+to\s+" + _MONEY_MARK + r"\s*\d",
                       re.IGNORECASE)
_UPPER = "A-Z" + "".join(c for c in map(chr, range(0xC0, 0x250)) if c.isupper())  # "Çavuşoğlu", "Šerić"
_NAME = re.compile(rf"\b[{_UPPER}][\w’'-]*(?:\s+(?:of|al|bin|de|van|von|the)?\s*[{_UPPER}][\w’'-]*)*")
WORD = re.compile(r"\w+(?:[’'-]\w+)*")  # a word, with inner apostrophes and hyphens ("Pakistan’s", "first-round")
# a number word joined to a word is part of that word, no count: "a ten-year bond", "two-party", "two-thirds"
_WORD_JOINED = re.compile(r"-[A-Za-z]")


@dataclass(frozen=True)
class Value:
    """One value a text states: its kind, a normalized key, the words as written and where they are."""

    kind: ValueKind
    key: tuple[object, ...]
    text: str
    start: int  # offsets into the text the value was read from
    end: int

    @property
    def specific(self) -> bool:
        """A date with its day, or any other value (a year alone, a month, a part of one are vague)."""
        return self.kind != "date" or self.key[2] is not None


def _month(token: str) -> int:
    folded = token.lower().rstrip(".")
    return _MONTH_OF.get(folded) or _MONTH_OF[folded[:3]]


_DAYS_IN = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}


def dates_in(text: str) -> list[Value]:
    """The absolute dates a text states (key: year or None, month, day or None, day range end or part)."""
    found: list[Value] = []
    for m in _DATE.finditer(text):
        g = m.groupdict()
        if g["m1"]:
            year, month, day, extra = g["y1"], _month(g["m1"]), int(g["d1"]), g["d1b"]
            extra = int(extra) if extra else None
        elif g["m2"]:
            year, month, day, extra = g["y2"], _month(g["m2"]), int(g["d2"]), None
        elif g["m3"]:
            year, month, day, extra = g["y3"], _month(g["m3"]), None, g["part"].lower()
        elif g["m4"]:
            year, month, day, extra = g["year"], _month(g["m4"]), None, None
        else:
            year, month, day, extra = g["y5"], None, None, "year"
        if day is not None and (month is None or not 1 <= day <= _DAYS_IN[month]):
            continue  # "February 31", "October 0": not a date
        if isinstance(extra, int) and not (day is not None and day < extra <= _DAYS_IN[month or 1]):
            continue  # "October 15-39", "October 17-15": not a range of days
        key = (int(year) if year else None, month, day, extra)
        group = "y5" if g["y5"] else 0  # a year alone: the year, without the word that dates it
        found.append(Value("date", key, m.group(group), m.start(group), m.end(group)))
    return found


def number_value(words_text: str) -> float | None:
    """The value of "1,200", "3.5", "2 million", "twenty-three", "two hundred", "a dozen" (None: not a number)."""
    cleaned = words_text.lower().replace(",", "").strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", cleaned):
        value = float(cleaned)
        return value if value <= LARGEST else None
    parts = [p for p in re.split(r"[-\s]+", cleaned) if p and p != "and"]
    if not parts:
        return None
    head = re.fullmatch(r"\d+(?:\.\d+)?", parts[0])
    total, current = 0.0, float(parts[0]) if head else 0.0
    for part in parts[1:] if head else parts:
        if part in _SMALL:
            current += _SMALL[part]
        elif part == "a" and current == 0:
            current = 1.0  # "a dozen", "a million"
        elif part in _SCALE:
            current = (current or 1.0) * _SCALE[part]
            if _SCALE[part] >= 1000:
                total, current = total + current, 0.0
        else:
            return None
    value = float(f"{total + current:.12g}")  # "4.1 billion" is 4,100,000,000, not 4,099,999,999.9999995
    return value if 0 < value <= LARGEST or (value == 0 and "zero" in parts) else None


_YEAR_ALONE = re.compile(r"(?:18|19|20)\d\d")
_BEFORE_YEAR = re.compile(r"(?:\b(?:the|a|an|its|their|this|that)|[’']s)\s+$", re.IGNORECASE)
_CONVERSION = re.compile(r"\d[^()]{0,40}\(\s*(?:about|approximately|around|~)?\s*$")


def numbers_in(text: str, dates: list[Value] | None = None) -> list[Value]:
    """The numbers a text states, outside its dates (key: value, range end or None, "percent", "age" or "").

    Not counts: a year said as an attribute ("the 2006 election"), a number in parentheses right after
    another one, which restates it in other units ("26,000 square kilometres (10,000 sq mi)"), and a time of
    day ("by 7 a.m.", "at 10:40 p.m."), and a former value ("up from €58", the 58 of "from €58 to €64")."""
    taken = [(d.start, d.end) for d in (dates if dates is not None else dates_in(text))]
    found: list[Value] = []
    for m in _NUMBER.finditer(text):
        if any(s < m.end() and m.start() < e for s, e in taken):
            continue
        before = text[max(0, m.start() - 60) : m.start()]
        if _YEAR_ALONE.fullmatch(m.group(0).strip()) and _BEFORE_YEAR.search(before):
            continue
        if _CONVERSION.search(before):
            continue
        if _CLOCK_AFTER.match(text, m.end()) or _CLOCK_BEFORE.search(before):
            continue
        changed = _CHANGE_FROM_BEFORE.search(before) is not None
        # "fell from 14 to 12" is read as the range 14-12: its value is the second figure
        said = "b" if m.group("b") and changed else "a"
        if said == "a" and (_FORMER_BEFORE.search(before) or (changed and _TO_AFTER.match(text, m.end()))):
            continue
        first = number_value(m.group(said))
        if first is None:
            continue
        unit = "percent" if m.group("unit") else "age" if _is_age(text, m, before) else ""
        if unit != "age" and m.group(said)[:1].isalpha() and _WORD_JOINED.match(text, m.end()):
            continue  # a number word joined to a word is part of it: "a ten-year bond", "two-thirds", "one-off"
        second = number_value(m.group("b")) if m.group("b") and said == "a" else None
        written = text[m.start(said) : m.end()].rstrip()
        found.append(Value("number", (first, second, unit), written, m.start(said), m.start(said) + len(written)))
    return found


def _is_age(text: str, m: re.Match[str], before: str) -> bool:
    """Whether the number is someone's age: "aged N", "N-year-old", "N years old", or a whole number set off by
    commas right after a person's name ("Tomas Reinholt, 44, said")."""
    if _AGE_BEFORE.search(before):
        return True  # "aged 67", "aged 7 to 12", "a man aged 45, from Drennick"
    if m.group("unit") or m.group("b"):
        return False
    after = _AGE_AFTER.match(text, m.end())
    if after is None:
        return False
    if after.group(0).strip() != ",":
        return True
    number = number_value(m.group("a"))
    if number is None or not number.is_integer() or number >= 120:
        return False
    person = _PERSON_COMMA_BEFORE.search(before)
    return person is not None and not any(
        w.lower() in STOPWORDS or w.lower() in _MONTH_OF or w.lower() in _WEEKDAYS for w in person.groups()
    )


_DETERMINER = re.compile(r"^(?:The|A|An|This|That|These|Those|Its|Their|His|Her)\s+")
_POSSESSIVE = re.compile(r"[’']s$")
# ("at the ASEAN Summit", "in the White House": a determiner after a preposition of place keeps it a place)
_PLACE_PREPOSITION = re.compile(
    r"\b(?:in|at|from|near|to|inside|outside)\s+$|\b(?:in|at|near|inside|outside)\s+the\s+$"
)
_LEADING_WORD = re.compile(rf"^\w+(?:\s+(?:of|the))?\s+(?=[{_UPPER}])")  # a sentence's capitalised first word
_OPENING = " \t\"“‘'(«-—"  # what may come before a sentence's first word


def fold_word(word: str) -> str:
    """A word as matching compares it: lower case, apostrophes straight, a possessive dropped ("Pakistan’s" is
    "pakistan")."""
    return _POSSESSIVE.sub("", word.lower().replace("’", "'"))


def name_words(text: str) -> frozenset[str]:
    """Folded words of a name."""
    return frozenset(fold_word(w) for w in WORD.findall(text))


def names_in(text: str, kind: ValueKind, question_words: frozenset[str]) -> list[Value]:
    """Runs of two or more capitalised words the question does not use (for a place, one after a preposition
    will do), a leading determiner, a sentence's first word or a possessive dropped."""
    asked = name_words(" ".join(question_words))
    found: list[Value] = []
    for m in _NAME.finditer(text):
        raw = m.group(0).rstrip()
        cut = _DETERMINER.match(raw)
        opens = not text[: m.start()].strip(_OPENING)  # the sentence's first word (after a quotation mark, say)
        lead = _LEADING_WORD.match(raw) if cut is None and opens else None
        if lead and raw.split()[0].lower() in STOPWORDS:
            cut = lead  # "During the Istanbul talks": the sentence's first word is not part of the name
        start = m.start() + (cut.end() if cut else 0)
        name = _POSSESSIVE.sub("", text[start : m.start() + len(raw)])
        folded = name_words(name)
        after_preposition = _PLACE_PREPOSITION.search(text[:start]) is not None
        if kind == "name" and after_preposition:
            continue  # "at City Hall", "in New York": a place, not who
        if not folded or folded <= asked or (" " not in name.strip() and not (kind == "place" and after_preposition)):
            continue  # one capitalised word is as often a place, a people or a sentence's first word as a name
        last = name_words(WORD.findall(name)[-1])
        key = (*sorted(last), *sorted(folded - asked - last))  # the last word first: a surname, a city
        found.append(Value(kind, key, name, start, start + len(name)))
    return found


CURRENCY = re.compile(r"[$€£¥]|\b(?:dollars?|euros?|pounds?|yuan|rupees?)\b", re.IGNORECASE)
_MONEY_SCALE = re.compile(r"\b(?:million|billion)\b", re.IGNORECASE)


def currency_beside(text: str, value: Value) -> re.Match[str] | None:
    """The currency named right before a number or right after it ("$52 million", "48 million dollars")."""
    before, after = text[max(0, value.start - 2) : value.start], text[value.end : value.end + 12]
    return CURRENCY.search(before) or CURRENCY.match(after.lstrip())


def _stated_in(text: str, value: Value, unit: Unit | None) -> bool:
    """Whether a number is said in the unit a question asks for: an age, a percentage, or for money an amount
    with a currency or a million or billion (or a percentage: "the drop in profit" asks for money by its words
    and is answered by "a 38 percent drop"); for a span of time or a count (no unit) any number but an age."""
    if unit in ("age", "percent"):
        return value.key[2] == unit
    if unit == "money":
        return (value.key[2] == "percent" or currency_beside(text, value) is not None
                or _MONEY_SCALE.search(value.text) is not None)
    return value.key[2] != "age"


def values_in(text: str, kind: ValueKind, question_words: frozenset[str], unit: Unit | None = None) -> list[Value]:
    """Every value of the kind the text states, except those the question already gives. A number asked in a
    unit (`answer_type.measure_unit`) is one stated in it (`_stated_in`): an age for "how old", a percentage for
    "what share of the vote", an amount for "cost of the trial"; an age answers no other question."""
    if kind == "date":
        values = list(_dates_of(text))
    elif kind == "number":
        values = [v for v in _numbers_of(text) if _stated_in(text, v, unit)]
    else:
        values = names_in(text, kind, question_words)
    said = name_words(" ".join(question_words))
    # a name ending in a word of the question is the question's own subject in another form ("the
    # Tehreek-e-Taliban Pakistan" for "who led Pakistan's delegation"), not who or where it asks about
    named = kind in ("name", "place")
    return [v for v in values if not name_words(v.text) <= said and not (named and v.key[0] in said)]


@lru_cache(maxsize=8192)
def _dates_of(text: str) -> tuple[Value, ...]:
    """`dates_in`, kept per sentence text: the same sentences are read for question after question."""
    return tuple(dates_in(text))


@lru_cache(maxsize=8192)
def _numbers_of(text: str) -> tuple[Value, ...]:
    """`numbers_in`, kept per sentence text."""
    return tuple(numbers_in(text))


@lru_cache(maxsize=8192)
def _word_tokens(text: str) -> tuple[tuple[int, int, frozenset[str]], ...]:
    """Each word of the text with its offsets and its forms (`word_forms`), kept per sentence text."""
    return tuple((m.start(), m.end(), word_forms(fold_word(m.group(0)))) for m in WORD.finditer(text))


def claim(
    text: str, kind: ValueKind, anchors: frozenset[str], question_words: frozenset[str],
    window: int | None = ANCHOR_WINDOW, unit: Unit | None = None,
) -> Value | None:
    """The value the text states about the question's words (`anchors`: their stems and verb lemmas'
    stems, `normalize.term_forms`): of the values with a question
    word within `window` words (None: any distance, for the best answer, which is known to answer), the one
    the question's words are closest to (each distinct word counted once, 1 / (1 + words between)), then the
    first. None when there is no such value. The best answer may word the question's words otherwise ("The
    blaze broke out on March 3" for "when did the fire break out"): with no question word in it, its one value
    of the kind is its claim."""
    values = values_in(text, kind, question_words, unit)
    if not values:
        return None
    tokens = _word_tokens(text)
    anchor_at = [(i, min(f & anchors)) for i, (_, _, f) in enumerate(tokens) if f & anchors]
    if not anchor_at:
        return values[0] if window is None and len(values) == 1 else None
    limit = window if window is not None else len(tokens)
    best: tuple[float, int, Value] | None = None
    for order, value in enumerate(values):
        inside = [i for i, (s, e, _) in enumerate(tokens) if s < value.end and value.start < e]
        if not inside:
            continue
        first, last = inside[0], inside[-1]
        nearest: dict[str, int] = {}
        for a, term in anchor_at:
            # a question word inside the value ("Defence Minister Khawaja Asif" for "minister") is right next to it
            gap = first - a - 1 if a < first else a - last - 1 if a > last else 0
            if gap <= limit:
                nearest[term] = min(gap, nearest.get(term, gap))
        if not nearest:
            continue
        closeness = sum(1.0 / (1 + gap) for gap in nearest.values())  # each question word once, by nearness
        if best is None or (-closeness, order) < (-best[0], best[1]):
            best = (closeness, order, value)
    return best[2] if best else None


def same_value(a: Value, b: Value) -> bool:
    """Whether two values state the same thing: dates agree on what both give (a missing year is no conflict);
    numbers are equal (ranges equal as ranges, percentages only with percentages); names end alike."""
    if a.kind != b.kind:
        return False
    if a.kind == "date":
        (ya, ma, da, xa), (yb, mb, db, xb) = a.key, b.key
        if xa == "year" or xb == "year":  # a year alone agrees with any date of that year
            return ya is not None and ya == yb
        return ma == mb and da == db and xa == xb and (ya is None or yb is None or ya == yb)
    if a.kind == "number":
        return a.key == b.key
    return a.key[:1] == b.key[:1]  # names and places: the same last word ("Khawaja Asif", "Asif")


def vague_fits(vague: Value, specific: Value) -> bool:
    """A month or part of one ("mid-October") is consistent with a specific date in that month, a year alone
    with any date of that year."""
    (yv, mv, _, xv), (ys, ms, _, _) = vague.key, specific.key
    if xv == "year":
        return yv is not None and yv == ys
    return mv == ms and (yv is None or ys is None or yv == ys)


def display(value: Value) -> str:
    """The value written the way the briefs would: "October 15", "October 15–17, 2025", "80 percent"."""
    if value.kind == "date":
        year, month, day, extra = value.key
        if month is None:  # a year alone
            return str(year)
        name = _MONTH_NAMES[int(str(month)) - 1].capitalize()
        if day is None:
            out = f"{extra}-{name}" if isinstance(extra, str) else name
        else:
            out = f"{name} {day}" + (f"–{extra}" if isinstance(extra, int) else "")
        return f"{out}, {year}" if year and day is not None else f"{out} {year}" if year else out
    if value.kind == "number":
        first, second, unit = value.key

        def plain(x: object) -> str:
            f = float(str(x))
            if f >= 1_000_000_000:
                return f"{f / 1_000_000_000:g} billion"
            if f >= 1_000_000:
                return f"{f / 1_000_000:g} million"
            return f"{int(f):,}" if f.is_integer() else f"{f:,}"

        out = plain(first) + (f"–{plain(second)}" if second is not None else "")
        return f"{out} percent" if unit == "percent" else f"aged {out}" if unit == "age" else out
    return value.text


# --- yes or no --------------------------------------------------------------------------------------------------------

_YES_NO = re.compile(
    r"^\s*(?:is|are|was|were|do|does|did|has|have|had|will|would|can|could|should|shall|may|might|must)\b", re.I
)
_NEGATIONS = frozenset("not no never without neither nor none nobody nothing cannot unable".split())
# verbs that say no to what follows them ("the union rejected the plan", "failed to reach a deal")
_NEGATING_VERBS = frozenset(
    "fail fails failed refuse refuses refused deny denies denied reject rejects rejected decline declines declined"
    .split()
)
# words after which a bare verb is a verb ("will close", "been cut", "did not sink", "to reopen")
_BEFORE_VERB = frozenset(
    """will would can could shall should may might must to not never did does do been be being is are was were
    has have had""".split()
)
POLARITY_REACH = 3  # a negation at most this many words before the verb is the verb's
POLARITY_SPAN = 8  # words at most in the span a polarity is read from (it is quoted as the version's value)


def is_yes_no(question: str) -> bool:
    """A question a sentence answers with yes or no ("did the ferry sink", "will the mill close")."""
    return bool(_YES_NO.match(question))


def _verbal(words: list[str], i: int) -> bool:
    """Whether the word at `i` is used as a verb here: an inflected verb form ("sank", "arrested") or a verb right
    after an auxiliary, a modal or "to" ("will close", "been cut")."""
    if not is_verb_form(words[i]):
        return False
    # an inflected form other than an -s one ("jobs", "plans" are nouns as often as verbs)
    inflected = is_inflected_verb(words[i]) and not words[i].endswith("s")
    return inflected or (i > 0 and (words[i - 1] in _BEFORE_VERB or words[i - 1].endswith("n't")))


def polarity_in(text: str, anchors: frozenset[str], needed: int) -> Value | None:
    """Whether the text says yes or no to a yes/no question whose words (`anchors`, `normalize.term_forms`) it
    uses: at least `needed` distinct ones, one of them as a verb (or a verb that says no, "rejected", stands
    among them). "No" when a negation ("not", "no", "never", "without", "-n't") stands just before that verb,
    or a verb that says no does ("The ferry did not sink", "no jobs had been cut", "the union rejected the
    plan"); else "yes". The value's text is the words it is read from, verbatim: a version is shown by them,
    never by an invented "yes". None when the text does not speak to the question."""
    tokens = list(WORD.finditer(text))
    folded = [fold_word(m.group(0)) for m in tokens]
    forms = [word_forms(w) for w in folded]
    matched = [i for i, f in enumerate(forms) if f & anchors]
    if not matched or len({min(forms[i] & anchors) for i in matched}) < needed:
        return None

    def said(polarity: str, first: int, last: int) -> Value:
        start, stop = tokens[first].start(), tokens[last].end()
        return Value("yesno", (polarity,), text[start:stop], start, stop)

    def reach(after: int, default: int) -> int:  # the last question word within the span after a negation
        return max((j for j in matched if after < j < after + POLARITY_SPAN), default=default)

    refusal = next((i for i in range(matched[0], matched[-1] + 1) if folded[i] in _NEGATING_VERBS), None)
    if refusal is not None:
        return said("no", refusal, reach(refusal, refusal))
    verb = next((i for i in matched if _verbal(folded, i)), None)
    if verb is None:
        return None
    # the question's words that lead up to the verb ("the ferry Marisol was arrested", "no jobs had been cut")
    first = min((j for j in matched if verb - 2 * POLARITY_REACH <= j <= verb), default=verb)
    for i in range(max(0, min(first - 1, verb - POLARITY_REACH)), verb):
        if folded[i] in _NEGATIONS or folded[i].endswith("n't"):
            # with the words leading up to it: "the ferry did not sink", not "not sink"
            return said("no", min(first, i), reach(i, verb))
    return said("yes", first, verb)

"""Acronyms a corpus defines ("Tehreek-e-Taliban Pakistan (TTP)"), so a question using either form matches both."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from app.text.normalize import fold

# One to eight capitalised (or hyphen-joined) words followed by an all-caps acronym in parentheses.
_DEFINITION = re.compile(r"((?:[A-Z][\w'\u2019-]*[ \t]+(?:(?:of|the|and|for|e)[ \t-]+)?){1,8})\(([A-Z]{2,8})\)")


def find_acronyms(texts: Iterable[str]) -> dict[str, str]:
    """Map each defined acronym (folded, e.g. "ttp") to its long form as written."""
    found: dict[str, str] = {}
    for text in texts:
        for match in _DEFINITION.finditer(text):
            long_form, acronym = re.sub(r"^(?:The|A|An)\s+", "", match.group(1).strip()), match.group(2)
            initials = [w[0] for w in re.split(r"[\s-]+", long_form) if w and w[0].isupper()]
            # keep only the trailing words whose initials spell the acronym, if they do
            if len(initials) >= len(acronym) - 1 or "".join(initials).endswith(acronym[-2:]):
                found.setdefault(fold(acronym), long_form)
    return found


def expand_question(question: str, acronyms: Mapping[str, str]) -> str:
    """The question with the long form of every corpus-defined acronym it uses appended in parentheses."""
    used = [acronyms[w] for w in dict.fromkeys(re.findall(r"[a-z]+", fold(question))) if w in acronyms]
    return f"{question} ({'; '.join(used)})" if used else question

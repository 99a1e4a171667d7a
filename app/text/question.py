"""Pure validation of an incoming question: NFKC, control characters, emptiness and length."""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable

from app.errors import InvalidQuestionError


def clean_question(raw: str, max_chars: int) -> str:
    """The question as the service will treat it, or InvalidQuestionError saying what is wrong.

    Tabs and newlines become spaces (a pasted question often has them); any other control character is
    rejected rather than silently dropped, since it usually means the client sent something it did not mean.
    """
    normalized = unicodedata.normalize("NFKC", raw)
    normalized = normalized.replace("\t", " ").replace("\r", " ").replace("\n", " ")
    bad = sorted({f"U+{ord(c):04X}" for c in normalized if unicodedata.category(c) == "Cc"})
    if bad:
        raise InvalidQuestionError(f"the question contains control characters ({', '.join(bad)})")
    halves = sorted({f"U+{ord(c):04X}" for c in normalized if unicodedata.category(c) == "Cs"})
    if halves:  # half of a UTF-16 pair without its other half: no character at all
        listed = ", ".join(halves)
        raise InvalidQuestionError(f"the question contains unpaired surrogates ({listed}), which are no text")
    # format characters (zero-width space and joiners, soft hyphens, the byte-order mark, bidi marks) are
    # invisible: a question made only of them is empty, and inside a word they would only hide it from matching
    # (text copied from a web page carries zero-width spaces inside long words, where it may break them)
    normalized = "".join(c for c in normalized if unicodedata.category(c) != "Cf")
    question = " ".join(normalized.split())
    if not question:
        raise InvalidQuestionError("the question is empty")
    if len(question) > max_chars:
        raise InvalidQuestionError(
            f"the question is {len(question)} characters long; the limit is {max_chars}"
        )
    return question


def _char_class(keep: Callable[[str], bool]) -> str:
    """A regex character class (ECMA-262 and Python alike) of every BMP character `keep` selects, as ranges."""
    ranges: list[tuple[int, int]] = []
    for code in range(0x10000):
        if 0xD800 <= code <= 0xDFFF or not keep(chr(code)):
            continue
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)


def control_free_pattern(allowed: str) -> str:
    """A JSON Schema pattern for a text with no control character but those in `allowed` (briefs may hold the
    white space text uses: tab, newlines, form feed)."""
    return f"^[^{_char_class(lambda c: unicodedata.category(c) == 'Cc' and c not in allowed)}]*$"


@functools.cache
def question_pattern() -> str:
    """The rules of clean_question a JSON Schema can state, as a pattern for the API schema (clients and the
    fuzzer read it; the service still checks and says precisely what is wrong): no control character other
    than tab, CR and LF, and at least one character that is neither white space nor invisible (format)."""
    control = _char_class(lambda c: unicodedata.category(c) == "Cc" and c not in "\t\r\n")
    blank = _char_class(lambda c: c.isspace() or unicodedata.category(c) in ("Cc", "Cf"))
    # lone surrogates (also refused) are left out: a pattern cannot name them portably (Rust's regex, which
    # schema validators use, has no surrogate code points), and valid JSON text cannot carry them unescaped
    return f"^[^{control}]*[^{blank}][^{control}]*$"

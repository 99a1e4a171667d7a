"""Pure validation of an incoming question: NFKC, control characters, emptiness and length."""

from __future__ import annotations

import unicodedata

from app.errors import InvalidQuestionError


def clean_question(raw: str, max_chars: int) -> str:
    """The question as the service will treat it, or InvalidQuestionError saying what is wrong.

    Tabs and newlines become spaces (a pasted question often has them); any other control character is
    rejected rather than silently dropped, since it usually means the client sent something it did not mean.
    """
    normalized = unicodedata.normalize("NFKC", raw)
    normalized = normalized.replace("\t", " ").replace("\r", " ").replace("\n", " ")
    bad = sorted({f"U+{ord(c):04X}" for c in normalized if unicodedata.category(c) in ("Cc", "Cs")})
    if bad:
        raise InvalidQuestionError(f"the question contains control characters ({', '.join(bad)})")
    # format characters (zero-width space and joiners, soft hyphens, the byte-order mark, bidi marks) are
    # invisible: a question made only of them is empty, and inside a word they would only hide it from matching
    normalized = "".join(c for c in normalized if unicodedata.category(c) != "Cf")
    question = " ".join(normalized.split())
    if not question:
        raise InvalidQuestionError("the question is empty")
    if len(question) > max_chars:
        raise InvalidQuestionError(
            f"the question is {len(question)} characters long; the limit is {max_chars}"
        )
    return question

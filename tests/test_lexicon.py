"""The shipped word lists (`app/text/data/lexicon.npz`) are exactly what the pinned packages give, and a
process that answers questions never imports those packages.

The file is made by `make lexicon` (`benchmarks/build_lexicon.py`) from lemminflect, english-words, pycountry
and Babel; if a package is upgraded or a rule of `build_lexicon` changes without the file being rewritten, the
first test fails and says which list moved.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from app.text.lexicon import lexicon, lexicon_bytes, read_lexicon
from app.text.normalize import is_english_word, is_inflected_verb, is_verb_form, verb_lemma_stems, word_forms
from benchmarks.build_lexicon import build_lexicon


def test_the_shipped_file_is_what_the_pinned_packages_give() -> None:
    built, shipped = build_lexicon(), lexicon()
    for name in ("english", "ordinary", "names", "verbs", "inflected_verbs"):
        assert np.array_equal(getattr(built, name).keys, getattr(shipped, name).keys), f"{name}: run `make lexicon`"
    assert dict(built.irregular_verb_lemmas) == dict(shipped.irregular_verb_lemmas), "run `make lexicon`"


def test_the_file_round_trips() -> None:
    shipped = lexicon()
    again = read_lexicon(lexicon_bytes(shipped))
    assert np.array_equal(again.names.keys, shipped.names.keys)
    assert dict(again.irregular_verb_lemmas) == dict(shipped.irregular_verb_lemmas)


def test_what_the_question_reader_asks_of_it() -> None:
    assert is_english_word("price") and is_english_word("password")
    assert not is_english_word("guage") and not is_english_word("bitcoin") and not is_english_word("okafor")
    assert is_verb_form("close") and is_verb_form("sank") and not is_verb_form("ceasefire")
    assert is_inflected_verb("sank") and is_inflected_verb("arrested") and not is_inflected_verb("close")
    # an irregular form meets its lemma ("led": lead); a regular one its own stem
    assert word_forms("led") >= {"led", "lead"} and word_forms("began") >= {"began", "begin"}
    assert verb_lemma_stems("arrested") == ("arrest",) and verb_lemma_stems("ceasefire") == ()
    assert "42" not in lexicon().english and 42 not in lexicon().english


def test_a_question_is_answered_without_importing_the_word_list_packages() -> None:
    """The lists cost a serving process about 55 MB when read from the packages (docs/answers.md). Babel stays
    installed (trafilatura's courlan needs it, and imports it to read an HTML brief), so it is not checked
    here by being absent from the environment, only by not being imported to answer."""
    code = (
        "import sys\n"
        "import app.api.app, app.service, app.cli\n"  # everything a server or the command line loads
        "from app.text.proper_nouns import is_ordinary_word, written_as_name\n"
        "from app.text.typos import english_correction\n"
        "from app.answer.claims import polarity_in\n"
        "assert written_as_name('iran') and is_ordinary_word('despite') and english_correction('nubmer') == 'number'\n"
        "polarity_in('The mill will not close.', frozenset({'close', 'mill'}), 1)\n"
        "print(sorted(m for m in ('lemminflect', 'english_words', 'pycountry', 'babel') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"

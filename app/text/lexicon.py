"""The English word lists the question reader consults, read from one small file shipped with the package.

The lists come from four PyPI packages: lemminflect's dictionary (which words are English, which are verb
forms, and the lemma of an irregular one: "began" is "begin"), Webster's Second and GCIDE through
english-words (words written in lower case, words written only as names), ISO 3166 through pycountry and the
Unicode CLDR through Babel (one-word names of countries and regions). Read at run time they cost a serving
process about 55 MB for good (Python dicts and strings, and heap glibc does not hand back) and a second of
start-up. Kept as sorted 64-bit hashes of their words in `app/text/data/lexicon.npz` they cost about 3 MB and
load in milliseconds, and a serving process imports none of the four packages.

`python -m benchmarks.build_lexicon` (`make lexicon`) rewrites the file from the packages pinned in
pyproject.toml's dev extra; `tests/test_lexicon.py` checks that the shipped file is exactly what they give, so it
cannot drift from them.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import numpy.typing as npt

LEXICON_FILE = "lexicon.npz"
_SEPARATOR = "\x1f"  # between a verb form and its lemmas in one string (some hold spaces: "off setting")


def word_key(word: str) -> int:
    """A stable 64-bit key of a word (Python's own str hash changes from process to process, and the keys are
    written to a file)."""
    data = word.encode("utf-8", "surrogatepass")  # a lone surrogate hashes instead of raising
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little", signed=True)


@dataclass(frozen=True, eq=False)
class HashedWords:
    """A read-only set of words kept as their sorted 64-bit keys: 8 bytes a word instead of the 90 or so a
    Python string in a frozenset takes. A false hit needs a 64-bit collision."""

    keys: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        self.keys.setflags(write=False)

    @classmethod
    def of(cls, words: Iterable[str]) -> HashedWords:
        return cls(np.unique(np.fromiter((word_key(w) for w in words), dtype=np.int64)))

    def __contains__(self, word: object) -> bool:
        if not isinstance(word, str):
            return False
        key = word_key(word)
        at = int(np.searchsorted(self.keys, key))
        return at < len(self.keys) and int(self.keys[at]) == key

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class Lexicon:
    """The word lists, each over folded (lower-case) words."""

    english: HashedWords
    """Words in lemminflect's dictionary ("price", "password"; not "guage", "bitcoin", "okafor")."""
    ordinary: HashedWords
    """Words Webster's or GCIDE write in lower case ("despite", "among", "border")."""
    names: HashedWords
    """Words English writes only as names, four letters or more, no common word ("iran", "dublin", "russia"):
    see `app/text/proper_nouns.py`."""
    verbs: HashedWords
    """Words lemminflect knows as a verb form ("close", "sank", "arrested")."""
    inflected_verbs: HashedWords
    """Verb forms none of whose verb lemmas is the word itself ("sank", "arrested"; not "close")."""
    irregular_verb_lemmas: Mapping[str, tuple[str, ...]]
    """The verb lemmas of a verb form whose lemma does not share its stem ("began": begin, "led": lead); every
    other verb form's lemmas share its stem, which is all the callers use them for."""


def _pack(lexicon: Lexicon) -> dict[str, npt.NDArray[np.generic]]:
    irregular = sorted(lexicon.irregular_verb_lemmas.items())
    return {
        "english": lexicon.english.keys,
        "ordinary": lexicon.ordinary.keys,
        "names": lexicon.names.keys,
        "verbs": lexicon.verbs.keys,
        "inflected_verbs": lexicon.inflected_verbs.keys,
        "irregular_verb_lemmas": np.array([_SEPARATOR.join((w, *lemmas)) for w, lemmas in irregular], dtype=np.str_),
    }


def _unpack(arrays: Mapping[str, npt.NDArray[np.generic]]) -> Lexicon:
    def hashed(name: str) -> HashedWords:
        return HashedWords(np.asarray(arrays[name], dtype=np.int64))

    irregular = (str(line).split(_SEPARATOR) for line in arrays["irregular_verb_lemmas"])
    return Lexicon(
        english=hashed("english"),
        ordinary=hashed("ordinary"),
        names=hashed("names"),
        verbs=hashed("verbs"),
        inflected_verbs=hashed("inflected_verbs"),
        irregular_verb_lemmas={word: tuple(lemmas) for word, *lemmas in irregular},
    )


def lexicon_bytes(lexicon: Lexicon) -> bytes:
    """The file's bytes (a zip archive of .npy arrays, no pickles)."""
    out = io.BytesIO()
    np.savez_compressed(out, allow_pickle=False, **_pack(lexicon))
    return out.getvalue()


def read_lexicon(data: bytes) -> Lexicon:
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        return _unpack({name: arrays[name] for name in arrays.files})


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    """The shipped lists, read once on first use (about 25 ms warm, 70 ms cold: the archive is compressed),
    not at import."""
    return read_lexicon(resources.files("app.text.data").joinpath(LEXICON_FILE).read_bytes())

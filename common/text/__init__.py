"""Text front end: cleaned text (and ARPAbet in braces) <-> symbol ids.

``text_to_sequence("Hello {W ER1 L D}.", ["english_cleaners"])`` cleans the plain text, maps it character
by character, and maps each braced phoneme to its ``@``-prefixed symbol. Symbols the table lacks are
dropped; no end-of-sequence id is appended.

Importing the package also registers the other languages' cleaners (``common.text.lang``: french_cleaners,
german_cleaners, spanish_cleaners, korean_cleaners, amharic_cleaners; ``clean_for_language`` dispatches
by language code), the espeak-ng IPA cleaners (``common.text.phonemes``) and provides their symbol
tables (``common.text.symbol_sets``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from common.text.cleaners import (
    UnknownCleanerError,
    available_cleaners,
    clean_text,
    get_cleaner,
    register_cleaner,
)
from common.text.lang import (
    LANGUAGE_CLEANERS,
    SUPPORTED_LANGUAGES,
    UnsupportedLanguageError,
    clean_for_language,
    cleaner_for_language,
    spoken_form,
)
from common.text.phonemes import PhonemizerError, phonemize
from common.text.symbol_sets import (
    extended_table,
    language_symbols,
    multilingual_symbol_table,
    table_from_texts,
)
from common.text.symbols import ARPABET_PREFIX, SYMBOLS, SymbolTable

__all__ = [
    "LANGUAGE_CLEANERS",
    "SUPPORTED_LANGUAGES",
    "PhonemizerError",
    "SymbolTable",
    "UnknownCleanerError",
    "UnsupportedLanguageError",
    "available_cleaners",
    "clean_for_language",
    "clean_text",
    "cleaner_for_language",
    "extended_table",
    "get_cleaner",
    "language_symbols",
    "multilingual_symbol_table",
    "phonemize",
    "register_cleaner",
    "sequence_to_text",
    "spoken_form",
    "symbols",
    "table_from_texts",
    "text_to_sequence",
]

symbols = SYMBOLS

# Splits "a {B C} d" into ["a ", "B C", " d"]: odd items are ARPAbet.
_ARPABET_SPLIT_RE = re.compile(r"\{([^{}]*)\}")


def _is_arpabet(symbol: str) -> bool:
    return len(symbol) > 1 and symbol.startswith(ARPABET_PREFIX)


def text_to_sequence(
    text: str, cleaner_names: Sequence[str], table: SymbolTable | None = None
) -> list[int]:
    """Symbol ids for ``text``: plain text is cleaned then mapped per character, ``{...}`` is ARPAbet.

    Phonemes inside braces are separated by whitespace and matched case-insensitively ("{hh ah0}" works).
    Characters and phonemes missing from ``table`` (default: the 148-symbol table) are dropped.
    """
    table = table if table is not None else SymbolTable.default()
    ids: list[int] = []
    for i, part in enumerate(_ARPABET_SPLIT_RE.split(text)):
        if i % 2:
            ids.extend(table.ids_for(ARPABET_PREFIX + p.upper() for p in part.split()))
        elif part:
            ids.extend(table.ids_for(clean_text(part, cleaner_names)))
    return ids


def sequence_to_text(sequence: Iterable[int], table: SymbolTable | None = None) -> str:
    """The text for symbol ids; runs of ARPAbet symbols come back inside braces ("{HH AH0 L OW1}").

    Raises IndexError for an id outside the table.
    """
    table = table if table is not None else SymbolTable.default()
    out: list[str] = []
    phones: list[str] = []
    for i in sequence:
        s = table.symbol(int(i))
        if _is_arpabet(s):
            phones.append(s[len(ARPABET_PREFIX) :])
            continue
        if phones:
            out.append("{" + " ".join(phones) + "}")
            phones = []
        out.append(s)
    if phones:
        out.append("{" + " ".join(phones) + "}")
    return "".join(out)

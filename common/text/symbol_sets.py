"""Symbol tables for other languages: fixed per-language inventories, multilingual and extended tables,
and tables built from data.

Three ways to a table, for three situations:

* ``multilingual_symbol_table(languages)``: a new model for several languages: pad "_" at id 0, then the
  union of the languages' inventories in code-point order (so the same set of languages gives the same
  table in any order).
* ``extended_table(base, languages)``: fine-tuning a checkpoint (e.g. the 148-symbol NGC one) on new
  languages: every base id is kept and the missing symbols are appended, so the checkpoint's embedding
  rows still mean what they meant and only the new rows need initialising.
* ``table_from_texts(texts, cleaners)``: whatever the cleaners actually produce on a corpus (IPA strings,
  a language without a front end here), in code-point order after the pad.

A table is saved in a checkpoint config as ``table.to_list()`` and restored with ``SymbolTable(list)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from common.text.cleaners import clean_text
from common.text.lang import language_inventory
from common.text.symbols import PAD, SymbolTable

__all__ = ["extended_table", "language_symbols", "multilingual_symbol_table", "table_from_texts"]

Cleaners = str | Sequence[str] | Callable[[str], str]


def language_symbols(language: str) -> list[str]:
    """The characters a language's cleaner outputs (letters, jamo or romanised letters, the shared
    punctuation ``!'(),.:;?-`` and space), in code-point order."""
    return sorted(language_inventory(language))


def _union(languages: Iterable[str]) -> list[str]:
    if isinstance(languages, str):
        languages = [languages]
    symbols: set[str] = set()
    for language in languages:
        symbols.update(language_inventory(language))
    symbols.discard(PAD)
    return sorted(symbols)


def multilingual_symbol_table(languages: Iterable[str]) -> SymbolTable:
    """A new table for ``languages``: "_" (pad, id 0), then all their symbols in code-point order."""
    return SymbolTable([PAD, *_union(languages)])


def extended_table(base: SymbolTable, languages: Iterable[str]) -> SymbolTable:
    """``base`` with the symbols of ``languages`` it lacks appended (code-point order); base ids unchanged."""
    return base.extend(_union(languages))


def table_from_texts(
    texts: Iterable[str], cleaners: Cleaners, base: SymbolTable | None = None
) -> SymbolTable:
    """The table of every character in ``texts`` after cleaning (data-driven).

    ``cleaners`` is a cleaner name, a list of names (run in order, as ``--text-cleaners``) or a function.
    Without ``base``: "_" then the characters in code-point order; with ``base``: base extended by the
    characters it lacks, in code-point order.
    """
    clean: Callable[[str], str]
    if callable(cleaners):
        clean = cleaners
    else:
        names = [cleaners] if isinstance(cleaners, str) else list(cleaners)

        def clean(text: str) -> str:
            return clean_text(text, names)

    cleaned = (clean(text) for text in texts)
    if base is None:
        return SymbolTable.from_characters(cleaned, pad=PAD)
    chars: set[str] = set()
    for text in cleaned:
        chars.update(text)
    return base.extend(sorted(chars - {base.pad}))

"""Symbol tables: a checkpoint's, and its extension (`--extend-vocabulary`, `--symbols-from-data`); speaker
and language names merged with ids kept; part of common.training.finetune."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import Tensor

from common.checkpoint import strip_module_prefix
from common.filelist import read_filelist
from common.text import UnsupportedLanguageError, clean_for_language, clean_text, extended_table
from common.text.symbols import SymbolTable, SymbolTableError
from common.training.finetune.transfer import (
    FinetuneError,
)

# ---------------------------------------------------------------------------------------------- vocabulary

def checkpoint_symbol_table(checkpoint: Mapping[str, Any], source: str = "checkpoint",
                            embedding: str | None = None) -> SymbolTable:
    """The symbol table a checkpoint was trained with: its config ``symbols``, else the 148 NGC symbols.

    The table must have one entry per row of the ``embedding`` parameter (the model's symbol embedding).
    """
    config = checkpoint.get("config")
    symbols = config.get("symbols") if isinstance(config, Mapping) else None
    try:
        table = SymbolTable(symbols) if symbols else SymbolTable.default()
    except SymbolTableError as err:
        raise FinetuneError(f"{source}: config 'symbols' is not a valid symbol table: {err}") from None
    weight = strip_module_prefix(dict(checkpoint.get("state_dict", {}))).get(embedding) if embedding else None
    if isinstance(weight, Tensor) and weight.shape[0] != len(table):
        what = "its config 'symbols'" if symbols else "the default table (no 'symbols' in its config)"
        raise FinetuneError(f"{source}: the embedding has {weight.shape[0]} rows but {what} has "
                            f"{len(table)} symbols; cannot tell which row is which symbol")
    return table


def _training_texts(filelist: str | Path, cleaners: Sequence[str]) -> Iterator[str]:
    """Cleaned transcripts of a filelist (per-line language cleaner where the line names a language)."""
    for entry in read_filelist(filelist):
        if entry.language is not None:
            try:
                yield clean_for_language(entry.text, entry.language)
                continue
            except (KeyError, ValueError):
                pass  # a language without a front end here: fall back to the run's cleaners
        yield clean_text(entry.text, list(cleaners))


def extend_symbol_table(base: SymbolTable, languages: Sequence[str] = (), filelist: str | Path | None = None,
                        cleaners: Sequence[str] = ("english_cleaners",)) -> SymbolTable:
    """``base`` with the symbols of ``languages`` appended, then every other character the cleaned
    transcripts of ``filelist`` contain; base ids never move."""
    table = base
    if languages:
        try:
            table = extended_table(table, list(languages))
        except (UnsupportedLanguageError, KeyError) as err:
            raise FinetuneError(f"--extend-vocabulary {' '.join(languages)}: {err}") from None
    if filelist is not None:
        chars: set[str] = set()
        for text in _training_texts(filelist, cleaners):
            chars.update(text)
        table = table.extend(sorted(chars - set(table)))
    return table


# ------------------------------------------------------------------------------ speakers and languages

def merged_names(existing: Sequence[str] | None, wanted: Sequence[str] | None) -> list[str]:
    """The checkpoint's names in their order (ids kept), then the new ones in the order given."""
    names = list(existing or [])
    return names + [n for n in (wanted or []) if n not in names]




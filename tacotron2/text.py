"""The Tacotron 2 text front end: the vocabulary of a conditioned model (speakers, languages, symbols, read
from a training filelist), the cleaners of a line's language, and code-switched text with language tags."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from common.data import DatasetError
from common.filelist import read_filelist
from common.text import (
    SUPPORTED_LANGUAGES,
    SymbolTable,
    clean_text,
    cleaner_for_language,
    language_symbols,
    text_to_sequence,
)
from common.text.phonemes import prefetch_phonemes
from common.text.symbol_sets import table_from_texts
from common.text.symbols import PAD

# ------------------------------------------------------------------------------- vocabulary

@dataclass(frozen=True)
class Vocabulary:
    """The id maps of a conditioned model: position = id. Saved in the checkpoint config."""

    speakers: list[str]
    languages: list[str]
    symbols: list[str]


def cleaners_for(language: str | None, text_cleaners: Sequence[str]) -> list[str]:
    """The cleaners of a line: its language's own (`common.text.lang`), else `--text-cleaners`."""
    if language in SUPPORTED_LANGUAGES:
        return [cleaner_for_language(language)]
    return list(text_cleaners)


def phoneme_symbols(filelist: str | Path, text_cleaners: Sequence[str]) -> list[str]:
    """The symbol table of a phoneme model (`--text-cleaners ipa_cleaners`): "_" (pad), then every
    character of the cleaned transcripts of `filelist` in code-point order. Deterministic, so every rank
    and run builds the same table."""
    texts = [entry.text for entry in read_filelist(filelist)]
    prefetch_phonemes(texts, text_cleaners)
    return list(table_from_texts(texts, list(text_cleaners)))


def build_vocabulary(filelist: str | Path, text_cleaners: Sequence[str]) -> Vocabulary:
    """Speaker, language and symbol maps of a training filelist (path|text|speaker|language lines).

    Speakers and languages are sorted names. Symbols: "_" (pad) then, in code-point order, the union of
    every language's inventory (what its cleaner can output, so unseen words of a known language still
    map) and every character of the cleaned transcripts. Deterministic: the same filelist gives the same
    maps on every rank and run.
    """
    entries = read_filelist(filelist)
    untagged = [e for e in entries if e.speaker is None or e.language is None]
    if untagged:
        raise DatasetError(
            f"{untagged[0].where}: multi-speaker/multilingual training (--speaker-embedding-dim, "
            "--language-embedding-dim, --encoder-type, --speaker-classifier-weight) needs "
            "path|text|speaker|language lines"
        )
    speakers = sorted({e.speaker for e in entries})
    languages = sorted({e.language for e in entries})
    characters: set[str] = set()
    for language in languages:
        if language in SUPPORTED_LANGUAGES:
            characters.update(language_symbols(language))
    for entry in entries:
        characters.update(clean_text(entry.text, cleaners_for(entry.language, text_cleaners)))
    characters.discard(PAD)
    return Vocabulary(speakers, languages, [PAD, *sorted(characters)])


# ------------------------------------------------------------------------------- text and code-switching

_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9_-]*)>")


class LanguageTagError(ValueError):
    """Language tags that do not pair up, nest, or name a language the model lacks."""


def split_language_tags(text: str, language: str) -> list[tuple[str, str]]:
    """Split a code-switched line into (text, language) spans.

    Syntax: a span in another language is wrapped in `<xx>...</xx>` with its language code, e.g.
    `Hello <fr>bonjour mes amis</fr> again`; text outside tags is in `language`. Tags do not nest; an
    unclosed or mismatched tag is a LanguageTagError. "<" not followed by a code and ">" is plain text.
    """
    spans: list[tuple[str, str]] = []
    current: str | None = None
    position = 0
    for match in _TAG.finditer(text):
        closing, code = match.group(1) == "/", match.group(2)
        piece = text[position: match.start()]
        if closing:
            if current != code:
                opened = f"<{current}>" if current else "no open tag"
                raise LanguageTagError(f"</{code}> at character {match.start() + 1} does not close {opened}")
            spans.append((piece, code))
            current = None
        else:
            if current is not None:
                raise LanguageTagError(f"<{code}> at character {match.start() + 1} is inside <{current}>: "
                                       "language tags do not nest")
            spans.append((piece, language))
            current = code
        position = match.end()
    if current is not None:
        raise LanguageTagError(f"<{current}> is never closed (expected </{current}>)")
    spans.append((text[position:], language))
    return [(piece, code) for piece, code in spans if piece]


class MultilingualTextEncoder:
    """Text (with optional language tags) -> symbol ids and per-symbol language ids for one model.

    Each span is cleaned by its language's cleaner (`--text-cleaners` for languages without one) and
    mapped with the model's symbol table; where spans met at whitespace, one space symbol (in the
    preceding span's language) separates them. Without languages (a model with only its own symbol
    table), the whole text goes through `--text-cleaners` and tags are an error.
    """

    def __init__(self, symbols: Sequence[str] | None, languages: Sequence[str],
                 text_cleaners: Sequence[str] = ("english_cleaners",)) -> None:
        self.table = SymbolTable(symbols) if symbols else SymbolTable.default()
        self.languages = list(languages)
        self.text_cleaners = list(text_cleaners)
        self.space = self.table.id(" ")

    def encode(self, text: str, language: str | None) -> tuple[list[int], list[int]]:
        """(symbol ids, language ids of the same length) of `text`, whose untagged parts are `language`."""
        if not self.languages:
            tagged = [code for _, code in split_language_tags(text, "") if code]
            if tagged:
                raise LanguageTagError(f"<{tagged[0]}> tag, but the model has no languages")
            ids = text_to_sequence(text.strip(), self.text_cleaners, self.table)
            return ids, [0] * len(ids)
        ids: list[int] = []
        language_ids: list[int] = []
        gap = False  # whitespace between the previous span and this one
        for piece, code in split_language_tags(text, language):
            if code not in self.languages:
                raise LanguageTagError(f"language {code!r} is not one of the model's languages "
                                       f"{self.languages}")
            gap = gap or piece[:1].isspace()
            stripped = piece.strip()
            if not stripped:
                continue
            piece_ids = text_to_sequence(stripped, cleaners_for(code, self.text_cleaners), self.table)
            if not piece_ids:
                continue
            if ids and gap and self.space is not None:
                ids.append(self.space)
                language_ids.append(language_ids[-1])
            ids += piece_ids
            language_ids += [self.languages.index(code)] * len(piece_ids)
            gap = piece[-1:].isspace()
        return ids, language_ids

"""Pieces every language front end shares: language codes, typography clean-up, inventory filtering.

A language cleaner ends by mapping its text onto a fixed character inventory (``restrict_to``), so that
what it outputs is exactly what ``common.text.symbol_sets.language_symbols`` lists: letters outside the
inventory are transliterated to ASCII (unidecode), other characters become a word break.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable

from unidecode import unidecode

SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "fr", "de", "es", "ko", "am")

# Punctuation every language keeps (prosody cues), and the word separator.
PUNCTUATION = "!'(),.:;?-"
SPACE = " "
ASCII_LETTERS = string.ascii_lowercase


class UnsupportedLanguageError(ValueError):
    """A language code that has no text front end."""


def check_language(language: str) -> str:
    """Return ``language`` if it has a front end, else raise naming the supported codes."""
    if language not in SUPPORTED_LANGUAGES:
        raise UnsupportedLanguageError(
            f"unsupported language {language!r}; supported: {', '.join(SUPPORTED_LANGUAGES)}"
        )
    return language


def inventory_of(letters: Iterable[str], extra_punctuation: str = "") -> frozenset[str]:
    """A language's output characters: its letters, the shared punctuation, ``extra_punctuation``, space."""
    return frozenset(letters) | frozenset(PUNCTUATION + extra_punctuation + SPACE)


# ---------------------------------------------------------------------------------------------------------
# Typography

_APOSTROPHES = "\u2019\u2018\u201a\u201b\u2032\u02bc`\u00b4"  # ’ ‘ ‚ ‛ ′ ʼ ` ´
# " “ ” „ ‟ « » ‹ › ″ 「 」 『 』
_QUOTES = '"\u201c\u201d\u201e\u201f\u00ab\u00bb\u2039\u203a\u2033\u300c\u300d\u300e\u300f'
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043\u2e3a\u2e3b"  # ‐ ‑ ‒ – — ― − ⁃ ⸺ ⸻

_TYPOGRAPHY = str.maketrans(
    {**dict.fromkeys(_APOSTROPHES, "'"), **dict.fromkeys(_QUOTES, " "), **dict.fromkeys(_DASHES, "-")}
)


def ascii_digits(text: str) -> str:
    """Turn every Unicode decimal digit (Arabic-Indic, Devanagari, ...) into its ASCII digit."""
    if text.isascii():
        return text
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() and not ch.isascii() else ch for ch in text)


def normalize_typography(text: str) -> str:
    """NFKC (full-width forms, ligatures, superscripts, no-break spaces), then plain quotes and dashes.

    Curly and low apostrophes become "'", double quotes and guillemets are removed (they have no sound),
    every dash and the minus sign become "-", and non-ASCII decimal digits become ASCII digits.
    """
    # Before NFKC too: NFKC turns "´" into a space and a combining accent, and "″" into two primes.
    text = unicodedata.normalize("NFKC", text.translate(_TYPOGRAPHY))
    return ascii_digits(text.translate(_TYPOGRAPHY))


# ---------------------------------------------------------------------------------------------------------
# Output clean-up

_WHITESPACE_RE = re.compile(r"\s+")
_SPACE_BEFORE_RE = re.compile(r" +(?=[!),.:;?])")
_SPACE_AFTER_RE = re.compile(r"(?<=[(\u00bf\u00a1]) +")


def restrict_to(text: str, inventory: frozenset[str]) -> str:
    """Map ``text`` onto ``inventory``: letters outside it are transliterated (unidecode) and kept where the
    transliteration is in the inventory; any other character outside it becomes a space."""
    out: list[str] = []
    for ch in text:
        if ch in inventory:
            out.append(ch)
        elif ch.isalpha() or unicodedata.category(ch).startswith("M"):
            out.extend(c for c in unidecode(ch).lower() if c in inventory)
        else:
            out.append(" ")
    return "".join(out)


def tidy_spaces(text: str, original: str) -> str:
    """Collapse whitespace runs to one space and drop spaces before closing / after opening punctuation.

    Spaces at the ends are kept (as one) only where ``original`` has whitespace there: removed quotes
    leave none behind, but ``text_to_sequence`` cleans the pieces around ``{ARPAbet}`` separately and the
    word break there matters.
    """
    text = _WHITESPACE_RE.sub(" ", text)
    text = _SPACE_BEFORE_RE.sub("", text)
    text = _SPACE_AFTER_RE.sub("", text).strip(" ")
    lead = " " if original[:1].isspace() else ""
    trail = " " if original[-1:].isspace() and text else ""
    return lead + text + trail


def previous_word(text: str, end: int) -> str:
    """The word that ends right before position ``end`` (skipping spaces), lower-cased; "" if none."""
    m = re.search(r"(\w+)\W*$", text[:end])
    return m.group(1).lower() if m else ""


# ---------------------------------------------------------------------------------------------------------
# Abbreviations

Abbreviations = list[tuple[re.Pattern[str], str]]


def compile_abbreviations(pairs: Iterable[tuple[str, str]], flags: int = 0) -> Abbreviations:
    """Compile ``(regex, expansion)`` pairs (case-sensitive unless ``flags`` says otherwise)."""
    return [(re.compile(pattern, flags), word) for pattern, word in pairs]


def expand_abbreviations(text: str, table: Abbreviations) -> str:
    """Replace each abbreviation with its expansion; one that ends the text keeps its full stop."""

    def replace(word: str):
        def repl(m: re.Match[str]) -> str:
            at_end = m.group(0).endswith(".") and not m.string[m.end() :].strip()
            return word + ("." if at_end else "")

        return repl

    for pattern, word in table:
        text = pattern.sub(replace(word), text)
    return text

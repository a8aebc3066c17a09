"""The reference's English text front end, reproduced for id parity (``english_cleaners``).

NGC checkpoints were trained on the ids the reference's cleaner produces, so ``english_cleaners`` keeps its
behaviour, quirks included (REFERENCE.md, "Text parity details"):

- transliteration by the reference's own table: German umlauts become two letters (ä -> ae, ü -> ue),
  other letters lose their accents (é -> e); characters without an entry (such as "£") are dropped, with
  one warning per utterance;
- numbers with inflect's own wording: integers from 3000 up keep inflect's commas ("twelve thousand,
  three hundred forty-five"), 1001-2999 are read as years, a decimal's fraction is read as an integer
  ("3.14" -> "three point fourteen"), "$2.5" is "two dollars, five cents".

The suite's improved reading of numbers lives in ``common.text.numbers`` (``english_cleaners_v2``).
"""

from __future__ import annotations

import re
import unicodedata
import warnings

from unidecode import unidecode

from common.text.numbers import _engine

# where the reference's table differs from unidecode's spelling
_TABLE_OVERRIDES = {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss", "£": ""}

_COMMA_NUMBER_RE = re.compile(r"([0-9][0-9,]+[0-9])")
_DECIMAL_RE = re.compile(r"([0-9]+\.[0-9]+)")
_POUNDS_RE = re.compile(r"£([0-9,]*[0-9]+)")
_DOLLARS_RE = re.compile(r"\$([0-9.,]*[0-9]+)")
_ORDINAL_RE = re.compile(r"[0-9]+(st|nd|rd|th)")
_NUMBER_RE = re.compile(r"[0-9]+")


class DroppedCharactersWarning(UserWarning):
    """Characters without an ASCII spelling were removed from a transcript."""


def reference_ascii(text: str) -> str:
    """ASCII by the reference's transliteration table; characters without an entry are dropped with one
    warning naming them."""
    out, dropped = [], []
    for char in text:
        if char.isascii():
            out.append(char)
            continue
        spelling = _TABLE_OVERRIDES.get(char)
        if spelling is None:
            spelling = unidecode(char)
        if not spelling:
            dropped.append(char)
        out.append(spelling)
    if dropped:
        names = ", ".join(f"{c!r} ({unicodedata.name(c, 'unnamed')})" for c in dict.fromkeys(dropped))
        warnings.warn(f"dropped characters without an ASCII spelling: {names} in {text!r}",
                      DroppedCharactersWarning, stacklevel=2)
    return "".join(out)


def _dollars(m: re.Match[str]) -> str:
    amount = m.group(1)
    parts = amount.split(".")
    if len(parts) > 2:
        return amount + " dollars"  # not an amount the reference reads
    dollars = int(parts[0]) if parts[0] else 0
    cents = int(parts[1]) if len(parts) > 1 and parts[1] else 0
    dollar_words = f"{dollars} {'dollar' if dollars == 1 else 'dollars'}"
    cent_words = f"{cents} {'cent' if cents == 1 else 'cents'}"
    if dollars and cents:
        return f"{dollar_words}, {cent_words}"
    if dollars:
        return dollar_words
    if cents:
        return cent_words
    return "zero dollars"


def _integer(m: re.Match[str]) -> str:
    n = int(m.group(0))
    engine = _engine()
    if 1000 < n < 3000:  # read as a year
        if n == 2000:
            return "two thousand"
        if 2000 < n < 2010:
            return "two thousand " + engine.number_to_words(n % 100)
        if n % 100 == 0:
            return engine.number_to_words(n // 100) + " hundred"
        return engine.number_to_words(n, andword="", zero="oh", group=2).replace(", ", " ")
    return engine.number_to_words(n, andword="")


def reference_numbers(text: str) -> str:
    """The reference's number expansion (digits left for the integer pass are read by inflect)."""
    text = _COMMA_NUMBER_RE.sub(lambda m: m.group(1).replace(",", ""), text)
    text = _POUNDS_RE.sub(r"\1 pounds", text)
    text = _DOLLARS_RE.sub(_dollars, text)
    text = _DECIMAL_RE.sub(lambda m: m.group(1).replace(".", " point "), text)
    text = _ORDINAL_RE.sub(lambda m: _engine().number_to_words(m.group(0)), text)
    return _NUMBER_RE.sub(_integer, text)

"""English number normalisation: digits, currency, ordinals, years and decimals -> words.

A TTS model only sees letters, so every digit string has to become the words a reader would say.
Rules run in a fixed order (thousands separators, minus sign, currency, percent, decimals, ordinals,
decades, plain integers) so that the more specific patterns claim their digits first.
"""

from __future__ import annotations

import importlib
import re
from functools import lru_cache
from types import ModuleType

_SCALES = "thousand|million|billion|trillion"

_THOUSANDS_RE = re.compile(r"(?<![0-9,])([0-9]{1,3}(?:,[0-9]{3})+)(?![0-9]|,[0-9])")
_CURRENCY_RE = re.compile(
    r"(?P<sign>[$£€]) ?(?P<whole>[0-9]+)(?:\.(?P<frac>[0-9]+))?(?:\s+(?P<scale>" + _SCALES + r")\b)?",
    re.IGNORECASE,
)
_PERCENT_RE = re.compile(r"([0-9])\s?%")
_MINUS_RE = re.compile(r"(?<![\w.,\-])-(?=[$£€]?[0-9])")
_DECIMAL_RE = re.compile(r"(?<![0-9.])([0-9]+)\.([0-9]+)|(?<![\w.])()\.([0-9]+)")
_ORDINAL_RE = re.compile(r"\b([0-9]+)(st|nd|rd|th)\b", re.IGNORECASE)
_DECADE_RE = re.compile(r"\b([0-9]*0)s\b")
_INTEGER_RE = re.compile(r"[0-9]+")

# name, plural, minor unit, minor plural
_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
}

_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@lru_cache(maxsize=1)
def _inflect() -> ModuleType:
    """inflect, imported on first use: its import takes seconds and most texts hold no digits."""
    return importlib.import_module("inflect")


@lru_cache(maxsize=1)
def _engine():  # -> inflect.engine
    return _inflect().engine()


def _digit_by_digit(digits: str) -> str:
    return " ".join(_DIGITS[int(d)] for d in digits)


def cardinal(n: int) -> str:
    """``n`` as cardinal words without "and" or commas: 123 -> "one hundred twenty-three"."""
    if n < 0:
        return "minus " + cardinal(-n)
    try:
        return _engine().number_to_words(n, andword="", comma="")
    except _inflect().NumOutOfRangeError:
        # Beyond inflect's named scales: read the digits one by one.
        return _digit_by_digit(str(n))


def year(n: int) -> str:
    """``n`` read as a year: 1999 -> "nineteen ninety-nine", 2005 -> "two thousand five"."""
    if n % 1000 == 0 or (2000 < n < 2010):
        return cardinal(n)
    high, low = divmod(n, 100)
    if low == 0:
        return f"{cardinal(high)} hundred"
    if low < 10:
        return f"{cardinal(high)} oh {cardinal(low)}"
    return f"{cardinal(high)} {cardinal(low)}"


def ordinal(n: int) -> str:
    """``n`` as ordinal words: 22 -> "twenty-second"."""
    return _engine().ordinal(cardinal(n))


def decimal(whole: str, frac: str) -> str:
    """A decimal number read with "point" and the fraction digit by digit: 3.14 -> "three point one four"."""
    head = cardinal(int(whole)) if whole else "zero"
    return f"{head} point {_digit_by_digit(frac)}"


def _plural(n: int, one: str, many: str) -> str:
    return f"{cardinal(n)} {one if n == 1 else many}"


def _expand_currency(m: re.Match[str]) -> str:
    major, majors, minor, minors = _CURRENCIES[m.group("sign")]
    whole, frac, scale = m.group("whole"), m.group("frac") or "", m.group("scale")
    if scale:
        # "$3.5 million" -> "three point five million dollars"
        amount = decimal(whole, frac) if frac else cardinal(int(whole))
        return f"{amount} {scale.lower()} {majors}"
    if len(frac) > 2:
        # Sub-minor precision ("$0.005"): no cent reading exists, read it as a decimal.
        return f"{decimal(whole, frac)} {majors}"
    units = int(whole)
    cents = int(frac.ljust(2, "0")) if frac else 0
    if units and cents:
        return f"{_plural(units, major, majors)}, {_plural(cents, minor, minors)}"
    if cents:
        return _plural(cents, minor, minors)
    if units:
        return _plural(units, major, majors)
    return f"zero {majors}"


def apart_from_letters(m: re.Match[str], words: str) -> str:
    """Keep digits glued to letters apart from them: "mp3" -> "mp three", "4x" -> "four x"."""
    text, start, end = m.string, m.start(), m.end()
    if start > 0 and text[start - 1].isalpha():
        words = " " + words
    if end < len(text) and text[end].isalpha():
        words += " "
    return words


def _expand_decimal(m: re.Match[str]) -> str:
    if m.group(2) is not None:
        return apart_from_letters(m, decimal(m.group(1), m.group(2)))
    return apart_from_letters(m, decimal("", m.group(4)))  # ".5" -> "zero point five"


def _number_words(n: int) -> str:
    return year(n) if 1000 < n < 3000 else cardinal(n)


def _expand_decade(m: re.Match[str]) -> str:
    """Read a decade: "1990s" -> "nineteen nineties", "80s" -> "eighties", "1900s" -> "nineteen hundreds"."""
    words = _number_words(int(m.group(1)))
    return words[:-1] + "ies" if words.endswith("y") else words + "s"


def _expand_integer(m: re.Match[str]) -> str:
    return apart_from_letters(m, _number_words(int(m.group(0))))


def normalize_numbers(text: str) -> str:
    """Replace every number in ``text`` with English words.

    "1,000,000" -> "one million"; "$3.50" -> "three dollars, fifty cents"; "£1" -> "one pound";
    "3.14" -> "three point one four"; "22nd" -> "twenty-second"; "1999" -> "nineteen ninety-nine";
    "123" -> "one hundred twenty-three"; "-5" -> "minus five"; "50%" -> "fifty percent";
    "1990s" -> "nineteen nineties".
    """
    text = _THOUSANDS_RE.sub(lambda m: m.group(1).replace(",", ""), text)
    text = _MINUS_RE.sub("minus ", text)
    text = _CURRENCY_RE.sub(_expand_currency, text)
    text = _PERCENT_RE.sub(r"\1 percent", text)
    text = _DECIMAL_RE.sub(_expand_decimal, text)
    text = _ORDINAL_RE.sub(lambda m: ordinal(int(m.group(1))), text)
    text = _DECADE_RE.sub(_expand_decade, text)
    text = _INTEGER_RE.sub(_expand_integer, text)
    return text

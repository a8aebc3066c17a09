"""Numbers as words in the suite's languages, through num2words, with fallbacks where a converter fails.

num2words' Amharic converter breaks from 1100 on (and mixes Latin letters into "million"), so Amharic
numbers above 1099 are read digit by digit; any converter error, and numbers of more than 15 digits, also
fall back to reading the digits one by one, so a front end never fails on a digit string.
"""

from __future__ import annotations

import num2words

from common.text.lang.shared import check_language

__all__ = ["YEAR_RANGE", "spell_digits", "spell_fraction", "spell_number", "spell_ordinal"]

# Largest number each converter reads correctly where that is below num2words' own range.
_CARDINAL_LIMIT = {"am": 1099}
_MAX_DIGITS = 15
# Four-digit numbers in this range are read as years by the languages that read years differently (de).
YEAR_RANGE = range(1100, 2100)
_CONVERTER_ERRORS = (ArithmeticError, NotImplementedError, TypeError, ValueError, IndexError, KeyError)


def spell_digits(digits: str, language: str) -> str:
    """Read a digit string one digit at a time: "105" -> "un zéro cinq" (fr)."""
    return " ".join(spell_number(int(d), language) for d in digits)


def spell_number(n: int, language: str, year: bool = False) -> str:
    """``n`` (>= 0) as words in ``language`` with num2words; digit by digit beyond what the converter reads.

    ``year=True`` asks for the year reading where the language has one (de: 1998 ->
    "neunzehnhundertachtundneunzig"). Capitalisation is num2words' own (German nouns such as "Million").
    """
    check_language(language)
    if n < 0:
        raise ValueError(f"spell_number reads non-negative numbers, got {n}")
    limit = _CARDINAL_LIMIT.get(language)
    if (limit is not None and n > limit) or len(str(n)) > _MAX_DIGITS:
        return spell_digits(str(n), language)
    try:
        return str(num2words.num2words(n, lang=language, to="year" if year else "cardinal"))
    except _CONVERTER_ERRORS:
        return spell_digits(str(n), language)


def spell_ordinal(n: int, language: str) -> str:
    """``n`` as an ordinal word (fr 2 -> "deuxième", de 3 -> "dritte", es 1 -> "primero")."""
    check_language(language)
    try:
        return str(num2words.num2words(n, lang=language, to="ordinal"))
    except _CONVERTER_ERRORS:
        return spell_number(n, language)


def spell_fraction(digits: str, language: str, digit_by_digit: bool) -> str:
    """The part of a decimal number after the separator.

    Digit by digit ("14" -> "eins vier", as German reads it) or, with ``digit_by_digit=False``, each leading
    zero as a digit and the rest as one number ("05" -> "zéro cinq", "14" -> "quatorze", as fr/es read it).
    """
    if digit_by_digit:
        return spell_digits(digits, language)
    stripped = digits.lstrip("0")
    zeros = [spell_number(0, language)] * (len(digits) - len(stripped))
    rest = [spell_number(int(stripped), language)] if stripped else []
    return " ".join(zeros + rest)

"""Korean front end: ``korean_cleaners``, Hangul syllables decomposed into conjoining jamo.

Output letters are the modern conjoining jamo of Unicode's Hangul Jamo block (NFD of the syllables):
19 leading consonants U+1100-U+1112, 21 vowels U+1161-U+1175 and 27 trailing consonants U+11A8-U+11C2.
Conjoining jamo (not the compatibility letters U+3131...) are used because they keep the position of a
consonant (initial ᄀ U+1100 and final ᆨ U+11A8 are different symbols, as they sound different) and
because NFC composes them back into the original syllables exactly.

Before decomposition, ``normalize_korean`` gives the spoken form in Hangul: numbers are read with
num2words' Sino-Korean numerals ("3500원" -> "삼천오백원", "3.5" -> "삼 점 오"), also before native
counters (개, 명, 시, 살 take native numerals in speech: "3개" reads "삼개", not "세 개"); "%" -> "퍼센트",
"₩"/"$"/"€" before an amount -> 원/달러/유로 after it, "-5" -> "마이너스 오". Latin letters (and other
scripts, via unidecode) are kept as lower-case ASCII letters a-z, which the Korean inventory includes.
"""

from __future__ import annotations

import re
import string
import unicodedata

from common.text.cleaners import register_cleaner
from common.text.lang.numbers import spell_digits, spell_number
from common.text.lang.shared import inventory_of, normalize_typography, restrict_to, tidy_spaces

__all__ = ["INVENTORY", "JAMO", "korean_cleaners", "normalize_korean"]

LEADING = tuple(chr(c) for c in range(0x1100, 0x1113))  # ᄀ .. ᄒ
VOWELS = tuple(chr(c) for c in range(0x1161, 0x1176))  # ᅡ .. ᅵ
TRAILING = tuple(chr(c) for c in range(0x11A8, 0x11C3))  # ᆨ .. ᇂ
JAMO: tuple[str, ...] = LEADING + VOWELS + TRAILING
INVENTORY = inventory_of(JAMO + tuple(string.ascii_lowercase))

_THOUSANDS_RE = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d]|[.,]\d)")
_CURRENCY_RE = re.compile(r"([₩$€])\s?(\d+(?:\.\d+)?)")
_CURRENCY_WORDS = {"₩": "원", "$": "달러", "€": "유로"}
_MINUS_RE = re.compile(r"(?<![\w.,\-])-(?=\d)")
_DECIMAL_RE = re.compile(r"(?<![\d.])(\d+)\.(\d+)")
_INTEGER_RE = re.compile(r"\d+")


def _number(digits: str) -> str:
    if len(digits) > 1 and digits.startswith("0"):
        return spell_digits(digits, "ko")
    return spell_number(int(digits), "ko")


def _decimal(m: re.Match[str]) -> str:
    return f"{_number(m.group(1))} 점 {spell_digits(m.group(2), 'ko')}"


def normalize_korean(text: str) -> str:
    """The spoken form in Hangul: typography normalised, numbers and symbols read, Latin lower-cased."""
    text = normalize_typography(unicodedata.normalize("NFC", text))
    text = _THOUSANDS_RE.sub(lambda m: m.group(0).replace(",", ""), text)
    text = _CURRENCY_RE.sub(lambda m: f"{m.group(2)}{_CURRENCY_WORDS[m.group(1)]}", text)
    text = re.sub(r"\s?%", "퍼센트", text)
    text = _MINUS_RE.sub("마이너스 ", text)
    text = _DECIMAL_RE.sub(_decimal, text)
    text = _INTEGER_RE.sub(lambda m: _number(m.group(0)), text)
    return text.lower()


@register_cleaner("korean_cleaners")
def korean_cleaners(text: str) -> str:
    """Korean: numbers to Sino-Korean words, Hangul to conjoining jamo (NFD), Latin letters lower-cased.

    "한국어" -> "ᄒ ᅡ ᆫ ᄀ ᅮ ᆨ ᄋ ᅥ" (without the spaces); ``unicodedata.normalize("NFC", ...)`` restores the
    syllables. The middle dot "·" becomes a comma; other characters outside the inventory a word break.
    """
    spoken = normalize_korean(text).replace("·", ",")
    jamo = unicodedata.normalize("NFD", spoken)
    return tidy_spaces(restrict_to(jamo, INVENTORY), text)

"""Amharic front end: ``amharic_cleaners``, Ethiopic script romanised to lower-case ASCII.

The romanisation follows SERA (the System for Ethiopic Representation in ASCII) with lower-case letters
only, so romanised Amharic fits the 148-symbol English table. Each fidel is consonant + vowel, by order
(column) within its row of the syllabary:

    order   1    2    3    4    5     6           7    8 (labialised, where the row has one)
    vowel   e    u    i    a    ie    (none)      o    wa   (oa for the rows Unicode names *OA)
    ሀ row   he   hu   hi   ha   hie   h           ho   hoa

The 6th order is the bare consonant (the epenthetic vowel ɨ is left to the model), except in the vowel
rows አ and ዐ, where it is "i". The 5th order is "ie" (SERA's "E"). Consonants are letter-based, with the
letters Amharic pronounces alike merged: ሀ ሐ ኀ -> h, ሰ ሠ -> s, ጸ ፀ -> ts', and the glottal and pharyngeal
rows አ ዐ -> the bare vowel ("ሰላም" -> "selam", "ኢትዮጵያ" -> "ityop'ya"). Ejectives take an apostrophe
(ጠ t', ጨ ch', ጰ p', ጸ ts'), so ASCII apostrophes in the input are dropped. Others: ሸ sh, ቀ q, ቸ ch,
ኘ ny, ኸ kh, ዠ zh, ጀ j, ጘ ng, ዸ dd. The labialised rows ቈ ቘ ኈ ኰ ዀ ጐ have five members (orders 1, 3, 4,
5, 6): ቈ "qwe", ቊ "qwi", ቋ "qwa", ቌ "qwie", ቍ "qw". ፘ ፙ ፚ are "rya", "mya", "fya".

Numbers: Arabic and Ethiopic numerals (፩ ... ፼) are read with num2words(lang="am") up to 1099 and digit
by digit above (num2words' Amharic converter fails there), in Ethiopic script, then romanised. Ethiopic
punctuation: ። -> ".", ፣ -> ",", ፤ -> ";", ፥ ፦ -> ":", ፧ -> "?", ፨ -> ".", the wordspace ፡ -> " ".
Latin letters are kept (lower-cased); other scripts are transliterated with unidecode.
"""

from __future__ import annotations

import re
import string
import unicodedata

from common.text.cleaners import register_cleaner
from common.text.lang.numbers import spell_digits, spell_number
from common.text.lang.shared import inventory_of, normalize_typography, restrict_to, tidy_spaces

__all__ = [
    "ETHIOPIC_PUNCTUATION",
    "INVENTORY",
    "SYLLABLES",
    "amharic_cleaners",
    "ethiopic_number",
    "normalize_amharic",
    "romanize",
]

_VOWELS = ("e", "u", "i", "a", "ie", "", "o")

# (first code point of the row, consonant, 8th column: "wa", "oa" or None where the slot is unassigned)
_ROWS: tuple[tuple[int, str, str | None], ...] = (
    (0x1200, "h", "oa"), (0x1208, "l", "wa"), (0x1210, "h", "wa"), (0x1218, "m", "wa"),
    (0x1220, "s", "wa"), (0x1228, "r", "wa"), (0x1230, "s", "wa"), (0x1238, "sh", "wa"),
    (0x1240, "q", "oa"), (0x1250, "qh", None), (0x1260, "b", "wa"), (0x1268, "v", "wa"),
    (0x1270, "t", "wa"), (0x1278, "ch", "wa"), (0x1280, "h", "oa"), (0x1290, "n", "wa"),
    (0x1298, "ny", "wa"), (0x12A0, "", "wa"), (0x12A8, "k", "oa"), (0x12B8, "kh", None),
    (0x12C8, "w", "oa"), (0x12D0, "", None), (0x12D8, "z", "wa"), (0x12E0, "zh", "wa"),
    (0x12E8, "y", "oa"), (0x12F0, "d", "wa"), (0x12F8, "dd", "wa"), (0x1300, "j", "wa"),
    (0x1308, "g", "oa"), (0x1318, "ng", "wa"), (0x1320, "t'", "wa"), (0x1328, "ch'", "wa"),
    (0x1330, "p'", "wa"), (0x1338, "ts'", "wa"), (0x1340, "ts'", "oa"), (0x1348, "f", "wa"),
    (0x1350, "p", "wa"),
)  # fmt: skip
# Labialised rows: only orders 1, 3, 4, 5 and 6 exist (offsets 0, 2, 3, 4, 5).
_LABIALISED_ROWS: tuple[tuple[int, str], ...] = (
    (0x1248, "qw"), (0x1258, "qhw"), (0x1288, "hw"), (0x12B0, "kw"), (0x12C0, "khw"), (0x1310, "gw"),
)  # fmt: skip
_SINGLES = {0x1358: "rya", 0x1359: "mya", 0x135A: "fya"}


def _build_syllables() -> dict[str, str]:
    table: dict[str, str] = {}
    for start, consonant, eighth in _ROWS:
        for order, vowel in enumerate(_VOWELS):
            table[chr(start + order)] = consonant + (vowel or ("" if consonant else "i"))
        if eighth:
            table[chr(start + 7)] = consonant + eighth
    for start, consonant in _LABIALISED_ROWS:
        for order in (0, 2, 3, 4, 5):
            table[chr(start + order)] = consonant + _VOWELS[order]
    table.update({chr(cp): roman for cp, roman in _SINGLES.items()})
    return table


SYLLABLES: dict[str, str] = _build_syllables()

# Ethiopic punctuation -> ASCII (a str.translate table).
ETHIOPIC_PUNCTUATION = str.maketrans(
    {"።": ".", "፣": ",", "፤": ";", "፥": ":", "፦": ":", "፧": "?", "፨": ".", "፡": " ", "፠": " "}
)
_TRANSLATE = str.maketrans({**SYLLABLES, **ETHIOPIC_PUNCTUATION, "'": None, "\u135d": None, "\u135e": None,
                            "\u135f": None})  # fmt: skip
INVENTORY = inventory_of(string.ascii_lowercase)

_ETHIOPIC_NUMBER_RE = re.compile("[\u1369-\u137c]+")
_THOUSANDS_RE = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d]|[.,]\d)")
_DECIMAL_RE = re.compile(r"(?<![\d.])(\d+)\.(\d+)")
_INTEGER_RE = re.compile(r"\d+")


def ethiopic_number(numeral: str) -> int:
    """The value of an Ethiopic numeral: "፲፪" -> 12, "፻፳" -> 120, "፲፱፻፺" -> 1990, "፪፼፫፻" -> 20300.

    Digits (፩-፱) and tens (፲-፺) add up to a group below 100; ፻ multiplies the group before it by 100
    (a lone ፻ is 100); ፼ multiplies everything before it by 10000.
    """
    total = hundreds = part = 0
    for ch in numeral:
        value = int(unicodedata.numeric(ch))
        if value == 100:
            hundreds += (part or 1) * 100
            part = 0
        elif value == 10000:
            total = (total + hundreds + part or 1) * 10000
            hundreds = part = 0
        else:
            part += value
    return total + hundreds + part


def _number(digits: str) -> str:
    if len(digits) > 1 and digits.startswith("0"):
        return spell_digits(digits, "am")
    return spell_number(int(digits), "am")


def normalize_amharic(text: str) -> str:
    """The spoken form in Ethiopic script: numbers (Arabic and Ethiopic) read in Amharic, "%" -> "በመቶ"."""
    text = normalize_typography(unicodedata.normalize("NFC", text))
    text = _ETHIOPIC_NUMBER_RE.sub(lambda m: _number(str(ethiopic_number(m.group(0)))), text)
    text = _THOUSANDS_RE.sub(lambda m: m.group(0).replace(",", ""), text)
    text = re.sub(r"\s?%", " በመቶ", text)
    text = _DECIMAL_RE.sub(lambda m: f"{_number(m.group(1))} ነጥብ {spell_digits(m.group(2), 'am')}", text)
    return _INTEGER_RE.sub(lambda m: _number(m.group(0)), text)


def romanize(text: str) -> str:
    """Ethiopic syllables and punctuation to ASCII (see the module docstring); other characters unchanged."""
    return text.translate(_TRANSLATE)


@register_cleaner("amharic_cleaners")
def amharic_cleaners(text: str) -> str:
    """Amharic: numbers to Amharic words, Ethiopic script romanised (SERA-like), lower case.

    "ሰላም።" -> "selam."; "መጽሐፉ 12 ብር ነው።" -> "mets'hefu esra hulet br new." (see the module docstring).
    """
    spoken = romanize(normalize_amharic(text)).lower()
    return tidy_spaces(restrict_to(spoken, INVENTORY), text)

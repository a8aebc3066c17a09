"""The front end shared by the Latin-script languages (French, German, Spanish).

``LatinFrontEnd.clean`` runs: NFC, abbreviations (case-sensitive, before anything changes case),
``before_typography`` (a hook for marks NFKC would destroy, such as the Spanish "º"), typography (NFKC,
quotes, dashes), ``expand`` (numbers), lower case, mapping onto the language's inventory, spaces.

``LatinFrontEnd.expand`` turns every digit string of a text into words, in this order (specific patterns
first, so that they claim their digits): thousands separators ("1 000", "1.000" -> "1000"), percent and
"&", clock times, currency amounts (€, $, £ before or after the amount, with a decimal comma), ordinals,
minus signs, decimals (comma or point), then plain integers (four-digit numbers 1100-2099 read as years).
Each language subclass supplies its words, letters, abbreviations and the grammar hooks (``before_noun``,
``scale_joiner``, ``ordinals``, ``times``, ``integer``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property

from common.text.lang.numbers import YEAR_RANGE, spell_fraction, spell_number
from common.text.lang.shared import (
    ASCII_LETTERS,
    Abbreviations,
    expand_abbreviations,
    inventory_of,
    normalize_typography,
    restrict_to,
    tidy_spaces,
)
from common.text.numbers import apart_from_letters

__all__ = ["Currency", "LatinFrontEnd"]


@dataclass(frozen=True)
class Currency:
    """Words for one currency in one language; ``feminine`` marks a feminine unit (fr "livre")."""

    one: str
    many: str
    minor_one: str
    minor_many: str
    feminine: bool = False
    minor_feminine: bool = False


# "1 000 000", "1.000.000" (and with no-break spaces, already plain spaces after NFKC).
_THOUSANDS_RE = re.compile(r"(?<![\d.,])\d{1,3}([ .])\d{3}(?:\1\d{3})*(?!\d|\1\d)")
_AMOUNT = r"\d+(?:[.,]\d+)?"
_CURRENCY_RE = re.compile(
    rf"(?P<pre>[€$£])\s?(?P<a>{_AMOUNT})|(?<![\w.,])(?P<b>{_AMOUNT})\s?(?P<post>[€$£])"
)
_MINUS_RE = re.compile(r"(?<![\w.,\-])-(?=\d)")
_DECIMAL_RE = re.compile(r"(?<![\d.,])(\d+)[.,](\d+)(?![\d]|[.,]\d)")
_INTEGER_RE = re.compile(r"\d+")


class LatinFrontEnd:
    """Cleans text of one language; subclasses fill in the words, letters and grammar hooks."""

    language = ""
    letters = ""  # lower-case letters beyond a-z that the language keeps
    extra_punctuation = ""  # beyond the shared !'(),.:;?- (es: ¿ ¡)
    abbreviations: Abbreviations = []
    decimal_word = ""
    minus_word = ""
    percent_word = ""
    ampersand_word = ""
    cents_joiner = ""  # between the major and the minor amount: "douze euros et cinquante centimes"
    fraction_digit_by_digit = False
    currencies: dict[str, Currency] = {}

    @cached_property
    def inventory(self) -> frozenset[str]:
        """Every character ``clean`` can output."""
        return inventory_of(ASCII_LETTERS + self.letters, self.extra_punctuation)

    def clean(self, text: str) -> str:
        """The full cleaner: see the module docstring for the steps."""
        original = text
        text = unicodedata.normalize("NFC", text)
        text = expand_abbreviations(text, self.abbreviations)
        text = self.before_typography(text)
        text = normalize_typography(text)
        text = self.expand(text).lower()
        return tidy_spaces(restrict_to(text, self.inventory), original)

    # --- grammar hooks ------------------------------------------------------------------------------

    def before_typography(self, text: str) -> str:
        """Expand what NFKC would destroy (es "1.º"); default nothing."""
        return text

    def before_noun(self, words: str, feminine: bool) -> str:
        """A cardinal in the form used before a noun (es "veintiuno" -> "veintiún"); default unchanged."""
        return words

    def scale_joiner(self, words: str, unit: str) -> str:
        """What goes between a number ending in a scale word and its unit (fr "un million d'euros")."""
        return " "

    def ordinals(self, text: str) -> str:
        """Expand the language's written ordinals ("1er", "3.", "2.º"); default none."""
        return text

    def times(self, text: str) -> str:
        """Expand clock times ("14h30", "14:30 Uhr"); default none."""
        return text

    def integer(self, m: re.Match[str]) -> str:
        """A plain integer: leading-zero strings digit by digit, years as years, else the cardinal."""
        return self.number_words(m.group(0))

    # --- shared reading -----------------------------------------------------------------------------

    def number_words(self, digits: str) -> str:
        n = int(digits)
        if len(digits) > 1 and digits.startswith("0"):
            return " ".join(spell_number(int(d), self.language) for d in digits)
        return spell_number(n, self.language, year=len(digits) == 4 and n in YEAR_RANGE)

    def counted(self, n: int, one: str, many: str, feminine: bool) -> str:
        """``n`` units of a noun: "vingt et une livres", "veintiún euros", "ein Euro"."""
        words = self.before_noun(spell_number(n, self.language), feminine)
        return f"{words}{self.scale_joiner(words, many)}{one if n == 1 else many}"

    def decimal(self, whole: str, frac: str) -> str:
        fraction = spell_fraction(frac, self.language, self.fraction_digit_by_digit)
        return f"{spell_number(int(whole), self.language)} {self.decimal_word} {fraction}"

    def _currency(self, m: re.Match[str]) -> str:
        cur = self.currencies[m.group("pre") or m.group("post")]
        amount = m.group("a") or m.group("b")
        whole, _, frac = amount.replace(",", ".").partition(".")
        if len(frac) > 2:  # no minor-unit reading: "0,005 €" -> "zéro virgule zéro zéro cinq euros"
            return apart_from_letters(m, f"{self.decimal(whole, frac)} {cur.many}")
        units, cents = int(whole), int(frac.ljust(2, "0")) if frac else 0
        major = self.counted(units, cur.one, cur.many, cur.feminine)
        minor = self.counted(cents, cur.minor_one, cur.minor_many, cur.minor_feminine)
        if units and cents:
            return apart_from_letters(m, f"{major} {self.cents_joiner} {minor}")
        return apart_from_letters(m, minor if cents else major)

    def expand(self, text: str) -> str:
        """Replace every number, currency amount, "%" and "&" in ``text`` with words."""
        text = _THOUSANDS_RE.sub(lambda m: re.sub(r"[ .]", "", m.group(0)), text)
        text = re.sub(r"\s?%", f" {self.percent_word}", text)
        text = text.replace("&", f" {self.ampersand_word} ")
        text = self.times(text)
        text = _CURRENCY_RE.sub(self._currency, text)
        text = self.ordinals(text)
        text = _MINUS_RE.sub(f"{self.minus_word} ", text)
        text = _DECIMAL_RE.sub(lambda m: apart_from_letters(m, self.decimal(m.group(1), m.group(2))), text)
        return _INTEGER_RE.sub(lambda m: apart_from_letters(m, self.integer(m)), text)

"""Spanish front end: ``spanish_cleaners``.

Keeps á é í ó ú ñ ü and the inverted marks ¿ ¡, spells numbers with num2words ("15" -> "quince", "3,5"
-> "tres coma cinco", "1.000" -> "mil"), with "uno" shortened before a noun ("21 años" -> "veintiún
años", but "el 1 de mayo" -> "el uno de mayo"), ordinals with º/ª/er ("1.º" -> "primero", "2ª" ->
"segunda", "1.er" -> "primer"), clock times ("a las 14:30" -> "a las catorce y treinta"), amounts in €, $
and £ ("12,50 €" -> "doce euros con cincuenta céntimos", "1.000.000 €" -> "un millón de euros") and the
common abbreviations (Sr., Sra., Srta., Dr., Dra., Ud., Uds., etc., pág., núm., nº, ...).
"""

from __future__ import annotations

import re

from common.text.cleaners import register_cleaner
from common.text.lang.latin import Currency, LatinFrontEnd
from common.text.lang.numbers import spell_number, spell_ordinal
from common.text.lang.shared import compile_abbreviations

__all__ = ["LETTERS", "SPANISH", "spanish_cleaners"]

LETTERS = "áéíóúñü"

_ABBREVIATIONS = compile_abbreviations(
    [
        (r"\bSres\.", "señores"),
        (r"\bSrta\.", "señorita"),
        (r"\bSra\.", "señora"),
        (r"\bSr\.", "señor"),
        (r"\bDra\.", "doctora"),
        (r"\bDr\.", "doctor"),
        (r"\bUds\.", "ustedes"),
        (r"\bUd\.", "usted"),
        (r"\bDña\.", "doña"),
        (r"\bAvda?\.", "avenida"),
        (r"\bSta\.", "santa"),
        (r"\bSto\.", "santo"),
        (r"\bpág\.", "página"),
        (r"\bnúm\.", "número"),
        (r"\b[nN]\.?\s?[º°]\s?(?=\d)", "número "),
        (r"\baprox\.", "aproximadamente"),
        (r"\betc\.", "etcétera"),
    ]
)

# "1.º", "2ª", "1.er", "3er": ordinal indicators, read before NFKC turns "º" into "o".
_ORDINAL_RE = re.compile(r"(?<![\w.,])(\d+)\.?(º|ª|er)(?!\w)")
_TIME_RE = re.compile(r"(?<![\w:.,])(\d{1,2}):(\d{2})(?![\w:])")
_NEXT_WORD_RE = re.compile(r"[ \t]+(\w+)")
# After a number, these words are not the counted noun, so "uno" stays whole ("el 1 de mayo").
_NOT_NOUNS = frozenset(
    "de del y e o u a al en con por para que menos más entre sin sobre hasta desde es son fue era".split()
)
_SCALE_END_RE = re.compile(r"\b(?:millón|millones|billón|billones)$")


def _feminine_cardinal(words: str) -> str:
    """A cardinal agreeing with a feminine noun: "uno" -> "una", "doscientos" -> "doscientas"."""
    return re.sub(r"ientos\b", "ientas", re.sub(r"uno$", "una", words))


def _feminine_ordinal(words: str) -> str:
    """A feminine ordinal: every word is an adjective in -o ("vigésimo primero" -> "vigésima primera")."""
    return re.sub(r"o\b", "a", words)


class SpanishFrontEnd(LatinFrontEnd):
    language = "es"
    letters = LETTERS
    extra_punctuation = "¿¡"
    abbreviations = _ABBREVIATIONS
    decimal_word = "coma"
    minus_word = "menos"
    percent_word = "por ciento"
    ampersand_word = "y"
    cents_joiner = "con"
    currencies = {
        "€": Currency("euro", "euros", "céntimo", "céntimos"),
        "$": Currency("dólar", "dólares", "centavo", "centavos"),
        "£": Currency("libra", "libras", "penique", "peniques", feminine=True),
    }

    def before_noun(self, words: str, feminine: bool) -> str:
        """ "uno" before a noun: "un"/"veintiún" (masculine) or "una"/"veintiuna" (feminine)."""
        if feminine:
            return _feminine_cardinal(words)
        return re.sub(r"uno$", "ún" if words.endswith("veintiuno") else "un", words)

    def scale_joiner(self, words: str, unit: str) -> str:
        """ "un millón de euros"."""
        return " de " if _SCALE_END_RE.search(words) else " "

    def before_typography(self, text: str) -> str:
        def repl(m: re.Match[str]) -> str:
            words = spell_ordinal(int(m.group(1)), self.language)
            if m.group(2) == "ª":
                return _feminine_ordinal(words)
            if m.group(2) == "er":
                return re.sub(r"(primer|tercer)o$", r"\1", words)
            return words

        return _ORDINAL_RE.sub(repl, text)

    def times(self, text: str) -> str:
        def repl(m: re.Match[str]) -> str:
            hours = self.before_noun(spell_number(int(m.group(1)), self.language), feminine=True)
            minutes = int(m.group(2))
            return f"{hours} y {spell_number(minutes, self.language)}" if minutes else hours

        return _TIME_RE.sub(repl, text)

    def integer(self, m: re.Match[str]) -> str:
        words = super().integer(m)
        following = _NEXT_WORD_RE.match(m.string, m.end())
        if following and following.group(1).isalpha() and following.group(1).lower() not in _NOT_NOUNS:
            return self.before_noun(words, feminine=False)
        return words


SPANISH = SpanishFrontEnd()


@register_cleaner("spanish_cleaners")
def spanish_cleaners(text: str) -> str:
    """Spanish: abbreviations, numbers, currency and ordinals to words, lower case, Spanish letters kept."""
    return SPANISH.clean(text)

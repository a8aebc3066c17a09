"""French front end: ``french_cleaners``.

Keeps the French letters (à â æ ç é è ê ë î ï ô œ ù û ü ÿ), spells numbers with num2words ("21" ->
"vingt et un", years as years, "3,5" -> "trois virgule cinq", "1 000" -> "mille"), ordinals ("1er" ->
"premier", "1re" -> "première", "2e"/"2ème" -> "deuxième", "2nd" -> "second"), clock times ("14h30" ->
"quatorze heures trente"), amounts in €, $ and £ ("12,50 €" -> "douze euros et cinquante centimes",
"1 000 000 €" -> "un million d'euros") and the common titles and abbreviations (M., Mme, Mlle, Dr, Pr,
St, Ste, n°, etc.). Numbers have no gender outside amounts and times: "21 personnes" reads "vingt et un".
Roman numerals ("XXe siècle", "Louis XIV") are left as letters.
"""

from __future__ import annotations

import re

from common.text.cleaners import register_cleaner
from common.text.lang.latin import Currency, LatinFrontEnd
from common.text.lang.numbers import spell_number, spell_ordinal
from common.text.lang.shared import compile_abbreviations

__all__ = ["FRENCH", "LETTERS", "french_cleaners"]

LETTERS = "àâæçéèêëîïôœùûüÿ"

_ABBREVIATIONS = compile_abbreviations(
    [
        (r"\bMM\.(?=\s)", "messieurs"),
        (r"\bM\.(?=\s)", "monsieur"),
        (r"\bMmes\b\.?", "mesdames"),
        (r"\bMme\b\.?", "madame"),
        (r"\bMlles\b\.?", "mesdemoiselles"),
        (r"\bMlle\b\.?", "mademoiselle"),
        (r"\bDrs\b\.?", "docteurs"),
        (r"\bDr\b\.?", "docteur"),
        (r"\bPr\b\.?", "professeur"),
        (r"\bSte\b\.?", "sainte"),
        (r"\bSt\b\.?", "saint"),
        (r"\b[nN][°º]\s?(?=\d)", "numéro "),
        (r"\bav\.(?=\s)", "avenue"),
        (r"\bbd\b\.?", "boulevard"),
        (r"\betc\.", "et cetera"),
    ]
)

_ORDINAL_RE = re.compile(r"(?<!\w)(\d+)(ère|ème|eme|nde|er|re|nd|e)(?!\w)")
_SPECIAL_ORDINALS = {("1", "er"): "premier", ("1", "e"): "premier", ("1", "re"): "première",
                     ("1", "ère"): "première", ("2", "nd"): "second", ("2", "nde"): "seconde"}  # fmt: skip
_HOURS_RE = re.compile(r"(?<![\w:])(\d{1,2})(?:\s?h\s?(\d{2})?|:(\d{2}))(?![\w:])")
_SCALE_END_RE = re.compile(r"\b(?:million|milliard|billion|billiard)s?$")


class FrenchFrontEnd(LatinFrontEnd):
    language = "fr"
    letters = LETTERS
    abbreviations = _ABBREVIATIONS
    decimal_word = "virgule"
    minus_word = "moins"
    percent_word = "pour cent"
    ampersand_word = "et"
    cents_joiner = "et"
    currencies = {
        "€": Currency("euro", "euros", "centime", "centimes"),
        "$": Currency("dollar", "dollars", "cent", "cents"),
        "£": Currency("livre", "livres", "penny", "pence", feminine=True),
    }

    def before_noun(self, words: str, feminine: bool) -> str:
        """ "un" agrees with a feminine noun: "vingt et une livres", "une heure"."""
        return re.sub(r"\bun$", "une", words) if feminine else words

    def scale_joiner(self, words: str, unit: str) -> str:
        """ "un million d'euros", "deux milliards de dollars"."""
        if _SCALE_END_RE.search(words):
            return " d'" if unit[:1] in "aeéèêiîoôuh" else " de "
        return " "

    def ordinals(self, text: str) -> str:
        def repl(m: re.Match[str]) -> str:
            special = _SPECIAL_ORDINALS.get((m.group(1), m.group(2)))
            return special or spell_ordinal(int(m.group(1)), self.language)

        return _ORDINAL_RE.sub(repl, text)

    def times(self, text: str) -> str:
        def repl(m: re.Match[str]) -> str:
            hours = self.counted(int(m.group(1)), "heure", "heures", feminine=True)
            minutes = m.group(2) or m.group(3)
            if minutes and int(minutes):
                return f"{hours} {spell_number(int(minutes), self.language)}"
            return hours

        return _HOURS_RE.sub(repl, text)


FRENCH = FrenchFrontEnd()


@register_cleaner("french_cleaners")
def french_cleaners(text: str) -> str:
    """French: abbreviations, numbers, currency and ordinals to words, lower case, French letters kept."""
    return FRENCH.clean(text)

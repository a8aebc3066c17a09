"""German front end: ``german_cleaners``.

Keeps ä ö ü ß, spells numbers with num2words ("21" -> "einundzwanzig", years 1100-2099 as years: 1998 ->
"neunzehnhundertachtundneunzig", "3,5" -> "drei Komma fünf", "1.000" -> "eintausend"), ordinals written
"3." when an article or preposition precedes them or a month follows ("am 3. Mai" -> "am dritten Mai",
with the weak "-en" ending after am/im/zum/zur/vom/beim/dem/den/des), clock times ("14:30 Uhr" ->
"vierzehn Uhr dreißig"), "1" before a capitalised noun ("1 Hund" -> "ein Hund"), amounts in €, $ and £
("12,50 €" -> "zwölf Euro und fünfzig Cent") and the common abbreviations (Hr., Fr., Dr., Prof., z. B.,
d. h., u. a., usw., bzw., ca., Nr., St., ...). A number followed by a full stop with neither cue stays a
cardinal at the end of a sentence ("Er ist 30. Dann ...").
"""

from __future__ import annotations

import re

from common.text.cleaners import register_cleaner
from common.text.lang.latin import Currency, LatinFrontEnd
from common.text.lang.numbers import spell_number, spell_ordinal
from common.text.lang.shared import compile_abbreviations, previous_word

__all__ = ["GERMAN", "LETTERS", "german_cleaners"]

LETTERS = "äöüß"

_ABBREVIATIONS = compile_abbreviations(
    [
        (r"\bz\.\s?B\.", "zum Beispiel"),
        (r"\bd\.\s?h\.", "das heißt"),
        (r"\bu\.\s?a\.", "unter anderem"),
        (r"\bv\.\s?a\.", "vor allem"),
        (r"\bu\.\s?U\.", "unter Umständen"),
        (r"\busw\.", "und so weiter"),
        (r"\bbzw\.", "beziehungsweise"),
        (r"\bca\.", "circa"),
        (r"\bevtl\.", "eventuell"),
        (r"\bggf\.", "gegebenenfalls"),
        (r"\binkl\.", "inklusive"),
        (r"\bHrn\.", "Herrn"),
        (r"\bHr\.", "Herr"),
        (r"\bFr\.", "Frau"),
        (r"\bDr\.", "Doktor"),
        (r"\bProf\.", "Professor"),
        (r"\bNr\.", "Nummer"),
        (r"\bStr\.", "Straße"),
        (r"(?<=\w)str\.", "straße"),
        (r"\bSt\.", "Sankt"),
    ]
)

_MONTHS = frozenset(
    "januar jänner februar märz april mai juni juli august september oktober november dezember".split()
)
# Before these the ordinal takes the weak "-en" ending; after plain articles the "-e" ending.
_OBLIQUE = frozenset("am im zum zur vom beim dem den des einem einen eines".split())
_ARTICLES = frozenset("der die das".split()) | _OBLIQUE

_ORDINAL_RE = re.compile(r"(?<![\d.,])(\d{1,4})\.(?=[ \t]+(\w+))")
_TIME_RE = re.compile(r"(?<![\w:.,])(\d{1,2})(?:[.:](\d{2})\s?Uhr\b|:(\d{2})(?![\w:]))")
_ONE_BEFORE_NOUN_RE = re.compile(r"\s+[A-ZÄÖÜ]")


class GermanFrontEnd(LatinFrontEnd):
    language = "de"
    letters = LETTERS
    abbreviations = _ABBREVIATIONS
    decimal_word = "Komma"
    minus_word = "minus"
    percent_word = "Prozent"
    ampersand_word = "und"
    cents_joiner = "und"
    fraction_digit_by_digit = True
    currencies = {
        "€": Currency("Euro", "Euro", "Cent", "Cent"),
        "$": Currency("Dollar", "Dollar", "Cent", "Cent"),
        "£": Currency("Pfund", "Pfund", "Penny", "Pence"),
    }

    def before_noun(self, words: str, feminine: bool) -> str:
        """ "eins" before a noun is "ein" (masculine, neuter) or "eine" (feminine)."""
        return re.sub(r"eins$", "eine" if feminine else "ein", words)

    def ordinals(self, text: str) -> str:
        def repl(m: re.Match[str]) -> str:
            before = previous_word(m.string, m.start())
            if before not in _ARTICLES and m.group(2).lower() not in _MONTHS:
                return m.group(0)
            return spell_ordinal(int(m.group(1)), self.language) + ("n" if before in _OBLIQUE else "")

        return _ORDINAL_RE.sub(repl, text)

    def times(self, text: str) -> str:
        def repl(m: re.Match[str]) -> str:
            hours = self.before_noun(spell_number(int(m.group(1)), self.language), feminine=False)
            minutes = int(m.group(2) or m.group(3))
            return f"{hours} Uhr" + (f" {spell_number(minutes, self.language)}" if minutes else "")

        return _TIME_RE.sub(repl, text)

    def integer(self, m: re.Match[str]) -> str:
        if m.group(0) == "1" and _ONE_BEFORE_NOUN_RE.match(m.string, m.end()):
            return "ein"
        return super().integer(m)


GERMAN = GermanFrontEnd()


@register_cleaner("german_cleaners")
def german_cleaners(text: str) -> str:
    """German: abbreviations, numbers, currency and ordinals to words, lower case, ä ö ü ß kept."""
    return GERMAN.clean(text)

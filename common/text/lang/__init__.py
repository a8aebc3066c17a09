"""Per-language text front ends: a registered cleaner for each supported language, and dispatch.

=====  ====================  ==========================================================
code   cleaner               output letters
=====  ====================  ==========================================================
en     ``english_cleaners``  a-z
fr     ``french_cleaners``   a-z à â æ ç é è ê ë î ï ô œ ù û ü ÿ
de     ``german_cleaners``   a-z ä ö ü ß
es     ``spanish_cleaners``  a-z á é í ó ú ñ ü (and the marks ¿ ¡)
ko     ``korean_cleaners``   conjoining Hangul jamo U+1100-U+11C2 (NFD), a-z
am     ``amharic_cleaners``  a-z and the ejective mark ' (SERA-like romanisation)
=====  ====================  ==========================================================

Every cleaner also keeps the shared punctuation ``!'(),.:;?-`` and spaces, spells numbers out in its
language (num2words) and maps anything else onto that inventory (see ``shared.restrict_to``).
Importing this package registers the cleaners.
"""

from __future__ import annotations

from common.text.cleaners import get_cleaner
from common.text.lang import amharic, french, german, korean, spanish
from common.text.lang.shared import (
    ASCII_LETTERS,
    SUPPORTED_LANGUAGES,
    UnsupportedLanguageError,
    check_language,
    inventory_of,
)

__all__ = [
    "LANGUAGE_CLEANERS",
    "SUPPORTED_LANGUAGES",
    "UnsupportedLanguageError",
    "clean_for_language",
    "cleaner_for_language",
    "language_inventory",
    "spoken_form",
]

LANGUAGE_CLEANERS: dict[str, str] = {
    "en": "english_cleaners",
    "fr": "french_cleaners",
    "de": "german_cleaners",
    "es": "spanish_cleaners",
    "ko": "korean_cleaners",
    "am": "amharic_cleaners",
}

_INVENTORIES: dict[str, frozenset[str]] = {
    "en": inventory_of(ASCII_LETTERS),
    "fr": french.FRENCH.inventory,
    "de": german.GERMAN.inventory,
    "es": spanish.SPANISH.inventory,
    "ko": korean.INVENTORY,
    "am": amharic.INVENTORY,
}


def cleaner_for_language(language: str) -> str:
    """The registered cleaner name for a language code ("fr" -> "french_cleaners")."""
    return LANGUAGE_CLEANERS[check_language(language)]


def clean_for_language(text: str, language: str) -> str:
    """Clean ``text`` with its language's cleaner: the dispatch for filelists that mix languages."""
    return get_cleaner(cleaner_for_language(language))(text)


def language_inventory(language: str) -> frozenset[str]:
    """Every character ``clean_for_language(..., language)`` can output.

    English is the exception: ``english_cleaners`` (the reference pipeline) leaves ASCII symbols other than
    the shared punctuation in place ('"', '&', '/', ...); tables without them drop them.
    """
    return _INVENTORIES[check_language(language)]


def spoken_form(text: str, language: str) -> str:
    """``text`` as it is read, in its own script: what a phonemizer gets.

    en, fr, de, es: the language's cleaner (already in its own spelling); ko, am: numbers and symbols read
    but the text left in Hangul / Ethiopic script (their cleaners decompose / romanise it).
    """
    check_language(language)
    if language == "ko":
        return korean.normalize_korean(text)
    if language == "am":
        return amharic.normalize_amharic(text)
    return clean_for_language(text, language)

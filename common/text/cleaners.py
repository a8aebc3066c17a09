"""Text cleaners: named functions that normalise raw text before it is mapped to symbol ids.

Cleaners live in an open registry so that other modules (e.g. other languages) can add their own with
``@register_cleaner("name")``; ``--text-cleaners`` names are resolved through ``get_cleaner``.
The module that defines a cleaner must be imported before the cleaner can be looked up.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from unidecode import unidecode

from common.text.numbers import normalize_numbers
from common.text.reference_text import reference_ascii, reference_numbers

Cleaner = Callable[[str], str]

_REGISTRY: dict[str, Cleaner] = {}


class UnknownCleanerError(ValueError):
    """A cleaner name was asked for that no module registered."""


class DuplicateCleanerError(ValueError):
    """Two different functions were registered under one cleaner name."""


def register_cleaner(name: str, *, replace: bool = False) -> Callable[[Cleaner], Cleaner]:
    """Decorator registering ``fn(text) -> text`` under ``name``.

    Registering a different function under a taken name raises DuplicateCleanerError unless
    ``replace=True``; re-registering the same function (a module reload) is allowed.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a cleaner name must be a non-empty string, got {name!r}")

    def decorator(fn: Cleaner) -> Cleaner:
        old = _REGISTRY.get(name)
        same = old is not None and (old.__module__, old.__qualname__) == (fn.__module__, fn.__qualname__)
        if old is not None and not same and not replace:
            raise DuplicateCleanerError(
                f"cleaner {name!r} is already registered by {old.__module__}.{old.__qualname__}; "
                f"pass replace=True to override it with {fn.__module__}.{fn.__qualname__}"
            )
        _REGISTRY[name] = fn
        return fn

    return decorator


def available_cleaners() -> list[str]:
    """Names of all registered cleaners, sorted."""
    return sorted(_REGISTRY)


def get_cleaner(name: str) -> Cleaner:
    """The cleaner registered under ``name``; UnknownCleanerError lists the registered names otherwise."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownCleanerError(
            f"unknown text cleaner {name!r}; registered cleaners: {', '.join(available_cleaners())}"
        ) from None


def clean_text(text: str, cleaner_names: Sequence[str]) -> str:
    """Run the named cleaners over ``text`` in order. A single name may be passed as a plain string."""
    if isinstance(cleaner_names, str):
        cleaner_names = [cleaner_names]
    cleaners = [get_cleaner(name) for name in cleaner_names]  # resolve all first: fail before any work
    for cleaner in cleaners:
        text = cleaner(text)
    return text


# ---------------------------------------------------------------------------------------------------
# Building blocks

_WHITESPACE_RE = re.compile(r"\s+")
_KEPT_CURRENCY = "£€"

_ABBREVIATIONS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"\b{abbr}\.", re.IGNORECASE), word)
    for abbr, word in [
        ("mrs", "misess"),
        ("mr", "mister"),
        ("dr", "doctor"),
        ("st", "saint"),
        ("co", "company"),
        ("jr", "junior"),
        ("maj", "major"),
        ("gen", "general"),
        ("drs", "doctors"),
        ("rev", "reverend"),
        ("lt", "lieutenant"),
        ("hon", "honorable"),
        ("sgt", "sergeant"),
        ("capt", "captain"),
        ("esq", "esquire"),
        ("ltd", "limited"),
        ("col", "colonel"),
        ("ft", "fort"),
    ]
]


def lowercase(text: str) -> str:
    return text.lower()


def collapse_whitespace(text: str) -> str:
    """Turn every run of whitespace (tabs, newlines, repeated spaces) into one space."""
    return _WHITESPACE_RE.sub(" ", text)


def transliterate(text: str, keep: str = "") -> str:
    """Closest ASCII spelling of ``text`` ("café" -> "cafe"), leaving the characters in ``keep`` as they are.

    Characters without an ASCII spelling are removed.
    """
    if not keep:
        return unidecode(text)
    pieces = re.split(f"([{re.escape(keep)}])", text)
    return "".join(p if i % 2 else unidecode(p) for i, p in enumerate(pieces))


def expand_abbreviations(text: str) -> str:
    """Spell out English title/address abbreviations that end in a period ("dr." -> "doctor")."""
    for pattern, word in _ABBREVIATIONS:
        text = pattern.sub(word, text)
    return text


# ---------------------------------------------------------------------------------------------------
# Registered cleaners


@register_cleaner("basic_cleaners")
def basic_cleaners(text: str) -> str:
    """Lowercase and collapse whitespace; no transliteration (for any language)."""
    return collapse_whitespace(lowercase(text))


@register_cleaner("transliteration_cleaners")
def transliteration_cleaners(text: str) -> str:
    """ASCII transliteration, lowercase, collapse whitespace (for non-English text in Latin letters)."""
    return collapse_whitespace(lowercase(transliterate(text)))


@register_cleaner("english_cleaners")
def english_cleaners(text: str) -> str:
    """The reference's English pipeline, id for id (NGC checkpoints were trained on it): its ASCII table,
    lowercase, its number expansion, abbreviations, whitespace (``common.text.reference_text``)."""
    text = reference_ascii(text)
    text = lowercase(text)
    text = reference_numbers(text)
    text = expand_abbreviations(text)
    return collapse_whitespace(text)


@register_cleaner("english_cleaners_v2")
def english_cleaners_v2(text: str) -> str:
    """The suite's English pipeline: numbers and currency read as a person reads them, then ASCII,
    lowercase, abbreviations, whitespace.

    Differences from ``english_cleaners``: "$2.5" is "two dollars, fifty cents"; decimals are read digit
    by digit ("3.14" -> "three point one four"); "£2" is "two pounds" and "€2" "two euros" (transliteration
    keeps the currency signs until numbers are expanded); minus signs, percentages and decades are read;
    large numbers have no inflect commas; unidecode spells accented letters ("Müller" -> "muller").
    """
    text = transliterate(text, keep=_KEPT_CURRENCY)
    text = normalize_numbers(text)
    text = transliterate(text)
    text = lowercase(text)
    text = expand_abbreviations(text)
    return collapse_whitespace(text)

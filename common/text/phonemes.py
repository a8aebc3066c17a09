"""IPA phonemes from espeak-ng (the program itself, through subprocess; no Python package needed).

``phonemize("Il a 21 ans.", "fr")`` -> "il a vˈɛ̃t e œ̃n ˈɑ̃." First the text gets its spoken form in its own
script (``common.text.lang.spoken_form``: numbers and abbreviations read by our front ends, so every
path reads them alike), then it is split at punctuation, each piece is phonemized by
``espeak-ng -q --ipa -v VOICE`` and the punctuation is put back between the pieces (espeak-ng drops it,
but it carries prosody). Pieces are cached, and all uncached pieces of a call go to one espeak-ng process.

Registered cleaners: ``ipa_cleaners`` (``ipa_cleaners(text, language="en")``) and ``ipa_cleaners_<code>``
for each supported language code (``--text-cleaners ipa_cleaners_fr``). IPA symbols enter a table with
``symbol_sets.table_from_texts(texts, "ipa_cleaners_fr")``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence

from common.text.cleaners import register_cleaner
from common.text.lang import SUPPORTED_LANGUAGES, spoken_form
from common.text.lang.amharic import ETHIOPIC_PUNCTUATION

__all__ = [
    "ESPEAK_VOICES", "PhonemizerError", "espeak_voice", "ipa_cleaners", "phonemize", "phonemize_many",
    "prefetch_phonemes",
]

# espeak-ng voice per language code (the voices the offline corpus speaks with).
ESPEAK_VOICES = {"en": "en-us", "fr": "fr-fr", "de": "de", "es": "es", "ko": "ko", "am": "am"}

_SPLIT_RE = re.compile(r"([!(),.:;?\u00bf\u00a1]+)")
_OPENING = "(\u00bf\u00a1"
_WHITESPACE_RE = re.compile(r"\s+")
_INVISIBLE_RE = re.compile("[\u200b-\u200d\u2060\ufeff]")
_TIMEOUT_S = 120
_CACHE: dict[tuple[str, str], str] = {}
_CACHE_LIMIT = 100_000


class PhonemizerError(RuntimeError):
    """espeak-ng is missing, has no voice for the language, or failed."""


def find_espeak() -> str:
    """Path of the espeak-ng executable, or a PhonemizerError saying how to install it."""
    path = shutil.which("espeak-ng")
    if path is None:
        raise PhonemizerError(
            "espeak-ng was not found on PATH; IPA cleaners need it. Install it with "
            "`sudo apt-get install espeak-ng` (Debian/Ubuntu) or `brew install espeak-ng` (macOS)."
        )
    return path


def espeak_voice(language: str) -> str:
    """The espeak-ng voice for a language code ("fr" -> "fr-fr"); other names are taken as voice names."""
    return ESPEAK_VOICES.get(language, language)


def _run_espeak(voice: str, lines: list[str]) -> list[str]:
    """Phonemize one piece per output line: a blank line between pieces ends a paragraph, which espeak-ng
    always answers with a line break (a single line break it may join to the next line)."""
    cmd = [find_espeak(), "-q", "--ipa", "-v", voice, "--stdin"]
    try:
        proc = subprocess.run(
            cmd, input="\n\n".join(lines) + "\n", capture_output=True, text=True, timeout=_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise PhonemizerError(f"espeak-ng (voice {voice!r}) took more than {_TIMEOUT_S} s") from err
    error = proc.stderr.strip()
    if proc.returncode != 0 or "voice does not exist" in error:
        raise PhonemizerError(f"espeak-ng failed for voice {voice!r} (exit {proc.returncode}): {error}")
    return proc.stdout.splitlines()


def _tidy_ipa(lines: Iterable[str]) -> str:
    return _WHITESPACE_RE.sub(" ", _INVISIBLE_RE.sub("", " ".join(lines))).strip()


def _phonemize_pieces(pieces: list[str], voice: str) -> None:
    """Fill the cache for ``pieces``: one espeak-ng run, or one per piece if the line counts disagree."""
    todo = list(dict.fromkeys(p for p in pieces if (voice, p) not in _CACHE))
    if not todo:
        return
    if len(_CACHE) + len(todo) > _CACHE_LIMIT:
        _CACHE.clear()
    lines = _run_espeak(voice, todo)
    if len(lines) == len(todo):
        results = [_tidy_ipa([line]) for line in lines]
    else:  # espeak-ng split a piece into several clauses: ask piece by piece
        results = [_tidy_ipa(_run_espeak(voice, [piece])) for piece in todo]
    _CACHE.update(((voice, piece), ipa) for piece, ipa in zip(todo, results))


def _split(text: str) -> list[str]:
    """Alternating text pieces and punctuation runs, whitespace collapsed, espeak-ng's "[[" markup removed."""
    text = _WHITESPACE_RE.sub(" ", text.replace("[", " ").replace("]", " "))
    return [part.strip() for part in _SPLIT_RE.split(text)]


def _join(parts: list[str], voice: str) -> str:
    out: list[str] = []
    for i, part in enumerate(parts):
        if not part:
            continue
        if i % 2 == 0:
            ipa = _CACHE[(voice, part)]
            if ipa:
                sep = "" if not out or out[-1][-1] in _OPENING else " "
                out.append(sep + ipa)
        else:
            sep = " " if out and part[0] in _OPENING else ""
            out.append(sep + part)
    return "".join(out).strip()


def phonemize_many(texts: Iterable[str], language: str = "en", *, normalize: bool = True) -> list[str]:
    """IPA for each of ``texts`` (one espeak-ng run for all uncached pieces); see ``phonemize``."""
    voice = espeak_voice(language)
    if normalize and language in SUPPORTED_LANGUAGES:
        texts = [spoken_form(t, language) for t in texts]
    split = [_split(t.translate(ETHIOPIC_PUNCTUATION)) for t in texts]
    _phonemize_pieces([p for parts in split for p in parts[::2] if p], voice)
    return [_join(parts, voice) for parts in split]


def phonemize(text: str, language: str = "en", *, normalize: bool = True) -> str:
    """IPA for ``text`` in ``language`` (a code from SUPPORTED_LANGUAGES, or any espeak-ng voice name).

    ``normalize`` first reads numbers and abbreviations with our front end for the language (codes only).
    Punctuation ``!(),.:;?¿¡`` is kept between the phonemized pieces. Raises PhonemizerError when
    espeak-ng is missing or lacks the voice.
    """
    return phonemize_many([text], language, normalize=normalize)[0]


def prefetch_phonemes(texts: Sequence[str], cleaner_names: Sequence[str]) -> None:
    """Phonemize ``texts`` in one espeak-ng run when the first cleaner is an IPA one, so the per-line
    cleaning that follows hits the cache (a dataset of 1,000 lines: one process, not 1,000)."""
    if texts and cleaner_names and cleaner_names[0].startswith("ipa_cleaners"):
        language = cleaner_names[0].removeprefix("ipa_cleaners").removeprefix("_") or "en"
        phonemize_many(texts, language)


@register_cleaner("ipa_cleaners")
def ipa_cleaners(text: str, language: str = "en") -> str:
    """IPA via espeak-ng (English unless ``language`` says otherwise); see ``phonemize``."""
    return phonemize(text, language)


def _language_ipa_cleaner(language: str) -> Callable[[str], str]:
    def cleaner(text: str) -> str:
        return phonemize(text, language)

    cleaner.__name__ = cleaner.__qualname__ = f"ipa_cleaners_{language}"
    cleaner.__doc__ = f"IPA via espeak-ng for language {language!r}; see ``phonemize``."
    return register_cleaner(f"ipa_cleaners_{language}")(cleaner)


LANGUAGE_IPA_CLEANERS: dict[str, Callable[[str], str]] = {
    code: _language_ipa_cleaner(code) for code in SUPPORTED_LANGUAGES
}

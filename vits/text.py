"""VITS front end: IPA phonemes from espeak-ng (``common.text.phonemes``) mapped to ids through a
Piper-style ``phoneme_id_map`` (phoneme -> list of ids).

Ids: pad ``_`` 0, bos ``^`` 1, eos ``$`` 2, space 3, then punctuation, ASCII letters and IPA symbols
(``DEFAULT_SYMBOLS``). An utterance becomes ``^ _ p1 _ p2 _ ... pn _ $``: bos, each phoneme (one Unicode
code point) followed by the pad, then eos - what Piper's runtimes feed the voice. Symbols outside the map
can be added (``extend_phoneme_id_map``) up to the model's ``n_vocab``.
"""

from __future__ import annotations

from collections.abc import Iterable

from common.text.phonemes import phonemize

PAD, BOS, EOS = "_", "^", "$"

_PUNCTUATION = " !'(),-.:;?\"¡¿—…«»“”"
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_IPA = (
    "æçðøħŋœǀǁǂǃɐɑɒɓɔɕɖɗɘəɚɛɜɞɟɠɡɢɣɤɥɦɧɨɪɫɬɭɮɯɰɱɲɳɴɵɶɸɹɺɻɽɾʀʁʂʃʄʈʉʊʋʌʍʎʏʐʑʒʔʕʘʙʛʜʝʟʡʢ"
    "ʰʲʷˈˌːˑ˞ˠˤβθχᵻⱱ↓↑→↗↘"
    "\u0303\u0329\u032a\u032f\u0325\u030a\u0361\u0306\u0308\u031a\u0320\u0331"
)
DEFAULT_SYMBOLS: tuple[str, ...] = (PAD, BOS, EOS) + tuple(dict.fromkeys(_PUNCTUATION + _LETTERS + _IPA))


class PhonemeIdError(ValueError):
    """A phoneme that has no id, or a map that does not fit the model's vocabulary."""


def default_phoneme_id_map() -> dict[str, list[int]]:
    """The suite's Piper-style map: ``_`` 0, ``^`` 1, ``$`` 2, space 3, then ``DEFAULT_SYMBOLS``."""
    return {symbol: [i] for i, symbol in enumerate(DEFAULT_SYMBOLS)}


def phonemes_of(ipa: str) -> list[str]:
    """The phonemes of an IPA string: its Unicode code points, unnormalised, exactly as Piper's runtimes
    split espeak-ng's output (so training and the deployed voice see the same ids)."""
    return list(ipa)


def extend_phoneme_id_map(phoneme_id_map: dict[str, list[int]], ipa_texts: Iterable[str],
                          n_vocab: int = 256) -> dict[str, list[int]]:
    """A copy of the map with every new phoneme of ``ipa_texts`` appended (sorted, for a stable order)."""
    out = {k: list(v) for k, v in phoneme_id_map.items()}
    next_id = max(i for ids in out.values() for i in ids) + 1
    new = sorted({p for text in ipa_texts for p in phonemes_of(text)} - set(out))
    for phoneme in new:
        out[phoneme] = [next_id]
        next_id += 1
    if next_id > n_vocab:
        raise PhonemeIdError(f"the phoneme map needs {next_id} ids but the model has n_vocab={n_vocab}; "
                             f"new phonemes: {''.join(new)!r}")
    return out


def phonemes_to_ids(ipa: str, phoneme_id_map: dict[str, list[int]], missing: str = "error",
                    where: str = "") -> list[int]:
    """``^ _ p1 _ ... pn _ $`` as ids. ``missing``: 'error' (PhonemeIdError naming ``where``) or 'skip'
    (Piper's runtimes skip unknown phonemes)."""
    pad = phoneme_id_map[PAD]
    ids = list(phoneme_id_map[BOS]) + list(pad)
    for phoneme in phonemes_of(ipa):
        if phoneme not in phoneme_id_map:
            if missing == "skip":
                continue
            prefix = f"{where}: " if where else ""
            raise PhonemeIdError(f"{prefix}phoneme {phoneme!r} (U+{ord(phoneme):04X}) is not in the "
                                 "phoneme_id_map")
        ids += phoneme_id_map[phoneme] + pad
    return ids + list(phoneme_id_map[EOS])


def text_to_ids(text: str, language: str, phoneme_id_map: dict[str, list[int]],
                missing: str = "error") -> list[int]:
    """Phonemize ``text`` with espeak-ng (the suite's IPA front end) and map it to ids."""

    return phonemes_to_ids(phonemize(text, language), phoneme_id_map, missing=missing, where=repr(text[:40]))

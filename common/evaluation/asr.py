"""Offline English speech recognition with pocketsphinx (its wheel ships the acoustic model and dictionary).

Three decoders share one acoustic model:
- **words**: a unigram language model over a closed vocabulary (the candidate sentences' words plus any
  extra vocabulary given). pocketsphinx's general English language model is far too weak for synthetic
  speech: it transcribes espeak-ng's own rendering of simple sentences with a word error rate near 1.
- **phones**: phone-loop decoding with the shipped phonetic language model (no words involved).
- **grammar**: a JSGF grammar whose alternatives are the candidate sentences (closed-set choice).

Words missing from the dictionary get a pronunciation from espeak-ng's IPA, mapped to ARPAbet.
pocketsphinx is imported on first use: it is only needed for this evaluation.
"""

from __future__ import annotations

import math
import re
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import soxr

from common.data_tools.corpus_text import normalize_for_language
from common.metrics.errors import EvaluationError
from common.text.phonemes import find_espeak

__all__ = ["ASR_SAMPLING_RATE", "Recognizer", "ipa_to_arpabet", "words_of"]

ASR_SAMPLING_RATE = 16000
_WORD_RE = re.compile(r"[^a-z']+")
_NON_SPEECH = {"SIL", "+NSN+", "+SPN+", "+BREATH+", "+COUGH+", "+NOISE+", "+SMACK+", "+UH+", "+UM+"}

# espeak-ng's en-us IPA -> ARPAbet (the pocketsphinx phone set); longer keys are tried first.
_IPA_ARPABET = {
    "aɪ": "AY", "aʊ": "AW", "eɪ": "EY", "oʊ": "OW", "ɔɪ": "OY", "tʃ": "CH", "dʒ": "JH", "ɜː": "ER",
    "ɑː": "AA", "ɔː": "AO", "iː": "IY", "uː": "UW", "ɚ": "ER", "ɪ": "IH", "ᵻ": "IH", "ɛ": "EH", "æ": "AE",
    "ʌ": "AH", "ə": "AH", "ɐ": "AH", "ʊ": "UH", "ɑ": "AA", "ɔ": "AO", "i": "IY", "u": "UW", "o": "OW",
    "e": "EH", "a": "AA", "θ": "TH", "ð": "DH", "ʃ": "SH", "ʒ": "ZH", "ŋ": "NG", "ɹ": "R", "r": "R",
    "ɾ": "T", "j": "Y", "w": "W", "h": "HH", "ɡ": "G", "g": "G", "x": "HH", "ɬ": "L", "b": "B", "p": "P",
    "t": "T", "d": "D", "k": "K", "f": "F", "v": "V", "s": "S", "z": "Z", "m": "M", "n": "N", "l": "L",
}
_IPA_KEYS = sorted(_IPA_ARPABET, key=len, reverse=True)


def words_of(text: str) -> list[str]:
    """The words an English listener should hear: the offline corpus's English normalisation (numbers and
    abbreviations spelled out), then letters and apostrophes only."""
    return _WORD_RE.sub(" ", normalize_for_language(text, "en")).split()


def ipa_to_arpabet(ipa: str) -> list[str]:
    """ARPAbet phones of an IPA string (stress and length marks dropped, unknown symbols skipped)."""
    phones, i = [], 0
    while i < len(ipa):
        key = next((k for k in _IPA_KEYS if ipa.startswith(k, i)), None)
        if key is None:
            i += 1
            continue
        phones.append(_IPA_ARPABET[key])
        i += len(key)
    return phones


def _espeak_ipa(words: Sequence[str]) -> list[str]:
    """espeak-ng's en-us IPA for each word (one line each)."""
    proc = subprocess.run([find_espeak(), "-q", "--ipa", "-v", "en-us"], input="\n".join(words),
                          capture_output=True, text=True, timeout=120, check=False)
    lines = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or len(lines) != len(words):
        raise EvaluationError(f"espeak-ng could not give pronunciations for {', '.join(words)}: "
                              f"{proc.stderr.strip() or 'unexpected output'}")
    return lines


def _to_raw(audio: np.ndarray, sampling_rate: int) -> bytes:
    """16 kHz 16-bit PCM bytes, peak-normalised to half scale (so the input level does not matter)."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if sampling_rate != ASR_SAMPLING_RATE:
        audio = soxr.resample(audio, sampling_rate, ASR_SAMPLING_RATE)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > 0:
        audio = audio * (0.5 / peak)
    return (audio * 32767.0).astype(np.int16).tobytes()


class Recognizer:
    """pocketsphinx set up for one set of candidate sentences (plus optional extra vocabulary)."""

    def __init__(self, candidates: Sequence[str], vocabulary: Iterable[str] = ()) -> None:
        try:
            # deferred: heavy optional dependency (pocketsphinx and its models)
            import pocketsphinx
        except ImportError as exc:
            raise EvaluationError("the intelligibility evaluation needs pocketsphinx: "
                                  "pip install pocketsphinx") from exc
        self.candidates = [words_of(c) for c in candidates]
        for line, words in enumerate(self.candidates, 1):
            if not words:
                raise EvaluationError(f"candidate sentence {line} has no English words: "
                                      f"{candidates[line - 1]!r}")
        vocab = sorted({w for words in self.candidates for w in words} | set(vocabulary))
        self._tmp = tempfile.TemporaryDirectory(prefix="asr_")
        lm_path = Path(self._tmp.name) / "vocabulary.arpa"
        lm_path.write_text(_unigram_arpa(vocab))
        model = Path(pocketsphinx.get_model_path()) / "en-us"
        Decoder = pocketsphinx.Decoder
        self._words = Decoder(samprate=ASR_SAMPLING_RATE, logfn="/dev/null", lm=str(lm_path))
        self._phones = Decoder(samprate=ASR_SAMPLING_RATE, logfn="/dev/null", lm=None,
                               allphone=str(model / "en-us-phone.lm.bin"), lw=2.0, beam=1e-20, pbeam=1e-20)
        self._grammar = Decoder(samprate=ASR_SAMPLING_RATE, logfn="/dev/null")
        self.pronunciations = self._add_missing_words(vocab)
        alternatives = " | ".join("( " + " ".join(words) + " )" for words in self.candidates)
        self._grammar.add_jsgf_string("candidates", f"#JSGF V1.0;\ngrammar candidates;\n"
                                                    f"public <sentence> = {alternatives} ;\n")
        self._grammar.activate_search("candidates")

    def _add_missing_words(self, vocab: Sequence[str]) -> dict[str, list[str]]:
        """Give every word a pronunciation in both word decoders; return each word's first phones."""
        prons = {w: self._words.lookup_word(w) for w in vocab}
        missing = [w for w, p in prons.items() if p is None]
        if missing:
            for word, ipa in zip(missing, _espeak_ipa(missing)):
                phones = ipa_to_arpabet(ipa)
                if not phones:
                    raise EvaluationError(f"no pronunciation could be made for {word!r} (IPA {ipa!r})")
                prons[word] = " ".join(phones)
                for decoder in (self._words, self._grammar):
                    decoder.add_word(word, prons[word], True)
        return {w: p.split() for w, p in prons.items()}

    @staticmethod
    def _decode(decoder, raw: bytes) -> list[str]:
        decoder.start_utt()
        decoder.process_raw(raw, full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        return hyp.hypstr.split() if hyp is not None else []

    def transcribe(self, audio: np.ndarray, sampling_rate: int) -> tuple[list[str], list[str], int]:
        """(words heard, phones heard, index of the candidate chosen by the grammar or -1 for none)."""
        raw = _to_raw(audio, sampling_rate)
        words = self._decode(self._words, raw)
        phones = [p for p in self._decode(self._phones, raw) if p not in _NON_SPEECH]
        chosen = self._decode(self._grammar, raw)
        index = next((i for i, c in enumerate(self.candidates) if c == chosen), -1) if chosen else -1
        return words, phones, index

    def reference_phones(self, words: Sequence[str]) -> list[str]:
        """The dictionary phones of a word sequence (first pronunciation of each word)."""
        return [p for w in words for p in self.pronunciations[w]]


def _unigram_arpa(vocab: Sequence[str]) -> str:
    """An ARPA unigram language model giving every word the same probability."""
    logp = math.log10(1.0 / (len(vocab) + 1))
    lines = ["\\data\\", f"ngram 1={len(vocab) + 2}", "", "\\1-grams:", "-99.0000 <s> 0.0000",
             f"{logp:.4f} </s> 0.0000", *(f"{logp:.4f} {w} 0.0000" for w in vocab), "", "\\end\\", ""]
    return "\n".join(lines)

"""Intelligibility of synthesized English speech, measured offline with pocketsphinx (docs/EVALUATION.md).

For each wav and the sentence it should say:
- **WER**: word edits / reference words, with a recogniser whose vocabulary is the candidate sentences'
  words plus the offline corpus's English vocabulary (`common.evaluation.asr`); at most 1 per sentence;
- **PER**: phone edits / reference phones, the phones heard by a phone-loop decoder against the
  dictionary pronunciation of the intended words; at most 1 per sentence;
- **closed-set accuracy**: whether a grammar over all candidate sentences picks the intended one.

The **ceiling** is the same evaluation of espeak-ng's own rendering of the same sentences in the training
speaker's voice (the voice the offline corpus was made with). Our score as a fraction of it:
``accuracy / ceiling accuracy`` and ``(1 - WER) / (1 - ceiling WER)`` (word accuracy).
English only: for other languages use MCD (`python -m common.evaluation mcd`).
"""

from __future__ import annotations

import functools
import json
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from common.audio import AudioError, load_wav
from common.data_tools.corpus import Speaker, Utterance, find_espeak, synthesize
from common.data_tools.corpus_text import generate_sentences, normalize_for_language
from common.evaluation.asr import ASR_SAMPLING_RATE, Recognizer, words_of
from common.metrics.errors import EvaluationError
from common.synthesis import SynthesisError, read_phrases

__all__ = [
    "IntelligibilityReport",
    "UtteranceScore",
    "ceiling_report",
    "compare",
    "corpus_vocabulary",
    "edit_distance",
    "espeak_renderings",
    "evaluate_audio",
    "evaluate_files",
    "evaluate_with_ceiling",
    "load_speaker",
    "phrase_files",
    "phrase_texts",
]


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Levenshtein distance between two token sequences (substitutions, insertions, deletions)."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[:], i
        for j, h in enumerate(hyp, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (r != h))
    return row[len(hyp)]


@dataclass
class UtteranceScore:
    """One sentence: what was meant, what was heard, and its error rates."""

    name: str
    text: str
    heard: str
    wer: float
    per: float
    chosen: int
    correct: bool


@dataclass
class IntelligibilityReport:
    """Averages over the sentences (each sentence's rates capped at 1, then averaged)."""

    wer: float
    per: float
    accuracy: float
    n: int
    utterances: list[UtteranceScore]

    @property
    def word_accuracy(self) -> float:
        return 1.0 - self.wer

    def fraction_of(self, ceiling: IntelligibilityReport) -> dict[str, float]:
        """Our accuracy and word accuracy as fractions of the ceiling's (nan where the ceiling is 0)."""
        def ratio(a: float, b: float) -> float:
            return a / b if b > 0 else float("nan")
        return {"accuracy": ratio(self.accuracy, ceiling.accuracy),
                "word_accuracy": ratio(self.word_accuracy, ceiling.word_accuracy)}

    def metrics(self, prefix: str = "") -> dict[str, float]:
        """Run-log metrics: `<prefix>wer`, `<prefix>per`, `<prefix>closed_set_accuracy`."""
        return {f"{prefix}wer": self.wer, f"{prefix}per": self.per,
                f"{prefix}closed_set_accuracy": self.accuracy}

    def summary(self, ceiling: IntelligibilityReport | None = None) -> dict[str, float]:
        """Run-log summary: our metrics, and with a ceiling its metrics and our fractions of it."""
        data = self.metrics("intelligibility_")
        if ceiling is not None:
            data |= ceiling.metrics("ceiling_")
            data |= {f"intelligibility_{k}_of_ceiling": v for k, v in self.fraction_of(ceiling).items()}
        return data

    def to_json(self) -> dict:
        return {"wer": self.wer, "per": self.per, "closed_set_accuracy": self.accuracy, "n": self.n,
                "utterances": [asdict(u) for u in self.utterances]}

    @classmethod
    def from_json(cls, data: dict) -> IntelligibilityReport:
        """The report `to_json` wrote (its utterances too, where present)."""
        return cls(wer=float(data["wer"]), per=float(data["per"]),
                   accuracy=float(data["closed_set_accuracy"]), n=int(data["n"]),
                   utterances=[UtteranceScore(**u) for u in data.get("utterances", [])])


@functools.lru_cache(maxsize=4)
def corpus_vocabulary(n_sentences: int = 1000) -> frozenset[str]:
    """The English words the offline corpus generator uses (the recogniser's vocabulary beyond the tests):
    1000 sentences give 277 of the 278 words that 3000 give."""
    return frozenset(w for s in generate_sentences("en", n_sentences, seed=1) for w in words_of(s))


def evaluate_audio(audios: Sequence[tuple[str, np.ndarray, int]], texts: Sequence[str],
                   recognizer: Recognizer | None = None) -> IntelligibilityReport:
    """Score `(name, audio, sampling_rate)` items against `texts` (item i should say texts[i]).

    The candidate set of the closed-set choice is `texts` itself (the recogniser's, if one is given).
    """
    if len(audios) != len(texts):
        raise EvaluationError(f"{len(audios)} audio files for {len(texts)} sentences")
    if not texts:
        raise EvaluationError("no sentences to evaluate")
    recognizer = recognizer or Recognizer(texts, corpus_vocabulary())
    scores = []
    for (name, audio, rate), text in zip(audios, texts):
        ref = words_of(text)
        try:
            target = recognizer.candidates.index(ref)
        except ValueError:
            raise EvaluationError(f"{name}: its sentence is not among the recogniser's candidates: "
                                  f"{text!r}") from None
        words, phones, chosen = recognizer.transcribe(audio, rate)
        ref_phones = recognizer.reference_phones(ref)
        scores.append(UtteranceScore(
            name=name, text=text, heard=" ".join(words),
            wer=min(1.0, edit_distance(ref, words) / len(ref)),
            per=min(1.0, edit_distance(ref_phones, phones) / len(ref_phones)),
            chosen=chosen, correct=chosen == target))
    n = len(scores)
    return IntelligibilityReport(wer=sum(s.wer for s in scores) / n, per=sum(s.per for s in scores) / n,
                                 accuracy=sum(s.correct for s in scores) / n, n=n, utterances=scores)


def evaluate_files(wavs: Sequence[Path], texts: Sequence[str],
                   recognizer: Recognizer | None = None) -> IntelligibilityReport:
    """:func:`evaluate_audio` on wav files; an unreadable file is an EvaluationError naming it."""
    audios = []
    for path in wavs:
        try:
            audio = load_wav(path, sampling_rate=ASR_SAMPLING_RATE, resample=True, mix_to_mono=True)
        except (AudioError, OSError) as exc:
            raise EvaluationError(f"{path}: cannot read audio: {exc}") from exc
        audios.append((Path(path).name, audio.numpy(), ASR_SAMPLING_RATE))
    return evaluate_audio(audios, texts, recognizer)


def load_speaker(corpus_dir: Path, speaker_id: str | None = None):
    """The corpus speaker (`common.corpus.Speaker`) from `corpus_dir/speakers.json`: the given id, or the
    first English speaker."""
    path = Path(corpus_dir) / "speakers.json"
    try:
        table = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EvaluationError(f"{path}: cannot read the corpus speakers: {exc}") from exc
    english = [k for k, v in table.items() if "en" in v.get("languages", [])]
    key = speaker_id or (english[0] if english else None)
    if key not in table:
        raise EvaluationError(f"{path}: no speaker {speaker_id!r}" if speaker_id
                              else f"{path}: no English speaker")
    v = table[key]
    return Speaker(key, v["variant"], int(v["speed"]), int(v["pitch"]), tuple(v["languages"]))


def espeak_renderings(texts: Sequence[str], speaker, out_dir: Path | None = None) -> list[Path]:
    """espeak-ng's own rendering of each sentence in `speaker`'s voice, as the corpus makes its wavs."""
    out = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="ceiling_"))
    out.mkdir(parents=True, exist_ok=True)
    espeak, paths = find_espeak(), []
    for i, text in enumerate(texts):
        utt = Utterance(f"ceiling_{i}", speaker.id, "en", text, normalize_for_language(text, "en"))
        path = out / f"{utt.id}.wav"
        synthesize(espeak, utt, speaker, path)
        paths.append(path)
    return paths


def phrase_texts(phrases: Path) -> list[str]:
    """The phrases of a file, as ``inference.py -i`` reads them (blank lines skipped)."""
    try:
        lines = Path(phrases).read_text(encoding="utf-8").splitlines()
        found, _ = read_phrases(lines, str(phrases))
    except (OSError, UnicodeDecodeError, SynthesisError) as exc:
        raise EvaluationError(f"{phrases}: cannot read the phrases: {exc}") from exc
    if not found:
        raise EvaluationError(f"{phrases}: no phrases")
    return [p.text for p in found]


def phrase_files(phrases: Path, syn_dir: Path, suffix: str = "") -> tuple[list[str], list[Path]]:
    """The phrases of a file and the wav ``inference.py`` wrote for each: ``syn_dir/audio_<i><suffix>.wav``
    for the i-th phrase. A missing wav is an error naming it."""
    texts = phrase_texts(phrases)
    wavs = [Path(syn_dir) / f"audio_{i}{suffix}.wav" for i in range(len(texts))]
    missing = [str(w) for w in wavs if not w.is_file()]
    if missing:
        raise EvaluationError(f"{len(missing)} of {len(wavs)} wavs for {phrases} are missing, first "
                              f"{missing[0]} (inference.py -i {phrases} -o {syn_dir} writes them)")
    return texts, wavs


def evaluate_with_ceiling(wavs: Sequence[Path], texts: Sequence[str], corpus_dir: Path | None = None,
                          speaker_id: str | None = None) -> tuple[IntelligibilityReport,
                                                                  IntelligibilityReport | None]:
    """Score the wavs and, given the corpus folder, espeak-ng's rendering of the same texts in its voice."""
    recognizer = Recognizer(texts, corpus_vocabulary())
    report = evaluate_files(wavs, texts, recognizer)
    if corpus_dir is None:
        return report, None
    return report, ceiling_report(texts, corpus_dir, recognizer, speaker_id)


def ceiling_report(texts: Sequence[str], corpus_dir: Path, recognizer: Recognizer,
                   speaker_id: str | None = None) -> IntelligibilityReport:
    """The ceiling: espeak-ng's rendering of `texts` in the corpus speaker's voice, scored by `recognizer`."""
    speaker = load_speaker(corpus_dir, speaker_id)
    with tempfile.TemporaryDirectory(prefix="ceiling_") as tmp:
        return evaluate_files(espeak_renderings(texts, speaker, Path(tmp)), texts, recognizer)


def compare(report: IntelligibilityReport, ceiling: IntelligibilityReport | None) -> str:
    """A short table: our scores, the ceiling's, and ours as a fraction of it."""
    rows = [f"intelligibility over {report.n} sentence(s) (pocketsphinx, English):",
            f"  {'':22s}{'WER':>7s}{'PER':>7s}{'closed-set':>12s}",
            f"  {'synthesized':22s}{report.wer:7.3f}{report.per:7.3f}{report.accuracy:12.3f}"]
    if ceiling is not None:
        frac = report.fraction_of(ceiling)
        rows += [f"  {'espeak-ng (ceiling)':22s}{ceiling.wer:7.3f}{ceiling.per:7.3f}{ceiling.accuracy:12.3f}",
                 f"  of the ceiling: word accuracy {frac['word_accuracy']:.2f}, "
                 f"closed-set accuracy {frac['accuracy']:.2f}"]
    return "\n".join(rows)

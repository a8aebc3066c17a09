"""Offline multi-speaker, multilingual speech corpus synthesized with espeak-ng.

Lets the whole suite train and test without downloading LJSpeech. The output has the LJSpeech layout::

    DIR/wavs/<id>.wav          22050 Hz, 16-bit PCM, mono, silence trimmed to ~50 ms margins
    DIR/metadata.csv           id|text|normalized text
    DIR/speakers.json          speaker id -> espeak-ng variant, speed, pitch, languages
    DIR/corpus.json            the settings the wavs were made with (guards resumed runs)
    DIR/filelists/audio_text_{train,val,test}.txt                    wavs/<id>.wav|normalized text
    DIR/filelists/audio_text_speaker_language_{train,val,test}.txt   ...|speaker|language

A speaker is a fixed (espeak-ng voice variant, speed, pitch) triple. With ``speaker_languages="one"``
speaker k records only language k mod L (as in real multilingual corpora, which lets cross-lingual voice
transfer be tested; with fewer speakers S than languages, speaker k takes every language l with
l mod S == k); with ``"all"`` every speaker records every language. Utterances are spread evenly over the
(speaker, language) pairs. Re-running skips wavs that exist.

CLI: ``python -m common.corpus -o DIR --utterances N --speakers S --languages en,fr --seed 1234``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from tqdm import tqdm

from common.audio import trim_silence as audio_trim_silence
from common.data_tools.corpus_text import (
    SUPPORTED_LANGUAGES,
    CorpusTextError,
    check_language,
    generate_sentences,
    normalize_for_language,
)
from common.datasets.convert import reusable_wav_duration
from common.filelist import FilelistEntry, write_filelist

__all__ = [
    "SAMPLING_RATE",
    "CorpusError",
    "CorpusSummary",
    "Speaker",
    "Utterance",
    "build_corpus",
    "find_espeak",
    "list_variants",
    "main",
    "make_speakers",
    "plan_utterances",
    "split_utterances",
    "trim_silence",
]

SAMPLING_RATE = 22050
SPLITS = ("train", "val", "test")
CORPUS_FORMAT = 1

# espeak-ng voice per language code (American English, as LJSpeech).
ESPEAK_VOICES = {"en": "en-us", "fr": "fr-fr", "de": "de", "es": "es", "ko": "ko", "am": "am"}

# Human-sounding espeak-ng variants, alternating male/female; those installed are used in a seeded order.
PREFERRED_VARIANTS = (
    "m1", "f1", "m2", "f2", "m3", "f3", "m4", "f4", "m5", "f5", "m6", "m7", "adam", "Annie", "Andy",
    "Alicia", "benjamin", "linda", "david", "steph", "robert", "anika", "john", "belinda", "edward",
    "Andrea", "travis", "victor", "paul", "rob",
)
SPEEDS = tuple(range(140, 186, 5))  # words per minute (-s); espeak-ng's default is 175
PITCHES = tuple(range(30, 76, 5))  # 0-99 (-p); default 50


class CorpusError(RuntimeError):
    """The corpus cannot be built: missing espeak-ng, bad settings, or failed synthesis."""


@dataclass(frozen=True)
class Speaker:
    """One synthetic voice: an espeak-ng variant at a fixed speed and pitch."""

    id: str
    variant: str
    speed: int
    pitch: int
    languages: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {"variant": self.variant, "speed": self.speed, "pitch": self.pitch,
                "languages": list(self.languages)}


@dataclass(frozen=True)
class Utterance:
    """One corpus item: its id (also the wav name), who says it in which language, and what."""

    id: str
    speaker: str
    language: str
    text: str
    normalized: str

    @property
    def wav_path(self) -> str:
        """The wav path relative to the corpus folder, as written in the filelists."""
        return f"wavs/{self.id}.wav"


@dataclass
class CorpusSummary:
    """What :func:`build_corpus` produced."""

    output_dir: Path
    n_utterances: int
    total_seconds: float
    speakers: list[Speaker]
    per_speaker: dict[str, int]
    per_language: dict[str, int]
    per_split: dict[str, int]
    n_synthesized: int
    n_reused: int
    filelists: dict[str, Path] = field(default_factory=dict)
    elapsed_seconds: float = 0.0

    @property
    def hours(self) -> float:
        return self.total_seconds / 3600.0

    def format(self) -> str:
        """A human-readable report."""
        lines = [
            f"corpus {self.output_dir}: {self.n_utterances} utterances, {self.hours:.3f} h "
            f"({self.total_seconds:.1f} s of audio), {len(self.speakers)} speakers, "
            f"languages {', '.join(self.per_language)}",
            f"  wavs synthesized {self.n_synthesized}, reused {self.n_reused}, "
            f"in {self.elapsed_seconds:.1f} s",
            "  per language: " + ", ".join(f"{k} {v}" for k, v in self.per_language.items()),
            "  per split: " + ", ".join(f"{k} {v}" for k, v in self.per_split.items()),
        ]
        for spk in self.speakers:
            lines.append(
                f"  {spk.id}: variant {spk.variant}, speed {spk.speed}, pitch {spk.pitch}, "
                f"languages {','.join(spk.languages)}: {self.per_speaker.get(spk.id, 0)} utterances"
            )
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------
# espeak-ng


def find_espeak() -> str:
    """Path of the espeak-ng executable, or a CorpusError saying how to install it."""
    path = shutil.which("espeak-ng")
    if path is None:
        raise CorpusError(
            "espeak-ng was not found on PATH; the offline corpus needs it. Install it with "
            "`sudo apt-get install espeak-ng` (Debian/Ubuntu) and run again."
        )
    return path


def list_variants(espeak: str) -> list[str]:
    """Names of the installed espeak-ng voice variants (the part after ``!v/`` in ``--voices=variant``)."""
    proc = subprocess.run([espeak, "--voices=variant"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise CorpusError(f"`espeak-ng --voices=variant` failed: {proc.stderr.strip()}")
    names = []
    for line in proc.stdout.splitlines()[1:]:
        for token in line.split():
            if token.startswith("!v/"):
                names.append(token[3:])
    return names


def _languages_of(k: int, n_speakers: int, languages: Sequence[str]) -> tuple[str, ...]:
    """Languages of speaker k in "one" mode: language k mod L; with fewer speakers than languages, every
    language l with l mod S == k, so that no language is left without a speaker."""
    if n_speakers >= len(languages):
        return (languages[k % len(languages)],)
    return tuple(lang for l, lang in enumerate(languages) if l % n_speakers == k)


def make_speakers(
    n_speakers: int, languages: Sequence[str], seed: int, speaker_languages: str, variants: Sequence[str]
) -> list[Speaker]:
    """Speakers ``spk00``... with distinct (variant, speed, pitch), chosen deterministically from ``seed``.

    ``variants`` are the installed ones; the preferred human-sounding variants among them are used, in an
    order shuffled by ``seed``. An empty list falls back to espeak-ng's default voice for every speaker.
    """
    if speaker_languages not in ("one", "all"):
        raise CorpusError(f"speaker_languages must be 'one' or 'all', got {speaker_languages!r}")
    rng = random.Random(f"corpus-speakers:{seed}")
    installed = set(variants)
    pool = [v for v in PREFERRED_VARIANTS if v in installed] or ["default"]
    rng.shuffle(pool)
    speakers: list[Speaker] = []
    used: set[tuple[str, int, int]] = set()
    for k in range(n_speakers):
        variant = pool[k % len(pool)]
        while True:
            speed, pitch = rng.choice(SPEEDS), rng.choice(PITCHES)
            if (variant, speed, pitch) not in used:
                break
        used.add((variant, speed, pitch))
        langs = _languages_of(k, n_speakers, languages) if speaker_languages == "one" else tuple(languages)
        speakers.append(Speaker(f"spk{k:02d}", variant, speed, pitch, langs))
    return speakers


def plan_utterances(speakers: Sequence[Speaker], languages: Sequence[str], n_utterances: int,
                    seed: int) -> list[Utterance]:
    """Spread ``n_utterances`` evenly over (speaker, language) pairs and give each its own sentence."""
    pairs = [(spk.id, lang) for spk in speakers for lang in spk.languages]
    counts = [n_utterances // len(pairs) + (i < n_utterances % len(pairs)) for i in range(len(pairs))]
    needed = Counter()
    for (_, lang), count in zip(pairs, counts):
        needed[lang] += count
    texts = {lang: iter(generate_sentences(lang, needed[lang], seed)) for lang in languages}
    plan = []
    for (spk, lang), count in zip(pairs, counts):
        for j in range(1, count + 1):
            text = next(texts[lang])
            spoken = normalize_for_language(text, lang)
            plan.append(Utterance(f"{spk}_{lang}_{j:04d}", spk, lang, text, spoken))
    return plan


def trim_silence(audio: np.ndarray, sampling_rate: int = SAMPLING_RATE, threshold_db: float = -40.0,
                 margin_s: float = 0.05, frame: int = 256) -> np.ndarray:
    """Cut leading/trailing frames whose RMS is ``threshold_db`` below the loudest frame.

    Exactly ``margin_s`` seconds are kept before the first and after the last loud frame, padding with
    zeros where the input has less (espeak-ng starts speaking at its first sample).
    """
    return audio_trim_silence(audio, sampling_rate, -threshold_db, margin_s, frame, frame, pad_margins=True)


def synthesize(espeak: str, utterance: Utterance, speaker: Speaker, wav_path: Path) -> float:
    """Speak ``utterance.normalized`` into ``wav_path`` (atomic write); return its duration in seconds."""
    voice = ESPEAK_VOICES[utterance.language]
    if speaker.variant != "default":
        voice = f"{voice}+{speaker.variant}"
    raw = wav_path.with_name(f".{wav_path.stem}.espeak.wav")
    cmd = [espeak, "-v", voice, "-s", str(speaker.speed), "-p", str(speaker.pitch), "-w", str(raw),
           "--", utterance.normalized]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:
            raise CorpusError(f"espeak-ng failed for {utterance.id} (exit {proc.returncode}): "
                              f"{proc.stderr.strip()}")
        audio, rate = sf.read(str(raw), dtype="float32", always_2d=True)
    finally:
        raw.unlink(missing_ok=True)
    audio = audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0]
    if rate != SAMPLING_RATE:
        audio = np.clip(soxr.resample(audio, rate, SAMPLING_RATE), -1.0, 1.0).astype(np.float32)
    audio = trim_silence(audio, SAMPLING_RATE)
    if audio.size == 0 or float(np.max(np.abs(audio))) < 1e-3:
        raise CorpusError(f"espeak-ng produced silence for {utterance.id} (voice {voice}): "
                          f"{utterance.normalized!r}")
    tmp = wav_path.with_name(f".{wav_path.stem}.tmp.wav")
    sf.write(str(tmp), audio, SAMPLING_RATE, subtype="PCM_16", format="WAV")
    os.replace(tmp, wav_path)
    return audio.size / SAMPLING_RATE


# ---------------------------------------------------------------------------------------------------------
# Splits and files


def split_utterances(utterances: Sequence[Utterance], seed: int, val_fraction: float = 0.1,
                     test_fraction: float = 0.1) -> dict[str, list[Utterance]]:
    """Deterministic train/val/test split within every (speaker, language) pair.

    A pair with at least 3 utterances puts at least one in val and one in test (when their fraction is
    positive) and keeps at least one for training. Lists are sorted by id.
    """
    groups: dict[tuple[str, str], list[Utterance]] = {}
    for utt in utterances:
        groups.setdefault((utt.speaker, utt.language), []).append(utt)
    splits: dict[str, list[Utterance]] = {name: [] for name in SPLITS}
    for (spk, lang), items in sorted(groups.items()):
        items = sorted(items, key=lambda u: u.id)
        random.Random(f"corpus-split:{seed}:{spk}:{lang}").shuffle(items)
        n = len(items)
        n_val = n_test = 0
        if n >= 3:
            n_val = max(1, round(n * val_fraction)) if val_fraction > 0 else 0
            n_test = max(1, round(n * test_fraction)) if test_fraction > 0 else 0
            while n_val + n_test > n - 1:
                if n_val >= n_test:
                    n_val -= 1
                else:
                    n_test -= 1
        splits["val"] += items[:n_val]
        splits["test"] += items[n_val:n_val + n_test]
        splits["train"] += items[n_val + n_test:]
    return {name: sorted(items, key=lambda u: u.id) for name, items in splits.items()}


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _check_settings(output_dir: Path, settings: dict[str, object]) -> None:
    """Refuse to mix wavs made with other settings: a resumed run must match the first one."""
    path = output_dir / "corpus.json"
    if path.is_file():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise CorpusError(f"{path}: cannot read the settings of the existing corpus ({err})") from None
        if previous != settings:
            keys = settings.keys() | previous.keys()
            changed = sorted(k for k in keys if settings.get(k) != previous.get(k))
            raise CorpusError(
                f"{output_dir} holds a corpus built with other settings ({', '.join(changed)} differ: "
                f"{ {k: previous.get(k) for k in changed} } there, { {k: settings.get(k) for k in changed} } "
                "now); use a new output folder or delete the old one"
            )
    else:
        _write_text_atomic(path, json.dumps(settings, indent=2) + "\n")


def _parse_languages(languages: str | Sequence[str]) -> list[str]:
    items = languages.split(",") if isinstance(languages, str) else list(languages)
    langs = [lang.strip() for lang in items if lang.strip()]
    if not langs:
        raise CorpusError(f"no language given; supported: {', '.join(SUPPORTED_LANGUAGES)}")
    try:
        for lang in langs:
            check_language(lang)
    except CorpusTextError as err:
        raise CorpusError(str(err)) from None
    if len(set(langs)) != len(langs):
        raise CorpusError(f"language listed twice: {','.join(langs)}")
    return langs


def build_corpus(
    output_dir: str | Path,
    n_utterances: int,
    n_speakers: int,
    languages: str | Sequence[str],
    seed: int = 1234,
    speaker_languages: str = "one",
    jobs: int = 2,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    progress: bool = True,
) -> CorpusSummary:
    """Synthesize the corpus into ``output_dir`` (see the module docstring) and return its summary.

    ``progress`` shows a progress bar and prints the summary.
    """
    started = time.perf_counter()
    langs = _parse_languages(languages)
    if n_utterances < 1:
        raise CorpusError(f"--utterances must be >= 1, got {n_utterances}")
    if n_speakers < 1:
        raise CorpusError(f"--speakers must be >= 1, got {n_speakers}")
    if jobs < 1:
        raise CorpusError(f"--jobs must be >= 1, got {jobs}")
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise CorpusError(f"need 0 <= val_fraction, test_fraction and val + test < 1, got "
                          f"{val_fraction} and {test_fraction}")
    espeak = find_espeak()
    speakers = make_speakers(n_speakers, langs, seed, speaker_languages, list_variants(espeak))
    plan = plan_utterances(speakers, langs, n_utterances, seed)

    out = Path(output_dir)
    wav_dir = out / "wavs"
    wav_dir.mkdir(parents=True, exist_ok=True)
    _check_settings(out, {"format": CORPUS_FORMAT, "seed": seed, "utterances": n_utterances,
                          "speakers": n_speakers, "languages": langs, "speaker_languages": speaker_languages})
    for stale in wav_dir.glob(".*.wav"):  # leftovers of an interrupted run
        stale.unlink(missing_ok=True)

    by_id = {spk.id: spk for spk in speakers}
    durations: dict[str, float] = {}
    todo = []
    for utt in plan:
        existing = reusable_wav_duration(out / utt.wav_path, SAMPLING_RATE, subtype=None)
        if existing is None:
            todo.append(utt)
        else:
            durations[utt.id] = existing
    n_reused = len(durations)

    with ThreadPoolExecutor(max_workers=jobs) as pool, tqdm(
        total=len(todo), disable=not progress, unit="wav", desc="espeak-ng"
    ) as bar:
        futures = {pool.submit(synthesize, espeak, utt, by_id[utt.speaker], out / utt.wav_path): utt
                   for utt in todo}
        for fut in as_completed(futures):
            error = fut.exception()
            if error is not None:
                for other in futures:
                    other.cancel()
                raise error
            durations[futures[fut].id] = fut.result()
            bar.update(1)

    metadata = "".join(f"{u.id}|{u.text}|{u.normalized}\n" for u in plan)
    _write_text_atomic(out / "metadata.csv", metadata)
    speakers_json = {spk.id: spk.to_json() for spk in speakers}
    _write_text_atomic(out / "speakers.json", json.dumps(speakers_json, indent=2, ensure_ascii=False) + "\n")

    splits = split_utterances(plan, seed, val_fraction, test_fraction)
    filelists: dict[str, Path] = {}
    for name, items in splits.items():
        entries = [FilelistEntry(u.wav_path, u.normalized, u.speaker, u.language) for u in items]
        single = out / "filelists" / f"audio_text_{name}.txt"
        multi = out / "filelists" / f"audio_text_speaker_language_{name}.txt"
        write_filelist(single, entries, multi_speaker=False)
        write_filelist(multi, entries, multi_speaker=True)
        filelists[name] = single
        filelists[f"{name}_speaker_language"] = multi

    summary = CorpusSummary(
        output_dir=out,
        n_utterances=len(plan),
        total_seconds=float(sum(durations.values())),
        speakers=speakers,
        per_speaker=dict(Counter(u.speaker for u in plan)),
        per_language={lang: sum(u.language == lang for u in plan) for lang in langs},
        per_split={name: len(items) for name, items in splits.items()},
        n_synthesized=len(todo),
        n_reused=n_reused,
        filelists=filelists,
        elapsed_seconds=time.perf_counter() - started,
    )
    if progress:
        print(summary.format())
    return summary


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m common.corpus",
        description="Synthesize an offline multi-speaker, multilingual LJSpeech-style corpus with espeak-ng.",
    )
    parser.add_argument("-o", "--output", required=True, help="corpus folder (created; re-runs resume)")
    parser.add_argument("--utterances", type=int, default=200, help="number of utterances (default 200)")
    parser.add_argument("--speakers", type=int, default=4, help="number of speakers (default 4)")
    parser.add_argument("--languages", default="en",
                        help=f"comma-separated codes among {','.join(SUPPORTED_LANGUAGES)} (default en)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--speaker-languages", choices=("one", "all"), default="one",
                        help="one: speaker k records language k mod L; all: every speaker every language")
    parser.add_argument("--jobs", type=int, default=2, help="parallel espeak-ng processes (default 2)")
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--test-fraction", type=float, default=0.1)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        summary = build_corpus(
            args.output, args.utterances, args.speakers, args.languages, seed=args.seed,
            speaker_languages=args.speaker_languages, jobs=args.jobs, val_fraction=args.val_fraction,
            test_fraction=args.test_fraction, progress=not args.quiet,
        )
    except CorpusError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.quiet:
        print(summary.format())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

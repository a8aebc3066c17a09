"""Audio conversion for dataset preparation: any common format -> mono 16-bit wav at the target rate.

Decoding uses soundfile (libsndfile reads wav, flac, ogg and, from version 1.1 on, mp3); formats it cannot
read go through librosa/audioread. Then channels are averaged, soxr resamples, an optional energy-based
trim removes leading/trailing silence, and the result is written atomically as PCM_16.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from common.audio import trim_silence as audio_trim_silence
from common.audio_config import DEFAULT_AUDIO
from common.datasets.manifest import (
    DatasetError,
    PrepareReport,
    Utterance,
    read_previous_settings,
    run_parallel,
)

__all__ = [
    "Candidate",
    "ConversionError",
    "ConversionSettings",
    "ConvertResult",
    "ConvertTask",
    "check_previous_settings",
    "convert_candidates",
    "convert_clip",
    "decode_audio",
    "reusable_wav_duration",
    "soundfile_reads",
    "trim_silence",
    "write_pcm16",
]


class ConversionError(DatasetError):
    """A clip that cannot be decoded or converted; the message names the file."""


@dataclass(frozen=True)
class ConversionSettings:
    """How clips are converted and which durations (seconds, after conversion) are kept."""

    sampling_rate: int = DEFAULT_AUDIO.sampling_rate
    trim_silence: bool = False
    trim_top_db: float = 40.0
    trim_margin: float = 0.05
    min_duration: float | None = 0.5
    max_duration: float | None = 15.0
    overwrite: bool = False

    def content_key(self) -> dict[str, Any]:
        """The settings that change the written wavs (a rerun with others must convert again)."""
        key = asdict(self)
        for name in ("min_duration", "max_duration", "overwrite"):
            key.pop(name)
        if not self.trim_silence:
            key.pop("trim_top_db")
            key.pop("trim_margin")
        return key


@dataclass(frozen=True)
class ConvertTask:
    """Convert ``source`` into the wav ``target``."""

    source: str
    target: str
    settings: ConversionSettings


@dataclass(frozen=True)
class ConvertResult:
    """``status`` is ``converted``, ``reused``, ``too_short`` or ``too_long``; ``duration`` in seconds."""

    status: str
    duration: float
    message: str = ""


def soundfile_reads(path: str | Path) -> bool:
    """Whether the installed libsndfile has a reader for this file extension."""
    suffix = Path(path).suffix.lower().lstrip(".")
    formats = {name.lower() for name in sf.available_formats()}
    if suffix in ("mp3", "mpeg"):
        return "mp3" in formats
    return suffix in formats or suffix in ("wav", "wave", "flac", "ogg", "oga", "aif", "aiff", "au")


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence the notes libmpg123 prints straight to file descriptor 2 while a broken mp3 is decoded."""
    fd = 2  # the C library writes to the descriptor, whatever Python's sys.stderr is at the moment
    try:
        saved = os.dup(fd)
    except OSError:
        yield
        return
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stderr.flush()
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def _decode_with_librosa(path: Path) -> tuple[np.ndarray, int]:
    # deferred: librosa is slow to import and only resampling needs it
    import librosa

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        audio, rate = librosa.load(str(path), sr=None, mono=False)
    audio = np.asarray(audio, dtype=np.float32)
    audio = audio[:, None] if audio.ndim == 1 else audio.T
    return audio, int(rate)


def decode_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Decode any readable audio file to float32 samples of shape (frames, channels) and its rate."""
    path = Path(path)
    if not path.exists():
        raise ConversionError(f"{path}: file not found")
    if not path.is_file():
        raise ConversionError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise ConversionError(f"{path}: empty file")
    if soundfile_reads(path):
        try:
            with _quiet_native_stderr():
                audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
        except (sf.SoundFileError, RuntimeError) as exc:
            detail = str(exc).split(": ", 1)[-1] if "Error opening" in str(exc) else str(exc)
            if "does not exist" in detail:  # libsndfile's wording for "no reader recognised the data"
                detail = "not a recognised or intact audio stream"
            raise ConversionError(f"{path}: cannot decode audio ({detail})") from None
        rate = int(rate)
    else:
        try:
            audio, rate = _decode_with_librosa(path)
        except Exception as exc:  # audioread raises assorted backend errors
            raise ConversionError(
                f"{path}: cannot decode audio (libsndfile {sf.__libsndfile_version__} has no reader for "
                f"{path.suffix or 'files without an extension'}, and librosa/audioread failed: "
                f"{type(exc).__name__}: {exc})"
            ) from None
    if audio.shape[0] == 0:
        raise ConversionError(f"{path}: holds no audio samples")
    if not np.all(np.isfinite(audio)):
        raise ConversionError(f"{path}: audio contains NaN or infinite samples")
    return audio, rate


def trim_silence(audio: np.ndarray, sampling_rate: int, top_db: float = 40.0, margin: float = 0.05,
                 frame_length: int = 1024, hop_length: int = 256) -> np.ndarray:
    """Cut leading and trailing audio quieter than ``top_db`` below the loudest frame (frame RMS).

    Keeps every frame from the first to the last loud one, plus ``margin`` seconds each side where the
    input has them. All-silent input comes back empty.
    """
    return audio_trim_silence(audio, sampling_rate, top_db, margin, frame_length, hop_length)


def write_pcm16(path: str | Path, audio: np.ndarray, sampling_rate: int) -> None:
    """Write mono float audio in [-1, 1] as a 16-bit wav (round(x * 32768), clipped); atomic."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.clip(np.round(np.asarray(audio, dtype=np.float64) * 32768.0), -32768, 32767).astype(np.int16)
    tmp = path.with_name(f".{path.stem}.tmp.wav")
    try:
        sf.write(str(tmp), data, int(sampling_rate), subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    except (sf.SoundFileError, RuntimeError, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise ConversionError(f"{path}: cannot write wav ({exc})") from None


def reusable_wav_duration(path: Path, sampling_rate: int, subtype: str | None = "PCM_16") -> float | None:
    """Duration of a non-empty mono wav an earlier run wrote at ``sampling_rate`` (and in ``subtype``, unless
    None), or None when it is missing, unreadable or different (then it is made again)."""
    if not path.is_file():
        return None
    try:
        info = sf.info(str(path))
    except (sf.SoundFileError, RuntimeError):
        return None
    if (info.samplerate != sampling_rate or info.channels != 1 or info.frames == 0
            or (subtype is not None and info.subtype != subtype)):
        return None
    return info.frames / info.samplerate


def _duration_verdict(duration: float, settings: ConversionSettings) -> tuple[str, str] | None:
    if settings.min_duration is not None and duration < settings.min_duration:
        return "too_short", f"{duration:.3f} s < --min-duration {settings.min_duration:g} s"
    if settings.max_duration is not None and duration > settings.max_duration:
        return "too_long", f"{duration:.3f} s > --max-duration {settings.max_duration:g} s"
    return None


def convert_clip(task: ConvertTask) -> ConvertResult:
    """Convert one clip (a worker function); clips outside the duration range are not written."""
    settings = task.settings
    target = Path(task.target)
    if not settings.overwrite:
        duration = reusable_wav_duration(target, settings.sampling_rate)
        if duration is not None:
            verdict = _duration_verdict(duration, settings)
            if verdict is not None:
                return ConvertResult(verdict[0], duration, verdict[1])
            return ConvertResult("reused", duration)

    audio, rate = decode_audio(task.source)
    mono = audio.mean(axis=1, dtype=np.float64) if audio.shape[1] > 1 else audio[:, 0].astype(np.float64)
    if rate != settings.sampling_rate:
        mono = soxr.resample(mono, rate, settings.sampling_rate, quality="HQ")
    mono = np.clip(mono, -1.0, 1.0)
    if settings.trim_silence:
        mono = trim_silence(mono, settings.sampling_rate, settings.trim_top_db, settings.trim_margin)
        if mono.size == 0:
            raise ConversionError(f"{task.source}: silent (nothing left after --trim-silence)")
    duration = mono.size / settings.sampling_rate
    verdict = _duration_verdict(duration, settings)
    if verdict is not None:
        target.unlink(missing_ok=True)  # a stale wav from an earlier run must not linger as if valid
        return ConvertResult(verdict[0], duration, verdict[1])
    write_pcm16(target, mono, settings.sampling_rate)
    return ConvertResult("converted", duration)


# ---------------------------------------------------------------------------------------------------------
# Converting a whole dataset


@dataclass(frozen=True)
class Candidate:
    """An input utterance before conversion; its wav becomes ``wavs/<id>.wav`` in the output folder."""

    id: str
    source: str
    text: str
    speaker: str
    language: str


def check_previous_settings(output_dir: str | Path, settings: ConversionSettings) -> None:
    """Refuse to mix wavs converted with other settings into ``output_dir`` (unless ``--overwrite``)."""
    if settings.overwrite:
        return
    previous = read_previous_settings(output_dir)
    if previous is None or "conversion" not in previous:
        return
    wanted = settings.content_key()
    if previous["conversion"] != wanted:
        raise DatasetError(
            f"{output_dir} holds wavs converted with {previous['conversion']}, but this run asks for "
            f"{wanted}; "
            f"pass --overwrite to convert every clip again (or choose another --output)"
        )


def convert_candidates(candidates: list[Candidate], output_dir: str | Path, settings: ConversionSettings,
                       report: PrepareReport, jobs: int = 1, progress: bool = True) -> list[Utterance]:
    """Convert every candidate into ``OUT/wavs/<id>.wav``; failures and filtered clips go to ``report``."""
    out = Path(output_dir)
    tasks = [ConvertTask(c.source, str(out / "wavs" / f"{c.id}.wav"), settings) for c in candidates]
    results = run_parallel(convert_clip, tasks, jobs=jobs, desc="converting", progress=progress)
    utterances: list[Utterance] = []
    for cand, result in zip(candidates, results):
        if result.error is not None:
            report.skip(cand.source, "unreadable", result.error)
            continue
        outcome = result.value
        assert outcome is not None
        if outcome.status in ("too_short", "too_long"):
            report.skip(cand.source, outcome.status, outcome.message)
            continue
        if outcome.status == "reused":
            report.n_reused += 1
        utterances.append(Utterance(cand.id, f"wavs/{cand.id}.wav", cand.text, cand.speaker, cand.language,
                                    outcome.duration))
    return utterances

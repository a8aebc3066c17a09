"""Wav reading and writing with clear errors.

Audio in memory is a 1-D float32 tensor in [-1, 1]. 16-bit files are scaled by ``max_wav_value`` (32768 by
default, as the reference does); float files are taken as stored. Every problem with a file raises
:class:`AudioError`, whose message names the file and what is wrong with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from common.audio_config import DEFAULT_AUDIO

__all__ = ["AudioError", "AudioInfo", "audio_info", "load_wav", "save_wav"]

# Subtypes whose samples soundfile returns as stored floats (no integer scaling involved).
_FLOAT_SUBTYPES = {"FLOAT", "DOUBLE"}


class AudioError(ValueError):
    """A wav file is missing, unreadable or does not fit what the caller asked for."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class AudioInfo:
    """Header facts of an audio file (read without decoding the samples)."""

    sampling_rate: int
    channels: int
    frames: int
    duration: float
    subtype: str = ""


def audio_info(path: str | Path) -> AudioInfo:
    """Read the header of ``path``; cheap enough to validate a whole dataset before training."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "file not found")
    try:
        info = sf.info(str(path))
    except (sf.SoundFileError, RuntimeError) as exc:
        raise AudioError(path, f"cannot read audio header ({exc})") from exc
    return AudioInfo(
        sampling_rate=int(info.samplerate),
        channels=int(info.channels),
        frames=int(info.frames),
        duration=float(info.frames) / float(info.samplerate),
        subtype=str(info.subtype),
    )


def _read_samples(path: Path, max_wav_value: float) -> tuple[np.ndarray, int, str]:
    """Decode ``path`` to a float array of shape (frames, channels), its sampling rate and subtype."""
    try:
        with sf.SoundFile(str(path)) as f:
            rate = int(f.samplerate)
            subtype = str(f.subtype)
            if subtype == "PCM_16":
                data = f.read(dtype="int16", always_2d=True).astype(np.float32) / np.float32(max_wav_value)
            else:
                # Float files come back as stored; other integer widths with soundfile's full-scale scaling.
                data = f.read(dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError) as exc:
        raise AudioError(path, f"cannot read audio ({exc})") from exc
    return data, rate, subtype


# The fix for a wav of another rate or with several channels: the dataset converter (common/datasets)
# resamples and mixes down to mono. Named in errors, which reach users of the command-line tools.
CONVERT_HINT = ("convert the dataset with `python scripts/prepare_data.py custom`, which resamples to its "
                "--sampling-rate and mixes down to mono")


def load_wav(
    path: str | Path,
    sampling_rate: int | None = DEFAULT_AUDIO.sampling_rate,
    resample: bool = False,
    mix_to_mono: bool = False,
    max_wav_value: float = DEFAULT_AUDIO.max_wav_value,
) -> torch.FloatTensor:
    """Load a mono wav as a 1-D float32 tensor in [-1, 1].

    ``sampling_rate=None`` accepts any rate. A rate different from ``sampling_rate`` is an error unless
    ``resample=True`` (then soxr, high quality, converts it). Multi-channel files are an error unless
    ``mix_to_mono=True`` (then channels are averaged).
    """
    if max_wav_value <= 0:
        raise ValueError(f"max_wav_value must be positive, got {max_wav_value}")
    if resample and sampling_rate is None:
        raise ValueError("resample=True needs a target sampling_rate")
    path = Path(path)
    if not path.exists():
        raise AudioError(path, "file not found")
    if not path.is_file():
        raise AudioError(path, "not a regular file")

    data, rate, subtype = _read_samples(path, max_wav_value)
    frames, channels = data.shape
    if frames == 0:
        raise AudioError(path, "file holds no audio samples")
    if channels != 1:
        if not mix_to_mono:
            raise AudioError(path, f"expected mono audio, got {channels} channels ({CONVERT_HINT})")
        data = data.mean(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
    audio = np.ascontiguousarray(data[:, 0])

    if not np.all(np.isfinite(audio)):
        raise AudioError(path, "audio contains NaN or infinite samples")
    peak = float(np.max(np.abs(audio)))
    if peak > 1.0:
        scaling = f"divided by max_wav_value={max_wav_value:g}" if subtype == "PCM_16" else "taken as stored"
        raise AudioError(
            path, f"samples lie outside [-1, 1] (peak {peak:.6g}; {subtype} samples are {scaling})"
        )

    if sampling_rate is not None and rate != sampling_rate:
        if not resample:
            raise AudioError(
                path, f"sampling rate is {rate} Hz, expected {sampling_rate} Hz ({CONVERT_HINT}; or set "
                      f"--sampling-rate {rate} where every file has that rate)"
            )
        audio = soxr.resample(audio, rate, sampling_rate, quality="HQ").astype(np.float32)
        # Band-limiting can overshoot full-scale input by a hair (Gibbs ripple); keep the [-1, 1] contract.
        np.clip(audio, -1.0, 1.0, out=audio)

    return torch.from_numpy(audio)


def _to_numpy_1d(path: Path, audio: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(audio, torch.Tensor):
        array = audio.detach().to("cpu", torch.float32).numpy()
    else:
        array = np.asarray(audio, dtype=np.float32)
    if array.ndim != 1:
        raise AudioError(path, f"audio to save must be 1-D, got shape {tuple(array.shape)}")
    if not np.all(np.isfinite(array)):
        raise AudioError(path, "audio to save contains NaN or infinite samples")
    return array


def save_wav(
    path: str | Path,
    audio: torch.Tensor | np.ndarray,
    sampling_rate: int,
    subtype: str = "PCM_16",
    normalize: bool = False,
) -> None:
    """Write 1-D float audio to a wav file, creating parent folders.

    ``normalize=True`` scales the peak to 1 (silence stays silence). Integer encodings clip to [-1, 1]
    first; PCM_16 is encoded as round(x * 32768) clipped to int16, the exact inverse of :func:`load_wav`.
    """
    path = Path(path)
    if not isinstance(sampling_rate, int | np.integer) or sampling_rate <= 0:
        raise AudioError(path, f"sampling_rate must be a positive integer, got {sampling_rate!r}")
    if not sf.check_format("WAV", subtype):
        raise AudioError(path, f"subtype {subtype!r} cannot be written to a wav file")
    array = _to_numpy_1d(path, audio)
    if normalize:
        peak = float(np.max(np.abs(array))) if array.size else 0.0
        if peak > 0.0:
            array = array / np.float32(peak)

    if subtype == "PCM_16":
        scaled = np.round(array.astype(np.float64) * 32768.0)
        data: np.ndarray = np.clip(scaled, -32768, 32767).astype(np.int16)
    elif subtype in _FLOAT_SUBTYPES:
        data = array
    else:
        data = np.clip(array, -1.0, 1.0)

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        sf.write(str(path), data, int(sampling_rate), subtype=subtype, format="WAV")
    except (sf.SoundFileError, RuntimeError, OSError) as exc:
        raise AudioError(path, f"cannot write audio ({exc})") from exc


def trim_silence(audio: np.ndarray, sampling_rate: int, top_db: float = 40.0, margin_s: float = 0.05,
                 frame_length: int = 1024, hop_length: int = 256, pad_margins: bool = False) -> np.ndarray:
    """Cut leading and trailing audio quieter than ``top_db`` below the loudest frame (frame RMS).

    Frames of ``frame_length`` samples start every ``hop_length``. Every frame from the first to the last
    loud one is kept, plus ``margin_s`` seconds on each side: only where the input has them, or, with
    ``pad_margins``, always, padding with zeros (for recordings that start speaking at their first sample).
    All-silent input comes back empty.
    """
    if audio.size == 0:
        return audio
    n_frames = 1 + max(0, -(-(audio.size - frame_length) // hop_length))
    padded = np.zeros((n_frames - 1) * hop_length + frame_length, dtype=np.float64)
    padded[: audio.size] = audio
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame_length)[::hop_length]
    rms = np.sqrt(np.mean(frames**2, axis=1))
    peak = float(rms.max())
    if peak <= 0.0:
        return audio[:0]
    loud = np.flatnonzero(rms >= peak * 10.0 ** (-top_db / 20.0))
    margin = int(round(margin_s * sampling_rate))
    start = int(loud[0]) * hop_length - margin
    end = min(audio.size, int(loud[-1]) * hop_length + frame_length) + margin
    kept = audio[max(0, start):min(audio.size, end)]
    if not pad_margins:
        return kept
    return np.pad(kept, (max(0, -start), max(0, end - audio.size)))

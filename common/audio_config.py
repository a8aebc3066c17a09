"""The audio and STFT settings of a run, in one typed object built once from the flags.

The eight numbers (`--sampling-rate`, `--filter-length`, `--hop-length`, `--win-length`, the number of mel
channels (a model flag), `--mel-fmin`, `--mel-fmax`, `--max-wav-value`) decide what a mel is; the data
loaders, `prepare_mels` and synthesis take an `AudioConfig` instead of passing them one by one. The
defaults are the reference's.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from common.stft import MelSTFT


@dataclass(frozen=True)
class AudioConfig:
    """Audio and STFT settings (the reference's defaults)."""

    sampling_rate: int = 22050
    filter_length: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    n_mel_channels: int = 80
    mel_fmin: float = 0.0
    mel_fmax: float = 8000.0
    max_wav_value: float = 32768.0

    @classmethod
    def from_args(cls, args: argparse.Namespace, **overrides: Any) -> AudioConfig:
        """The settings of parsed flags; a flag the parser lacks (e.g. the mel channels, which the models
        define) keeps its default, and `overrides` win over both."""
        values = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
        return cls(**{**values, **overrides})

    def make_stft(self) -> MelSTFT:
        """The log-mel front end of these settings."""
        # deferred: torch takes seconds to import; flag defaults and torch-free checks read only the numbers
        from common.stft import MelSTFT

        return MelSTFT(filter_length=self.filter_length, hop_length=self.hop_length,
                       win_length=self.win_length, n_mel_channels=self.n_mel_channels,
                       sampling_rate=self.sampling_rate, mel_fmin=self.mel_fmin, mel_fmax=self.mel_fmax)

    def as_dict(self) -> dict[str, Any]:
        """The settings as keywords (the loaders' and `Synthesizer`'s parameter names)."""
        return asdict(self)


DEFAULT_AUDIO = AudioConfig()

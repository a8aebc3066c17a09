"""WaveGlow data: filelist -> (mel, audio segment) pairs of a fixed length, ready to stack into batches.

Each item is a random window of ``segment_length`` samples from one utterance (zero-padded at the end when
the utterance is shorter) and the log-mel of exactly that window. The window start is drawn from a
``torch.Generator`` seeded by (seed, epoch, index), so an epoch's segments do not depend on worker count,
loading order or how many epochs ran before: a resumed run sees exactly the segments of an uninterrupted
one. Call ``set_epoch`` before each epoch, and use non-persistent loader workers (the default) so workers
get the new epoch.

A file that cannot be loaded becomes a ``BadItem`` naming its filelist file and line (raising inside a
loader worker would surface as a worker traceback); ``batch_to_device`` raises ``DatasetError`` for it in
the main process, or drops it with ``skip_bad=True``. ``load_item`` raises directly.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from common.audio import load_wav
from common.audio_config import DEFAULT_AUDIO, AudioConfig
from common.data import BadItem, CheckedItems, CollatedBatch, DatasetError, check_bad, split_bad
from common.filelist import FilelistEntry, entries_and_source, resolve_path


def segment_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A CPU generator whose stream depends only on (seed, epoch, index), well mixed by SeedSequence."""
    words = np.random.SeedSequence([seed % 2**64, epoch, index]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(words[0]) << 32 | int(words[1]))


class MelAudioLoader(CheckedItems, Dataset):
    """(mel, audio segment) items of one filelist for WaveGlow training.

    Items: mel (n_mel_channels, segment_length // hop_length + 1) float32, the MelSTFT log-mel of the
    segment, and audio (segment_length,) float32 in [-1, 1]. Equal shapes across items, so torch's default
    collate stacks them; ``MelAudioCollate`` does the same and also passes ``BadItem``s on.
    """

    def __init__(
        self,
        dataset_path: str | Path,
        filelist: str | Path | Sequence[FilelistEntry],
        segment_length: int = 4000,
        sampling_rate: int = DEFAULT_AUDIO.sampling_rate,
        filter_length: int = DEFAULT_AUDIO.filter_length,
        hop_length: int = DEFAULT_AUDIO.hop_length,
        win_length: int = DEFAULT_AUDIO.win_length,
        n_mel_channels: int = DEFAULT_AUDIO.n_mel_channels,
        mel_fmin: float = DEFAULT_AUDIO.mel_fmin,
        mel_fmax: float = DEFAULT_AUDIO.mel_fmax,
        max_wav_value: float = DEFAULT_AUDIO.max_wav_value,
        seed: int = 1234,
    ) -> None:
        if segment_length <= filter_length // 2:
            raise ValueError(
                f"--segment-length {segment_length} must exceed filter_length // 2 = {filter_length // 2} "
                "(the STFT's reflect padding)"
            )
        self.dataset_path = Path(dataset_path)
        self.entries, self.source = entries_and_source(filelist)
        if not self.entries:
            raise DatasetError(f"{self.source}: no utterances")
        self.segment_length = segment_length
        self.sampling_rate = sampling_rate
        self.max_wav_value = max_wav_value
        self.seed = seed
        self.epoch = 0
        self.audio = AudioConfig(sampling_rate, filter_length, hop_length, win_length, n_mel_channels,
                                 mel_fmin, mel_fmax, max_wav_value)
        self.stft = self.audio.make_stft()

    def set_epoch(self, epoch: int) -> None:
        """Choose this epoch's segments (they depend on (seed, epoch, index) only)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.entries)

    def segment(self, audio: torch.Tensor, index: int) -> torch.Tensor:
        """The window of ``segment_length`` samples for item ``index`` this epoch (zero-padded if short)."""
        n = audio.numel()
        if n >= self.segment_length:
            generator = segment_generator(self.seed, self.epoch, index)
            start = int(torch.randint(0, n - self.segment_length + 1, (1,), generator=generator))
            return audio[start : start + self.segment_length]
        return torch.nn.functional.pad(audio, (0, self.segment_length - n))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor] | BadItem:
        entry = self.entries[index]
        path = resolve_path(self.dataset_path, entry.audio_path)
        try:
            audio = load_wav(path, self.sampling_rate, max_wav_value=self.max_wav_value)
        except (OSError, ValueError) as err:
            return BadItem(entry.where, str(err))
        segment = self.segment(audio, index)
        with torch.no_grad():
            mel = self.stft.mel_spectrogram(segment.unsqueeze(0)).squeeze(0)
        return mel, segment


@dataclass
class MelAudioBatch(CollatedBatch):
    """Stacked segments as `MelAudioCollate` makes them (None when no item was usable), with the items it
    left out (`CollatedBatch`)."""

    mel: torch.Tensor | None = None  # (B, n_mel, frames)
    audio: torch.Tensor | None = None  # (B, segment_length)


class MelAudioCollate:
    """Stacks (mel, audio) items into a `MelAudioBatch`; ``BadItem``s are passed on for the main process."""

    def __call__(self, items: list) -> MelAudioBatch:
        good, bad, notes = split_bad(items)
        batch = MelAudioBatch(bad, notes, len(good))
        if good:
            batch.mel = torch.stack([mel for mel, _ in good])
            batch.audio = torch.stack([audio for _, audio in good])
        return batch


def batch_to_device(
    batch: MelAudioBatch | Sequence[torch.Tensor], device: torch.device | str, skip_bad: bool = False
) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor, int] | None:
    """x = (mel, audio), y = audio and the number of audio samples, on ``device``; None if empty.

    Accepts the `MelAudioBatch` of ``MelAudioCollate`` or the [mel, audio] list of torch's default collate.
    """
    if isinstance(batch, MelAudioBatch):
        check_bad(batch.bad, skip_bad)
        if batch.size == 0:
            return None
        mel, audio = batch.mel, batch.audio
    else:
        mel, audio = batch
    mel = mel.to(device, non_blocking=True)
    audio = audio.to(device, non_blocking=True)
    return (mel, audio), audio, audio.numel()


def get_dataset(args: argparse.Namespace, filelist: str | Path) -> MelAudioLoader:
    """The dataset for ``filelist`` with the audio flags of ``args`` (seed 1234 when --seed is unset)."""
    seed = getattr(args, "seed", None)
    return MelAudioLoader(args.dataset_path, filelist, segment_length=args.segment_length,
                          seed=1234 if seed is None else seed, **AudioConfig.from_args(args).as_dict())


def get_collate_fn(args: argparse.Namespace | None = None, training: bool = True) -> MelAudioCollate:
    """The collate for WaveGlow batches (the same for training and validation)."""
    return MelAudioCollate()

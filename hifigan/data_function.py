"""HiFi-GAN data: filelist -> (input mel, audio segment) pairs for GAN training.

Training items are random windows of ``segment_size`` samples (a multiple of the hop length, 8192 in the
reference) and the mel of that window, ``segment_size // hop`` frames: frame j is the suite's
`MelSTFT` frame centred on sample j * hop of the window, so the generator's ``frames * hop`` output
lines up with the window. With ``fine_tuning`` the input mel comes instead from
``input_mels_dir/<wav stem>.pt`` (mels the acoustic model predicted with teacher forcing, one frame per
hop of the wav): a random run of frames is chosen and the audio under it. Validation items
(``segment_size=None``) are whole utterances, cut to whole frames.

Window positions depend only on (seed, epoch, index) (`waveglow.data_function.segment_generator`), so a
resumed run sees the segments of an uninterrupted one. A wav or mel file that cannot be used becomes a
``BadItem`` naming the filelist file and line; `batch_to_device` raises ``DatasetError`` for it (or
drops it with ``skip_bad=True``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from common.audio import load_wav
from common.data import BadItem, CheckedItems, DatasetError, check_bad, split_bad
from common.filelist import FilelistEntry, entries_and_source, resolve_path
from common.stft import MelSTFT
from waveglow.data_function import segment_generator

LOG_MEL_FLOOR = -11.512925464970229  # log(1e-5): the mel value of silence, used to pad short mels


class AudioMelDataset(CheckedItems, Dataset):
    """(mel (n_mel, frames), audio (frames * hop,)) float32 items of one filelist."""

    def __init__(self, dataset_path: str | Path, filelist: str | Path | Sequence[FilelistEntry],
                 segment_size: int | None = 8192, sampling_rate: int = 22050, filter_length: int = 1024,
                 hop_length: int = 256, win_length: int = 1024, n_mel_channels: int = 80,
                 mel_fmin: float = 0.0, mel_fmax: float | None = 8000.0, max_wav_value: float = 32768.0,
                 fine_tuning: bool = False, input_mels_dir: str | Path | None = None,
                 seed: int = 1234) -> None:
        if segment_size is not None and (segment_size <= 0 or segment_size % hop_length):
            raise ValueError(f"--segment-size {segment_size} must be a positive multiple of --hop-length "
                             f"{hop_length}")
        if fine_tuning and input_mels_dir is None:
            raise ValueError("--fine-tuning needs --input-mels-dir")
        self.dataset_path = Path(dataset_path)
        self.entries, self.source = entries_and_source(filelist)
        if not self.entries:
            raise DatasetError(f"{self.source}: no utterances")
        if fine_tuning and not Path(input_mels_dir).is_dir():
            raise DatasetError(f"--input-mels-dir {input_mels_dir}: not a directory")
        self.segment_size = segment_size
        self.hop_length = hop_length
        self.n_mel_channels = n_mel_channels
        self.sampling_rate = sampling_rate
        self.max_wav_value = max_wav_value
        self.fine_tuning = fine_tuning
        self.input_mels_dir = Path(input_mels_dir) if input_mels_dir is not None else None
        self.seed = seed
        self.epoch = 0
        self.stft = MelSTFT(filter_length, hop_length, win_length, n_mel_channels, sampling_rate,
                                 mel_fmin, mel_fmax)

    def set_epoch(self, epoch: int) -> None:
        """Choose this epoch's windows (they depend on (seed, epoch, index) only)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.entries)

    def _start(self, n_choices: int, index: int) -> int:
        if n_choices <= 1:
            return 0
        generator = segment_generator(self.seed, self.epoch, index)
        return int(torch.randint(0, n_choices, (1,), generator=generator))

    def _mel(self, audio: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.stft.mel_spectrogram(audio.unsqueeze(0)).squeeze(0)

    def _from_audio(self, audio: torch.Tensor, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        hop = self.hop_length
        if self.segment_size is None:
            n = max(audio.numel() // hop, 1) * hop
            audio = F.pad(audio, (0, max(0, n - audio.numel())))[:n]
        else:
            n = self.segment_size
            if audio.numel() >= n:
                start = self._start(audio.numel() - n + 1, index)
                audio = audio[start : start + n]
            else:
                audio = F.pad(audio, (0, n - audio.numel()))
        return self._mel(audio)[:, : n // hop], audio

    def _from_mel(self, audio: torch.Tensor, mel: torch.Tensor, index: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        hop = self.hop_length
        frames = mel.size(1) if self.segment_size is None else self.segment_size // hop
        start = self._start(mel.size(1) - frames + 1, index)
        mel = mel[:, start : start + frames]
        if mel.size(1) < frames:
            mel = F.pad(mel, (0, frames - mel.size(1)), value=LOG_MEL_FLOOR)
        audio = audio[start * hop : (start + frames) * hop]
        return mel, F.pad(audio, (0, frames * hop - audio.numel()))

    def load_mel(self, entry: FilelistEntry) -> torch.Tensor:
        """The fine-tuning mel of ``entry``: ``input_mels_dir/<wav stem>.pt``, (n_mel, frames) float32."""
        path = self.input_mels_dir / f"{Path(entry.audio_path).stem}.pt"
        if not path.is_file():
            raise ValueError(f"fine-tuning mel {path} not found (make it with scripts/extract_mels.py)")
        try:
            mel = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any unpickling failure means the same to the user
            raise ValueError(f"cannot load fine-tuning mel {path}: {type(err).__name__}") from None
        if not isinstance(mel, torch.Tensor) or mel.dim() != 2 or mel.size(0) != self.n_mel_channels \
                or mel.size(1) == 0:
            shape = tuple(mel.shape) if isinstance(mel, torch.Tensor) else type(mel).__name__
            raise ValueError(f"fine-tuning mel {path} must be ({self.n_mel_channels}, frames), got {shape}")
        return mel.float()

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor] | BadItem:
        entry = self.entries[index]
        path = resolve_path(self.dataset_path, entry.audio_path)
        try:
            audio = load_wav(path, self.sampling_rate, max_wav_value=self.max_wav_value)
            if self.fine_tuning:
                return self._from_mel(audio, self.load_mel(entry), index)
        except (OSError, ValueError) as err:
            return BadItem(entry.where, str(err))
        return self._from_audio(audio, index)


class AudioMelCollate:
    """Stacks (mel, audio) items into a dict batch (validation items: pads to the longest, audio with
    zeros and mel with the log floor); ``BadItem``s are passed on for the main process."""

    def __call__(self, items: list) -> dict:
        good, bad, notes = split_bad(items)
        batch: dict = {"bad": bad, "notes": notes, "size": len(good)}
        if good:
            frames = max(mel.size(1) for mel, _ in good)
            samples = max(audio.numel() for _, audio in good)
            batch["mel"] = torch.stack([F.pad(mel, (0, frames - mel.size(1)), value=LOG_MEL_FLOOR)
                                        for mel, _ in good])
            batch["audio"] = torch.stack([F.pad(audio, (0, samples - audio.numel())) for _, audio in good])
        return batch


def batch_to_device(batch: dict, device: torch.device | str, skip_bad: bool = False
                    ) -> tuple[torch.Tensor, torch.Tensor, int] | None:
    """(mel, audio (B, 1, T), number of audio samples) on ``device``; None if every item was bad."""
    check_bad(batch["bad"], skip_bad)
    if batch["size"] == 0:
        return None
    audio = batch["audio"].to(device, non_blocking=True).unsqueeze(1)
    return batch["mel"].to(device, non_blocking=True), audio, audio.numel()


def get_dataset(args: argparse.Namespace, filelist: str | Path, training: bool = True) -> AudioMelDataset:
    """The dataset for ``filelist`` from parsed flags (validation: whole utterances)."""
    seed = getattr(args, "seed", None)
    return AudioMelDataset(
        args.dataset_path, filelist, segment_size=args.segment_size if training else None,
        sampling_rate=args.sampling_rate, filter_length=args.filter_length, hop_length=args.hop_length,
        win_length=args.win_length, n_mel_channels=args.n_mel_channels, mel_fmin=args.mel_fmin,
        mel_fmax=args.mel_fmax, max_wav_value=args.max_wav_value, fine_tuning=args.fine_tuning,
        input_mels_dir=args.input_mels_dir, seed=1234 if seed is None else seed)


def get_collate_fn(args: argparse.Namespace | None = None, training: bool = True) -> AudioMelCollate:
    """The collate for HiFi-GAN batches."""
    return AudioMelCollate()

"""VITS data: utterances from the suite's filelists (``path|text`` or ``path|text|speaker|language``) as
phoneme ids (espeak-ng IPA through a Piper-style phoneme_id_map), the linear spectrogram the posterior
encoder reads, and the audio the decoder's segments are cut from.

All texts are phonemized once, when the dataset is built (one espeak-ng run per language), so a bad line
or a missing phoneme stops the run before training starts, naming the filelist line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from common.audio import load_wav
from common.data import DatasetError
from common.filelist import FilelistEntry, read_filelist
from common.text.phonemes import phonemize_many
from vits.text import PhonemeIdError, default_phoneme_id_map, extend_phoneme_id_map, phonemes_to_ids


def linear_spectrogram(audio: Tensor, filter_length: int = 1024, hop_length: int = 256,
                       win_length: int = 1024) -> Tensor:
    """Magnitude spectrogram (B, filter_length // 2 + 1, T // hop) of audio (B, T), VITS's framing:
    reflect padding of (filter_length - hop) / 2 on each side, frames not centred, sqrt(|X|^2 + 1e-6)."""
    pad = (filter_length - hop_length) // 2
    audio = F.pad(audio.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
    window = torch.hann_window(win_length, dtype=audio.dtype, device=audio.device)
    spec = torch.stft(audio, filter_length, hop_length=hop_length, win_length=win_length, window=window,
                      center=False, pad_mode="reflect", normalized=False, onesided=True, return_complex=True)
    return torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + 1e-6)


def speaker_id_map(filelist: str | Path) -> dict[str, int]:
    """Speaker name -> id for a filelist's speakers (sorted names, ids from 0); empty for `path|text`."""
    return {name: i for i, name in enumerate(sorted({e.speaker for e in read_filelist(filelist)
                                                     if e.speaker is not None}))}


def phoneme_id_map_for(filelists: Sequence[str | Path], language: str = "en", n_vocab: int = 256
                       ) -> dict[str, list[int]]:
    """The default phoneme_id_map extended with every phoneme espeak-ng gives the filelists' texts (so a
    new language trains without editing the map); raises PhonemeIdError past ``n_vocab`` ids."""

    by_language: dict[str, list[str]] = {}
    for filelist in filelists:
        for entry in read_filelist(filelist):
            by_language.setdefault(entry.language or language, []).append(entry.text)
    ipa = [p for lang, texts in sorted(by_language.items()) for p in phonemize_many(texts, lang)]
    return extend_phoneme_id_map(default_phoneme_id_map(), ipa, n_vocab=n_vocab)


@dataclass
class VitsItem:
    """One utterance, ready for collation."""

    ids: Tensor  # (T_text,) int64
    spec: Tensor  # (n_fft / 2 + 1, frames)
    audio: Tensor  # (frames * hop,)
    speaker: int


class VitsDataset(torch.utils.data.Dataset):
    """Utterances of a filelist with their phoneme ids, linear spectrogram and audio."""

    def __init__(self, filelist: str | Path, dataset_path: str | Path, phoneme_id_map: dict[str, list[int]],
                 speaker_ids: dict[str, int] | None = None, language: str = "en", sampling_rate: int = 22050,
                 filter_length: int = 1024, hop_length: int = 256, win_length: int = 1024) -> None:

        self.entries: list[FilelistEntry] = read_filelist(filelist)
        if not self.entries:
            raise ValueError(f"{filelist}: the filelist has no utterances")
        self.dataset_path = Path(dataset_path)
        self.speaker_ids = speaker_ids or {}
        self.sampling_rate = sampling_rate
        self.filter_length, self.hop_length, self.win_length = filter_length, hop_length, win_length
        by_language: dict[str, list[int]] = {}
        for i, entry in enumerate(self.entries):
            by_language.setdefault(entry.language or language, []).append(i)
        ipa: list[str] = [""] * len(self.entries)
        for lang, indices in by_language.items():
            for i, phonemes in zip(indices, phonemize_many([self.entries[i].text for i in indices], lang)):
                ipa[i] = phonemes
        self.ipa = ipa
        self.ids: list[list[int]] = []
        for entry, phonemes in zip(self.entries, ipa):
            try:
                self.ids.append(phonemes_to_ids(phonemes, phoneme_id_map, where=entry.where))
            except PhonemeIdError as err:
                raise PhonemeIdError(f"{err} (extend the map with vits.text.extend_phoneme_id_map)") from None
        for entry in self.entries:
            if entry.speaker is not None and self.speaker_ids and entry.speaker not in self.speaker_ids:
                raise ValueError(f"{entry.where}: speaker {entry.speaker!r} is not one of "
                                 f"{', '.join(self.speaker_ids)}")

    def __len__(self) -> int:
        return len(self.entries)

    def _path(self, entry: FilelistEntry) -> Path:
        path = Path(entry.audio_path)
        return path if path.is_absolute() else self.dataset_path / path

    def __getitem__(self, index: int) -> VitsItem:
        entry = self.entries[index]
        audio = load_wav(self._path(entry), self.sampling_rate)
        frames = audio.numel() // self.hop_length
        if frames < 2:
            raise DatasetError(f"{entry.where}: {self._path(entry)} is too short ({audio.numel()} samples)")
        audio = audio[: frames * self.hop_length]
        spec = linear_spectrogram(audio.unsqueeze(0), self.filter_length, self.hop_length, self.win_length)[0]
        speaker = self.speaker_ids.get(entry.speaker, 0) if entry.speaker is not None else 0
        return VitsItem(torch.tensor(self.ids[index], dtype=torch.long), spec[:, :frames], audio, speaker)


@dataclass
class VitsBatch:
    """A padded batch: ids (B, T_text), spec (B, F, T_frames), audio (B, 1, T_frames * hop), lengths and
    speaker ids."""

    ids: Tensor
    id_lengths: Tensor
    spec: Tensor
    spec_lengths: Tensor
    audio: Tensor
    audio_lengths: Tensor
    speakers: Tensor

    def to(self, device: torch.device | str) -> VitsBatch:
        """The batch on ``device``."""
        return VitsBatch(*(getattr(self, f).to(device) for f in self.__dataclass_fields__))


def collate(items: Sequence[VitsItem]) -> VitsBatch:
    """Pad a list of items (longest spectrogram first is not required) into a VitsBatch."""
    b = len(items)
    max_ids = max(i.ids.numel() for i in items)
    max_frames = max(i.spec.size(1) for i in items)
    max_audio = max(i.audio.numel() for i in items)
    ids = torch.zeros(b, max_ids, dtype=torch.long)
    spec = torch.zeros(b, items[0].spec.size(0), max_frames)
    audio = torch.zeros(b, 1, max_audio)
    for k, item in enumerate(items):
        ids[k, : item.ids.numel()] = item.ids
        spec[k, :, : item.spec.size(1)] = item.spec
        audio[k, 0, : item.audio.numel()] = item.audio
    return VitsBatch(ids, torch.tensor([i.ids.numel() for i in items]), spec,
                     torch.tensor([i.spec.size(1) for i in items]), audio,
                     torch.tensor([i.audio.numel() for i in items]), torch.tensor([i.speaker for i in items]))

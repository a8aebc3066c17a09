"""Tacotron 2 data: filelist -> (text ids, mel) items -> padded batches with gate targets.

Items come from wavs (mel computed on the fly) or, with `--load-mel-from-disk`, from precomputed `.pt`
mels (common/data_tools/prepare_mels.py). Transcripts are encoded once, up front, so a transcript without
a single known symbol is reported before training starts, with its file and line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch.utils.data import Dataset

from common.audio import load_wav
from common.audio_config import DEFAULT_AUDIO, AudioConfig
from common.checkpoint import load_untrusted
from common.data import BadItem, DatasetError, NotedItem, check_bad, split_bad
from common.filelist import FilelistEntry, read_filelist, resolve_path
from common.text import (
    SymbolTable,
    text_to_sequence,
)
from common.text.phonemes import prefetch_phonemes
from tacotron2.batch import ConditionedInputs, ConditionedTargets, Inputs, Targets, TextMelBatch
from tacotron2.config import is_conditioned
from tacotron2.loss_function import gate_target_from_lengths
from tacotron2.text import (  # noqa: F401  (public here too)
    Vocabulary,
    build_vocabulary,
    cleaners_for,
    phoneme_symbols,
)


class TextMelLoader(Dataset):
    """Text-mel pairs of one filelist."""

    def __init__(self, dataset_path: str | Path, filelist: str | Path, text_cleaners: list[str],
                 load_mel_from_disk: bool = False, n_mel_channels: int = DEFAULT_AUDIO.n_mel_channels,
                 max_wav_value: float = DEFAULT_AUDIO.max_wav_value,
                 sampling_rate: int = DEFAULT_AUDIO.sampling_rate,
                 filter_length: int = DEFAULT_AUDIO.filter_length,
                 hop_length: int = DEFAULT_AUDIO.hop_length, win_length: int = DEFAULT_AUDIO.win_length,
                 mel_fmin: float = DEFAULT_AUDIO.mel_fmin, mel_fmax: float = DEFAULT_AUDIO.mel_fmax,
                 skip_bad_files: bool = False, *, symbols: list[str] | None = None,
                 max_mel_length: int | None = None, long_mel_length: int | None = None) -> None:
        self.dataset_path = Path(dataset_path)
        # longer mels are skipped (--max-mel-length), or kept with a warning (see check_length)
        self.max_mel_length, self.long_mel_length = max_mel_length, long_mel_length
        self.hop_length = hop_length
        self.table = SymbolTable(symbols) if symbols else None  # None: the 148-symbol reference table
        self.load_mel_from_disk = load_mel_from_disk
        self.n_mel_channels = n_mel_channels
        self.sampling_rate, self.max_wav_value = sampling_rate, max_wav_value
        self.audio = AudioConfig(sampling_rate, filter_length, hop_length, win_length, n_mel_channels,
                                 mel_fmin, mel_fmax, max_wav_value)
        self.stft = self.audio.make_stft()
        self.entries: list[FilelistEntry] = []
        self.texts: list[torch.Tensor] = []
        self.rejected: list[BadItem] = []  # transcripts left out under --skip-bad-files
        space_ids = {i for i, symbol in enumerate(self.table or SymbolTable.default())
                     if symbol.isspace()}
        entries = read_filelist(filelist)
        prefetch_phonemes([e.text for e in entries], text_cleaners)  # one espeak-ng run, not one per line
        for entry in entries:
            ids = self.encode_text(entry, text_cleaners)
            if not ids or space_ids.issuperset(ids):
                reason = (f"transcript is empty after cleaning (only spaces are left of {entry.text[:60]!r})"
                          if ids else f"transcript has no known symbol: {entry.text[:60]!r}")
                bad = BadItem(entry.where, reason, "no_text")
                if not skip_bad_files:
                    raise DatasetError(bad.message + " (use --skip-bad-files to skip such utterances)")
                self.rejected.append(bad)
                continue
            self.entries.append(entry)
            self.texts.append(torch.tensor(ids, dtype=torch.long))
        if not self.entries:
            raise DatasetError(f"{filelist}: no usable utterance")

    def __len__(self) -> int:
        return len(self.entries)

    def encode_text(self, entry: FilelistEntry, text_cleaners: list[str]) -> list[int]:
        """Symbol ids of an entry's transcript: `--text-cleaners`, then the model's symbol table."""
        return text_to_sequence(entry.text, text_cleaners, self.table)

    @property
    def item_languages(self) -> list[str | None]:
        """The language of every item (None for path|text lines), for the language-balanced samplers."""
        return [entry.language for entry in self.entries]

    @property
    def item_lengths(self) -> list[int]:
        """The symbol count of every item's text, for `--sampler bucketed` (it follows the mel length
        closely, and needs no mel to be read)."""
        return [len(text) for text in self.texts]

    def get_mel(self, entry: FilelistEntry) -> torch.Tensor:
        """The (n_mel, frames) log-mel of an entry, loaded or computed."""
        path = resolve_path(self.dataset_path, entry.audio_path)
        if self.load_mel_from_disk:
            mel = load_untrusted(path, "mel")
            if not isinstance(mel, torch.Tensor) or mel.dim() != 2 or mel.size(0) != self.n_mel_channels:
                shape = tuple(mel.shape) if isinstance(mel, torch.Tensor) else type(mel).__name__
                raise ValueError(f"{path}: expected a mel tensor ({self.n_mel_channels}, frames), "
                                 f"got {shape}")
            return mel.float()
        audio = load_wav(path, self.sampling_rate, max_wav_value=self.max_wav_value)
        with torch.no_grad():
            return self.stft.mel_spectrogram(audio.unsqueeze(0)).squeeze(0)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor] | BadItem | NotedItem:
        entry = self.entries[index]
        try:
            mel = self.get_mel(entry)
        except (OSError, ValueError, RuntimeError) as err:
            return BadItem(entry.where, str(err))
        return self.check_length(entry, self.item(index, mel))

    def item(self, index: int, mel: torch.Tensor) -> tuple:
        """The training item of `index`: (text ids, mel)."""
        return self.texts[index], mel

    def check_length(self, entry: FilelistEntry, item: tuple) -> tuple | BadItem | NotedItem:
        """A zero-frame mel is bad; one over --max-mel-length is skipped; a very long one (over
        `long_mel_length`, without --max-mel-length) is kept with a warning naming the flag to set."""
        frames = item[1].size(1)
        if frames == 0:
            return BadItem(entry.where, f"{entry.audio_path}: the mel has 0 frames", "empty_mel")
        if self.max_mel_length is not None and frames > self.max_mel_length:
            return BadItem(entry.where, f"{frames} mel frames, over --max-mel-length {self.max_mel_length}",
                           "too_long")
        if self.max_mel_length is None and self.long_mel_length is not None and frames > self.long_mel_length:
            seconds = frames * self.hop_length / self.sampling_rate
            limit = self.long_mel_length
            note = (f"{entry.where}: {frames} mel frames ({seconds:.0f} s) exceed the {limit} frames the "
                    "model can synthesise (--max-decoder-steps x --n-frames-per-step) and make slow, "
                    f"memory-hungry steps; set --max-mel-length {limit} to skip such utterances")
            return NotedItem(item, note)
        return item


class TextMelCollate:
    """Pads a list of (text ids, mel) into a batch; mel length is rounded up to a multiple of r.

    The gate target is 1 from the last real frame on. BadItems (unreadable, empty or too long, see
    `TextMelLoader.check_length`) and the notes of NotedItems are passed on for the main process to report.
    """

    def __init__(self, n_frames_per_step: int = 1) -> None:
        self.r = n_frames_per_step

    def __call__(self, items: list) -> TextMelBatch:
        good, bad, notes = split_bad(items)
        batch = TextMelBatch(bad, notes, len(good))
        if not good:
            return batch
        input_lengths = torch.tensor([item[0].numel() for item in good], dtype=torch.long)
        text_padded = torch.zeros(len(good), int(input_lengths.max()), dtype=torch.long)
        for i, (text, *_) in enumerate(good):
            text_padded[i, : text.numel()] = text
        n_mel = good[0][1].size(0)
        output_lengths = torch.tensor([item[1].size(1) for item in good], dtype=torch.long)
        max_len = int(output_lengths.max())
        max_len += (-max_len) % self.r
        mel_padded = torch.zeros(len(good), n_mel, max_len)
        for i, (_, mel, *_) in enumerate(good):
            mel_padded[i, :, : mel.size(1)] = mel
        batch.text_padded, batch.input_lengths, batch.mel_padded = text_padded, input_lengths, mel_padded
        batch.gate_padded = gate_target_from_lengths(output_lengths, max_len)
        batch.output_lengths = output_lengths
        if len(good[0]) == 4:  # multi-speaker items: (text, mel, speaker id, language id)
            batch.speaker_ids = torch.tensor([item[2] for item in good], dtype=torch.long)
            batch.language_ids = torch.tensor([item[3] for item in good], dtype=torch.long)
        return batch


def batch_to_device(batch: TextMelBatch, device: torch.device | str, skip_bad: bool = False,
                    ) -> tuple[Inputs | ConditionedInputs, Targets | ConditionedTargets, int] | None:
    """Model input x, loss target y (typed, tacotron2/batch.py) and the number of mel frames, on `device`;
    None if the batch is empty."""
    check_bad(batch.bad, skip_bad)
    if batch.size == 0:
        return None
    to = {"device": device, "non_blocking": True}
    text = batch.text_padded.to(**to)
    input_lengths = batch.input_lengths.to(**to)
    mel = batch.mel_padded.to(**to)
    gate = batch.gate_padded.to(**to)
    output_lengths = batch.output_lengths.to(**to)
    if batch.speaker_ids is not None:  # conditioned: x gains (speaker_ids, language_ids), y the speakers
        speakers = batch.speaker_ids.to(**to)
        x = ConditionedInputs(text, input_lengths, mel, mel.size(2), output_lengths, speakers,
                              batch.language_ids.to(**to))
        y = ConditionedTargets(mel, gate, output_lengths, input_lengths, speakers)
    else:
        x = Inputs(text, input_lengths, mel, mel.size(2), output_lengths)
        y = Targets(mel, gate, output_lengths, input_lengths)
    return x, y, int(batch.output_lengths.sum())


def get_dataset(args: argparse.Namespace, filelist: str | Path, config: dict | None = None,
                training: bool = True) -> TextMelLoader:
    """The dataset for `filelist` with the audio and text flags of `args`.

    A training set skips mels over --max-mel-length; without that flag, mels longer than the model can
    synthesise (--max-decoder-steps x --n-frames-per-step) are kept with a warning naming it.

    Conditioned runs (`tacotron2.arg_parser.is_conditioned`) get a `MultilingualTextMelLoader` with the
    speaker, language and symbol maps of `config` (the model's, e.g. a checkpoint's) or, without one, of
    --training-files. A plain model whose `config` has its own `symbols` (e.g. an extended vocabulary)
    maps text with that table.
    """
    settings = AudioConfig.from_args(args)  # the mel front end's settings, once
    audio = (args.load_mel_from_disk, settings.n_mel_channels, settings.max_wav_value, settings.sampling_rate,
             settings.filter_length, settings.hop_length, settings.win_length, settings.mel_fmin,
             settings.mel_fmax, args.skip_bad_files)
    lengths = {"max_mel_length": args.max_mel_length if training else None,
               "long_mel_length": args.max_decoder_steps * args.n_frames_per_step}
    if is_conditioned(args) or (config and config.get("speakers")):
        if config and config.get("speakers") is not None:
            vocabulary = Vocabulary(list(config["speakers"]), list(config["languages"] or []),
                                    list(config["symbols"]))
        else:
            vocabulary = build_vocabulary(args.training_files, args.text_cleaners)
        return MultilingualTextMelLoader(args.dataset_path, filelist, args.text_cleaners, vocabulary, *audio,
                                         **lengths)
    symbols = list(config["symbols"]) if config and config.get("symbols") else None
    return TextMelLoader(args.dataset_path, filelist, args.text_cleaners, *audio, symbols=symbols, **lengths)


def get_collate_fn(args: argparse.Namespace, training: bool = True) -> TextMelCollate:
    """Collate with the model's reduction factor (the length guard is the training dataset's)."""
    return TextMelCollate(args.n_frames_per_step)


# ------------------------------------------------------------------- multi-speaker, multilingual data

class MultilingualTextMelLoader(TextMelLoader):
    """Text-mel pairs with speaker and language ids: items are (text ids, mel, speaker id, language id).

    Each transcript is cleaned by its language's cleaner and mapped with the vocabulary's symbols; a
    speaker or language the vocabulary (the training filelist) lacks is a DatasetError naming file:line.
    """

    def __init__(self, dataset_path: str | Path, filelist: str | Path, text_cleaners: list[str],
                 vocabulary: Vocabulary, *audio_args, **audio_kwargs) -> None:
        self.vocabulary = vocabulary
        self.speaker_index = {name: i for i, name in enumerate(vocabulary.speakers)}
        self.language_index = {name: i for i, name in enumerate(vocabulary.languages)}
        super().__init__(dataset_path, filelist, text_cleaners, *audio_args, symbols=vocabulary.symbols,
                         **audio_kwargs)
        self.speaker_ids = [self.speaker_index[e.speaker] for e in self.entries]
        self.language_ids = [self.language_index[e.language] for e in self.entries]

    def encode_text(self, entry: FilelistEntry, text_cleaners: list[str]) -> list[int]:
        if entry.speaker is None or entry.language is None:
            raise DatasetError(f"{entry.where}: expected a path|text|speaker|language line (this model is "
                               "multi-speaker)")
        if entry.speaker not in self.speaker_index:
            raise DatasetError(f"{entry.where}: speaker {entry.speaker!r} is not in the training data "
                               f"(known: {', '.join(self.vocabulary.speakers)})")
        if entry.language not in self.language_index:
            raise DatasetError(f"{entry.where}: language {entry.language!r} is not in the training data "
                               f"(known: {', '.join(self.vocabulary.languages)})")
        return text_to_sequence(entry.text, cleaners_for(entry.language, text_cleaners), self.table)

    def item(self, index: int, mel: torch.Tensor) -> tuple:
        """(text ids, mel, speaker id, language id)."""
        return self.texts[index], mel, self.speaker_ids[index], self.language_ids[index]

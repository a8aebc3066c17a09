"""VITS synthesis: text -> espeak-ng phonemes -> Piper phoneme ids -> audio, from one of our VITS
checkpoints (`run.py -m VITS`) or a Piper Lightning checkpoint (with Piper's `config.json`).

`VitsVoice` is the API (`hubconf.vits` returns one); `add_vits_flags` and `run_vits` are
`inference.py --vits CKPT`: one wav per input line, `audio_<i><suffix>.wav`, at the voice's sample rate.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from common.audio import save_wav
from common.checkpoint import CheckpointError
from common.logger import init_logger
from vits.checkpoint import PiperCheckpointError, load_vits_generator
from vits.model import SynthesizerTrn
from vits.text import PhonemeIdError, text_to_ids

DEFAULT_SCALES = {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8}  # Piper's defaults


class VitsVoice:
    """A VITS generator with its voice (phoneme map, speakers, espeak voice, sample rate)."""

    def __init__(self, model: SynthesizerTrn, voice: dict[str, Any],
                 device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.voice = voice
        self.phoneme_id_map: dict[str, list[int]] = voice["phoneme_id_map"]
        self.speaker_id_map: dict[str, int] = dict(voice.get("speaker_id_map") or {})
        self.language: str = voice.get("language") or voice.get("espeak_voice") or "en"
        self.sample_rate = int(voice.get("sample_rate", 22050))

    @classmethod
    def load(cls, checkpoint: str | Path, config_json: str | Path | None = None,
             device: str | torch.device = "cpu") -> VitsVoice:
        """Load a checkpoint (ours or Piper's; CheckpointError naming the file if it is neither)."""
        try:
            model, voice = load_vits_generator(checkpoint, config_json)
        except PiperCheckpointError as err:
            raise CheckpointError(str(err)) from None
        return cls(model, voice, device)

    def speaker_id(self, speaker: str | int | None) -> int | None:
        """A speaker name or id -> the id (None for a single-speaker model; 0 when not given)."""
        n_speakers = self.model.n_speakers
        if n_speakers <= 1:
            if speaker not in (None, "", 0, "0"):
                raise ValueError(f"speaker {speaker!r}: the model has one speaker")
            return None
        if speaker is None or speaker == "":
            return 0
        if isinstance(speaker, str) and speaker in self.speaker_id_map:
            return int(self.speaker_id_map[speaker])
        try:
            sid = int(speaker)
        except ValueError:
            names = ", ".join(self.speaker_id_map) or "the ids"
            raise ValueError(f"speaker {speaker!r} is not one of {names}") from None
        if not 0 <= sid < n_speakers:
            raise ValueError(f"speaker id {sid} is outside 0..{n_speakers - 1}")
        return sid

    def ids(self, text: str, language: str | None = None) -> list[int]:
        """Phoneme ids of ``text`` (espeak-ng IPA in the voice's language; unknown phonemes skipped, as
        Piper's runtimes do)."""
        return text_to_ids(text, language or self.language, self.phoneme_id_map, missing="skip")

    @torch.no_grad()
    def synthesize_ids(self, ids: Sequence[int], speaker: str | int | None = None,
                       noise_scale: float = 0.667, length_scale: float = 1.0, noise_w: float = 0.8) -> Tensor:
        """Audio (samples,) in [-1, 1] of one phoneme id sequence."""
        x = torch.tensor([list(ids)], dtype=torch.long, device=self.device)
        lengths = torch.tensor([x.size(1)], device=self.device)
        sid = self.speaker_id(speaker)
        sid_tensor = None if sid is None else torch.tensor([sid], device=self.device)
        audio = self.model.infer(x, lengths, sid=sid_tensor, noise_scale=noise_scale,
                                 length_scale=length_scale, noise_scale_w=noise_w).audio
        return audio[0, 0].float().cpu()

    def synthesize(self, text: str, speaker: str | int | None = None, language: str | None = None,
                   noise_scale: float = 0.667, length_scale: float = 1.0, noise_w: float = 0.8) -> Tensor:
        """Audio (samples,) of ``text``."""
        return self.synthesize_ids(self.ids(text, language), speaker, noise_scale, length_scale, noise_w)


def add_vits_flags(parser: argparse.ArgumentParser) -> None:
    """`inference.py`'s VITS flags: the checkpoint, Piper's config.json and the three scales."""
    group = parser.add_argument_group("VITS (inference.py --vits CKPT: no Tacotron 2 / WaveGlow)")
    group.add_argument("--vits", default=None, help="VITS checkpoint (run.py -m VITS, or Piper's .ckpt)")
    group.add_argument("--vits-config", default=None,
                       help="Piper's training config.json (phoneme and speaker maps of a Piper .ckpt)")
    group.add_argument("--noise-scale", type=float, default=DEFAULT_SCALES["noise_scale"],
                       help="prior noise (Piper's default 0.667)")
    group.add_argument("--length-scale", type=float, default=DEFAULT_SCALES["length_scale"],
                       help="duration multiplier (> 1 speaks slower)")
    group.add_argument("--noise-w", type=float, default=DEFAULT_SCALES["noise_w"],
                       help="duration predictor noise (Piper's default 0.8)")


def run_vits(args: argparse.Namespace, phrases: Sequence[Any], output: Path, error: type[Exception]) -> int:
    """Synthesise every phrase (``Phrase``: text, line, speaker, language) with ``--vits``; write the wavs
    and the run log. Bad flags and lines raise ``error`` naming them."""
    if args.noise_scale < 0 or args.noise_w < 0 or not args.length_scale > 0:
        raise error("--noise-scale and --noise-w must be >= 0, --length-scale > 0")
    device = "cuda" if torch.cuda.is_available() and not args.cpu else "cpu"
    voice = VitsVoice.load(args.vits, args.vits_config, device)
    if args.seed is not None:
        torch.manual_seed(args.seed)
    output.mkdir(parents=True, exist_ok=True)
    log = init_logger(output / args.log_file, stdout=False)
    try:
        log.log_parameters({"model_name": "VITS", "device": device, **vars(args)})
        total_audio = total_wall = 0.0
        for i, phrase in enumerate(phrases):
            where = phrase.where
            try:
                start = time.perf_counter()
                audio = voice.synthesize(phrase.text, phrase.speaker or args.speaker,
                                         phrase.language or args.language,
                                         args.noise_scale, args.length_scale, args.noise_w)
                wall = time.perf_counter() - start
            except (ValueError, PhonemeIdError) as err:
                raise error(f"{where}: {err}") from None
            name = f"audio_{i}{args.suffix}.wav"
            save_wav(output / name, audio, voice.sample_rate, normalize=True)
            seconds = audio.numel() / voice.sample_rate
            total_audio, total_wall = total_audio + seconds, total_wall + wall
            print(f"{name}: {seconds:.2f} s, line {phrase.line}")
        metrics = {"latency": total_wall, "audio_seconds": total_audio,
                   "rtf_wall_per_audio": total_wall / max(total_audio, 1e-9), "num_phrases": len(phrases)}
        log.log((), metrics)
        print(f"latency {total_wall:.3f} s for {total_audio:.2f} s of audio on {device}; wall/audio "
              f"{metrics['rtf_wall_per_audio']:.3f}", file=sys.stdout)
    finally:
        log.close()
    return 0

"""VITS's recipe: what the trainer, `run.py -m VITS`, the benchmarks and inference ask of this model (the
`ModelRecipe` interface of common/training/recipe.py), registered in common/models.py.

The trained module is ``VitsTrainModel`` (``model_g`` generator, ``model_d`` discriminator: Piper's
Lightning names), with two AdamW optimizers ("generator", "discriminator") and an ExponentialLR each,
stepped per epoch, and its own training step (``vits.train_step.gan_step``). The run's config holds the
generator keywords, ``discriminator_width`` and the voice (phoneme_id_map, speaker_id_map, espeak voice,
sample rate), so a checkpoint is enough to synthesise and to export a Piper voice.

``--piper-checkpoint`` starts from a Piper Lightning checkpoint (its preset, vocabulary and speakers come
from the weights; strict load of both networks); ``--resume-from-single-speaker-checkpoint`` does Piper's
single- to multi-speaker conversion. Both act on a fresh run only: a resumed run continues from its own
checkpoint.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from common.checkpoint import CheckpointError
from common.data import DatasetError
from common.text.phonemes import espeak_voice
from common.training.loop import TrainingSetupError
from common.training.recipe import ModelRecipe, TrainStep
from vits import arg_parser
from vits.checkpoint import (
    PiperCheckpointError,
    infer_generator_keywords,
    load_piper_checkpoint,
    read_lightning_checkpoint,
    resume_from_single_speaker,
    split_state_dict,
)
from vits.data_function import VitsBatch, VitsDataset, collate, phoneme_id_map_for, speaker_id_map
from vits.loss_function import MelLoss, ReconstructionLoss
from vits.model import HOP_LENGTH, SAMPLE_RATE
from vits.monotonic_align import warm_up
from vits.text import PhonemeIdError, default_phoneme_id_map
from vits.train_step import VitsTrainModel, gan_step

OPTIMIZERS = (("generator", "model_g"), ("discriminator", "model_d"))


def _piper_keywords(path: Path, n_speakers: int | None = None) -> dict[str, Any]:
    """The generator keywords of a Piper checkpoint's weights (a one-line CheckpointError otherwise)."""
    try:
        gen, _ = split_state_dict(read_lightning_checkpoint(path)["state_dict"], str(path))
        keywords = infer_generator_keywords(gen, str(path))
    except PiperCheckpointError as err:
        raise CheckpointError(str(err)) from None
    if n_speakers is not None:
        keywords.update(n_speakers=n_speakers, gin_channels=512 if n_speakers > 1 else 0)
    return keywords


def vits_config(args: argparse.Namespace) -> dict[str, Any]:
    """The run's config: generator keywords (from the flags, or from `--piper-checkpoint`'s weights), the
    discriminator width and the voice of the training filelists."""
    # a missing filelist is named by the dataset that reads it, after this
    files = [f for f in (args.training_files, args.validation_files) if f and Path(f).is_file()]
    speakers = speaker_id_map(args.training_files) if args.training_files in files else {}
    if args.n_speakers is None and len(speakers) > 1:
        args.n_speakers = len(speakers)  # the training filelist's speakers
    problem = arg_parser.check_args(args)
    if problem:
        raise TrainingSetupError(problem)
    if (args.n_speakers or 1) > 1 and len(speakers) > args.n_speakers:
        raise TrainingSetupError(f"--n-speakers {args.n_speakers}: --training-files {args.training_files} "
                                 f"names {len(speakers)} speakers")
    if args.hop_length != HOP_LENGTH or args.sampling_rate != SAMPLE_RATE:
        raise TrainingSetupError(f"--hop-length {args.hop_length} / --sampling-rate {args.sampling_rate}: "
                                 f"Piper's VITS presets decode {HOP_LENGTH} samples a frame at "
                                 f"{SAMPLE_RATE} Hz")
    if args.piper_checkpoint is not None:
        keywords = _piper_keywords(args.piper_checkpoint)
        keywords.update(segment_size=args.segment_size // HOP_LENGTH)
        if len(speakers) > keywords["n_speakers"] > 1:
            raise TrainingSetupError(f"--piper-checkpoint {args.piper_checkpoint} has "
                                     f"{keywords['n_speakers']} speakers, --training-files "
                                     f"{args.training_files} {len(speakers)}")
    elif args.resume_from_single_speaker_checkpoint is not None:
        single = _piper_keywords(args.resume_from_single_speaker_checkpoint, n_speakers=args.n_speakers)
        keywords = dict(single, segment_size=args.segment_size // HOP_LENGTH)
    else:
        keywords = arg_parser.model_config(args)
    try:
        id_map = (phoneme_id_map_for(files, args.espeak_language, n_vocab=keywords["n_vocab"]) if files
                  else default_phoneme_id_map())
    except PhonemeIdError as err:
        raise DatasetError(f"--training-files/--validation-files: {err}") from None
    return {**keywords, "discriminator_width": args.discriminator_width, "phoneme_id_map": id_map,
            "speaker_id_map": speakers, "espeak_voice": espeak_voice(args.espeak_language),
            "language": args.espeak_language,
            "sample_rate": args.sampling_rate}


def start_from_piper(model: VitsTrainModel, args: argparse.Namespace) -> None:
    """`--piper-checkpoint` (strict load of both networks) or `--resume-from-single-speaker-checkpoint`
    (Piper's conversion) into a fresh model; nothing without those flags."""
    piper = getattr(args, "piper_checkpoint", None)
    single = getattr(args, "resume_from_single_speaker_checkpoint", None)
    try:
        if piper is not None:
            load_piper_checkpoint(piper, model.model_g, model.model_d)
        elif single is not None:
            gen, disc = split_state_dict(read_lightning_checkpoint(single)["state_dict"], str(single))
            resume_from_single_speaker(gen, model.model_g, disc, model.model_d, source=str(single))
    except PiperCheckpointError as err:
        raise CheckpointError(str(err)) from None


class VitsRecipe(ModelRecipe):
    """VITS (Piper's): phoneme ids and linear spectrograms in, a GAN step per batch."""

    name = "VITS"
    items = "frames"
    tiny_flags = ("--quality", "x-low", "--segment-size", "2048", "--discriminator-width", "0.0625",
                  "--inter-channels", "16", "--hidden-channels", "16", "--filter-channels", "32",
                  "--n-layers", "1", "--upsample-initial-channel", "32")

    def __init__(self) -> None:
        self._mel_loss: MelLoss | None = None

    def add_arguments(self, parent: argparse.ArgumentParser,
                      add_help: bool = False) -> argparse.ArgumentParser:
        """The general flags plus VITS's (vits/arg_parser.py)."""
        return arg_parser.vits_parser(parent, add_help)

    def model_config(self, args: argparse.Namespace) -> dict:
        """`vits_config`: generator keywords, discriminator width, voice."""
        return vits_config(args)

    def build(self, config: Mapping[str, Any]) -> nn.Module:
        """`VitsTrainModel(config)`."""
        return VitsTrainModel(config)

    def configure(self, model: nn.Module, args: argparse.Namespace) -> None:
        """Start from a Piper checkpoint when asked (a resumed run then loads its own weights over it);
        compile the MAS kernel before the first step (`vits.monotonic_align.warm_up`: bitwise resumes)."""
        start_from_piper(model, args)
        warm_up()

    def step_hook(self, model: nn.Module, args: argparse.Namespace, step: int, rank: int) -> dict[str, float]:
        """Nothing per step (``configure`` loads weights: once, at build)."""
        return {}

    def optimizers(self, model: nn.Module, parameters: list[nn.Parameter],
                   args: argparse.Namespace) -> dict[str, torch.optim.Optimizer]:
        """Piper's AdamW per network (betas --adam-betas, eps --adam-eps, AdamW's weight decay 0.01)."""
        trainable = {id(p) for p in parameters}
        betas, eps = tuple(args.adam_betas), args.adam_eps
        return {name: torch.optim.AdamW([p for p in getattr(model, attr).parameters() if id(p) in trainable],
                                        lr=args.learning_rate, betas=betas, eps=eps)
                for name, attr in OPTIMIZERS}

    def schedulers(self, optimizers: Mapping[str, torch.optim.Optimizer],
                   args: argparse.Namespace) -> dict[str, Any]:
        """ExponentialLR(--lr-decay) per optimizer, once per epoch (Piper's)."""
        return {name: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=args.lr_decay)
                for name, opt in optimizers.items()}

    def train_step(self, step: TrainStep) -> dict[str, float]:
        """Discriminator, then generator (`gan_step`); "loss" is c_mel * mel L1 + c_kl * KL."""
        model, args = step.model, step.args
        if self._mel_loss is None:
            self._mel_loss = MelLoss(sampling_rate=args.sampling_rate, hop_length=args.hop_length)
        mel_loss = self._mel_loss.to(step.x.audio.device)
        losses = gan_step(model.model_g, model.model_d, step.x, step.optimizers["generator"],
                          step.optimizers["discriminator"], mel_loss, c_mel=args.c_mel, c_kl=args.c_kl,
                          scalers=(step.scalers["generator"], step.scalers["discriminator"]),
                          autocast=step.autocast, sync=step.sync_gradients)
        return {"loss": losses["loss_g_mel"] + losses["loss_g_kl"], **losses}

    def criterion(self, args: argparse.Namespace) -> ReconstructionLoss:
        """Validation: the same c_mel * mel L1 + c_kl * KL as the training "loss"."""
        return ReconstructionLoss(args.c_mel, args.c_kl, args.sampling_rate, args.hop_length)

    def dataset(self, args: argparse.Namespace, filelist: str, config: dict | None = None,
                training: bool = True) -> torch.utils.data.Dataset:
        """The filelist's utterances as phoneme ids (the config's map), spectrograms and audio."""
        config = config or {}
        try:
            return VitsDataset(filelist, args.dataset_path, config.get("phoneme_id_map")
                               or default_phoneme_id_map(), speaker_ids=config.get("speaker_id_map") or None,
                               language=args.espeak_language, sampling_rate=args.sampling_rate,
                               filter_length=args.filter_length, hop_length=args.hop_length,
                               win_length=args.win_length)
        except (PhonemeIdError, ValueError) as err:
            raise DatasetError(str(err)) from None

    def collate(self, args: argparse.Namespace, training: bool = True):
        """`vits.data_function.collate` (a padded `VitsBatch`)."""
        return collate

    def batch_to_device(self, batch: Any, device: torch.device, skip_bad: bool = False) -> tuple | None:
        """(batch, batch, spectrogram frames) on the device."""
        batch = batch.to(device)
        return batch, batch, int(batch.spec_lengths.sum())

    def batch_size_of(self, x: VitsBatch) -> int:
        """Utterances in the batch."""
        return int(x.ids.size(0))

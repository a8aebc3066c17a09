"""Tacotron 2's recipe: what the trainer, `run.py`, the benchmarks and inference ask of this model
(the `ModelRecipe` interface of common/training/recipe.py), registered in common/models.py."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from common.data import DatasetError
from common.training.recipe import FineTuneRules, ModelRecipe
from tacotron2 import data_function
from tacotron2.arg_parser import tacotron2_parser
from tacotron2.batch import ConditionedInputs, Inputs
from tacotron2.config import model_config
from tacotron2.fast_decoder import set_decoder_impl
from tacotron2.finetune import finetune_rules
from tacotron2.loss_function import SpeakerAdversarialCriterion, Tacotron2Criterion
from tacotron2.multilingual import build_tacotron2
from tacotron2.samplers import build_sampler
from tacotron2.teacher_forcing import teacher_forcing_ratio
from tacotron2.validation import batch_val_metrics, validation_mcd


class Tacotron2Recipe(ModelRecipe):
    """Tacotron 2, plain or multi-speaker/multilingual.

    The model class follows the config: `tacotron2.multilingual.build_tacotron2` builds the reference
    `Tacotron2` for the reference keywords and `MultilingualTacotron2` when the config holds any of its
    extra keys (speakers, languages, symbols, embedding sizes, encoder type, classifier), which
    `tacotron2.config.model_config` adds for conditioned flags. The same rule rebuilds a model from a
    checkpoint's config.
    """

    name = "Tacotron2"
    items = "mels"
    tiny_flags = (
        "--symbols-embedding-dim", "32", "--encoder-embedding-dim", "32", "--encoder-n-convolutions", "1",
        "--attention-rnn-dim", "64", "--decoder-rnn-dim", "64", "--prenet-dim", "32",
        "--attention-dim", "16", "--attention-location-n-filters", "4",
        "--attention-location-kernel-size", "5", "--postnet-embedding-dim", "32",
        "--postnet-n-convolutions", "2", "--n-frames-per-step", "3",
    )

    def add_arguments(self, parent: argparse.ArgumentParser,
                      add_help: bool = False) -> argparse.ArgumentParser:
        """The general flags plus Tacotron 2's (tacotron2/arg_parser.py)."""
        return tacotron2_parser(parent, add_help)

    def model_config(self, args: argparse.Namespace) -> dict:
        """tacotron2/config.py's `model_config`."""
        return model_config(args)

    def build(self, config: Mapping[str, Any]) -> nn.Module:
        """`Tacotron2` or `MultilingualTacotron2`, as the config says."""
        return build_tacotron2(**config)

    def configure(self, model: nn.Module, args: argparse.Namespace) -> None:
        """--decoder-impl: eager (the reference step loop) or fast (tacotron2/fast_decoder.py)."""
        impl = getattr(args, "decoder_impl", None)  # benchmarks and inference parse without this flag
        if impl is not None:
            set_decoder_impl(model, impl)

    def finetune_rules(self) -> FineTuneRules:
        """tacotron2/finetune.py: the symbol and speaker embeddings, the conditioning merges."""
        return finetune_rules()

    def criterion(self, args: argparse.Namespace) -> Tacotron2Criterion:
        """The reference loss plus guided attention, and the adversarial speaker classifier when weighted."""
        guided = (args.guided_attention_weight, args.guided_attention_sigma, args.guided_attention_decay)
        if args.speaker_classifier_weight > 0:
            return SpeakerAdversarialCriterion(args.mask_padding, *guided,
                                               speaker_classifier_weight=args.speaker_classifier_weight)
        return Tacotron2Criterion(args.mask_padding, *guided)

    def dataset(self, args: argparse.Namespace, filelist: str, config: dict | None = None,
                training: bool = True) -> torch.utils.data.Dataset:
        """tacotron2/data_function.py's `get_dataset`."""
        return data_function.get_dataset(args, filelist, config, training)

    def collate(self, args: argparse.Namespace, training: bool = True):
        """The padding collate with gate targets."""
        return data_function.get_collate_fn(args, training)

    def sampler(self, dataset: torch.utils.data.Dataset, args: argparse.Namespace, rank: int,
                world_size: int) -> torch.utils.data.Sampler | None:
        """--sampler: language-balanced, perfect or bucketed batches (tacotron2/samplers.py), else None."""
        kind = args.sampler
        if kind == "default":
            return None
        # a dataset without language labels or item lengths has None for them
        languages = getattr(dataset, "item_languages", None)
        lengths = getattr(dataset, "item_lengths", None) if kind == "bucketed" else None
        if kind == "bucketed" and lengths is None:
            raise DatasetError(f"--sampler bucketed: this model's data has no item lengths "
                               f"(--training-files {args.training_files})")
        if kind != "bucketed" and languages is None:
            raise DatasetError(f"--sampler {kind}: this model's data has no languages "
                               f"(--training-files {args.training_files})")
        try:
            return build_sampler(kind, languages, args.batch_size, rank, world_size, seed=args.seed or 0,
                                 lengths=lengths)
        except DatasetError as err:
            raise DatasetError(f"--training-files {args.training_files}: {err}") from None

    def batch_to_device(self, batch: Any, device: torch.device, skip_bad: bool = False) -> tuple | None:
        """(x, y, mel frames) on the device."""
        return data_function.batch_to_device(batch, device, skip_bad)

    def batch_size_of(self, x: Inputs | ConditionedInputs) -> int:
        """The text batch's first dimension."""
        return x.text.size(0)

    def rejected_items(self, dataset: torch.utils.data.Dataset) -> list:
        """Transcripts left out under --skip-bad-files (no known symbol)."""
        return list(dataset.rejected)

    def criterion_step(self, criterion: Tacotron2Criterion, step: int) -> None:
        """The guided-attention weight decays per optimizer step."""
        criterion.set_step(step)

    def loss_parts(self, criterion: Tacotron2Criterion) -> dict[str, float]:
        """mel, postnet mel and gate terms (and guided attention, the speaker classifier when on)."""
        return criterion.last_parts

    def loss_metrics(self, criterion: Tacotron2Criterion) -> dict[str, float]:
        """The adversarial speaker classifier's accuracy, when there is one."""
        return criterion.last_metrics if isinstance(criterion, SpeakerAdversarialCriterion) else {}

    def step_hook(self, model: nn.Module, args: argparse.Namespace, step: int, rank: int) -> dict[str, float]:
        """Set this step's teacher-forcing ratio (seeded per step and rank, so resumed runs match);
        --decoder-impl is applied once, by `configure` when the model is built."""
        if not hasattr(model, "set_teacher_forcing"):  # the plain reference model has no schedule
            return {}
        ratio = teacher_forcing_ratio(step, args.teacher_forcing, args.teacher_forcing_start_step,
                                      args.teacher_forcing_end_step, args.teacher_forcing_final_ratio)
        model.set_teacher_forcing(ratio, seed=((args.seed or 0) * 1000003 + step) * 1024 + rank)
        return {"teacher_forcing_ratio": ratio}

    def val_metrics(self, x: Any, y_pred: Any) -> dict[str, float]:
        """Alignment diagnostics of the teacher-forced attention, and the speaker classifier's accuracy."""
        return batch_val_metrics(x, y_pred)

    def free_running_metrics(self, model: nn.Module, dataset: Any, args: argparse.Namespace,
                             device: torch.device, rank: int,
                             world_size: int) -> dict[str, tuple[float, int]]:
        """val_mcd over this rank's share of the first --val-mcd-utterances validation utterances."""
        n = args.val_mcd_utterances
        if not n:
            return {}
        return {"val_mcd": validation_mcd(model, dataset, n, device, rank, world_size, seed=args.seed or 0)}

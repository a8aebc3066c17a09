"""WaveGlow's recipe: what the trainer, `run.py`, the benchmarks and inference ask of this model
(the `ModelRecipe` interface of common/training/recipe.py), registered in common/models.py."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from common.training.recipe import ModelRecipe
from waveglow import data_function
from waveglow.arg_parser import model_config, waveglow_parser
from waveglow.loss_function import WaveGlowLoss
from waveglow.model import WaveGlow


class WaveGlowRecipe(ModelRecipe):
    """WaveGlow: random audio segments and their mels, the flow's negative log-likelihood."""

    name = "WaveGlow"
    items = "samples"
    tiny_flags = ("--flows", "4", "--groups", "8", "--early-every", "2", "--early-size", "2",
                  "--wn-layers", "2", "--wn-channels", "16", "--segment-length", "2048")

    def add_arguments(self, parent: argparse.ArgumentParser,
                      add_help: bool = False) -> argparse.ArgumentParser:
        """The general flags plus WaveGlow's (waveglow/arg_parser.py)."""
        return waveglow_parser(parent, add_help)

    def model_config(self, args: argparse.Namespace) -> dict:
        """waveglow/arg_parser.py's `model_config`."""
        return model_config(args)

    def build(self, config: Mapping[str, Any]) -> nn.Module:
        """`WaveGlow(**config)`."""
        return WaveGlow(**config)

    def criterion(self, args: argparse.Namespace) -> WaveGlowLoss:
        """The flow's negative log-likelihood at --sigma."""
        return WaveGlowLoss(args.sigma)

    def dataset(self, args: argparse.Namespace, filelist: str, config: dict | None = None,
                training: bool = True) -> torch.utils.data.Dataset:
        """Random segments of the filelist's audio (the same for training and validation)."""
        return data_function.get_dataset(args, filelist)

    def collate(self, args: argparse.Namespace, training: bool = True):
        """The (mel, audio) collate."""
        return data_function.get_collate_fn(args, training)

    def batch_to_device(self, batch: Any, device: torch.device, skip_bad: bool = False) -> tuple | None:
        """((mel, audio), audio, samples) on the device."""
        return data_function.batch_to_device(batch, device, skip_bad)

    def start_epoch(self, dataset: torch.utils.data.Dataset, epoch: int) -> None:
        """Each epoch draws its own random segments (a function of seed, epoch and item)."""
        dataset.set_epoch(epoch)

    def batch_size_of(self, x: Any) -> int:
        """The audio batch's first dimension."""
        return x[1].size(0)

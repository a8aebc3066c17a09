"""A toy model of a GAN vocoder's shape, registered by tests: a generator and a discriminator, two AdamW
optimizers with per-epoch ExponentialLR schedules, and its own training step that alternates a
discriminator update and a generator update (least-squares GAN loss plus L1, as HiFi-GAN trains)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from common.filelist import read_filelist
from common.training.recipe import ModelRecipe, TrainStep

DIM = 8


class ToyGan(nn.Module):
    """generator: condition (B, 8) -> output (B, 8); discriminator: (B, 8) -> realness (B, 1)."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.generator = nn.Sequential(nn.Linear(DIM, width), nn.Tanh(), nn.Linear(width, DIM))
        self.discriminator = nn.Sequential(nn.Linear(DIM, width), nn.LeakyReLU(0.1), nn.Linear(width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.generator(x)


class ToyData(torch.utils.data.Dataset):
    """One (condition, target) pair per filelist line, drawn from a generator seeded with the line number."""

    def __init__(self, filelist: str | Path) -> None:
        self.n = len(read_filelist(filelist))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(index)
        x = torch.randn(DIM, generator=gen)
        return x, torch.sin(2.0 * x) + 0.1 * torch.randn(DIM, generator=gen)


class ToyGanRecipe(ModelRecipe):
    """The registry's interface for a two-optimizer model."""

    name = "ToyGAN"
    items = "pairs"

    def add_arguments(self, parent: argparse.ArgumentParser,
                      add_help: bool = False) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(parents=[parent], add_help=add_help, allow_abbrev=False)
        parser.add_argument("--toy-width", type=int, default=16)
        parser.add_argument("--lr-decay", type=float, default=0.9)
        return parser

    def model_config(self, args: argparse.Namespace) -> dict:
        return {"width": args.toy_width}

    def build(self, config: Mapping[str, Any]) -> nn.Module:
        return ToyGan(**config)

    def optimizers(self, model: nn.Module, parameters: list[nn.Parameter],
                   args: argparse.Namespace) -> dict[str, torch.optim.Optimizer]:
        trainable = {id(p) for p in parameters}
        return {name: torch.optim.AdamW([p for p in getattr(model, name).parameters() if id(p) in trainable],
                                        lr=args.learning_rate, betas=(0.8, 0.99))
                for name in ("generator", "discriminator")}

    def schedulers(self, optimizers: Mapping[str, torch.optim.Optimizer],
                   args: argparse.Namespace) -> dict[str, Any]:
        return {name: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=args.lr_decay)
                for name, opt in optimizers.items()}

    def train_step(self, step: TrainStep) -> dict[str, float]:
        model, x, y = step.model, step.x, step.y
        g_opt, d_opt = step.optimizers["generator"], step.optimizers["discriminator"]
        g_scaler, d_scaler = step.scalers["generator"], step.scalers["discriminator"]
        with step.autocast():
            fake = model.generator(x)
        d_opt.zero_grad(set_to_none=True)
        with step.autocast():
            real, generated = model.discriminator(y), model.discriminator(fake.detach())
            d_loss = ((real - 1) ** 2).mean() + (generated ** 2).mean()
        d_scaler.scale(d_loss).backward()
        step.sync_gradients(model.discriminator)
        d_scaler.step(d_opt)
        d_scaler.update()
        g_opt.zero_grad(set_to_none=True)
        with step.autocast():
            adversarial = ((model.discriminator(fake) - 1) ** 2).mean()
            l1 = F.l1_loss(fake, y)
            g_loss = adversarial + 10.0 * l1
        g_scaler.scale(g_loss).backward()
        step.sync_gradients(model.generator)
        g_scaler.step(g_opt)
        g_scaler.update()
        return {"loss": l1.item(), "generator": g_loss.item(), "discriminator": d_loss.item()}

    def criterion(self, args: argparse.Namespace):
        return lambda y_pred, y: F.l1_loss(y_pred, y)

    def dataset(self, args: argparse.Namespace, filelist: str, config: dict | None = None,
                training: bool = True) -> torch.utils.data.Dataset:
        return ToyData(filelist)

    def batch_to_device(self, batch: Any, device: torch.device, skip_bad: bool = False) -> tuple | None:
        x, y = batch
        return x.to(device), y.to(device), int(x.size(0))

    def batch_size_of(self, x: Any) -> int:
        return int(x.size(0))

"""HiFi-GAN's recipe: `run.py -m HiFiGAN` (the `ModelRecipe` interface of common/training/recipe.py).

The model is `hifigan.model.HiFiGAN` (generator, MPD, MSD, optional EMA generator). Two AdamW optimizers
("generator", "discriminator") with the reference's betas, an ExponentialLR each (`--lr-decay`, stepped
once per epoch by the trainer), and the reference's own step (`hifigan.train_step.two_player_step`): the
discriminators, then the generator, each clipped at `--grad-clip-thresh` with the warm-up applied, each
with its own GradScaler under `--amp` on CUDA. `--grad-accumulation N` splits every batch of `-bs` items
into N micro-batches whose gradients are averaged (one optimizer step per batch).

Logged per iteration: `loss_gen`, `loss_discrim`, `loss_mel` (the reference's names; `loss_mel` is the
unweighted mel L1), `train_loss` (= the mel L1), the loss parts as `train_loss_*` and both gradient norms;
`val_loss` is the mel L1 of whole validation utterances; `train_items_per_sec` counts audio samples.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from common.training.loop import TrainingSetupError
from common.training.recipe import ModelRecipe, TrainStep
from hifigan import data_function
from hifigan.arg_parser import check_args, hifigan_parser
from hifigan.arg_parser import model_config as generator_config
from hifigan.loss_function import MelLoss, mel_l1
from hifigan.model import HiFiGAN
from hifigan.train_step import two_player_step, warmup_factor

GENERATOR, DISCRIMINATOR = "generator", "discriminator"


class HiFiGANRecipe(ModelRecipe):
    """HiFi-GAN: 8192-sample windows and their mels, the two-player GAN step."""

    name = "HiFiGAN"
    items = "samples"
    tiny_flags = ("--hifigan-preset", "V3", "--upsample-initial-channel", "16", "--resblock-kernel-sizes",
                  "3", "--resblock-dilation-sizes", "[[1,2]]", "--mpd-periods", "2", "3",
                  "--discriminator-width", "0.0625", "--segment-size", "2048", "--warmup-steps", "0")
    accumulates_gradients = True  # --grad-accumulation splits each batch (see the module docstring)

    def __init__(self) -> None:
        self._mel_loss: MelLoss | None = None

    def add_arguments(self, parent: argparse.ArgumentParser,
                      add_help: bool = False) -> argparse.ArgumentParser:
        """The general flags plus HiFi-GAN's (hifigan/arg_parser.py)."""
        return hifigan_parser(parent, add_help)

    def model_config(self, args: argparse.Namespace) -> dict:
        """{"generator": config, "mpd_periods", "discriminator_width", "ema"} after the cross-flag checks
        (a bad combination is one line naming the flag)."""
        try:
            check_args(args)
            accumulation = getattr(args, "grad_accumulation", None) or 1
            if (getattr(args, "batch_size", None) or accumulation) % accumulation:
                raise ValueError(f"--grad-accumulation {accumulation} must divide -bs/--batch-size "
                                 f"{args.batch_size} (each batch is split into that many micro-batches)")
            generator = generator_config(args)
        except ValueError as err:
            raise TrainingSetupError(str(err)) from None
        return {"generator": generator, "mpd_periods": list(args.mpd_periods),
                "discriminator_width": float(args.discriminator_width), "ema": args.ema_decay > 0}

    def build(self, config: Mapping[str, Any]) -> nn.Module:
        """`HiFiGAN(**config)`."""
        return HiFiGAN(**config)

    # ------------------------------------------------------------------------------------ optimisation

    def optimizers(self, model: nn.Module, parameters: list[nn.Parameter],
                   args: argparse.Namespace) -> dict[str, torch.optim.Optimizer]:
        """AdamW for the generator and for both discriminators, betas `--adam-betas` (0.8, 0.99)."""
        trainable = {id(p) for p in parameters}
        betas = (float(args.adam_betas[0]), float(args.adam_betas[1]))

        def adamw(modules: list[nn.Module]) -> torch.optim.AdamW:
            params = [p for m in modules for p in m.parameters() if id(p) in trainable]
            return torch.optim.AdamW(params, lr=args.learning_rate, betas=betas,
                                     weight_decay=args.weight_decay)

        return {GENERATOR: adamw([model.generator]), DISCRIMINATOR: adamw([model.mpd, model.msd])}

    def schedulers(self, optimizers: Mapping[str, torch.optim.Optimizer],
                   args: argparse.Namespace) -> dict[str, Any]:
        """ExponentialLR(`--lr-decay`) per optimizer, stepped once per epoch."""
        return {name: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=args.lr_decay)
                for name, opt in optimizers.items()}

    def mel_loss(self, args: argparse.Namespace) -> MelLoss:
        """The loss mel (`--mel-fmax-loss`, the run's STFT flags), made once."""
        if self._mel_loss is None:
            self._mel_loss = MelLoss(args.filter_length, args.hop_length, args.win_length,
                                     args.n_mel_channels, args.sampling_rate, args.mel_fmin,
                                     args.mel_fmax_loss)
        return self._mel_loss

    def train_step(self, step: TrainStep) -> dict[str, float]:
        """The discriminators' update, then the generator's (`two_player_step`), over `--grad-accumulation`
        micro-batches of the batch; then the EMA generator, if any."""
        model, args = step.model, step.args
        mel_loss = self.mel_loss(args).to(step.x.device)
        parts = max(1, int(args.grad_accumulation))
        micro = list(zip(step.x.chunk(parts), step.y.chunk(parts), strict=True))
        totals = two_player_step(
            model.generator, model.mpd, model.msd, mel_loss, step.optimizers[GENERATOR],
            step.optimizers[DISCRIMINATOR], micro, args.grad_clip_thresh,
            warmup_factor(step.global_step, args.warmup_steps), scaler_g=step.scalers[GENERATOR],
            scaler_d=step.scalers[DISCRIMINATOR], autocast=step.autocast, sync=step.sync_gradients)
        if model.gen_ema is not None:
            with torch.no_grad():
                for ema, param in zip(model.gen_ema.parameters(), model.generator.parameters(), strict=True):
                    ema.lerp_(param, 1.0 - args.ema_decay)
        for name in ("loss_gen", "loss_discrim", "loss_mel"):  # the reference's metric names
            step.metrics[name] = step.mean(totals[name])
        return {"loss": totals["loss_mel"], **{k: v for k, v in totals.items() if k != "loss_mel"}}

    # ------------------------------------------------------------------------------------------- data

    def dataset(self, args: argparse.Namespace, filelist: str, config: dict | None = None,
                training: bool = True) -> torch.utils.data.Dataset:
        """Random `--segment-size` windows for training, whole utterances for validation."""
        return data_function.get_dataset(args, filelist, training)

    def collate(self, args: argparse.Namespace, training: bool = True) -> Callable:
        """The (mel, audio) collate."""
        return data_function.get_collate_fn(args, training)

    def batch_to_device(self, batch: Any, device: torch.device, skip_bad: bool = False) -> tuple | None:
        """(mel, audio (B, 1, T), samples) on the device."""
        return data_function.batch_to_device(batch, device, skip_bad)

    def start_epoch(self, dataset: torch.utils.data.Dataset, epoch: int) -> None:
        """Each epoch draws its own windows (a function of seed, epoch and item)."""
        dataset.set_epoch(epoch)

    def batch_size_of(self, x: Any) -> int:
        """The mel batch's first dimension."""
        return int(x.size(0))

    def rejected_items(self, dataset: torch.utils.data.Dataset) -> list:
        """None: unusable files are found when loaded (named by file and line)."""
        return []

    # ------------------------------------------------------------------------------- loss and metrics

    def criterion(self, args: argparse.Namespace) -> Callable[[Tensor, Tensor], Tensor]:
        """The validation loss: the unweighted L1 between the log-mels of the generated and real audio."""
        def loss(y_pred: Tensor, y: Tensor) -> Tensor:
            mel = self.mel_loss(args).to(y.device)
            return mel_l1(mel.mel(y.float()), mel.mel(y_pred.float()))
        return loss

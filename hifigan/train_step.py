"""One HiFi-GAN training step as the reference runs it: the discriminators first, then the generator.

`HiFiGANTrainer` owns the two AdamW optimizers (betas 0.8, 0.99), their ExponentialLR schedulers
(stepped once per epoch by `end_epoch`), the linear learning-rate warm-up, gradient clipping (1000 in the
reference's recipe), gradient accumulation over micro-batches and an optional EMA of the generator.

    step(micro_batches):  y_hat = G(mel) for every micro-batch
        D: mean over micro-batches of discriminator_total(MPD, MSD on (y, y_hat.detach())), clip, step
        G: mean over micro-batches of 45 L1(mel(y), mel(y_hat)) + feature matching + LSGAN, clip, step

`state_dict` / `load_state_dict` cover everything a bitwise resume needs (models, optimizers, schedulers,
EMA, step and epoch counters); `generator_checkpoint` / `discriminator_checkpoint` write the reference's
two checkpoint files' contents. `two_player_step` is the step itself, which `run.py -m HiFiGAN`
(hifigan/recipe.py) drives with the trainer's optimizers, schedulers and gradient scalers.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from hifigan.loss_function import MEL_LOSS_WEIGHT, MelLoss, discriminator_total, generator_total
from hifigan.model import Generator, MultiPeriodDiscriminator, MultiScaleDiscriminator, strip_module


class HiFiGANTrainer:
    """Optimizers, schedulers and the two-player step for a generator and both discriminators."""

    def __init__(self, generator: Generator, mpd: MultiPeriodDiscriminator, msd: MultiScaleDiscriminator,
                 mel_loss: MelLoss, learning_rate: float = 3e-4, betas: Sequence[float] = (0.8, 0.99),
                 weight_decay: float = 0.0, lr_decay: float = 0.9998, grad_clip_thresh: float = 1000.0,
                 warmup_steps: int = 0, ema_decay: float = 0.0) -> None:
        if learning_rate <= 0:
            raise ValueError(f"--learning-rate must be positive, got {learning_rate}")
        self.generator, self.mpd, self.msd, self.mel_loss = generator, mpd, msd, mel_loss
        betas = (float(betas[0]), float(betas[1]))
        self.optim_g = torch.optim.AdamW(generator.parameters(), learning_rate, betas=betas,
                                         weight_decay=weight_decay)
        self.optim_d = torch.optim.AdamW(list(mpd.parameters()) + list(msd.parameters()), learning_rate,
                                         betas=betas, weight_decay=weight_decay)
        self.sched_g = torch.optim.lr_scheduler.ExponentialLR(self.optim_g, gamma=lr_decay)
        self.sched_d = torch.optim.lr_scheduler.ExponentialLR(self.optim_d, gamma=lr_decay)
        self.grad_clip_thresh = grad_clip_thresh
        self.warmup_steps = warmup_steps
        self.ema_decay = ema_decay
        self.ema = copy.deepcopy(generator).requires_grad_(False) if ema_decay > 0 else None
        self.steps = 0
        self.epoch = 0

    def _warmup_factor(self) -> float:
        return warmup_factor(self.steps, self.warmup_steps)

    def step(self, micro_batches: Sequence[tuple[Tensor, Tensor]]) -> dict[str, float]:
        """One optimizer step of both players over ``micro_batches`` of (mel (B, n_mel, F), audio
        (B, 1, F * hop)); gradients are averaged over them. Returns the losses (the reference's names
        ``loss_discrim``, ``loss_gen``, ``loss_mel`` (unweighted L1), and the parts)."""
        totals = two_player_step(self.generator, self.mpd, self.msd, self.mel_loss, self.optim_g,
                                 self.optim_d, micro_batches, self.grad_clip_thresh, self._warmup_factor())
        self.steps += 1
        self._update_ema()
        return totals

    def _update_ema(self) -> None:
        if self.ema is None:
            return
        with torch.no_grad():
            for ema, param in zip(self.ema.parameters(), self.generator.parameters(), strict=True):
                ema.lerp_(param, 1.0 - self.ema_decay)

    def end_epoch(self) -> None:
        """Decay both learning rates (ExponentialLR, once per epoch)."""
        self.sched_g.step()
        self.sched_d.step()
        self.epoch += 1

    def learning_rate(self) -> float:
        """The generator's current scheduled learning rate (warm-up not applied)."""
        return float(self.optim_g.param_groups[0]["lr"])

    def state_dict(self) -> dict[str, Any]:
        """Everything a bitwise resume needs."""
        return {"generator": self.generator.state_dict(), "mpd": self.mpd.state_dict(),
                "msd": self.msd.state_dict(), "optim_g": self.optim_g.state_dict(),
                "optim_d": self.optim_d.state_dict(), "sched_g": self.sched_g.state_dict(),
                "sched_d": self.sched_d.state_dict(),
                "gen_ema": self.ema.state_dict() if self.ema is not None else None,
                "steps": self.steps, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict`'s contents (keys with or without ``module.``)."""
        self.generator.load_state_dict(strip_module(state["generator"]))
        self.mpd.load_state_dict(strip_module(state["mpd"]))
        self.msd.load_state_dict(strip_module(state["msd"]))
        self.optim_g.load_state_dict(state["optim_g"])
        self.optim_d.load_state_dict(state["optim_d"])
        self.sched_g.load_state_dict(state["sched_g"])
        self.sched_d.load_state_dict(state["sched_d"])
        if self.ema is not None and state.get("gen_ema") is not None:
            self.ema.load_state_dict(strip_module(state["gen_ema"]))
        self.steps, self.epoch = int(state["steps"]), int(state["epoch"])

    def generator_checkpoint(self, train_setup: dict[str, Any] | None = None) -> dict[str, Any]:
        """The reference's ``hifigan_gen_checkpoint_<epoch>.pt`` contents."""
        return {"generator": self.generator.state_dict(), "config": self.generator.config,
                "gen_ema": self.ema.state_dict() if self.ema is not None else None,
                "train_setup": dict(train_setup or {}),
                "train_state": {"epoch": self.epoch, "iters": self.steps}}

    def discriminator_checkpoint(self) -> dict[str, Any]:
        """The reference's ``hifigan_discrim_checkpoint_<epoch>.pt`` contents (plus our schedulers)."""
        return {"mpd": self.mpd.state_dict(), "msd": self.msd.state_dict(), "mpd_ema": None, "msd_ema": None,
                "optim_g": self.optim_g.state_dict(), "optim_d": self.optim_d.state_dict(),
                "sched_g": self.sched_g.state_dict(), "sched_d": self.sched_d.state_dict(),
                "scaler_g": None, "scaler_d": None,
                "train_state": {"epoch": self.epoch, "iters": self.steps}, "steps": self.steps,
                "epoch": self.epoch}


def warmup_factor(step: int, warmup_steps: int) -> float:
    """The linear warm-up's factor on the learning rate at optimizer step ``step`` (0-based)."""
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, (step + 1) / warmup_steps)


def _apply(optimizer: torch.optim.Optimizer, params: list[Tensor], clip: float, factor: float,
           scaler: torch.amp.GradScaler | None) -> float:
    """Unscale, clip, step with the warm-up ``factor`` applied to this step's learning rate only; returns
    the gradient norm before clipping."""
    if scaler is not None:
        scaler.unscale_(optimizer)
    norm = torch.nn.utils.clip_grad_norm_(params, clip)
    scheduled = [group["lr"] for group in optimizer.param_groups]
    for group in optimizer.param_groups:
        group["lr"] = group["lr"] * factor
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    for group, lr in zip(optimizer.param_groups, scheduled, strict=True):
        group["lr"] = lr
    return float(norm)


def two_player_step(generator: Generator, mpd: MultiPeriodDiscriminator, msd: MultiScaleDiscriminator,
                    mel_loss: MelLoss, optim_g: torch.optim.Optimizer, optim_d: torch.optim.Optimizer,
                    micro_batches: Sequence[tuple[Tensor, Tensor]], grad_clip_thresh: float,
                    lr_factor: float = 1.0, scaler_g: torch.amp.GradScaler | None = None,
                    scaler_d: torch.amp.GradScaler | None = None,
                    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
                    sync: Callable[[torch.nn.Module], None] | None = None) -> dict[str, float]:
    """The reference's step: the discriminators on (y, G(mel).detach()), then the generator, each with
    its gradients averaged over ``micro_batches``, clipped at ``grad_clip_thresh`` and its optimizer
    stepped at ``lr_factor`` x its scheduled rate. ``scaler_*`` (AMP, one per optimizer), ``autocast``
    and ``sync`` (averaging gradients over ranks) come from the trainer; the loss mel is computed in
    float32 outside autocast. Returns the mean losses and both gradient norms."""
    if not micro_batches:
        raise ValueError("a HiFi-GAN step needs at least one micro-batch")
    n = len(micro_batches)
    for module in (generator, mpd, msd):
        module.train()
    fakes = []
    for mel, audio in micro_batches:
        with autocast():
            y_hat = generator(mel)
        if y_hat.shape != audio.shape:
            raise ValueError(f"generator output {tuple(y_hat.shape)} does not match the audio "
                             f"{tuple(audio.shape)}: --segment-size must be frames x hop")
        fakes.append(y_hat)

    def scaled(loss: Tensor, scaler: torch.amp.GradScaler | None) -> Tensor:
        return scaler.scale(loss) if scaler is not None else loss

    optim_d.zero_grad(set_to_none=True)
    d_params = list(mpd.parameters()) + list(msd.parameters())
    totals: dict[str, float] = {}
    for (_, audio), y_hat in zip(micro_batches, fakes, strict=True):
        fake = y_hat.detach()
        with autocast():
            loss_d, parts_d = discriminator_total(mpd(audio, fake), msd(audio, fake))
        scaled(loss_d / n, scaler_d).backward()
        _add(totals, {"loss_discrim": loss_d, **parts_d}, n)
    if sync is not None:
        sync(mpd)
        sync(msd)
    totals["grad_norm_discrim"] = _apply(optim_d, d_params, grad_clip_thresh, lr_factor, scaler_d)

    optim_g.zero_grad(set_to_none=True)
    for (_, audio), y_hat in zip(micro_batches, fakes, strict=True):
        mel_term = mel_loss(audio.float(), y_hat.float())
        with autocast():
            loss_g, parts_g = generator_total(mel_term, mpd(audio, y_hat), msd(audio, y_hat))
        scaled(loss_g / n, scaler_g).backward()
        _add(totals, {"loss_gen": loss_g, **parts_g}, n)
    if sync is not None:
        sync(generator)
    totals["grad_norm_gen"] = _apply(optim_g, list(generator.parameters()), grad_clip_thresh, lr_factor,
                                     scaler_g)
    totals["loss_mel"] = totals["loss_mel"] / MEL_LOSS_WEIGHT
    return totals


def _add(totals: dict[str, float], values: dict[str, Tensor], n: int) -> None:
    for key, value in values.items():
        totals[key] = totals.get(key, 0.0) + float(value.detach()) / n


def build_trainer(config: dict[str, Any], learning_rate: float = 3e-4,
                  periods: Sequence[int] = (2, 3, 5, 7, 11), discriminator_width: float = 1.0,
                  mel_fmax_loss: float | None = None,
                  **trainer_kwargs: Any) -> HiFiGANTrainer:
    """A generator from ``config``, both discriminators and the trainer around them (22050 Hz mels)."""
    generator = Generator(**config)
    mpd = MultiPeriodDiscriminator(periods, width=discriminator_width)
    msd = MultiScaleDiscriminator(width=discriminator_width)
    mel_loss = MelLoss(n_mel_channels=generator.conv_pre.in_channels, hop_length=generator.hop_length,
                       mel_fmax_loss=mel_fmax_loss)
    return HiFiGANTrainer(generator, mpd, msd, mel_loss, learning_rate, **trainer_kwargs)


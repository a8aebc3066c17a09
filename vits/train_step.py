"""One VITS training step as Piper runs it: the discriminator step (LSGAN on a real and a generated
segment), then the generator step (adversarial + feature matching + 45 x mel L1 + duration + KL), each
with its own AdamW (lr 2e-4, betas (0.8, 0.99), eps 1e-9) and ExponentialLR (0.999875 per epoch)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from vits.commons import slice_segments
from vits.data_function import VitsBatch
from vits.discriminator import MultiPeriodDiscriminator
from vits.loss_function import (
    MelLoss,
    discriminator_loss,
    feature_loss,
    generator_loss,
    generator_total,
    kl_loss,
)
from vits.model import SynthesizerTrn

# config keys that are not SynthesizerTrn keywords: the discriminator's width and the voice's metadata
DISCRIMINATOR_KEYS = ("discriminator_width",)
VOICE_KEYS = ("phoneme_id_map", "speaker_id_map", "espeak_voice", "language", "sample_rate")


def split_config(config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A run's config -> (SynthesizerTrn keywords, discriminator keywords, voice metadata)."""
    generator = {k: v for k, v in config.items() if k not in DISCRIMINATOR_KEYS + VOICE_KEYS}
    discriminator = {"width": float(config.get("discriminator_width", 1.0))}
    voice = {k: config[k] for k in VOICE_KEYS if k in config}
    return generator, discriminator, voice


class VitsTrainModel(nn.Module):
    """Generator and discriminator as one module, named as in Piper's Lightning checkpoints: its
    state_dict is ``model_g.*`` (``SynthesizerTrn``) and ``model_d.*`` (``MultiPeriodDiscriminator``), so a
    Piper training checkpoint's ``state_dict`` loads into it strictly and ours is Piper's layout.
    ``forward(batch)`` is the generator's training pass (validation)."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__()
        generator, discriminator, voice = split_config(config)
        self.config = dict(config)
        self.voice = voice
        self.model_g = SynthesizerTrn(**generator)
        self.model_d = MultiPeriodDiscriminator(**discriminator)

    def batch_speakers(self, batch: VitsBatch) -> torch.Tensor | None:
        """The batch's speaker ids for a multi-speaker generator, else None."""
        return batch.speakers if self.model_g.n_speakers > 1 else None

    def forward(self, batch: VitsBatch):
        return self.model_g(batch.ids, batch.id_lengths, batch.spec, batch.spec_lengths,
                            sid=self.batch_speakers(batch))


def _update(loss: torch.Tensor, module: nn.Module, optimizer: torch.optim.Optimizer, scaler: Any,
            sync: Callable[[nn.Module], None] | None, grad_clip: float | None) -> None:
    """zero_grad, (scaled) backward, gradient sync over ranks, optional clipping, step."""
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
    else:
        loss.backward()
    if sync is not None:
        sync(module)
    if grad_clip is not None:
        if scaler is not None:
            scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(module.parameters(), grad_clip)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()


def gan_step(net_g: nn.Module, net_d: nn.Module, batch: VitsBatch, optim_g: torch.optim.Optimizer,
             optim_d: torch.optim.Optimizer, mel_loss: MelLoss, c_mel: float = 45.0, c_kl: float = 1.0,
             grad_clip: float | None = None, scalers: tuple[Any, Any] | None = None,
             autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
             sync: Callable[[nn.Module], None] | None = None) -> dict[str, float]:
    """Piper's two updates on one batch: the discriminator (LSGAN on a real and a generated segment), then
    the generator. ``scalers`` (generator's, discriminator's) are GradScalers, ``autocast`` the mixed
    precision context, ``sync`` averages a module's gradients over ranks. Returns the losses as floats."""
    hop, segment = net_g.hop_length, net_g.segment_size
    sid = batch.speakers if getattr(net_g, "n_speakers", 1) > 1 else None
    scaler_g, scaler_d = scalers or (None, None)
    with autocast():
        out = net_g(batch.ids, batch.id_lengths, batch.spec, batch.spec_lengths, sid=sid)
        y = slice_segments(batch.audio, out.ids_slice * hop, segment * hop)
        real, fake, _, _ = net_d(y, out.audio.detach())
        loss_d, _, _ = discriminator_loss(real, fake)
    _update(loss_d, net_d, optim_d, scaler_d, sync, grad_clip)

    with autocast():
        real, fake, fmap_r, fmap_g = net_d(y, out.audio)
        adversarial, _ = generator_loss(fake)
        kl = kl_loss(out.z_p.float(), out.logs_q.float(), out.m_p.float(), out.logs_p.float(),
                     out.y_mask.float())
        losses = generator_total(mel_loss(y.float(), out.audio.float()), kl, out.duration_loss,
                                 feature_loss(fmap_r, fmap_g), adversarial, c_mel=c_mel, c_kl=c_kl)
    _update(losses.total, net_g, optim_g, scaler_g, sync, grad_clip)
    result = {f"loss_g_{k}": float(v.detach()) for k, v in losses._asdict().items()}
    result["loss_d"] = float(loss_d.detach())
    return result


class VitsTrainer:
    """Holds the two networks, their optimizers and schedulers; ``step(batch)`` trains on one batch."""

    def __init__(self, net_g: nn.Module, net_d: nn.Module, learning_rate: float = 2e-4,
                 betas: tuple[float, float] = (0.8, 0.99), eps: float = 1e-9, lr_decay: float = 0.999875,
                 c_mel: float = 45.0, c_kl: float = 1.0, sampling_rate: int = 22050,
                 grad_clip: float | None = None) -> None:
        self.net_g, self.net_d = net_g, net_d
        self.hop_length = net_g.hop_length
        self.segment_size = net_g.segment_size
        self.c_mel, self.c_kl = c_mel, c_kl
        self.grad_clip = grad_clip
        self.optim_g = torch.optim.AdamW(net_g.parameters(), learning_rate, betas=betas, eps=eps)
        self.optim_d = torch.optim.AdamW(net_d.parameters(), learning_rate, betas=betas, eps=eps)
        self.scheduler_g = torch.optim.lr_scheduler.ExponentialLR(self.optim_g, gamma=lr_decay)
        self.scheduler_d = torch.optim.lr_scheduler.ExponentialLR(self.optim_d, gamma=lr_decay)
        self.mel_loss = MelLoss(sampling_rate=sampling_rate, hop_length=self.hop_length)

    def step(self, batch: VitsBatch) -> dict[str, float]:
        """Train both networks on ``batch``; returns the losses as floats."""
        self.net_g.train()
        self.net_d.train()
        return gan_step(self.net_g, self.net_d, batch, self.optim_g, self.optim_d, self.mel_loss,
                        c_mel=self.c_mel, c_kl=self.c_kl, grad_clip=self.grad_clip)

    def end_epoch(self) -> None:
        """Decay both learning rates (Piper steps its schedulers once per epoch)."""
        self.scheduler_g.step()
        self.scheduler_d.step()

    def state_dict(self) -> dict[str, Any]:
        """Optimizer and scheduler states (the networks are saved by the caller)."""
        return {"optim_g": self.optim_g.state_dict(), "optim_d": self.optim_d.state_dict(),
                "scheduler_g": self.scheduler_g.state_dict(), "scheduler_d": self.scheduler_d.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""
        self.optim_g.load_state_dict(state["optim_g"])
        self.optim_d.load_state_dict(state["optim_d"])
        self.scheduler_g.load_state_dict(state["scheduler_g"])
        self.scheduler_d.load_state_dict(state["scheduler_d"])


def save_training_state(path: str, trainer: VitsTrainer, step: int = 0) -> None:
    """Everything an exact resume needs: both networks, optimizers, schedulers, the step and the CPU RNG."""
    torch.save({"net_g": trainer.net_g.state_dict(), "net_d": trainer.net_d.state_dict(),
                "trainer": trainer.state_dict(), "step": step, "rng_cpu": torch.get_rng_state()}, path)


def load_training_state(path: str, trainer: VitsTrainer) -> int:
    """Restore what ``save_training_state`` wrote (weights_only load); returns the saved step."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    trainer.net_g.load_state_dict(state["net_g"], strict=True)
    trainer.net_d.load_state_dict(state["net_d"], strict=True)
    trainer.load_state_dict(state["trainer"])
    torch.set_rng_state(state["rng_cpu"])
    return int(state["step"])

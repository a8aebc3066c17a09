"""One VITS training step as Piper runs it: the discriminator step (LSGAN on a real and a generated
segment), then the generator step (adversarial + feature matching + 45 x mel L1 + duration + KL), each
with its own AdamW (lr 2e-4, betas (0.8, 0.99), eps 1e-9) and ExponentialLR (0.999875 per epoch)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vits.commons import slice_segments
from vits.data_function import VitsBatch
from vits.loss_function import (
    MelLoss,
    discriminator_loss,
    feature_loss,
    generator_loss,
    generator_total,
    kl_loss,
)


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

    def _clip(self, module: nn.Module) -> None:
        if self.grad_clip is not None:
            nn.utils.clip_grad_norm_(module.parameters(), self.grad_clip)

    def step(self, batch: VitsBatch) -> dict[str, float]:
        """Train both networks on ``batch``; returns the losses as floats."""
        self.net_g.train()
        self.net_d.train()
        sid = batch.speakers if getattr(self.net_g, "n_speakers", 1) > 1 else None
        out = self.net_g(batch.ids, batch.id_lengths, batch.spec, batch.spec_lengths, sid=sid)
        y = slice_segments(batch.audio, out.ids_slice * self.hop_length, self.segment_size * self.hop_length)

        real, fake, _, _ = self.net_d(y, out.audio.detach())
        loss_d, _, _ = discriminator_loss(real, fake)
        self.optim_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self._clip(self.net_d)
        self.optim_d.step()

        real, fake, fmap_r, fmap_g = self.net_d(y, out.audio)
        adversarial, _ = generator_loss(fake)
        losses = generator_total(self.mel_loss(y, out.audio),
                                 kl_loss(out.z_p, out.logs_q, out.m_p, out.logs_p, out.y_mask),
                                 out.duration_loss, feature_loss(fmap_r, fmap_g), adversarial,
                                 c_mel=self.c_mel, c_kl=self.c_kl)
        self.optim_g.zero_grad(set_to_none=True)
        losses.total.backward()
        self._clip(self.net_g)
        self.optim_g.step()
        result = {f"loss_g_{k}": float(v.detach()) for k, v in losses._asdict().items()}
        result["loss_d"] = float(loss_d.detach())
        return result

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

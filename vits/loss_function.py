"""VITS losses (Kim et al. 2021, as trained by Piper): the generator's mel L1 (x c_mel = 45), KL between
the posterior through the flow and the text prior (x c_kl = 1), the duration loss, feature matching (x 2)
and LSGAN; the discriminator's LSGAN loss."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from common.stft import MelSTFT
from vits.commons import slice_segments


def feature_loss(fmap_r: list[list[Tensor]], fmap_g: list[list[Tensor]]) -> Tensor:
    """2 x the sum, over sub-discriminators and their feature maps, of mean |f(y) - f(y_hat)|."""
    loss = torch.zeros(())
    for dr, dg in zip(fmap_r, fmap_g):
        for rl, gl in zip(dr, dg):
            loss = loss + torch.mean(torch.abs(rl.detach() - gl))
    return loss * 2


def discriminator_loss(real_outputs: list[Tensor], fake_outputs: list[Tensor]) -> tuple[Tensor, list, list]:
    """LSGAN: sum over sub-discriminators of mean (1 - D(y))^2 + mean D(y_hat)^2, with the parts."""
    loss = torch.zeros(())
    r_losses, g_losses = [], []
    for dr, dg in zip(real_outputs, fake_outputs):
        r_loss = torch.mean((1 - dr) ** 2)
        g_loss = torch.mean(dg**2)
        loss = loss + r_loss + g_loss
        r_losses.append(r_loss.item())
        g_losses.append(g_loss.item())
    return loss, r_losses, g_losses


def generator_loss(fake_outputs: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
    """LSGAN: sum over sub-discriminators of mean (1 - D(y_hat))^2, with the parts."""
    loss = torch.zeros(())
    parts = []
    for dg in fake_outputs:
        part = torch.mean((1 - dg) ** 2)
        parts.append(part)
        loss = loss + part
    return loss, parts


def kl_loss(z_p: Tensor, logs_q: Tensor, m_p: Tensor, logs_p: Tensor, z_mask: Tensor) -> Tensor:
    """KL(q || p) estimated at the posterior sample: sum over valid frames and channels of
    logs_p - logs_q - 1/2 + (z_p - m_p)^2 exp(-2 logs_p) / 2, divided by the number of valid frames."""
    kl = logs_p - logs_q - 0.5 + 0.5 * ((z_p - m_p) ** 2) * torch.exp(-2.0 * logs_p)
    return torch.sum(kl * z_mask) / torch.sum(z_mask)


class MelLoss(torch.nn.Module):
    """L1 distance of log-mels (the suite's front end, 80 bands, full band by default) of two signals."""

    def __init__(self, sampling_rate: int = 22050, filter_length: int = 1024, hop_length: int = 256,
                 win_length: int = 1024, n_mel_channels: int = 80, mel_fmax: float | None = None) -> None:
        super().__init__()
        self.stft = MelSTFT(filter_length, hop_length, win_length, n_mel_channels, sampling_rate,
                                 mel_fmin=0.0, mel_fmax=mel_fmax)

    def mel(self, audio: Tensor) -> Tensor:
        """Log-mel (B, n_mel, frames) of audio (B, 1, T) or (B, T)."""
        if audio.dim() == 3:
            audio = audio.squeeze(1)
        return self.stft.mel_spectrogram(audio.clamp(-1.0, 1.0))

    def forward(self, audio: Tensor, audio_hat: Tensor) -> Tensor:
        return F.l1_loss(self.mel(audio), self.mel(audio_hat))


class GeneratorLosses(NamedTuple):
    """The generator's total loss and its weighted parts (every one a scalar tensor)."""

    total: Tensor
    mel: Tensor
    kl: Tensor
    duration: Tensor
    feature_matching: Tensor
    adversarial: Tensor


def generator_total(mel_l1: Tensor, kl: Tensor, duration: Tensor, fm: Tensor, adversarial: Tensor,
                    c_mel: float = 45.0, c_kl: float = 1.0) -> GeneratorLosses:
    """Piper's generator objective: adversarial + feature matching + c_mel * mel L1 + duration + c_kl * KL."""
    mel = mel_l1 * c_mel
    kl = kl * c_kl
    duration = torch.sum(duration.float())
    return GeneratorLosses(adversarial + fm + mel + duration + kl, mel, kl, duration, fm, adversarial)


class ReconstructionLoss(torch.nn.Module):
    """The generator's reconstruction terms, c_mel * mel L1 + c_kl * KL, of a training pass
    (``SynthesizerTrn.forward``'s ``VitsOutput``) against the batch's audio: the suite's ``train_loss`` and
    ``val_loss`` for VITS (the adversarial terms are logged apart)."""

    def __init__(self, c_mel: float = 45.0, c_kl: float = 1.0, sampling_rate: int = 22050,
                 hop_length: int = 256) -> None:
        super().__init__()
        self.c_mel, self.c_kl, self.hop_length = c_mel, c_kl, hop_length
        self.mel_loss = MelLoss(sampling_rate=sampling_rate, hop_length=hop_length)

    def forward(self, out: Any, batch: Any) -> Tensor:
        segment = out.audio.size(-1)
        y = slice_segments(batch.audio, out.ids_slice * self.hop_length, segment)
        mel = self.mel_loss.to(y.device)(y.float(), out.audio.float())
        kl = kl_loss(out.z_p.float(), out.logs_q.float(), out.m_p.float(), out.logs_p.float(),
                     out.y_mask.float())
        return self.c_mel * mel + self.c_kl * kl

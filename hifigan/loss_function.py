"""HiFi-GAN losses, as the reference trains with them.

- Generator: ``45 * L1(mel(y), mel(y_hat))`` + feature matching (over both discriminators: the sum over
  every sub-discriminator's feature maps of mean |f(y) - f(y_hat)|, times 2) + LSGAN
  (the sum over sub-discriminators of mean (1 - D(y_hat))^2).
- Discriminator: the sum over sub-discriminators of mean (1 - D(y))^2 + mean D(y_hat)^2.

The loss mel uses the suite's front end (`common.stft.MelSTFT`) with its own upper frequency
(``mel_fmax_loss``; None = the full band up to Nyquist, as the reference's default).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.stft import MelSTFT

MEL_LOSS_WEIGHT = 45.0
FEATURE_LOSS_WEIGHT = 2.0


def feature_loss(fmap_r: Sequence[Sequence[Tensor]], fmap_g: Sequence[Sequence[Tensor]]) -> Tensor:
    """2 x the sum over sub-discriminators and their feature maps of mean |real - generated|.

    The real features are targets: the generator's gradient flows only through ``fmap_g`` (the caller
    computes ``fmap_r`` from real audio, whose graph does not reach the generator anyway)."""
    if len(fmap_r) != len(fmap_g):
        raise ValueError(f"feature_loss: {len(fmap_r)} real vs {len(fmap_g)} generated sub-discriminators")
    loss = None
    for dr, dg in zip(fmap_r, fmap_g, strict=True):
        for rl, gl in zip(dr, dg, strict=True):
            term = torch.mean(torch.abs(rl - gl))
            loss = term if loss is None else loss + term
    if loss is None:
        raise ValueError("feature_loss: no feature maps")
    return loss * FEATURE_LOSS_WEIGHT


def discriminator_loss(real_outputs: Sequence[Tensor], generated_outputs: Sequence[Tensor]
                       ) -> tuple[Tensor, list[Tensor], list[Tensor]]:
    """LSGAN discriminator loss: sum of mean (1 - D(y))^2 + mean D(y_hat)^2; also the per-sub-discriminator
    real and generated terms."""
    if len(real_outputs) != len(generated_outputs) or not real_outputs:
        raise ValueError(f"discriminator_loss: {len(real_outputs)} real vs {len(generated_outputs)} "
                         "generated outputs (need the same non-zero number)")
    r_losses = [torch.mean((1 - dr) ** 2) for dr in real_outputs]
    g_losses = [torch.mean(dg**2) for dg in generated_outputs]
    return sum(r + g for r, g in zip(r_losses, g_losses, strict=True)), r_losses, g_losses


def generator_loss(generated_outputs: Sequence[Tensor]) -> tuple[Tensor, list[Tensor]]:
    """LSGAN generator loss: sum over sub-discriminators of mean (1 - D(y_hat))^2; also each term."""
    if not generated_outputs:
        raise ValueError("generator_loss: no discriminator outputs")
    losses = [torch.mean((1 - dg) ** 2) for dg in generated_outputs]
    return sum(losses), losses


def mel_l1(mel: Tensor, mel_hat: Tensor) -> Tensor:
    """Mean absolute difference of two log-mels of the same shape (unweighted)."""
    if mel.shape != mel_hat.shape:
        raise ValueError(f"mel_l1: shapes differ: {tuple(mel.shape)} vs {tuple(mel_hat.shape)}")
    return F.l1_loss(mel_hat, mel)


class MelLoss(nn.Module):
    """Log-mel of audio for the L1 term: `MelSTFT` with the loss's own ``mel_fmax_loss``."""

    def __init__(self, filter_length: int = 1024, hop_length: int = 256, win_length: int = 1024,
                 n_mel_channels: int = 80, sampling_rate: int = 22050, mel_fmin: float = 0.0,
                 mel_fmax_loss: float | None = None) -> None:
        super().__init__()
        self.stft = MelSTFT(filter_length, hop_length, win_length, n_mel_channels, sampling_rate,
                                 mel_fmin, mel_fmax_loss)

    def mel(self, audio: Tensor) -> Tensor:
        """Audio (B, T) or (B, 1, T) in [-1, 1] -> log-mel (B, n_mel, frames); differentiable."""
        if audio.dim() == 3:
            audio = audio.squeeze(1)
        return self.stft.mel_spectrogram(audio)

    def forward(self, y: Tensor, y_hat: Tensor) -> Tensor:
        """45 x L1 between the log-mels of real ``y`` and generated ``y_hat`` audio."""
        with torch.no_grad():
            target = self.mel(y)
        return MEL_LOSS_WEIGHT * mel_l1(target, self.mel(y_hat))


def generator_total(mel_term: Tensor, mpd_out: tuple, msd_out: tuple) -> tuple[Tensor, dict[str, Tensor]]:
    """The generator's total loss from the weighted mel term and both discriminators' outputs on
    (y, y_hat) (each ``(real scores, generated scores, real fmaps, generated fmaps)``).

    Returns (total, parts) with parts ``loss_mel`` (weighted), ``loss_fm_mpd``, ``loss_fm_msd``,
    ``loss_gen_mpd``, ``loss_gen_msd``."""
    _, mpd_g, mpd_fr, mpd_fg = mpd_out
    _, msd_g, msd_fr, msd_fg = msd_out
    parts = {
        "loss_mel": mel_term,
        "loss_fm_mpd": feature_loss(mpd_fr, mpd_fg),
        "loss_fm_msd": feature_loss(msd_fr, msd_fg),
        "loss_gen_mpd": generator_loss(mpd_g)[0],
        "loss_gen_msd": generator_loss(msd_g)[0],
    }
    return sum(parts.values()), parts


def discriminator_total(mpd_out: tuple, msd_out: tuple) -> tuple[Tensor, dict[str, Tensor]]:
    """The discriminators' total loss (MPD + MSD) from their outputs on (y, y_hat.detach())."""
    parts = {"loss_disc_mpd": discriminator_loss(mpd_out[0], mpd_out[1])[0],
             "loss_disc_msd": discriminator_loss(msd_out[0], msd_out[1])[0]}
    return sum(parts.values()), parts

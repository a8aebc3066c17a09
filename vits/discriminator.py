"""VITS's discriminator in Piper's layout (``model_d.discriminators.<i>``): one scale discriminator on
the raw signal (index 0, MelGAN's six grouped convs) and period discriminators for periods 2, 3, 5, 7, 11;
weight norm throughout.

The sub-discriminators are HiFi-GAN's (``hifigan.model.DiscriminatorP`` and ``DiscriminatorS`` with
``layout="melgan"``): the same parameter names as Piper's, so its checkpoints load strictly.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from hifigan.model import DiscriminatorP, DiscriminatorS

__all__ = ["PERIODS", "DiscriminatorP", "DiscriminatorS", "MultiPeriodDiscriminator"]

PERIODS = (2, 3, 5, 7, 11)


class MultiPeriodDiscriminator(nn.Module):
    """Scale discriminator + period discriminators. ``forward(y, y_hat)`` returns the scores for real and
    generated audio and their feature maps, one entry per sub-discriminator. ``width`` < 1 scales every
    channel count down (small discriminators for tests and quick CPU runs; 1.0 is Piper's)."""

    def __init__(self, periods: Sequence[int] = PERIODS, width: float = 1.0) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList([DiscriminatorS(width=width, layout="melgan")]
                                            + [DiscriminatorP(p, width=width) for p in periods])

    def forward(self, y: Tensor, y_hat: Tensor):
        y_d_rs, y_d_gs, fmap_rs, fmap_gs = [], [], [], []
        for d in self.discriminators:
            y_d_r, fmap_r = d(y)
            y_d_g, fmap_g = d(y_hat)
            y_d_rs.append(y_d_r)
            y_d_gs.append(y_d_g)
            fmap_rs.append(fmap_r)
            fmap_gs.append(fmap_g)
        return y_d_rs, y_d_gs, fmap_rs, fmap_gs

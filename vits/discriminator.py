"""VITS's discriminator in Piper's layout (``model_d.discriminators.<i>``): one scale discriminator on
the raw signal (index 0) and period discriminators for periods 2, 3, 5, 7, 11; weight norm throughout."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vits.commons import get_padding, weight_norm

LRELU_SLOPE = 0.1
PERIODS = (2, 3, 5, 7, 11)


class DiscriminatorP(nn.Module):
    """The signal folded into (T / period, period) columns, judged by (5, 1) 2-D convs of stride 3."""

    def __init__(self, period: int, kernel_size: int = 5, stride: int = 3) -> None:
        super().__init__()
        self.period = period
        pad = (get_padding(kernel_size, 1), 0)
        channels = [1, 32, 128, 512, 1024]
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv2d(c_in, c_out, (kernel_size, 1), (stride, 1), padding=pad))
            for c_in, c_out in zip(channels[:-1], channels[1:]))
        self.convs.append(weight_norm(nn.Conv2d(1024, 1024, (kernel_size, 1), 1, padding=pad)))
        self.conv_post = weight_norm(nn.Conv2d(1024, 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        fmap = []
        b, c, t = x.shape
        if t % self.period:
            n_pad = self.period - t % self.period
            x = F.pad(x, (0, n_pad), "reflect")
            t = t + n_pad
        x = x.view(b, c, t // self.period, self.period)
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            fmap.append(x)
        x = self.conv_post(x)
        fmap.append(x)
        return torch.flatten(x, 1, -1), fmap


class DiscriminatorS(nn.Module):
    """Grouped strided 1-D convs over the raw signal (MelGAN's scale discriminator, one scale)."""

    def __init__(self) -> None:
        super().__init__()
        spec = [(1, 16, 15, 1, 1, 7), (16, 64, 41, 4, 4, 20), (64, 256, 41, 4, 16, 20),
                (256, 1024, 41, 4, 64, 20), (1024, 1024, 41, 4, 256, 20), (1024, 1024, 5, 1, 1, 2)]
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv1d(c_in, c_out, k, s, groups=g, padding=p))
            for c_in, c_out, k, s, g, p in spec)
        self.conv_post = weight_norm(nn.Conv1d(1024, 1, 3, 1, padding=1))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        fmap = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            fmap.append(x)
        x = self.conv_post(x)
        fmap.append(x)
        return torch.flatten(x, 1, -1), fmap


class MultiPeriodDiscriminator(nn.Module):
    """Scale discriminator + period discriminators. ``forward(y, y_hat)`` returns the scores for real and
    generated audio and their feature maps, one entry per sub-discriminator."""

    def __init__(self, periods: tuple[int, ...] = PERIODS) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList([DiscriminatorS()] + [DiscriminatorP(p) for p in periods])

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

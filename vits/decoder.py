"""The VITS decoder: a HiFi-GAN generator (latent z -> audio) with speaker conditioning, in Piper's
state_dict layout.

Why not ``hifigan.model.Generator``: Piper's decoder has a plain (not weight-normed) ``conv_pre``, a plain
bias-free ``conv_post``, and its resblocks in one flat list (``dec.resblocks.<stage * n_kernels + j>``),
while the NGC HiFi-GAN layout nests them per stage and weight-norms both ends; the weights would not load
with ``strict=True``. The computation is the same: per stage LeakyReLU(0.1), transposed conv, the mean of
the stage's residual blocks; then LeakyReLU(0.01), conv_post, tanh. ``gin_channels`` adds ``cond``, a 1x1
conv of the speaker embedding added after ``conv_pre``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vits.commons import get_padding, init_weights, weight_norm

LRELU_SLOPE = 0.1


class ResBlock1(nn.Module):
    """Per dilation d: x += conv(lrelu(conv_d(lrelu(x)))) (Piper's 'high' preset)."""

    def __init__(self, channels: int, kernel_size: int = 3, dilation: Sequence[int] = (1, 3, 5)) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            weight_norm(nn.Conv1d(channels, channels, kernel_size, 1, dilation=d,
                                  padding=get_padding(kernel_size, d))) for d in dilation)
        self.convs2 = nn.ModuleList(
            weight_norm(nn.Conv1d(channels, channels, kernel_size, 1, padding=get_padding(kernel_size)))
            for _ in dilation)
        self.apply(init_weights_v)

    def forward(self, x: Tensor) -> Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            x = c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE)) + x
        return x


class ResBlock2(nn.Module):
    """Per dilation d: x += conv_d(lrelu(x)) (Piper's 'x-low' and 'medium' presets)."""

    def __init__(self, channels: int, kernel_size: int = 3, dilation: Sequence[int] = (1, 3)) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv1d(channels, channels, kernel_size, 1, dilation=d,
                                  padding=get_padding(kernel_size, d))) for d in dilation)
        self.apply(init_weights_v)

    def forward(self, x: Tensor) -> Tensor:
        for c in self.convs:
            x = c(F.leaky_relu(x, LRELU_SLOPE)) + x
        return x


def init_weights_v(module: nn.Module, std: float = 0.01) -> None:
    """HiFi-GAN's N(0, std) init for a weight-normed conv (on ``weight_v``, ``weight_g`` set to match)."""
    if hasattr(module, "weight_v"):
        with torch.no_grad():
            module.weight_v.normal_(0.0, std)
            dims = tuple(range(1, module.weight_v.dim()))
            module.weight_g.copy_(torch.linalg.vector_norm(module.weight_v, dim=dims, keepdim=True))
    elif "Conv" in type(module).__name__:
        init_weights(module, std=std)


class Generator(nn.Module):
    """z (B, initial_channel, T) -> audio (B, 1, T * prod(upsample_rates)), optionally conditioned on
    g (B, gin_channels, 1)."""

    def __init__(self, initial_channel: int, resblock: str, resblock_kernel_sizes: Sequence[int],
                 resblock_dilation_sizes: Sequence[Sequence[int]], upsample_rates: Sequence[int],
                 upsample_initial_channel: int, upsample_kernel_sizes: Sequence[int],
                 gin_channels: int = 0) -> None:
        super().__init__()
        if str(resblock) not in ("1", "2"):
            raise ValueError(f"resblock must be '1' or '2', got {resblock!r}")
        if len(upsample_rates) != len(upsample_kernel_sizes):
            raise ValueError(f"upsample_rates {list(upsample_rates)} and upsample_kernel_sizes "
                             f"{list(upsample_kernel_sizes)} must have the same length")
        self.num_kernels = len(resblock_kernel_sizes)
        self.num_upsamples = len(upsample_rates)
        self.conv_pre = nn.Conv1d(initial_channel, upsample_initial_channel, 7, 1, padding=3)
        block = ResBlock1 if str(resblock) == "1" else ResBlock2
        self.ups = nn.ModuleList()
        for i, (u, k) in enumerate(zip(upsample_rates, upsample_kernel_sizes)):
            self.ups.append(weight_norm(nn.ConvTranspose1d(upsample_initial_channel // 2**i,
                                                           upsample_initial_channel // 2 ** (i + 1),
                                                           k, u, padding=(k - u) // 2)))
        self.resblocks = nn.ModuleList()
        ch = upsample_initial_channel
        for i in range(len(self.ups)):
            ch = upsample_initial_channel // 2 ** (i + 1)
            for k, d in zip(resblock_kernel_sizes, resblock_dilation_sizes):
                self.resblocks.append(block(ch, k, d))
        self.conv_post = nn.Conv1d(ch, 1, 7, 1, padding=3, bias=False)
        self.ups.apply(init_weights_v)
        if gin_channels:
            self.cond = nn.Conv1d(gin_channels, upsample_initial_channel, 1)

    def forward(self, x: Tensor, g: Tensor | None = None) -> Tensor:
        x = self.conv_pre(x)
        if g is not None:
            x = x + self.cond(g)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            first = i * self.num_kernels
            xs = self.resblocks[first](x)
            for j in range(1, self.num_kernels):
                xs = xs + self.resblocks[first + j](x)
            x = xs / self.num_kernels
        x = self.conv_post(F.leaky_relu(x))  # torch's default slope 0.01, as VITS and Piper
        return torch.tanh(x)

"""Invertible layers: the residual coupling flow of the prior (``ResidualCouplingBlock``) and the layers of
the stochastic duration predictor's flows (``ElementwiseAffine``, ``Log``, ``Flip``, ``ConvFlow`` with a
rational-quadratic spline, Durkan et al. 2019).

Every layer maps ``(x, x_mask, g, reverse=False)`` to ``(y, logdet)`` and, with ``reverse=True``, to the
inverse ``x`` alone.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vits.modules import WN, DDSConv

MIN_BIN_WIDTH = 1e-3
MIN_BIN_HEIGHT = 1e-3
MIN_DERIVATIVE = 1e-3


class Flip(nn.Module):
    """Reverse the channel order (so the next coupling layer transforms the other half)."""

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None, reverse: bool = False):
        x = torch.flip(x, [1])
        if reverse:
            return x
        return x, torch.zeros(x.size(0), dtype=x.dtype, device=x.device)


class Log(nn.Module):
    """y = log(x) on the masked steps (durations to log-durations)."""

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None, reverse: bool = False):
        if reverse:
            return torch.exp(x) * x_mask
        y = torch.log(torch.clamp_min(x, 1e-5)) * x_mask
        return y, torch.sum(-y, [1, 2])


class ElementwiseAffine(nn.Module):
    """y = m + exp(logs) * x per channel (parameters ``m``, ``logs`` of shape (channels, 1))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.m = nn.Parameter(torch.zeros(channels, 1))
        self.logs = nn.Parameter(torch.zeros(channels, 1))

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None, reverse: bool = False):
        if reverse:
            return (x - self.m) * torch.exp(-self.logs) * x_mask
        y = (self.m + torch.exp(self.logs) * x) * x_mask
        return y, torch.sum(self.logs * x_mask, [1, 2])


class ResidualCouplingLayer(nn.Module):
    """Affine coupling: the second half of the channels is shifted (and scaled unless ``mean_only``) by a
    WaveNet of the first half. The output conv starts at zero, so a new layer is the identity."""

    def __init__(self, channels: int, hidden_channels: int, kernel_size: int, dilation_rate: int,
                 n_layers: int, p_dropout: float = 0.0, gin_channels: int = 0,
                 mean_only: bool = False) -> None:
        super().__init__()
        if channels % 2:
            raise ValueError(f"ResidualCouplingLayer channels must be even, got {channels}")
        self.half_channels = channels // 2
        self.mean_only = mean_only
        self.pre = nn.Conv1d(self.half_channels, hidden_channels, 1)
        self.enc = WN(hidden_channels, kernel_size, dilation_rate, n_layers, gin_channels, p_dropout)
        self.post = nn.Conv1d(hidden_channels, self.half_channels * (2 - mean_only), 1)
        self.post.weight.data.zero_()
        self.post.bias.data.zero_()

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None, reverse: bool = False):
        x0, x1 = torch.split(x, [self.half_channels] * 2, 1)
        h = self.enc(self.pre(x0) * x_mask, x_mask, g=g)
        stats = self.post(h) * x_mask
        if self.mean_only:
            m, logs = stats, torch.zeros_like(stats)
        else:
            m, logs = torch.split(stats, [self.half_channels] * 2, 1)
        if reverse:
            x1 = (x1 - m) * torch.exp(-logs) * x_mask
            return torch.cat([x0, x1], 1)
        x1 = m + x1 * torch.exp(logs) * x_mask
        return torch.cat([x0, x1], 1), torch.sum(logs, [1, 2])


class ResidualCouplingBlock(nn.Module):
    """The prior flow f: ``n_flows`` mean-only coupling layers, each followed by a Flip."""

    def __init__(self, channels: int, hidden_channels: int, kernel_size: int, dilation_rate: int,
                 n_layers: int, n_flows: int = 4, gin_channels: int = 0) -> None:
        super().__init__()
        self.flows = nn.ModuleList()
        for _ in range(n_flows):
            self.flows.append(ResidualCouplingLayer(channels, hidden_channels, kernel_size, dilation_rate,
                                                    n_layers, gin_channels=gin_channels, mean_only=True))
            self.flows.append(Flip())

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None, reverse: bool = False) -> Tensor:
        if reverse:
            for flow in reversed(self.flows):
                x = flow(x, x_mask, g=g, reverse=True)
            return x
        for flow in self.flows:
            x, _ = flow(x, x_mask, g=g, reverse=False)
        return x


def _bin_edges(unnormalized: Tensor, low: float, high: float, min_size: float) -> tuple[Tensor, Tensor]:
    """Bin edges (K + 1) and bin sizes (K) from unnormalised sizes, each bin at least ``min_size``."""
    n_bins = unnormalized.shape[-1]
    sizes = min_size + (1 - min_size * n_bins) * torch.softmax(unnormalized, dim=-1)
    edges = F.pad(torch.cumsum(sizes, dim=-1), [1, 0], value=0.0)
    edges = (high - low) * edges + low
    edges = torch.cat([torch.full_like(edges[..., :1], low), edges[..., 1:-1],
                       torch.full_like(edges[..., :1], high)], dim=-1)
    return edges, edges[..., 1:] - edges[..., :-1]


def rational_quadratic_spline(inputs: Tensor, unnormalized_widths: Tensor, unnormalized_heights: Tensor,
                              unnormalized_derivatives: Tensor, inverse: bool = False,
                              tail_bound: float = 5.0) -> tuple[Tensor, Tensor]:
    """Monotonic rational-quadratic spline on [-tail_bound, tail_bound], identity outside (linear tails).

    ``unnormalized_derivatives`` holds the K - 1 inner knots' derivatives; the end knots get derivative 1
    so the spline joins the identity tails smoothly. Returns the outputs and log|d outputs / d inputs|
    (of the inverse map when ``inverse``).
    """
    bound = tail_bound
    inside = (inputs >= -bound) & (inputs <= bound)
    x = inputs.clamp(-bound, bound)
    end = math.log(math.exp(1 - MIN_DERIVATIVE) - 1)  # softplus(end) + MIN_DERIVATIVE == 1
    pad = torch.full_like(unnormalized_derivatives[..., :1], end)
    derivatives = MIN_DERIVATIVE + F.softplus(torch.cat([pad, unnormalized_derivatives, pad], dim=-1))
    cumwidths, widths = _bin_edges(unnormalized_widths, -bound, bound, MIN_BIN_WIDTH)
    cumheights, heights = _bin_edges(unnormalized_heights, -bound, bound, MIN_BIN_HEIGHT)

    edges = cumheights if inverse else cumwidths
    edges = torch.cat([edges[..., :-1], edges[..., -1:] + 1e-6], dim=-1)
    bin_idx = (torch.sum((x[..., None] >= edges).long(), dim=-1) - 1).clamp(0, widths.shape[-1] - 1)
    bin_idx = bin_idx[..., None]

    def pick(t: Tensor) -> Tensor:
        return t.gather(-1, bin_idx)[..., 0]

    x_left, width = pick(cumwidths), pick(widths)
    y_low, height = pick(cumheights), pick(heights)
    delta = height / width
    d_left, d_right = pick(derivatives), pick(derivatives[..., 1:])
    curve = d_left + d_right - 2 * delta

    if inverse:
        dy = x - y_low
        a = dy * curve + height * (delta - d_left)
        b = height * d_left - dy * curve
        c = -delta * dy
        disc = (b.pow(2) - 4 * a * c).clamp_min(0.0)
        theta = (2 * c) / (-b - torch.sqrt(disc))
        out = theta * width + x_left
    else:
        theta = (x - x_left) / width
    t1mt = theta * (1 - theta)
    denominator = delta + curve * t1mt
    derivative = delta.pow(2) * (d_right * theta.pow(2) + 2 * delta * t1mt + d_left * (1 - theta).pow(2))
    logabsdet = torch.log(derivative) - 2 * torch.log(denominator)
    if inverse:
        logabsdet = -logabsdet
    else:
        out = y_low + height * (delta * theta.pow(2) + d_left * t1mt) / denominator
    outputs = torch.where(inside, out, inputs)
    logabsdet = torch.where(inside, logabsdet, torch.zeros_like(logabsdet))
    return outputs, logabsdet


class ConvFlow(nn.Module):
    """Neural-spline coupling for the duration flows: a DDSConv of the first half predicts a
    rational-quadratic spline (``num_bins`` bins) for the second half."""

    def __init__(self, in_channels: int, filter_channels: int, kernel_size: int, n_layers: int,
                 num_bins: int = 10, tail_bound: float = 5.0) -> None:
        super().__init__()
        self.filter_channels = filter_channels
        self.num_bins = num_bins
        self.tail_bound = tail_bound
        self.half_channels = in_channels // 2
        self.pre = nn.Conv1d(self.half_channels, filter_channels, 1)
        self.convs = DDSConv(filter_channels, kernel_size, n_layers, p_dropout=0.0)
        self.proj = nn.Conv1d(filter_channels, self.half_channels * (num_bins * 3 - 1), 1)
        self.proj.weight.data.zero_()
        self.proj.bias.data.zero_()

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None, reverse: bool = False):
        x0, x1 = torch.split(x, [self.half_channels] * 2, 1)
        h = self.proj(self.convs(self.pre(x0), x_mask, g=g)) * x_mask
        b, c, t = x0.shape
        h = h.reshape(b, c, -1, t).permute(0, 1, 3, 2)  # (B, C, T, 3K - 1)
        scale = math.sqrt(self.filter_channels)
        k = self.num_bins
        x1, logabsdet = rational_quadratic_spline(x1, h[..., :k] / scale, h[..., k:2 * k] / scale,
                                                  h[..., 2 * k:], inverse=reverse, tail_bound=self.tail_bound)
        x = torch.cat([x0, x1], 1) * x_mask
        if reverse:
            return x
        return x, torch.sum(logabsdet * x_mask, [1, 2])

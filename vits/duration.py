"""Duration predictors: the stochastic one (a flow over log-durations, trained by a variational bound,
``use_sdp=True`` in Piper's presets) and the deterministic conv one (``use_sdp=False``)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vits.flows import ConvFlow, ElementwiseAffine, Flip, Log
from vits.modules import DDSConv, LayerNorm


class StochasticDurationPredictor(nn.Module):
    """Flow-based duration model: ``forward`` returns the per-item negative variational lower bound on
    log p(durations | text); ``reverse=True`` samples log-durations with noise scaled by ``noise_scale``."""

    def __init__(self, in_channels: int, filter_channels: int, kernel_size: int, p_dropout: float,
                 n_flows: int = 4, gin_channels: int = 0) -> None:
        super().__init__()
        filter_channels = in_channels  # as in VITS and Piper: the filter width follows the input
        self.log_flow = Log()
        self.flows = nn.ModuleList([ElementwiseAffine(2)])
        for _ in range(n_flows):
            self.flows.append(ConvFlow(2, filter_channels, kernel_size, n_layers=3))
            self.flows.append(Flip())
        self.post_pre = nn.Conv1d(1, filter_channels, 1)
        self.post_proj = nn.Conv1d(filter_channels, filter_channels, 1)
        self.post_convs = DDSConv(filter_channels, kernel_size, n_layers=3, p_dropout=p_dropout)
        self.post_flows = nn.ModuleList([ElementwiseAffine(2)])
        for _ in range(4):
            self.post_flows.append(ConvFlow(2, filter_channels, kernel_size, n_layers=3))
            self.post_flows.append(Flip())
        self.pre = nn.Conv1d(in_channels, filter_channels, 1)
        self.proj = nn.Conv1d(filter_channels, filter_channels, 1)
        self.convs = DDSConv(filter_channels, kernel_size, n_layers=3, p_dropout=p_dropout)
        if gin_channels:
            self.cond = nn.Conv1d(gin_channels, filter_channels, 1)

    def forward(self, x: Tensor, x_mask: Tensor, w: Tensor | None = None, g: Tensor | None = None,
                reverse: bool = False, noise_scale: float | Tensor = 1.0) -> Tensor:
        x = self.pre(torch.detach(x))
        if g is not None:
            x = x + self.cond(torch.detach(g))
        x = self.proj(self.convs(x, x_mask)) * x_mask

        if reverse:
            flows = list(reversed(self.flows))
            flows = flows[:-2] + [flows[-1]]  # the ElementwiseAffine's partner flip adds nothing
            z = torch.randn(x.size(0), 2, x.size(2), device=x.device, dtype=x.dtype) * noise_scale
            for flow in flows:
                z = flow(z, x_mask, g=x, reverse=True)
            return z[:, :1]  # log-durations

        if w is None:
            raise ValueError("StochasticDurationPredictor needs the durations w for training")
        h_w = self.post_proj(self.post_convs(self.post_pre(w), x_mask)) * x_mask
        e_q = torch.randn(w.size(0), 2, w.size(2), device=x.device, dtype=x.dtype) * x_mask
        z_q = e_q
        logdet_q = torch.zeros(w.size(0), device=x.device, dtype=x.dtype)
        for flow in self.post_flows:
            z_q, logdet = flow(z_q, x_mask, g=x + h_w)
            logdet_q = logdet_q + logdet
        z_u, z1 = torch.split(z_q, [1, 1], 1)
        u = torch.sigmoid(z_u) * x_mask
        z0 = (w - u) * x_mask
        logdet_q = logdet_q + torch.sum((F.logsigmoid(z_u) + F.logsigmoid(-z_u)) * x_mask, [1, 2])
        logq = torch.sum(-0.5 * (math.log(2 * math.pi) + e_q**2) * x_mask, [1, 2]) - logdet_q

        z0, logdet_tot = self.log_flow(z0, x_mask)
        z = torch.cat([z0, z1], 1)
        for flow in self.flows:
            z, logdet = flow(z, x_mask, g=x)
            logdet_tot = logdet_tot + logdet
        nll = torch.sum(0.5 * (math.log(2 * math.pi) + z**2) * x_mask, [1, 2]) - logdet_tot
        return nll + logq


class DurationPredictor(nn.Module):
    """Deterministic log-duration regressor: two conv + ReLU + LayerNorm + dropout blocks and a 1x1 conv."""

    def __init__(self, in_channels: int, filter_channels: int, kernel_size: int, p_dropout: float,
                 gin_channels: int = 0) -> None:
        super().__init__()
        self.drop = nn.Dropout(p_dropout)
        self.conv_1 = nn.Conv1d(in_channels, filter_channels, kernel_size, padding=kernel_size // 2)
        self.norm_1 = LayerNorm(filter_channels)
        self.conv_2 = nn.Conv1d(filter_channels, filter_channels, kernel_size, padding=kernel_size // 2)
        self.norm_2 = LayerNorm(filter_channels)
        self.proj = nn.Conv1d(filter_channels, 1, 1)
        if gin_channels:
            self.cond = nn.Conv1d(gin_channels, in_channels, 1)

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None) -> Tensor:
        x = torch.detach(x)
        if g is not None:
            x = x + self.cond(torch.detach(g))
        x = self.drop(self.norm_1(torch.relu(self.conv_1(x * x_mask))))
        x = self.drop(self.norm_2(torch.relu(self.conv_2(x * x_mask))))
        return self.proj(x * x_mask) * x_mask

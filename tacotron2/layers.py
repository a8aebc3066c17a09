"""Small building blocks of Tacotron 2: Xavier-initialised Linear/Conv1d wrappers and a length mask.

The wrappers exist so the parameter names match the reference checkpoints (`...linear_layer.weight`,
`...conv.weight`); their init is Xavier uniform with the gain of the nonlinearity that follows.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class LinearNorm(nn.Module):
    """`nn.Linear` stored as `.linear_layer`, weight initialised Xavier-uniform with `w_init_gain`'s gain."""

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, w_init_gain: str = "linear") -> None:
        super().__init__()
        self.linear_layer = nn.Linear(in_dim, out_dim, bias=bias)
        nn.init.xavier_uniform_(self.linear_layer.weight, gain=nn.init.calculate_gain(w_init_gain))

    def forward(self, x: Tensor) -> Tensor:
        return self.linear_layer(x)


class ConvNorm(nn.Module):
    """`nn.Conv1d` stored as `.conv`, Xavier-uniform init; `padding=None` means "same" (odd kernels only)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        padding: int | None = None,
        dilation: int = 1,
        bias: bool = True,
        w_init_gain: str = "linear",
    ) -> None:
        super().__init__()
        if padding is None:
            if kernel_size % 2 != 1:
                raise ValueError(
                    f"ConvNorm: 'same' padding needs an odd kernel size, got kernel_size={kernel_size}; "
                    "pass an odd kernel size (e.g. --encoder-kernel-size / --postnet-kernel-size 5)"
                )
            padding = dilation * (kernel_size - 1) // 2
        self.conv = nn.Conv1d(
            in_channels,
            out_channels,
            kernel_size=kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            bias=bias,
        )
        nn.init.xavier_uniform_(self.conv.weight, gain=nn.init.calculate_gain(w_init_gain))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


def lengths_to_mask(lengths: Tensor, max_len: int) -> Tensor:
    """Boolean mask (B, max_len): True at positions `< lengths[b]` (real data), False at padding."""
    positions = torch.arange(max_len, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)


"""The VITS text encoder's transformer: multi-head self-attention with windowed relative positions
(Shaw et al. 2018; keys and values each get a learned embedding per offset in [-window, window], zero
beyond) and a convolutional feed-forward block, post-LayerNorm."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vits.modules import LayerNorm


class MultiHeadAttention(nn.Module):
    """Self-attention over (B, C, T) with relative-position embeddings ``emb_rel_k``/``emb_rel_v``
    (1, 2 * window_size + 1, C / n_heads), shared by the heads."""

    def __init__(self, channels: int, out_channels: int, n_heads: int, p_dropout: float = 0.0,
                 window_size: int = 4) -> None:
        super().__init__()
        if channels % n_heads:
            raise ValueError(f"attention channels ({channels}) must be divisible by n_heads ({n_heads})")
        self.n_heads = n_heads
        self.k_channels = channels // n_heads
        self.window_size = window_size
        std = self.k_channels**-0.5
        self.emb_rel_k = nn.Parameter(torch.randn(1, window_size * 2 + 1, self.k_channels) * std)
        self.emb_rel_v = nn.Parameter(torch.randn(1, window_size * 2 + 1, self.k_channels) * std)
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, out_channels, 1)
        self.drop = nn.Dropout(p_dropout)
        for conv in (self.conv_q, self.conv_k, self.conv_v):
            nn.init.xavier_uniform_(conv.weight)

    def _relative(self, embedding: Tensor, length: int) -> Tensor:
        """(T, T, k_channels): the embedding of offset j - i for query i and key j, zero past the window."""
        w = self.window_size
        padded = F.pad(embedding[0], [0, 0, 1, 1])  # row 0 and row 2w + 2 are the zero "beyond" rows
        steps = torch.arange(length, device=embedding.device)
        offset = (steps.view(1, -1) - steps.view(-1, 1)).clamp(-w - 1, w + 1) + w + 1
        # F.embedding, not padded[offset]: advanced indexing's backward adds the repeated rows with atomic
        # adds on the CPU, in an order that changes from run to run (resume would not be bitwise)
        return F.embedding(offset, padded)

    def forward(self, x: Tensor, c: Tensor, attn_mask: Tensor) -> Tensor:
        b, d, t = x.shape
        h, kc = self.n_heads, self.k_channels
        q = self.conv_q(x).view(b, h, kc, t).transpose(2, 3) / math.sqrt(kc)  # (B, H, T, kc)
        k = self.conv_k(c).view(b, h, kc, t).transpose(2, 3)
        v = self.conv_v(c).view(b, h, kc, t).transpose(2, 3)
        rel_k = self._relative(self.emb_rel_k, t)  # (T, T, kc)
        scores = torch.matmul(q, k.transpose(-2, -1))
        scores = scores + torch.einsum("bhid,ijd->bhij", q, rel_k)
        scores = scores.masked_fill(attn_mask == 0, -1e4)
        p_attn = self.drop(torch.softmax(scores, dim=-1))
        rel_v = self._relative(self.emb_rel_v, t)
        out = torch.matmul(p_attn, v) + torch.einsum("bhij,ijd->bhid", p_attn, rel_v)
        return self.conv_o(out.transpose(2, 3).reshape(b, d, t))


class FFN(nn.Module):
    """Two 'same'-padded convs with ReLU between, masked before each conv."""

    def __init__(self, in_channels: int, out_channels: int, filter_channels: int, kernel_size: int,
                 p_dropout: float = 0.0) -> None:
        super().__init__()
        self.pad = [(kernel_size - 1) // 2, kernel_size // 2]
        self.conv_1 = nn.Conv1d(in_channels, filter_channels, kernel_size)
        self.conv_2 = nn.Conv1d(filter_channels, out_channels, kernel_size)
        self.drop = nn.Dropout(p_dropout)

    def forward(self, x: Tensor, x_mask: Tensor) -> Tensor:
        x = self.drop(torch.relu(self.conv_1(F.pad(x * x_mask, self.pad))))
        return self.conv_2(F.pad(x * x_mask, self.pad)) * x_mask


class Encoder(nn.Module):
    """``n_layers`` of (relative self-attention, add & norm, FFN, add & norm) over masked (B, C, T)."""

    def __init__(self, hidden_channels: int, filter_channels: int, n_heads: int, n_layers: int,
                 kernel_size: int = 1, p_dropout: float = 0.0, window_size: int = 4) -> None:
        super().__init__()
        self.n_layers = n_layers
        self.drop = nn.Dropout(p_dropout)
        self.attn_layers = nn.ModuleList()
        self.norm_layers_1 = nn.ModuleList()
        self.ffn_layers = nn.ModuleList()
        self.norm_layers_2 = nn.ModuleList()
        for _ in range(n_layers):
            self.attn_layers.append(MultiHeadAttention(hidden_channels, hidden_channels, n_heads, p_dropout,
                                                       window_size))
            self.norm_layers_1.append(LayerNorm(hidden_channels))
            self.ffn_layers.append(FFN(hidden_channels, hidden_channels, filter_channels, kernel_size,
                                       p_dropout))
            self.norm_layers_2.append(LayerNorm(hidden_channels))

    def forward(self, x: Tensor, x_mask: Tensor) -> Tensor:
        attn_mask = x_mask.unsqueeze(2) * x_mask.unsqueeze(-1)
        x = x * x_mask
        for i in range(self.n_layers):
            x = self.norm_layers_1[i](x + self.drop(self.attn_layers[i](x, x, attn_mask)))
            x = self.norm_layers_2[i](x + self.drop(self.ffn_layers[i](x, x_mask)))
        return x * x_mask

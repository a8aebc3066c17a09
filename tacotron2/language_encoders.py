"""The encoders of a multilingual Tacotron 2: `shared` (one encoder, a language embedding per symbol),
`separate` (one encoder per language) and `generated` (convolutions generated per language)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from tacotron2.layers import LinearNorm, lengths_to_mask
from tacotron2.model import Encoder
from tacotron2.multilingual_errors import MultilingualConfigError, MultilingualInputError

__all__ = ["ENCODER_TYPES", "GeneratedConv1d", "GeneratedEncoder", "SeparateEncoder", "SharedEncoder",
           "language_spans"]

ENCODER_TYPES = ("shared", "separate", "generated")


def language_spans(language_ids: Tensor,
                   input_lengths: Tensor | None = None) -> list[tuple[int, int, int, int]]:
    """Maximal runs of one language per item: (item, start, end, language), end exclusive, no padding.

    language_ids (B, T_in); input_lengths (B,) or None (no padding).
    """
    ids = language_ids.detach().to("cpu", torch.int64)
    batch, t_in = ids.shape
    lengths = [t_in] * batch if input_lengths is None else input_lengths.detach().cpu().tolist()
    changes = (ids[:, 1:] != ids[:, :-1]).nonzero().tolist()
    cuts: list[list[int]] = [[] for _ in range(batch)]
    for b, t in changes:
        cuts[b].append(t + 1)
    spans = []
    for b in range(batch):
        length = int(lengths[b])
        bounds = [0] + [c for c in cuts[b] if c < length] + [length]
        spans += [(b, s, e, int(ids[b, s])) for s, e in zip(bounds[:-1], bounds[1:], strict=True) if e > s]
    return spans


class SharedEncoder(Encoder):
    """The reference encoder over [character embedding; language embedding] at every position."""

    def __init__(self, encoder_n_convolutions: int, encoder_embedding_dim: int, encoder_kernel_size: int,
                 symbols_embedding_dim: int, n_languages: int, language_embedding_dim: int,
                 p_dropout: float = 0.5) -> None:
        super().__init__(encoder_n_convolutions, encoder_embedding_dim, encoder_kernel_size,
                         symbols_embedding_dim + language_embedding_dim, p_dropout)
        self.language_embedding = nn.Embedding(n_languages, language_embedding_dim)
        _uniform_embedding_init(self.language_embedding)

    def forward(self, x: Tensor, input_lengths: Tensor | None = None,
                language_ids: Tensor | None = None) -> Tensor:
        """(B, C_emb, T_in) embedded symbols and (B, T_in) language ids -> (B, T_in, encoder_dim)."""
        if language_ids is None:
            raise MultilingualInputError("the shared encoder with a language embedding needs language ids")
        languages = self.language_embedding(language_ids).transpose(1, 2).to(x.dtype)
        return super().forward(torch.cat((x, languages), dim=1), input_lengths)


class SeparateEncoder(nn.Module):
    """One reference encoder per language; every same-language span of an input runs through its own.

    In training mode, encoders that get no span in a batch still enter the graph with a zero-weighted
    term, so DistributedDataParallel sees every parameter used.
    """

    def __init__(self, n_languages: int, encoder_n_convolutions: int, encoder_embedding_dim: int,
                 encoder_kernel_size: int, symbols_embedding_dim: int, p_dropout: float = 0.5) -> None:
        super().__init__()
        self.encoder_embedding_dim = encoder_embedding_dim
        self.encoders = nn.ModuleList(
            Encoder(encoder_n_convolutions, encoder_embedding_dim, encoder_kernel_size, symbols_embedding_dim,
                    p_dropout)
            for _ in range(n_languages)
        )

    def forward(self, x: Tensor, input_lengths: Tensor | None = None,
                language_ids: Tensor | None = None) -> Tensor:
        """(B, C_emb, T_in) and (B, T_in) language ids -> (B, T_in, encoder_dim); padded rows are 0."""
        if language_ids is None:
            raise MultilingualInputError("the separate encoders need language ids")
        batch, _, t_in = x.shape
        spans = language_spans(language_ids, input_lengths)
        out = x.new_zeros(batch, t_in, self.encoder_embedding_dim)
        for language, encoder in enumerate(self.encoders):
            mine = [span for span in spans if span[3] == language]
            if not mine:
                if self.training:
                    out = out + 0.0 * sum(p.sum() for p in encoder.parameters())
                continue
            lengths = torch.tensor([end - start for _, start, end, _ in mine], dtype=torch.long)
            pieces = x.new_zeros(len(mine), x.size(1), int(lengths.max()))
            for i, (b, start, end, _) in enumerate(mine):
                pieces[i, :, : end - start] = x[b, :, start:end]
            encoded = encoder(pieces, lengths.to(x.device))
            for i, (b, start, end, _) in enumerate(mine):
                out[b, start:end] = encoded[i, : end - start]
        return out


class GeneratedConv1d(nn.Module):
    """Conv1d ('same' padding) whose weight and bias are generated from a language embedding.

    code (E) -> Linear(E, bottleneck) -> Linear(bottleneck, out*in*k + out) -> (weight, bias). The
    generator's bias starts as a Xavier-initialised convolution (ReLU gain) and zero bias, so every language
    starts from one well-scaled convolution and learns its own deviation through the bottleneck.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, embedding_dim: int,
                 bottleneck_dim: int) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise MultilingualConfigError(
                f"--encoder-kernel-size must be odd ('same' padding), got {kernel_size}"
            )
        self.shape = (out_channels, in_channels, kernel_size)
        self.n_weights = out_channels * in_channels * kernel_size
        self.bottleneck = LinearNorm(embedding_dim, bottleneck_dim)
        self.generator = LinearNorm(bottleneck_dim, self.n_weights + out_channels)
        with torch.no_grad():
            base = torch.empty(self.shape)
            nn.init.xavier_uniform_(base, gain=nn.init.calculate_gain("relu"))
            self.generator.linear_layer.bias.copy_(torch.cat((base.flatten(), torch.zeros(out_channels))))

    def parameters_for(self, codes: Tensor) -> tuple[Tensor, Tensor]:
        """Language codes (L, E) -> weights (L, out, in, k) and biases (L, out)."""
        params = self.generator(self.bottleneck(codes))
        return params[:, : self.n_weights].reshape(-1, *self.shape), params[:, self.n_weights:]

    def forward(self, x: Tensor, language_ids: Tensor, codes: Tensor) -> Tensor:
        """(B, in, T) with per-position language ids (B, T) -> (B, out, T).

        Position t is computed with the weights of language_ids[:, t] (so spans of a code-switched input
        each use their language's convolution).
        """
        weights, biases = self.parameters_for(codes)
        weights, biases = weights.to(x.dtype), biases.to(x.dtype)
        padding = self.shape[2] // 2
        present = torch.unique(language_ids).tolist()
        if len(present) == 1:
            return F.conv1d(x, weights[present[0]], biases[present[0]], padding=padding)
        out = x.new_zeros(x.size(0), self.shape[0], x.size(2))
        for language in present:
            mask = language_ids == language
            items = mask.any(dim=1).nonzero().squeeze(1)
            y = F.conv1d(x[items], weights[language], biases[language], padding=padding)
            out = out.index_add(0, items, y * mask[items].unsqueeze(1).to(y.dtype))
        return out


class GeneratedEncoder(Encoder):
    """Encoder whose convolutions are generated per language (`GeneratedConv1d` + shared BatchNorm, ReLU,
    dropout 0.5), followed by the reference's shared bidirectional LSTM."""

    def __init__(self, encoder_n_convolutions: int, encoder_embedding_dim: int, encoder_kernel_size: int,
                 symbols_embedding_dim: int, n_languages: int, language_embedding_dim: int,
                 bottleneck_dim: int, p_dropout: float = 0.5) -> None:
        lstm_input = encoder_embedding_dim if encoder_n_convolutions else symbols_embedding_dim
        super().__init__(0, encoder_embedding_dim, encoder_kernel_size, lstm_input, p_dropout)
        self.language_embedding = nn.Embedding(n_languages, language_embedding_dim)
        _uniform_embedding_init(self.language_embedding)
        dims = [symbols_embedding_dim] + [encoder_embedding_dim] * encoder_n_convolutions
        self.generated = nn.ModuleList(
            GeneratedConv1d(dims[i], dims[i + 1], encoder_kernel_size, language_embedding_dim, bottleneck_dim)
            for i in range(encoder_n_convolutions)
        )
        self.norms = nn.ModuleList(nn.BatchNorm1d(dims[i + 1]) for i in range(encoder_n_convolutions))

    def forward(self, x: Tensor, input_lengths: Tensor | None = None,
                language_ids: Tensor | None = None) -> Tensor:
        """(B, C_emb, T_in) and (B, T_in) language ids -> (B, T_in, encoder_dim); padded rows are 0."""
        if language_ids is None:
            raise MultilingualInputError("the generated encoder needs language ids")
        mask = None
        if input_lengths is not None:
            mask = lengths_to_mask(input_lengths.to(x.device), x.size(2)).unsqueeze(1)
            x = x.masked_fill(~mask, 0.0)
        codes = self.language_embedding.weight
        for conv, norm in zip(self.generated, self.norms, strict=True):
            x = F.dropout(F.relu(norm(conv(x, language_ids, codes))), self.p_dropout, self.training)
            if mask is not None:
                x = x.masked_fill(~mask, 0.0)
        return super().forward(x, input_lengths)


def _uniform_embedding_init(embedding: nn.Embedding) -> None:
    """U(-b, b) with b = sqrt(3) * sqrt(2 / (rows + dim)), as the symbol embedding."""
    rows, dim = embedding.weight.shape
    bound = math.sqrt(3.0) * math.sqrt(2.0 / (rows + dim))
    nn.init.uniform_(embedding.weight, -bound, bound)

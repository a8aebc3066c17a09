"""VITS (Kim et al. 2021) generator in Piper's layout: ``SynthesizerTrn(**keywords)`` takes Piper's
generator keywords and has Piper's state_dict names and shapes, so Piper checkpoints load strictly.

Parts (names as in the state_dict): ``enc_p`` text encoder (relative-position transformer), ``enc_q``
posterior encoder (WaveNet over the linear spectrogram), ``flow`` residual coupling flow, ``dp`` duration
predictor (stochastic or deterministic), ``dec`` HiFi-GAN decoder, ``emb_g`` speaker embedding (only
with ``n_speakers > 1``). ``forward`` is the training pass (monotonic alignment search inside, returns
``VitsOutput``); ``infer`` synthesises audio from phoneme ids.

``QUALITY_PRESETS`` holds Piper's ``--quality`` presets (x-low, medium, high); ``preset_keywords``
returns one, with the speaker count set.
"""

from __future__ import annotations

import copy
import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from vits import attentions
from vits.commons import generate_path, rand_slice_segments, remove_weight_norm, sequence_mask
from vits.decoder import Generator
from vits.duration import DurationPredictor, StochasticDurationPredictor
from vits.flows import ResidualCouplingBlock
from vits.modules import WN
from vits.monotonic_align import maximum_path

_MEDIUM: dict[str, Any] = {
    "n_vocab": 256, "spec_channels": 513, "segment_size": 32, "inter_channels": 192, "hidden_channels": 192,
    "filter_channels": 768, "n_heads": 2, "n_layers": 6, "kernel_size": 3, "p_dropout": 0.1,
    "resblock": "2", "resblock_kernel_sizes": [3, 5, 7], "resblock_dilation_sizes": [[1, 2], [2, 6], [3, 12]],
    "upsample_rates": [8, 8, 4], "upsample_initial_channel": 256, "upsample_kernel_sizes": [16, 16, 8],
    "n_speakers": 1, "gin_channels": 0, "use_sdp": True,
}
QUALITY_PRESETS: dict[str, dict[str, Any]] = {
    "x-low": {**_MEDIUM, "inter_channels": 96, "hidden_channels": 96, "filter_channels": 384},
    "medium": _MEDIUM,
    "high": {**_MEDIUM, "resblock": "1", "resblock_kernel_sizes": [3, 7, 11],
             "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "upsample_rates": [8, 8, 2, 2],
             "upsample_initial_channel": 512, "upsample_kernel_sizes": [16, 16, 4, 4]},
}
MULTI_SPEAKER_GIN_CHANNELS = 512  # Piper's speaker embedding width
HOP_LENGTH = 256
SAMPLE_RATE = 22050


def preset_keywords(quality: str = "medium", n_speakers: int = 1, n_vocab: int = 256) -> dict[str, Any]:
    """Piper's generator keywords for ``--quality`` (a deep copy); more than one speaker sets
    ``gin_channels`` to 512 as Piper does."""
    if quality not in QUALITY_PRESETS:
        raise ValueError(f"--quality must be one of {', '.join(QUALITY_PRESETS)}, got {quality!r}")
    if n_speakers < 1:
        raise ValueError(f"n_speakers must be at least 1, got {n_speakers}")
    keywords = copy.deepcopy(QUALITY_PRESETS[quality])
    keywords.update(n_vocab=n_vocab, n_speakers=n_speakers,
                    gin_channels=MULTI_SPEAKER_GIN_CHANNELS if n_speakers > 1 else 0)
    return keywords


class TextEncoder(nn.Module):
    """Phoneme ids -> hidden states and the prior's mean and log-std per token."""

    def __init__(self, n_vocab: int, out_channels: int, hidden_channels: int, filter_channels: int,
                 n_heads: int, n_layers: int, kernel_size: int, p_dropout: float) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.hidden_channels = hidden_channels
        self.emb = nn.Embedding(n_vocab, hidden_channels)
        nn.init.normal_(self.emb.weight, 0.0, hidden_channels**-0.5)
        self.encoder = attentions.Encoder(hidden_channels, filter_channels, n_heads, n_layers, kernel_size,
                                          p_dropout)
        self.proj = nn.Conv1d(hidden_channels, out_channels * 2, 1)

    def forward(self, x: Tensor, x_lengths: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        x = (self.emb(x) * math.sqrt(self.hidden_channels)).transpose(1, -1)  # (B, H, T)
        x_mask = sequence_mask(x_lengths, x.size(2)).unsqueeze(1).to(x.dtype)
        x = self.encoder(x * x_mask, x_mask)
        stats = self.proj(x) * x_mask
        m, logs = torch.split(stats, self.out_channels, dim=1)
        return x, m, logs, x_mask


class PosteriorEncoder(nn.Module):
    """Linear spectrogram -> posterior sample z, its mean and log-std (a 16-layer WaveNet)."""

    def __init__(self, in_channels: int, out_channels: int, hidden_channels: int, kernel_size: int,
                 dilation_rate: int, n_layers: int, gin_channels: int = 0) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.pre = nn.Conv1d(in_channels, hidden_channels, 1)
        self.enc = WN(hidden_channels, kernel_size, dilation_rate, n_layers, gin_channels=gin_channels)
        self.proj = nn.Conv1d(hidden_channels, out_channels * 2, 1)

    def forward(self, x: Tensor, x_lengths: Tensor, g: Tensor | None = None):
        x_mask = sequence_mask(x_lengths, x.size(2)).unsqueeze(1).to(x.dtype)
        x = self.enc(self.pre(x) * x_mask, x_mask, g=g)
        stats = self.proj(x) * x_mask
        m, logs = torch.split(stats, self.out_channels, dim=1)
        z = (m + torch.randn_like(m) * torch.exp(logs)) * x_mask
        return z, m, logs, x_mask


class VitsOutput(NamedTuple):
    """The training pass's results (``SynthesizerTrn.forward``)."""

    audio: Tensor  # (B, 1, segment_size * hop) decoded from the sliced posterior z
    duration_loss: Tensor  # (B,) duration predictor loss per item, per token
    attn: Tensor  # (B, 1, T_frames, T_text) the monotonic alignment found by MAS
    ids_slice: Tensor  # (B,) start frame of each decoded segment
    x_mask: Tensor  # (B, 1, T_text)
    y_mask: Tensor  # (B, 1, T_frames)
    z: Tensor  # posterior sample (B, inter, T_frames)
    z_p: Tensor  # z through the flow
    m_p: Tensor  # prior mean expanded to frames
    logs_p: Tensor  # prior log-std expanded to frames
    m_q: Tensor  # posterior mean
    logs_q: Tensor  # posterior log-std


class VitsInference(NamedTuple):
    """``SynthesizerTrn.infer``'s results; ``audio`` first, as Piper's ``infer(...)[0]``."""

    audio: Tensor  # (B, 1, samples)
    attn: Tensor  # (B, 1, T_frames, T_text)
    y_mask: Tensor  # (B, 1, T_frames)
    z: Tensor
    z_p: Tensor
    m_p: Tensor
    logs_p: Tensor


class SynthesizerTrn(nn.Module):
    """The VITS generator with Piper's keywords (see ``QUALITY_PRESETS``) and state_dict layout."""

    def __init__(self, n_vocab: int, spec_channels: int, segment_size: int, inter_channels: int,
                 hidden_channels: int, filter_channels: int, n_heads: int, n_layers: int, kernel_size: int,
                 p_dropout: float, resblock: str, resblock_kernel_sizes: list[int],
                 resblock_dilation_sizes: list[list[int]], upsample_rates: list[int],
                 upsample_initial_channel: int, upsample_kernel_sizes: list[int], n_speakers: int = 1,
                 gin_channels: int = 0, use_sdp: bool = True, **unused: Any) -> None:
        super().__init__()
        if unused:
            raise TypeError(f"SynthesizerTrn: unknown keyword(s) {', '.join(sorted(unused))}")
        if n_speakers > 1 and gin_channels <= 0:
            raise ValueError(f"SynthesizerTrn: {n_speakers} speakers need gin_channels > 0")
        self.keywords = {
            "n_vocab": n_vocab, "spec_channels": spec_channels, "segment_size": segment_size,
            "inter_channels": inter_channels, "hidden_channels": hidden_channels,
            "filter_channels": filter_channels, "n_heads": n_heads, "n_layers": n_layers,
            "kernel_size": kernel_size, "p_dropout": p_dropout, "resblock": str(resblock),
            "resblock_kernel_sizes": list(resblock_kernel_sizes),
            "resblock_dilation_sizes": [list(d) for d in resblock_dilation_sizes],
            "upsample_rates": list(upsample_rates), "upsample_initial_channel": upsample_initial_channel,
            "upsample_kernel_sizes": list(upsample_kernel_sizes), "n_speakers": n_speakers,
            "gin_channels": gin_channels, "use_sdp": use_sdp,
        }
        self.n_speakers = n_speakers
        self.segment_size = segment_size
        self.use_sdp = use_sdp
        self.hop_length = math.prod(upsample_rates)
        self.enc_p = TextEncoder(n_vocab, inter_channels, hidden_channels, filter_channels, n_heads, n_layers,
                                 kernel_size, p_dropout)
        self.dec = Generator(inter_channels, resblock, resblock_kernel_sizes, resblock_dilation_sizes,
                             upsample_rates, upsample_initial_channel, upsample_kernel_sizes,
                             gin_channels=gin_channels)
        self.enc_q = PosteriorEncoder(spec_channels, inter_channels, hidden_channels, 5, 1, 16,
                                      gin_channels=gin_channels)
        self.flow = ResidualCouplingBlock(inter_channels, hidden_channels, 5, 1, 4, gin_channels=gin_channels)
        if use_sdp:
            self.dp = StochasticDurationPredictor(hidden_channels, 192, 3, 0.5, 4, gin_channels=gin_channels)
        else:
            self.dp = DurationPredictor(hidden_channels, 256, 3, 0.5, gin_channels=gin_channels)
        if n_speakers > 1:
            self.emb_g = nn.Embedding(n_speakers, gin_channels)

    def _speaker(self, sid: Tensor | None, batch: int, device: torch.device) -> Tensor | None:
        if self.n_speakers <= 1:
            return None
        if sid is None:
            sid = torch.zeros(batch, dtype=torch.long, device=device)
        return self.emb_g(sid).unsqueeze(-1)  # (B, gin, 1)

    def forward(self, x: Tensor, x_lengths: Tensor, y: Tensor, y_lengths: Tensor,
                sid: Tensor | None = None) -> VitsOutput:
        """Training pass: phoneme ids (B, T_text) and linear spectrograms (B, spec_channels, T_frames)."""
        x, m_p, logs_p, x_mask = self.enc_p(x, x_lengths)
        g = self._speaker(sid, x.size(0), x.device)
        z, m_q, logs_q, y_mask = self.enc_q(y, y_lengths, g=g)
        z_p = self.flow(z, y_mask, g=g)

        with torch.no_grad():  # log N(z_p; m_p, s_p) of every frame under every token, (B, T_frames, T_text)
            s_p_sq_r = torch.exp(-2 * logs_p)
            neg_cent = (torch.sum(-0.5 * math.log(2 * math.pi) - logs_p, [1], keepdim=True)
                        + torch.matmul(-0.5 * (z_p**2).transpose(1, 2), s_p_sq_r)
                        + torch.matmul(z_p.transpose(1, 2), m_p * s_p_sq_r)
                        + torch.sum(-0.5 * (m_p**2) * s_p_sq_r, [1], keepdim=True))
            attn_mask = x_mask.unsqueeze(2) * y_mask.unsqueeze(-1)
            attn = maximum_path(neg_cent, attn_mask.squeeze(1)).unsqueeze(1).detach()

        w = attn.sum(2)  # frames per token (B, 1, T_text)
        if self.use_sdp:
            l_length = self.dp(x, x_mask, w, g=g) / torch.sum(x_mask)
        else:
            logw_ = torch.log(w + 1e-6) * x_mask
            logw = self.dp(x, x_mask, g=g)
            l_length = torch.sum((logw - logw_) ** 2, [1, 2]) / torch.sum(x_mask)

        m_p = torch.matmul(attn.squeeze(1), m_p.transpose(1, 2)).transpose(1, 2)
        logs_p = torch.matmul(attn.squeeze(1), logs_p.transpose(1, 2)).transpose(1, 2)
        z_slice, ids_slice = rand_slice_segments(z, y_lengths, self.segment_size)
        audio = self.dec(z_slice, g=g)
        return VitsOutput(audio, l_length, attn, ids_slice, x_mask, y_mask, z, z_p, m_p, logs_p, m_q, logs_q)

    def infer(self, x: Tensor, x_lengths: Tensor, sid: Tensor | None = None,
              noise_scale: float | Tensor = 0.667, length_scale: float | Tensor = 1.0,
              noise_scale_w: float | Tensor = 0.8, max_len: int | None = None) -> VitsInference:
        """Synthesise from phoneme ids (B, T_text); ``audio`` (B, 1, samples) comes first."""
        x, m_p, logs_p, x_mask = self.enc_p(x, x_lengths)
        g = self._speaker(sid, x.size(0), x.device)
        if self.use_sdp:
            logw = self.dp(x, x_mask, g=g, reverse=True, noise_scale=noise_scale_w)
        else:
            logw = self.dp(x, x_mask, g=g)
        w_ceil = torch.ceil(torch.exp(logw) * x_mask * length_scale)
        y_lengths = torch.clamp_min(torch.sum(w_ceil, [1, 2]), 1).long()
        y_mask = sequence_mask(y_lengths, None).unsqueeze(1).to(x_mask.dtype)
        attn_mask = x_mask.unsqueeze(2) * y_mask.unsqueeze(-1)
        attn = generate_path(w_ceil, attn_mask)
        m_p = torch.matmul(attn.squeeze(1), m_p.transpose(1, 2)).transpose(1, 2)
        logs_p = torch.matmul(attn.squeeze(1), logs_p.transpose(1, 2)).transpose(1, 2)
        z_p = m_p + torch.randn_like(m_p) * torch.exp(logs_p) * noise_scale
        z = self.flow(z_p, y_mask, g=g, reverse=True)
        audio = self.dec((z * y_mask)[:, :, :max_len], g=g)
        return VitsInference(audio, attn, y_mask, z, z_p, m_p, logs_p)

    def remove_weight_norm(self) -> SynthesizerTrn:
        """Fold every weight norm (inference and export); returns self. The state_dict then no longer has
        Piper's training layout."""
        remove_weight_norm(self)
        return self


def parameter_count(module: nn.Module) -> int:
    """Number of parameters of ``module``."""
    return sum(p.numel() for p in module.parameters())

"""WaveGlow export wrapper.

`WaveGlowInference` folds weight norm into plain convolutions, precomputes every inverse 1x1-convolution
weight (the ONNX opset has no matrix inverse) and takes the latent `z` as an input, so ONNX and
TorchScript outputs can be checked against eager `WaveGlow.infer(mel, z=z)`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from common.export.base import ExportError, _eval_copy
from waveglow.model import UPSAMPLE_STRIDE, WaveGlow, remove_weightnorm


class _WNLayerExport(nn.Module):
    """One WN layer (weight norm folded): gated dilated conv plus its slice of the conditioning, res/skip."""

    def __init__(self, in_layer: nn.Conv1d, res_skip_layer: nn.Conv1d, index: int, n_channels: int,
                 is_last: bool) -> None:
        super().__init__()
        self.in_layer = in_layer
        self.res_skip_layer = res_skip_layer
        self.n_channels = n_channels
        self.cond_start = 2 * n_channels * index
        self.cond_end = 2 * n_channels * (index + 1)
        self.is_last = is_last

    def forward(self, x: Tensor, cond: Tensor) -> tuple[Tensor, Tensor]:
        """-> (new residual stream x, this layer's skip contribution)."""
        c = self.n_channels
        h = self.in_layer(x) + cond[:, self.cond_start:self.cond_end]
        acts = torch.tanh(h[:, :c]) * torch.sigmoid(h[:, c:])
        res_skip = self.res_skip_layer(acts)
        if self.is_last:
            return x, res_skip
        return x + res_skip[:, :c], res_skip[:, c:]


class _WNExport(nn.Module):
    """`waveglow.model.WN.forward` over plain convolutions (all conditioning convs as one matrix)."""

    def __init__(self, wn: nn.Module) -> None:
        super().__init__()
        if not isinstance(wn.start, nn.Conv1d):
            raise ExportError("WaveGlow WN still has weight norm; call remove_weightnorm first")
        self.start = wn.start
        self.end = wn.end
        self.register_buffer("cond_weight", torch.cat([layer.weight for layer in wn.cond_layers]).detach())
        self.register_buffer("cond_bias", torch.cat([layer.bias for layer in wn.cond_layers]).detach())
        n = wn.n_layers
        self.layers = nn.ModuleList(
            _WNLayerExport(wn.in_layers[i], wn.res_skip_layers[i], i, wn.n_channels, i == n - 1)
            for i in range(n)
        )

    def forward(self, audio: Tensor, spect: Tensor) -> Tensor:
        x = self.start(audio)
        cond = F.conv1d(spect, self.cond_weight, self.cond_bias)
        skip: Tensor | None = None
        for layer in self.layers:
            x, part = layer(x, cond)
            skip = part if skip is None else skip + part
        assert skip is not None
        return self.end(skip)


class _FlowReverseExport(nn.Module):
    """One inverted flow: affine coupling reversed, inverse 1x1 conv, then re-attach early channels of z."""

    def __init__(self, wn: nn.Module, inverse_weight: Tensor, early_start: int, early_size: int) -> None:
        super().__init__()
        self.wn = _WNExport(wn)
        self.register_buffer("inverse_weight", inverse_weight.detach().clone())
        self.early_start = early_start  # -1: this flow emitted no early channels
        self.early_end = early_start + early_size

    def forward(self, x: Tensor, spect: Tensor, z: Tensor) -> Tensor:
        n_half = x.size(1) // 2
        audio_0 = x[:, :n_half]
        out = self.wn(audio_0, spect)
        b = out[:, :n_half]
        log_s = out[:, n_half:]
        x = torch.cat([audio_0, (x[:, n_half:] - b) * torch.exp(-log_s)], dim=1)
        x = F.conv1d(x, self.inverse_weight)
        if self.early_start >= 0:
            x = torch.cat([z[:, self.early_start:self.early_end], x], dim=1)
        return x


class WaveGlowInference(nn.Module):
    """WaveGlow synthesis with z as an input: `forward(mel, z)` = eager `WaveGlow.infer(mel, z=z)`.

    mel (B, n_mel, frames); z (B, n_group, frames * 256 / n_group) (sigma already applied) -> audio
    (B, frames * 256). `infer(mel, sigma)` draws z like eager `infer` (same RNG use).
    """

    def __init__(self, model: WaveGlow) -> None:
        super().__init__()
        model = remove_weightnorm(_eval_copy(model))
        self.upsample = model.upsample
        self.n_group: int = model.n_group
        self.n_mel_channels: int = model.n_mel_channels
        self.hop_length: int = UPSAMPLE_STRIDE
        self.n_early_total: int = model.n_group - model.n_remaining_channels
        flows = []
        early_index = self.n_early_total
        with torch.no_grad():
            for k in reversed(range(model.n_flows)):
                early_start = -1
                if model.is_early(k):
                    early_index -= model.n_early_size
                    early_start = early_index
                inverse = model.convinv[k].inverse_weight()
                flows.append(_FlowReverseExport(model.WN[k], inverse, early_start, model.n_early_size))
        self.flows = nn.ModuleList(flows)

    def _grouped_spect(self, mel: Tensor, n_samples: int) -> Tensor:
        up = self.upsample(mel)[:, :, :n_samples]
        batch = up.size(0)
        g = self.n_group
        up = up.reshape(batch, self.n_mel_channels, -1, g).permute(0, 2, 1, 3)
        return up.reshape(batch, -1, self.n_mel_channels * g).transpose(1, 2)

    def forward(self, mel: Tensor, z: Tensor) -> Tensor:
        spect = self._grouped_spect(mel, z.size(2) * self.n_group)
        z = z.to(spect.dtype)
        x = z[:, self.n_early_total:]
        for flow in self.flows:
            x = flow(x, spect, z)
        return x.transpose(1, 2).reshape(x.size(0), -1)

    @torch.jit.export
    def infer(self, mel: Tensor, sigma: float = 1.0) -> Tensor:
        """Draw z ~ sigma * N(0, 1) (as eager `WaveGlow.infer`) and synthesise."""
        with torch.no_grad():
            n_steps = mel.size(2) * self.hop_length // self.n_group
            shape = [mel.size(0), self.n_group, n_steps]
            z = torch.randn(shape, dtype=self.upsample.weight.dtype, device=mel.device) * sigma
            return self.forward(mel, z)

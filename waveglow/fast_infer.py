"""Fast WaveGlow inference: the function of `WaveGlow.infer`, with fewer multiply-adds and no copies.

`set_waveglow_impl(model, "fast")` routes `WaveGlow.infer` here; `WaveGlow.infer` itself stays the
reference ("eager") path. Same parameters, same noise draw, same audio up to float rounding (sums are
grouped differently; tests/test_fast_paths.py compares both with the same z). Weight norm may or may not
have been removed. What changes (measurements: docs/PERFORMANCE.md):

- The skip path is folded into the end layer: end(sum_i S_i a_i + s_i) = sum_i (E S_i) a_i + const, and
  E S_i has 2 * n_half rows instead of C, so every layer's skip product (C x C per sample) disappears and
  the residual and skip products of a layer are one matrix product with C + 2 * n_half rows.
- The start layer is folded into the first dilated layer: in_0(start(a)) is a dilated convolution of the
  n_half-channel audio with weight (W_in0 taps) x (W_start), plus a bias whose taps that fall into the
  zero padding are removed at the two edges; the first layer's C -> 2C product becomes n_half -> 2C.
- All conditioning products of a flow are one matrix product, and every layer bias (in-layer, cond,
  folded start) is folded into its bias; the dilated convolutions accumulate tap by tap (matrix products
  on shifted column views) straight into that conditioning buffer, and the gate runs in place there.
- Couplings and invertible convolutions update one audio buffer in place: no concatenations.

Per sample and layer this removes 2 C^2 of about 12 C^2 + 4 C^2 + 4 C^2 + 2560 C multiply-adds (C = WN
channels), plus most of the first layer; on a CPU that is compute bound this is the expected gain
(docs/PERFORMANCE.md). Works in any float dtype on any device (fp16 on CUDA: the folded weights are
formed in float32 and rounded once).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

IMPLS = ("eager", "fast")


class WaveGlowImplError(ValueError):
    """An unknown WaveGlow inference implementation name."""


def set_waveglow_impl(model: nn.Module, impl: str) -> nn.Module:
    """Route `model.infer` to `impl` ("eager": waveglow/model.py, "fast": this module); returns the model.

    Only a plain attribute changes: constructor arguments and the state_dict stay the same.
    """
    if impl not in IMPLS:
        raise WaveGlowImplError(f"WaveGlow inference implementation must be one of {', '.join(IMPLS)}, "
                                f"got {impl!r}")
    if not hasattr(model, "WN") or not hasattr(model, "convinv"):
        raise WaveGlowImplError(f"{type(model).__name__} is not a WaveGlow model")
    model.impl = impl
    return model


@dataclass
class _Flow:
    """One coupling network's weights, rearranged and folded for inference (see the module docstring)."""

    start_w: Tensor  # (C, n_half)
    start_b: Tensor  # (C, 1)
    first_taps: Tensor  # (K, 2C, n_half): in_0 taps times start weight
    first_edge: Tensor  # (K, 2C): in_0 tap k times the start bias (removed where tap k reads padding)
    in_taps: list[Tensor]  # per layer (K, 2C, C); entry 0 unused
    dilations: list[int]
    cond_w: Tensor  # (L * 2C, n_cond)
    cond_b: Tensor  # (L * 2C, 1): cond + in-layer biases (+ folded start bias for layer 0)
    res_skip_w: list[Tensor]  # (C + 2 n_half, C), last layer (2 n_half, C)
    res_skip_b: list[Tensor]  # (C + 2 n_half, 1): residual bias, zeros for the folded skip rows
    out_b: Tensor  # (2 n_half, 1): end bias + E (sum of skip biases)


def _weight(conv: nn.Module) -> Tensor:
    """Effective weight of a weight-norm or plain convolution."""
    compute = getattr(conv, "compute_weight", None)
    return compute() if compute is not None else conv.weight


def _prepare(wn: nn.Module, dtype: torch.dtype) -> _Flow:
    """Fold one WN's weights (in float32 or wider, rounded once to `dtype`)."""
    wide = torch.promote_types(dtype, torch.float32)
    n_layers, channels = wn.n_layers, wn.n_channels

    def w(conv: nn.Module) -> Tensor:
        return _weight(conv).detach().to(wide)

    def b(conv: nn.Module) -> Tensor:
        return conv.bias.detach().to(wide)

    start_w, start_b = w(wn.start)[:, :, 0], b(wn.start)
    end_w, end_b = w(wn.end)[:, :, 0], b(wn.end)
    in_taps = [w(layer).permute(2, 0, 1) for layer in wn.in_layers]  # (K, 2C, C)
    dilations = [int(layer.dilation if isinstance(layer.dilation, int) else layer.dilation[0])
                 for layer in wn.in_layers]
    first_taps = in_taps[0] @ start_w  # (K, 2C, n_half)
    first_edge = in_taps[0] @ start_b  # (K, 2C)
    cond_w = torch.cat([w(layer)[:, :, 0] for layer in wn.cond_layers])
    cond_b = torch.cat([b(cond) + b(layer) for cond, layer in zip(wn.cond_layers, wn.in_layers, strict=True)])
    cond_b[: 2 * channels] += first_edge.sum(dim=0)

    res_skip_w, res_skip_b = [], []
    skip_bias = torch.zeros_like(end_b)
    for i, layer in enumerate(wn.res_skip_layers):
        weight, bias = w(layer)[:, :, 0], b(layer)
        if i < n_layers - 1:
            res_w, skip_w = weight[:channels], weight[channels:]
            res_b, skip_b = bias[:channels], bias[channels:]
            res_skip_w.append(torch.cat((res_w, end_w @ skip_w)))
            res_skip_b.append(torch.cat((res_b, torch.zeros_like(end_b))))
        else:
            skip_w, skip_b = weight, bias
            res_skip_w.append(end_w @ skip_w)
            res_skip_b.append(torch.zeros_like(end_b))
        skip_bias += end_w @ skip_b

    def cast(t: Tensor) -> Tensor:
        return t.to(dtype).contiguous()

    return _Flow(
        start_w=cast(start_w), start_b=cast(start_b.unsqueeze(1)), first_taps=cast(first_taps),
        first_edge=cast(first_edge), in_taps=[cast(t) for t in in_taps], dilations=dilations,
        cond_w=cast(cond_w), cond_b=cast(cond_b.unsqueeze(1)), res_skip_w=[cast(t) for t in res_skip_w],
        res_skip_b=[cast(t.unsqueeze(1)) for t in res_skip_b], out_b=cast((end_b + skip_bias).unsqueeze(1)),
    )


def _tap_offsets(n_taps: int, dilation: int) -> list[int]:
    return [(k - n_taps // 2) * dilation for k in range(n_taps)]


def _dilated_accumulate(out: Tensor, taps: Tensor, x: Tensor, dilation: int) -> None:
    """out (O, T) += 'same' dilated convolution of x (I, T) with taps (K, O, I), zero padding."""
    length = x.size(1)
    for tap, offset in zip(taps, _tap_offsets(taps.size(0), dilation), strict=True):
        if offset == 0:
            out.addmm_(tap, x)
        elif offset < 0 and length > -offset:  # output t reads x[t + offset]
            out[:, -offset:].addmm_(tap, x[:, : length + offset])
        elif offset > 0 and length > offset:
            out[:, : length - offset].addmm_(tap, x[:, offset:])


def _coupling_network(flow: _Flow, audio_0: Tensor, spect: Tensor) -> Tensor:
    """One WN for one item: audio_0 (n_half, T'), spect (n_cond, T') -> [b, log_s] (2 n_half, T')."""
    length = audio_0.size(1)
    channels = flow.start_w.size(0)
    n_layers = len(flow.in_taps)
    z_all = torch.addmm(flow.cond_b, flow.cond_w, spect)  # (L * 2C, T'), every layer bias folded in
    x = torch.addmm(flow.start_b, flow.start_w, audio_0)  # (C, T')
    first = z_all[: 2 * channels]
    _dilated_accumulate(first, flow.first_taps, audio_0, flow.dilations[0])
    for edge, offset in zip(flow.first_edge, _tap_offsets(flow.first_taps.size(0), flow.dilations[0]),
                            strict=True):
        if offset < 0:  # the start bias is not there where this tap reads the zero padding
            first[:, : min(-offset, length)] -= edge.unsqueeze(1)
        elif offset > 0:
            first[:, max(length - offset, 0) :] -= edge.unsqueeze(1)
    out = flow.out_b.expand(-1, length).clone()
    for i in range(n_layers):
        z = z_all[2 * channels * i : 2 * channels * (i + 1)]
        if i > 0:
            _dilated_accumulate(z, flow.in_taps[i], x, flow.dilations[i])
        acts = z[:channels].tanh_()
        acts.mul_(z[channels:].sigmoid_())
        if i < n_layers - 1:
            y = torch.addmm(flow.res_skip_b[i], flow.res_skip_w[i], acts)
            x.add_(y[:channels])
            out.add_(y[channels:])
        else:
            out.addmm_(flow.res_skip_w[i], acts)
    return out


def waveglow_infer(model: nn.Module, spect: Tensor, sigma: float = 1.0, z: Tensor | None = None) -> Tensor:
    """Fast `WaveGlow.infer`: mel (B, n_mel, frames) -> audio (B, frames * 256); same arguments, same
    noise draw (z = sigma * N(0, 1) from the global generator when not given) and shape checks."""
    from waveglow.model import UPSAMPLE_STRIDE

    with torch.no_grad():
        n_samples = spect.size(2) * UPSAMPLE_STRIDE
        spect = model._grouped_spect(spect, n_samples)
        batch, _, n_steps = spect.shape
        if z is None:
            z = torch.randn(batch, model.n_group, n_steps, dtype=spect.dtype, device=spect.device) * sigma
        elif tuple(z.shape) != (batch, model.n_group, n_steps):
            raise ValueError(f"z must have shape {(batch, model.n_group, n_steps)}, got {tuple(z.shape)}")
        audio = z.to(dtype=spect.dtype, device=spect.device, copy=True)
        start = model.n_group - model.n_remaining_channels  # channels that left the flow early
        for k in reversed(range(model.n_flows)):
            x = audio[:, start:]
            n_half = x.size(1) // 2
            flow = _prepare(model.WN[k], spect.dtype)
            for item in range(batch):
                coupling = _coupling_network(flow, x[item, :n_half], spect[item])
                x[item, n_half:].sub_(coupling[:n_half]).mul_(coupling[n_half:].neg().exp_())
            inverse = model.convinv[k].inverse_weight().squeeze(2).to(x.dtype)
            x.copy_(torch.matmul(inverse, x))
            if model._is_early(k):
                start -= model.n_early_size
        # (B, n_group, T/n_group) -> (B, T): sample t*n_group + k comes from channel k, step t.
        return audio.transpose(1, 2).reshape(batch, -1)

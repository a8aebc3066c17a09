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
- All conditioning products of a flow are one matrix product, with every layer bias (in-layer, cond,
  folded start) in one extra weight column against a row of ones; the dilated convolutions accumulate
  straight into that conditioning buffer, and the gate runs in place there as one sigmoid (the tanh
  rows are doubled: sigmoid(2a) - 1/2 = tanh(a) / 2, and the residual/skip weights are doubled back).
- The dilated convolutions of layers 1.. run as Winograd F(4, 3) (Toom-Cook at the points 0, 1, -1, 2,
  -2 and infinity): four outputs of a 3-tap filter from six products instead of twelve, so the
  convolution's matrix products halve; the input and output transforms are small linear maps over
  the tiles (`_winograd_accumulate`). The columns after the last whole tile block, and the first
  layer, accumulate tap by tap (matrix products on shifted column views).
- Couplings and invertible convolutions update one audio buffer in place: no concatenations.

Per sample and layer (in FLOPs, C = WN channels) this turns about 12 C^2 (dilated convolution) + 4 C^2
(residual and skip) + 2560 C (conditioning) into 6 C^2 + 2 C^2 + 2560 C, with less for the first layer;
on a CPU that is compute bound this is the expected gain (docs/PERFORMANCE.md). Winograd's sums are
grouped differently again: in float32 its outputs differ from the direct convolution's by a few 1e-6
(relative), in float64 by about 1e-15. Works in any float dtype on any device (fp16 on CUDA: the folded
weights are formed in float32 and rounded once; 16-bit dtypes keep the direct taps, where Winograd's
transforms would cost too many of their few bits).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

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
    in_wino: list[Tensor | None]  # per layer Winograd-transformed taps (alpha, 2C, C); None: direct taps
    dilations: list[int]
    cond_w: Tensor  # (L * 2C, n_cond + 1); last column: cond + in-layer biases (+ folded start bias, layer 0)
    res_skip_w: list[Tensor]  # (C + 2 n_half, C), last layer (2 n_half, C)
    res_skip_b: list[Tensor]  # (C + 2 n_half, 1): residual bias, zeros for the folded skip rows
    out_b: Tensor  # (2 n_half, 1): end bias + E (sum of skip biases)


def _weight(conv: nn.Module) -> Tensor:
    """Effective weight of a weight-norm or plain convolution."""
    compute = getattr(conv, "compute_weight", None)
    return compute() if compute is not None else conv.weight


def _prepare(wn: nn.Module, dtype: torch.dtype) -> _Flow:
    """Fold one WN's weights (in float32 or wider, rounded once to `dtype`).

    The tanh rows of every gate input are doubled and the residual/skip weights too (exact: powers of
    two), so that the gate is one sigmoid: sigmoid(2a) - 1/2 = tanh(a) / 2 (`_coupling_network`).
    """
    wide = torch.promote_types(dtype, torch.float32)
    n_layers, channels = wn.n_layers, wn.n_channels

    def w(conv: nn.Module) -> Tensor:
        return _weight(conv).detach().to(wide)

    def b(conv: nn.Module) -> Tensor:
        return conv.bias.detach().to(wide)

    gate_scale = torch.ones(2 * channels, 1, dtype=wide, device=wn.start.bias.device)
    gate_scale[:channels] = 2.0
    start_w, start_b = w(wn.start)[:, :, 0], b(wn.start)
    end_w, end_b = w(wn.end)[:, :, 0], b(wn.end)
    in_taps = [w(layer).permute(2, 0, 1) * gate_scale for layer in wn.in_layers]  # (K, 2C, C)
    dilations = [int(layer.dilation if isinstance(layer.dilation, int) else layer.dilation[0])
                 for layer in wn.in_layers]
    first_taps = in_taps[0] @ start_w  # (K, 2C, n_half)
    first_edge = in_taps[0] @ start_b  # (K, 2C)
    cond_w = torch.cat([w(layer)[:, :, 0] for layer in wn.cond_layers])
    cond_b = torch.cat([b(cond) + b(layer) for cond, layer in zip(wn.cond_layers, wn.in_layers, strict=True)])
    cond_w = torch.cat((cond_w, cond_b.unsqueeze(1)), dim=1).view(n_layers, 2 * channels, -1) * gate_scale
    cond_w = cond_w.view(n_layers * 2 * channels, -1)
    cond_w[: 2 * channels, -1] += first_edge.sum(dim=0)

    res_skip_w, res_skip_b = [], []
    skip_bias = torch.zeros_like(end_b)
    for i, layer in enumerate(wn.res_skip_layers):
        weight, bias = w(layer)[:, :, 0], b(layer)
        if i < n_layers - 1:
            res_w, skip_w = weight[:channels], weight[channels:]
            res_b, skip_b = bias[:channels], bias[channels:]
            res_skip_w.append(2.0 * torch.cat((res_w, end_w @ skip_w)))
            res_skip_b.append(torch.cat((res_b, torch.zeros_like(end_b))))
        else:
            skip_w, skip_b = weight, bias
            res_skip_w.append(2.0 * (end_w @ skip_w))
            res_skip_b.append(torch.zeros_like(end_b))
        skip_bias += end_w @ skip_b

    def cast(t: Tensor) -> Tensor:
        return t.to(dtype).contiguous()

    return _Flow(
        start_w=cast(start_w), start_b=cast(start_b.unsqueeze(1)), first_taps=cast(first_taps),
        first_edge=cast(first_edge), in_taps=[cast(t) for t in in_taps],
        in_wino=[cast(_winograd_filter(t)) if t.size(0) == WINOGRAD_TAPS and dtype in _WINOGRAD_DTYPES
                 else None for t in in_taps],
        dilations=dilations, cond_w=cast(cond_w), res_skip_w=[cast(t) for t in res_skip_w],
        res_skip_b=[cast(t.unsqueeze(1)) for t in res_skip_b], out_b=cast((end_b + skip_bias).unsqueeze(1)),
    )


def _tap_offsets(n_taps: int, dilation: int) -> list[int]:
    return [(k - n_taps // 2) * dilation for k in range(n_taps)]


def _dilated_accumulate(out: Tensor, taps: Tensor, x: Tensor, dilation: int, start: int = 0) -> None:
    """out[:, start:] (O, T) += those columns of the 'same' dilated convolution of x (I, T) with taps
    (K, O, I), zero padding."""
    length = x.size(1)
    for tap, offset in zip(taps, _tap_offsets(taps.size(0), dilation), strict=True):
        lo, hi = max(start, -offset), min(length, length - offset)  # output t reads x[t + offset]
        if lo < hi:
            out[:, lo:hi].addmm_(tap, x[:, lo + offset : hi + offset])


WINOGRAD_OUTPUTS = 4  # m in F(m, 3): outputs per tile
WINOGRAD_TAPS = 3  # r: the WN kernel size of every published WaveGlow
_WINOGRAD_POINTS = (0.0, 1.0, -1.0, 2.0, -2.0)  # plus the point at infinity
_WINOGRAD_DTYPES = (torch.float32, torch.float64)
_WINOGRAD_MATRICES: dict[tuple[torch.dtype, torch.device], tuple[Tensor, ...]] = {}


def winograd_matrices(m: int = WINOGRAD_OUTPUTS, r: int = WINOGRAD_TAPS,
                      points: tuple[float, ...] = _WINOGRAD_POINTS) -> tuple[Tensor, Tensor, Tensor]:
    """Toom-Cook matrices (A^T (m, a), G (a, r), B^T (a, a)), a = m + r - 1, in float64, such that the
    correlation y_i = sum_k g_k d_(i+k) of d (a,) with g (r,) is A^T [(G g) * (B^T d)].

    Built from the polynomial product: evaluating a degree < n polynomial at the a - 1 finite points
    and at infinity (its leading coefficient) is the a x n matrix E_n; a linear convolution is
    E_a^-1 [(E_r g) * (E_m d')]; its transpose is the correlation, so A^T = E_m^T, G = E_r and
    B^T = E_a^-T.
    """
    a = m + r - 1
    if len(points) != a - 1:
        raise ValueError(f"F({m}, {r}) needs {a - 1} finite points, got {len(points)}")

    def evaluation(n: int) -> Tensor:
        rows = [[p**k for k in range(n)] for p in points] + [[0.0] * (n - 1) + [1.0]]
        return torch.tensor(rows, dtype=torch.float64)

    return evaluation(m).T.contiguous(), evaluation(r), torch.linalg.inv(evaluation(a)).T.contiguous()


def _matrices(like: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """`winograd_matrices()` in `like`'s dtype and device (built once per dtype and device)."""
    key = (like.dtype, like.device)
    if key not in _WINOGRAD_MATRICES:
        _WINOGRAD_MATRICES[key] = tuple(t.to(dtype=like.dtype, device=like.device)
                                        for t in winograd_matrices())
    return _WINOGRAD_MATRICES[key]


def _winograd_filter(taps: Tensor) -> Tensor:
    """Taps (3, O, I) -> the transformed filter G taps (a, O, I), formed in the taps' (wide) dtype."""
    return torch.einsum("ak,koi->aoi", _matrices(taps)[1], taps)


def _winograd_accumulate(out: Tensor, filt: Tensor, taps: Tensor, x: Tensor, dilation: int) -> None:
    """out (O, T) += 'same' dilated 3-tap convolution of x (I, T) (zero padding), via Winograd F(4, 3).

    Tiles run along the dilated lattice: block b, residue r covers the outputs b*4d + r + i*d (i < 4)
    and reads the inputs b*4d + r + (j - 1)*d (j < 6). One batched product over the 6 transformed
    inputs does the work of the 12 per-tap products. The columns after the last whole block of 4d
    (all of them when T < 4d) are accumulated with the direct taps.
    """
    channels, length = x.shape
    alpha, rows = filt.size(0), filt.size(1)
    m = alpha - WINOGRAD_TAPS + 1
    span = m * dilation
    n_blocks = length // span
    cover = n_blocks * span
    if n_blocks:
        a_t, _, b_t = _matrices(x)
        padded = F.pad(x, (dilation, cover + dilation - length))  # a negative right pad crops
        tiles = padded.unfold(1, alpha * dilation, span).view(channels, n_blocks, alpha, dilation)
        inputs = torch.einsum("aj,cbjr->acbr", b_t, tiles).reshape(alpha, channels, n_blocks * dilation)
        products = torch.bmm(filt, inputs)  # (alpha, O, blocks * d)
        y = torch.mm(a_t, products.view(alpha, -1)).view(m, rows, n_blocks, dilation)
        body = out[:, :cover].view(rows, n_blocks, m, dilation)
        for i in range(m):  # one strided add per output row of the tile: faster than a permuted add
            body[:, :, i].add_(y[i])
    if cover < length:
        _dilated_accumulate(out, taps, x, dilation, start=cover)


def _coupling_network(flow: _Flow, audio_0: Tensor, spect: Tensor) -> Tensor:
    """One WN for one item: audio_0 (n_half, T'), spect (n_cond + 1, T'), last row ones ->
    [b, log_s] (2 n_half, T')."""
    length = audio_0.size(1)
    channels = flow.start_w.size(0)
    n_layers = len(flow.in_taps)
    z_all = torch.mm(flow.cond_w, spect)  # (L * 2C, T'), every layer bias folded in (the row of ones)
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
            if flow.in_wino[i] is not None:
                _winograd_accumulate(z, flow.in_wino[i], flow.in_taps[i], x, flow.dilations[i])
            else:
                _dilated_accumulate(z, flow.in_taps[i], x, flow.dilations[i])
        # the tanh rows hold 2a: sigmoid(2a) - 1/2 = tanh(a) / 2, so one sigmoid (faster than tanh
        # here) gives tanh(a) * sigmoid(b) / 2; the residual and skip weights carry the factor 2
        gates = z.sigmoid_()
        acts = gates[:channels].sub_(0.5).mul_(gates[channels:])
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
    with torch.no_grad():
        n_samples = spect.size(2) * model.upsample.stride[0]
        grouped = model.grouped_spect(spect, n_samples)
        batch, n_cond, n_steps = grouped.shape
        spect = grouped.new_ones(batch, n_cond + 1, n_steps)  # a row of ones carries the biases
        spect[:, :n_cond] = grouped
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
            if model.is_early(k):
                start -= model.n_early_size
        # (B, n_group, T/n_group) -> (B, T): sample t*n_group + k comes from channel k, step t.
        return audio.transpose(1, 2).reshape(batch, -1)

"""HiFi-GAN: a GAN vocoder (mel -> audio) with NVIDIA's NGC checkpoint layout.

The generator upsamples a mel spectrogram by transposed convolutions (one per stage, channels halving)
and refines each stage with the mean of several residual blocks of dilated convolutions (multi-receptive
field fusion). Two discriminators judge audio: `MultiPeriodDiscriminator` (2-D convolutions over the
signal folded by a period) and `MultiScaleDiscriminator` (1-D convolutions over the signal and its 2x and
4x average-pooled versions).

Names and shapes of every state_dict follow the reference (NGC) layout, so its checkpoints load with
``strict=True``: the generator's resblocks are nested per stage (``resblocks.<stage>.<block>.convs1.<j>``),
and every convolution carries weight norm as ``weight_g``/``weight_v`` (the first scale discriminator
uses spectral norm: ``weight_orig``/``weight_u``/``weight_v``). `remove_weight_norm` turns the
weight-normalised convolutions into plain ``nn.Conv1d``/``nn.ConvTranspose1d`` for inference and export.

One deliberate difference: the reference's ResBlock2 (used by V3) never sets its LeakyReLU slope and fails
at run time; ours uses 0.1 like ResBlock1. The LeakyReLU before ``conv_post`` keeps the reference's slope
of 0.01 (torch's default), which the published checkpoints were trained with.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LRELU_SLOPE = 0.1  # inside the generator stages, the resblocks and the discriminators
POST_LRELU_SLOPE = 0.01  # the reference's F.leaky_relu default before conv_post
N_MEL_CHANNELS = 80

# The NGC HiFi-GAN suite's generator default: V1 with the resblock kernels listed as [11, 7, 3].
DEFAULT_CONFIG: dict[str, Any] = {
    "upsample_rates": [8, 8, 2, 2],
    "upsample_kernel_sizes": [16, 16, 4, 4],
    "upsample_initial_channel": 512,
    "resblock": "1",
    "resblock_kernel_sizes": [11, 7, 3],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
}

# The paper's configurations (V1 lists its kernels as [3, 7, 11]); parameters: 13,936,130 / 928,514 /
# 1,464,322 with weight norm.
PRESETS: dict[str, dict[str, Any]] = {
    "V1": {**DEFAULT_CONFIG, "resblock_kernel_sizes": [3, 7, 11]},
    "V2": {**DEFAULT_CONFIG, "upsample_initial_channel": 128, "resblock_kernel_sizes": [3, 7, 11]},
    "V3": {
        "upsample_rates": [8, 8, 4],
        "upsample_kernel_sizes": [16, 16, 8],
        "upsample_initial_channel": 256,
        "resblock": "2",
        "resblock_kernel_sizes": [3, 5, 7],
        "resblock_dilation_sizes": [[1, 2], [2, 6], [3, 12]],
    },
}

MPD_PERIODS = (2, 3, 5, 7, 11)
CONFIG_KEYS = tuple(DEFAULT_CONFIG) + ("n_mel_channels",)


class HiFiGANConfigError(ValueError):
    """A generator configuration that cannot build a valid HiFi-GAN (names the offending key)."""


class HiFiGANCheckpointError(ValueError):
    """A HiFi-GAN checkpoint that cannot be loaded (names the file and what is wrong)."""


def preset(name: str) -> dict[str, Any]:
    """A deep copy of the generator configuration of preset ``name`` (V1, V2 or V3, any case)."""
    key = str(name).upper()
    if key not in PRESETS:
        raise HiFiGANConfigError(f"unknown HiFi-GAN preset {name!r}: choose one of {', '.join(PRESETS)}")
    return copy.deepcopy(PRESETS[key])


def get_padding(kernel_size: int, dilation: int = 1) -> int:
    """'Same' padding of an odd kernel with the given dilation."""
    return (kernel_size * dilation - dilation) // 2


def _norm_except_dim0(v: Tensor) -> Tensor:
    """The L2 norm of ``v`` over all dimensions but the first, shaped (n, 1, ..., 1)."""
    return torch.linalg.vector_norm(v, dim=tuple(range(1, v.dim())), keepdim=True)


class _WeightNormMixin:
    """Replaces a convolution's ``weight`` by ``weight_g * weight_v / ||weight_v||`` (norm over every
    dimension but the first), with parameters named and ordered like ``torch.nn.utils.weight_norm``
    (``bias``, ``weight_g``, ``weight_v``), which is deprecated in recent PyTorch."""

    def _to_weight_norm(self) -> None:
        weight = self._parameters.pop("weight").detach()
        self.weight_g = nn.Parameter(_norm_except_dim0(weight))
        self.weight_v = nn.Parameter(weight)

    def normalized_weight(self) -> Tensor:
        """The effective weight g * v / ||v||."""
        return self.weight_v * (self.weight_g / _norm_except_dim0(self.weight_v))

    def _plain(self, plain: nn.Module) -> nn.Module:
        with torch.no_grad():
            plain.weight.copy_(self.normalized_weight())
            if plain.bias is not None:
                plain.bias.copy_(self.bias)
        return plain


class WNConv1d(_WeightNormMixin, nn.Conv1d):
    """``nn.Conv1d`` with weight norm (reference parameter names)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._to_weight_norm()

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.normalized_weight(), self.bias)

    def to_plain(self) -> nn.Conv1d:
        """An ``nn.Conv1d`` computing the same function (weight norm folded in)."""
        return self._plain(nn.Conv1d(
            self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding, self.dilation,
            self.groups, self.bias is not None, device=self.weight_v.device, dtype=self.weight_v.dtype))


class WNConv2d(_WeightNormMixin, nn.Conv2d):
    """``nn.Conv2d`` with weight norm (reference parameter names)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._to_weight_norm()

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.normalized_weight(), self.bias)


class WNConvTranspose1d(_WeightNormMixin, nn.ConvTranspose1d):
    """``nn.ConvTranspose1d`` with weight norm over the input-channel dimension (as the reference)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._to_weight_norm()

    def forward(self, x: Tensor) -> Tensor:
        return F.conv_transpose1d(x, self.normalized_weight(), self.bias, self.stride, self.padding,
                                  self.output_padding, self.groups, self.dilation)

    def to_plain(self) -> nn.ConvTranspose1d:
        """An ``nn.ConvTranspose1d`` computing the same function (weight norm folded in)."""
        return self._plain(nn.ConvTranspose1d(
            self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding,
            self.output_padding, self.groups, self.bias is not None, self.dilation,
            device=self.weight_v.device, dtype=self.weight_v.dtype))


def _init_normal(module: nn.Module, std: float = 0.01) -> None:
    """The reference's generator init: conv weights ~ N(0, std) (applied to ``weight_v``)."""
    for m in module.modules():
        if isinstance(m, WNConv1d | WNConvTranspose1d):
            nn.init.normal_(m.weight_v, 0.0, std)
            with torch.no_grad():
                m.weight_g.copy_(_norm_except_dim0(m.weight_v))


class ResBlock1(nn.Module):
    """Per dilation d: x += conv(lrelu(conv_d(lrelu(x)))), kernel k, 'same' padding (V1/V2)."""

    def __init__(self, channels: int, kernel_size: int = 3, dilation: Sequence[int] = (1, 3, 5)) -> None:
        super().__init__()
        self.lrelu_slope = LRELU_SLOPE
        self.convs1 = nn.ModuleList(
            WNConv1d(channels, channels, kernel_size, 1, dilation=d, padding=get_padding(kernel_size, d))
            for d in dilation)
        self.convs2 = nn.ModuleList(
            WNConv1d(channels, channels, kernel_size, 1, dilation=1, padding=get_padding(kernel_size, 1))
            for _ in dilation)
        _init_normal(self)

    def forward(self, x: Tensor) -> Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            xt = c1(F.leaky_relu(x, self.lrelu_slope))
            x = c2(F.leaky_relu(xt, self.lrelu_slope)) + x
        return x


class ResBlock2(nn.Module):
    """Per dilation d: x += conv_d(lrelu(x)), kernel k, 'same' padding (V3; slope 0.1, see module doc)."""

    def __init__(self, channels: int, kernel_size: int = 3, dilation: Sequence[int] = (1, 3)) -> None:
        super().__init__()
        self.lrelu_slope = LRELU_SLOPE
        self.convs = nn.ModuleList(
            WNConv1d(channels, channels, kernel_size, 1, dilation=d, padding=get_padding(kernel_size, d))
            for d in dilation)
        _init_normal(self)

    def forward(self, x: Tensor) -> Tensor:
        for c in self.convs:
            x = c(F.leaky_relu(x, self.lrelu_slope)) + x
        return x


def _int_list(config: Mapping[str, Any], key: str) -> list[int]:
    value = config[key]
    if not isinstance(value, Sequence) or isinstance(value, str) or not value:
        raise HiFiGANConfigError(f"HiFi-GAN config {key} must be a non-empty list of integers, got {value!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        raise HiFiGANConfigError(f"HiFi-GAN config {key} must hold positive integers, got {value!r}")
    return list(value)


def check_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a generator configuration; returns it complete (missing keys from `DEFAULT_CONFIG`)."""
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise HiFiGANConfigError(f"unknown HiFi-GAN generator config key(s): {', '.join(unknown)} "
                                 f"(known: {', '.join(CONFIG_KEYS)})")
    full = {**copy.deepcopy(DEFAULT_CONFIG), "n_mel_channels": N_MEL_CHANNELS, **copy.deepcopy(dict(config))}
    rates, kernels = _int_list(full, "upsample_rates"), _int_list(full, "upsample_kernel_sizes")
    if len(rates) != len(kernels):
        raise HiFiGANConfigError(f"HiFi-GAN config upsample_rates {rates} and upsample_kernel_sizes "
                                 f"{kernels} must have the same length")
    for u, k in zip(rates, kernels):
        if k < u or (k - u) % 2:
            raise HiFiGANConfigError(f"HiFi-GAN config upsample_kernel_sizes: kernel {k} for rate {u} must "
                                     "be >= the rate and differ from it by an even number "
                                     "(output = rate x input)")
    channels = full["upsample_initial_channel"]
    if not isinstance(channels, int) or channels < 2 ** len(rates):
        raise HiFiGANConfigError(f"HiFi-GAN config upsample_initial_channel must be an integer >= "
                                 f"2^{len(rates)} (it halves per stage), got {channels!r}")
    if str(full["resblock"]) not in ("1", "2"):
        raise HiFiGANConfigError(f"HiFi-GAN config resblock must be '1' or '2', got {full['resblock']!r}")
    full["resblock"] = str(full["resblock"])
    res_kernels = _int_list(full, "resblock_kernel_sizes")
    if any(k % 2 == 0 for k in res_kernels):
        raise HiFiGANConfigError(f"HiFi-GAN config resblock_kernel_sizes must be odd, got {res_kernels}")
    dilations = full["resblock_dilation_sizes"]
    if not isinstance(dilations, Sequence) or len(dilations) != len(res_kernels):
        raise HiFiGANConfigError(f"HiFi-GAN config resblock_dilation_sizes needs one list per resblock "
                                 f"kernel ({len(res_kernels)}), got {dilations!r}")
    full["resblock_dilation_sizes"] = [_int_list({"resblock_dilation_sizes": d}, "resblock_dilation_sizes")
                                       for d in dilations]
    n_mel = full["n_mel_channels"]
    if not isinstance(n_mel, int) or n_mel < 1:
        raise HiFiGANConfigError(f"HiFi-GAN config n_mel_channels must be a positive integer, got {n_mel!r}")
    return full


class Generator(nn.Module):
    """Mel (B, n_mel, frames) -> audio (B, 1, frames * hop) in [-1, 1]; hop = prod(upsample_rates).

    Takes the reference's config keys (``Generator(**checkpoint['config'])``); ``n_mel_channels`` (80)
    is ours. ``config`` returns the complete configuration for checkpoints.
    """

    __jit_unused_properties__ = ["config"]  # noqa: RUF012 - TorchScript reads this class attribute

    def __init__(self, **config: Any) -> None:
        super().__init__()
        full = check_config(config)
        self._config = full
        self.lrelu_slope = LRELU_SLOPE
        self.post_lrelu_slope = POST_LRELU_SLOPE
        rates = full["upsample_rates"]
        self.num_kernels = len(full["resblock_kernel_sizes"])
        self.num_upsamples = len(rates)
        self.hop_length = math.prod(rates)
        channels = full["upsample_initial_channel"]
        self.conv_pre = WNConv1d(full["n_mel_channels"], channels, 7, 1, padding=3)
        block = ResBlock1 if full["resblock"] == "1" else ResBlock2
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for i, (u, k) in enumerate(zip(rates, full["upsample_kernel_sizes"])):
            c_in, c_out = channels // 2**i, channels // 2 ** (i + 1)
            self.ups.append(WNConvTranspose1d(c_in, c_out, k, u, padding=(k - u) // 2))
            self.resblocks.append(nn.ModuleList(
                block(c_out, k_r, d) for k_r, d in
                zip(full["resblock_kernel_sizes"], full["resblock_dilation_sizes"])))
        self.conv_post = WNConv1d(channels // 2**len(rates), 1, 7, 1, padding=3)
        _init_normal(self.ups)
        _init_normal(self.conv_post)

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments (complete), as stored in checkpoints under 'config'."""
        return copy.deepcopy(self._config)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or x.size(1) != self.conv_pre.in_channels:
            raise ValueError(f"HiFi-GAN generator expects mels of shape (batch, {self.conv_pre.in_channels}, "
                             f"frames), got {list(x.shape)}")
        x = self.conv_pre(x)
        for up, blocks in zip(self.ups, self.resblocks):
            x = up(F.leaky_relu(x, self.lrelu_slope))
            xs = torch.zeros_like(x)  # 0 + y == y exactly; a form TorchScript accepts
            for block in blocks:
                xs = xs + block(x)
            x = xs / self.num_kernels
        x = self.conv_post(F.leaky_relu(x, self.post_lrelu_slope))
        return torch.tanh(x)

    def remove_weight_norm(self) -> Generator:
        """Fold weight norm into plain convolutions (inference/export); returns self. Idempotent."""
        for module in list(self.modules()):
            for child_name, child in list(module.named_children()):
                if isinstance(child, WNConv1d | WNConvTranspose1d):
                    setattr(module, child_name, child.to_plain())
        return self


def remove_weight_norm(generator: Generator) -> Generator:
    """`Generator.remove_weight_norm` as a function (like waveglow.model.remove_weightnorm)."""
    return generator.remove_weight_norm()


def parameter_count(module: nn.Module) -> int:
    """Number of parameters (buffers such as spectral norm's u/v excluded)."""
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------------------------------------------
# Discriminators
# ---------------------------------------------------------------------------------------------------


class DiscriminatorP(nn.Module):
    """Period discriminator: the signal folded into (T / p, p) and judged by (k, 1) 2-D convolutions.

    ``width`` scales the channel counts (1.0: the reference's 32, 128, 512, 1024, 1024; smaller values
    give small discriminators for tests and quick CPU runs)."""

    def __init__(self, period: int, kernel_size: int = 5, stride: int = 3, width: float = 1.0) -> None:
        super().__init__()
        self.period = period
        pad = (get_padding(kernel_size, 1), 0)
        chans = [1] + [_scaled(c, width) for c in (32, 128, 512, 1024)]
        top = chans[-1]
        self.convs = nn.ModuleList(
            [WNConv2d(chans[i], chans[i + 1], (kernel_size, 1), (stride, 1), padding=pad) for i in range(4)]
            + [WNConv2d(top, top, (kernel_size, 1), 1, padding=pad)])
        self.conv_post = WNConv2d(top, 1, (3, 1), 1, padding=(1, 0))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """x (B, 1, T) -> (scores (B, N), feature maps)."""
        fmap = []
        b, c, t = x.shape
        if t % self.period:
            n_pad = self.period - t % self.period
            x = F.pad(x, (0, n_pad), "reflect")
            t = t + n_pad
        x = x.view(b, c, t // self.period, self.period)
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            fmap.append(x)
        x = self.conv_post(x)
        fmap.append(x)
        return torch.flatten(x, 1, -1), fmap


class MultiPeriodDiscriminator(nn.Module):
    """One `DiscriminatorP` per period (reference: 2, 3, 5, 7, 11; 41,105,770 parameters)."""

    def __init__(self, periods: Sequence[int] = MPD_PERIODS, width: float = 1.0) -> None:
        super().__init__()
        if not periods or not all(isinstance(p, int) and p > 0 for p in periods):
            raise HiFiGANConfigError(
                f"MultiPeriodDiscriminator periods must be positive integers, got {periods!r}")
        self.discriminators = nn.ModuleList(DiscriminatorP(p, width=width) for p in periods)

    def forward(self, y: Tensor, y_hat: Tensor) -> tuple[list[Tensor], list[Tensor], list[list[Tensor]],
                                                          list[list[Tensor]]]:
        """Real y and generated y_hat (B, 1, T) -> (real scores, generated scores, real fmaps, gen fmaps)."""
        return _judge(self.discriminators, y, y_hat)


class DiscriminatorS(nn.Module):
    """Scale discriminator: grouped strided 1-D convolutions over the raw (or pooled) signal.

    ``width`` scales the channel counts (1.0: the reference's; they stay multiples of 16). ``layout``
    "melgan" gives the six-conv MelGAN scale discriminator that VITS uses (channels 16, 64, 256, 1024,
    1024, 1024, groups 1, 4, 16, 64, 256, 1; the same parameter names)."""

    def __init__(self, use_spectral_norm: bool = False, width: float = 1.0, layout: str = "hifigan") -> None:
        super().__init__()
        if layout == "hifigan":
            c1, c2, c3, c4 = (_scaled(c, width, 16) for c in (128, 256, 512, 1024))
            specs = [  # (in, out, kernel, stride, groups)
                (1, c1, 15, 1, 1), (c1, c1, 41, 2, 4), (c1, c2, 41, 2, 16), (c2, c3, 41, 4, 16),
                (c3, c4, 41, 4, 16), (c4, c4, 41, 1, 16), (c4, c4, 5, 1, 1)]
        elif layout == "melgan":
            c1, c2, c3, c4 = (_scaled(c, width, 16) for c in (16, 64, 256, 1024))
            specs = [(1, c1, 15, 1, 1), (c1, c2, 41, 4, 4), (c2, c3, 41, 4, 16), (c3, c4, 41, 4, 64),
                     (c4, c4, 41, 4, 256), (c4, c4, 5, 1, 1)]
            # groups shrink with the channels (a divisor of both sides)
            specs = [(i, o, k, s, math.gcd(max(1, int(g * width)), i, o)) for i, o, k, s, g in specs]
        else:
            raise HiFiGANConfigError(f"DiscriminatorS layout must be 'hifigan' or 'melgan', got {layout!r}")

        def conv(c_in: int, c_out: int, k: int, s: int, g: int) -> nn.Module:
            if use_spectral_norm:
                return nn.utils.spectral_norm(nn.Conv1d(c_in, c_out, k, s, groups=g, padding=get_padding(k)))
            return WNConv1d(c_in, c_out, k, s, groups=g, padding=get_padding(k))

        self.convs = nn.ModuleList(conv(*spec) for spec in specs)
        self.conv_post = conv(c4, 1, 3, 1, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """x (B, 1, T) -> (scores (B, N), feature maps)."""
        fmap = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            fmap.append(x)
        x = self.conv_post(x)
        fmap.append(x)
        return torch.flatten(x, 1, -1), fmap


class MultiScaleDiscriminator(nn.Module):
    """Three `DiscriminatorS` on the signal, then on it average-pooled 2x and 4x; spectral norm on the
    first (reference: 29,618,821 parameters at ``width`` 1)."""

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(
            [DiscriminatorS(use_spectral_norm=True, width=width), DiscriminatorS(width=width),
             DiscriminatorS(width=width)])
        self.meanpools = nn.ModuleList([nn.AvgPool1d(4, 2, padding=2), nn.AvgPool1d(4, 2, padding=2)])

    def forward(self, y: Tensor, y_hat: Tensor) -> tuple[list[Tensor], list[Tensor], list[list[Tensor]],
                                                          list[list[Tensor]]]:
        """Real y and generated y_hat (B, 1, T) -> (real scores, generated scores, real fmaps, gen fmaps)."""
        pools = [nn.Identity(), *self.meanpools]
        y_d_rs, y_d_gs, fmap_rs, fmap_gs = [], [], [], []
        for i, d in enumerate(self.discriminators):
            if i:
                y, y_hat = pools[i](y), pools[i](y_hat)
            y_d_r, fmap_r = d(y)
            y_d_g, fmap_g = d(y_hat)
            y_d_rs.append(y_d_r)
            y_d_gs.append(y_d_g)
            fmap_rs.append(fmap_r)
            fmap_gs.append(fmap_g)
        return y_d_rs, y_d_gs, fmap_rs, fmap_gs


def _scaled(channels: int, width: float, multiple: int = 1) -> int:
    """``channels * width`` rounded down to a multiple of ``multiple`` (at least ``multiple``)."""
    if not 0.0 < width <= 1.0:
        raise HiFiGANConfigError(f"discriminator width must lie in (0, 1], got {width}")
    return max(multiple, int(channels * width) // multiple * multiple)


def _judge(discriminators: nn.ModuleList, y: Tensor, y_hat: Tensor) -> tuple[list[Tensor], list[Tensor],
                                                                             list[list[Tensor]],
                                                                             list[list[Tensor]]]:
    if y.dim() != 3 or y.shape[1] != 1 or y_hat.shape != y.shape:
        raise ValueError(f"discriminators expect real and generated audio of the same shape (batch, 1, T), "
                         f"got {tuple(y.shape)} and {tuple(y_hat.shape)}")
    y_d_rs, y_d_gs, fmap_rs, fmap_gs = [], [], [], []
    for d in discriminators:
        y_d_r, fmap_r = d(y)
        y_d_g, fmap_g = d(y_hat)
        y_d_rs.append(y_d_r)
        y_d_gs.append(y_d_g)
        fmap_rs.append(fmap_r)
        fmap_gs.append(fmap_g)
    return y_d_rs, y_d_gs, fmap_rs, fmap_gs


class HiFiGAN(nn.Module):
    """The generator and both discriminators as one module, for `run.py -m HiFiGAN` (hifigan/recipe.py).

    ``forward(mel)`` is the generator's, so validation and inference see a vocoder. Its state_dict holds
    ``gen.*`` (the generator, also reachable as ``.generator``), ``mpd.*`` and ``msd.*`` (and ``gen_ema.*``,
    an EMA copy of the generator that takes no gradient, when ``ema`` is set). ``config`` =
    {"generator": generator config, "mpd_periods", "discriminator_width", "ema"} rebuilds it.
    """

    def __init__(self, generator: Mapping[str, Any] | None = None, mpd_periods: Sequence[int] = MPD_PERIODS,
                 discriminator_width: float = 1.0, ema: bool = False) -> None:
        super().__init__()
        self.gen = Generator(**dict(generator or DEFAULT_CONFIG))
        self.mpd = MultiPeriodDiscriminator(mpd_periods, width=discriminator_width)
        self.msd = MultiScaleDiscriminator(width=discriminator_width)
        self.gen_ema = copy.deepcopy(self.gen).requires_grad_(False) if ema else None
        self._config = {"generator": self.gen.config, "mpd_periods": [int(p) for p in mpd_periods],
                        "discriminator_width": float(discriminator_width), "ema": bool(ema)}

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments."""
        return copy.deepcopy(self._config)

    @property
    def generator(self) -> Generator:
        """The generator (state_dict prefix ``gen.``)."""
        return self.gen

    def forward(self, mel: Tensor) -> Tensor:
        return self.gen(mel)


# ---------------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------------


def _load_file(path: Path) -> Any:
    if not path.is_file():
        raise HiFiGANCheckpointError(f"HiFi-GAN checkpoint not found: {path}")
    try:
        if path.stat().st_size == 0:
            raise HiFiGANCheckpointError(f"cannot load HiFi-GAN checkpoint {path}: the file is empty")
        return torch.load(path, map_location="cpu", weights_only=True)
    except HiFiGANCheckpointError:
        raise
    except Exception as err:  # noqa: BLE001 - every unpickling failure means the same to the user
        first = next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)
        raise HiFiGANCheckpointError(f"cannot load HiFi-GAN checkpoint {path}: {first}") from None


def strip_module(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Drop the ``module.`` prefix that DDP adds to every key."""
    return {k.removeprefix("module."): v for k, v in state_dict.items()}


def load_state_strict(module: nn.Module, state_dict: Mapping[str, Tensor], source: str) -> None:
    """``load_state_dict(strict=True)`` after stripping ``module.``; a mismatch is one line naming
    ``source`` and the first missing, unexpected and mis-shaped keys."""
    state_dict = strip_module(state_dict)
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [f"{k} {tuple(state_dict[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = [f"{title} ({len(keys)}): {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''}"
                 for title, keys in (("missing", missing), ("unexpected", unexpected),
                                     ("shape mismatch, checkpoint vs model", shapes)) if keys]
        raise HiFiGANCheckpointError(
            f"{source} does not fit the {type(module).__name__}: " + "; ".join(parts))
    module.load_state_dict(state_dict, strict=True)


def generator_state(checkpoint: Mapping[str, Any], source: str, ema: bool = False) -> dict[str, Tensor]:
    """The generator state_dict of a checkpoint: NGC's ``'generator'`` (``'gen_ema'`` with ``ema``), the
    suite's ``'state_dict'``, or the ``gen.*`` (``gen_ema.*``) part of a `run.py -m HiFiGAN`
    checkpoint's ``'state_dict'``."""
    if ema and not isinstance(checkpoint.get("gen_ema"), Mapping) and not any(
            k.removeprefix("module.").startswith("gen_ema.") for k in checkpoint.get("state_dict") or {}):
        raise HiFiGANCheckpointError(f"{source} holds no EMA generator (trained without --ema-decay)")
    for key in ("gen_ema" if ema else "generator", "state_dict"):
        if isinstance(checkpoint.get(key), Mapping):
            state = strip_module(checkpoint[key])
            prefix = "gen_ema." if ema else "gen."
            if key == "state_dict" and any(k.startswith(prefix) for k in state):
                return {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
            return state
    raise HiFiGANCheckpointError(f"{source} is not a HiFi-GAN generator checkpoint "
                                 f"(no 'generator' or 'state_dict'; keys: {', '.join(map(str, checkpoint))})")


def generator_from_checkpoint(checkpoint: Any, source: str, config: Mapping[str, Any] | None = None,
                              ema: bool = False) -> Generator:
    """`load_generator` for a checkpoint already read (e.g. from a URL); ``source`` names it in errors."""
    if not isinstance(checkpoint, Mapping):
        raise HiFiGANCheckpointError(f"{source} is not a HiFi-GAN checkpoint (a {type(checkpoint).__name__}, "
                                     "not a dict)")
    state = generator_state(checkpoint, source, ema)
    stored = checkpoint.get("config")
    if isinstance(stored, Mapping) and isinstance(stored.get("generator"), Mapping):
        stored = stored["generator"]  # a run.py checkpoint (HiFiGAN.config)
    if isinstance(stored, Mapping):
        chosen = {k: v for k, v in stored.items() if k in CONFIG_KEYS}
    elif config is not None:
        chosen = dict(config)
    else:
        raise HiFiGANCheckpointError(f"{source} has no generator 'config': pass one (e.g. a preset V1/V2/V3)")
    try:
        generator = Generator(**chosen)
    except HiFiGANConfigError as err:
        raise HiFiGANCheckpointError(f"{source}: {err}") from None
    load_state_strict(generator, state, source)
    return generator


def load_generator(path: str | Path, config: Mapping[str, Any] | None = None,
                   map_location: str | torch.device = "cpu", ema: bool = False) -> Generator:
    """Build a `Generator` from a checkpoint file and load its weights strictly (weights_only).

    Accepts the NGC generator format ``{'generator': state_dict, 'config': {...}, ...}`` and the suite's
    ``{'state_dict': ..., 'config': ...}``, keys with or without ``module.``, and `run.py -m HiFiGAN`
    checkpoints (the ``gen.*`` weights, the ``config['generator']`` config). ``config`` (e.g.
    ``preset('V2')``) is used when the file has none; a file's own config wins otherwise. ``ema`` loads the
    EMA copy of the generator instead.
    """
    path = Path(path)
    return generator_from_checkpoint(_load_file(path), str(path), config, ema).to(map_location)


def save_generator(path: str | Path, generator: Generator, **extra: Any) -> Path:
    """Write ``generator`` in the NGC generator format ``{'generator', 'config', **extra}``."""
    path = Path(path)
    torch.save({"generator": generator.state_dict(), "config": generator.config, **extra}, path)
    return path

"""WaveGlow: a normalising flow that turns Gaussian noise into audio, conditioned on a mel spectrogram.

Parameter names and shapes follow the published NGC checkpoints (``upsample``, ``WN.K.*`` with weight-norm
``weight_g``/``weight_v``, ``convinv.K.conv.weight``), so those checkpoints load with ``load_state_dict``.

Layout conventions (they must match the checkpoints, so do not change them):
- audio of length T becomes ``(B, n_group, T / n_group)``: channel k holds samples k, k + n_group, ...;
- the upsampled mel becomes ``(B, n_mel * n_group, T / n_group)`` with channel ``mel * n_group + k``;
- each coupling transforms the second half of the channels; the WN end layer gives ``b`` in its first half
  of output channels and ``log_s`` in its second half;
- every ``n_early_every`` flows the first ``n_early_size`` channels leave the flow; ``z`` is the
  concatenation of those early outputs (in flow order) and the final audio.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from waveglow.fast_infer import waveglow_infer

UPSAMPLE_KERNEL = 1024
UPSAMPLE_STRIDE = 256  # the STFT hop length of the mels WaveGlow is conditioned on

DEFAULT_WN_CONFIG = {"n_layers": 8, "kernel_size": 3, "n_channels": 512}


class WaveGlowConfigError(ValueError):
    """A WaveGlow hyper-parameter combination that cannot build a valid flow (names the argument)."""


def _gated_activation(x: Tensor, n_channels: int) -> Tensor:
    """WaveNet gate on a (B, 2C, T) tensor: tanh of the first C channels times sigmoid of the last C."""
    return torch.tanh(x[:, :n_channels]) * torch.sigmoid(x[:, n_channels:])


def _script(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """TorchScript ``fn`` so the gate's element-wise ops fuse on GPU; plain eager code if scripting fails.

    ``torch.jit.script`` is deprecated in recent PyTorch and warns on use; the warning is silenced here
    because the eager fallback is exactly equivalent.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.script(fn)
    except Exception:  # any scripting failure just means no fusion
        return fn


fused_gated_activation = _script(_gated_activation)


def gated_activation(x: Tensor, n_channels: int) -> Tensor:
    """The gate: fused (TorchScript) on GPU, eager on CPU.

    On CPU the scripted function's backward changes after its first call (the profiling executor swaps in
    an optimised graph whose gradients differ in the last bits), so a process that has run it before and a
    fresh one compute different steps: a resumed run could not match an uninterrupted one bitwise.
    """
    if x.is_cuda:
        return fused_gated_activation(x, n_channels)
    return _gated_activation(x, n_channels)


class WeightNormConv1d(nn.Module):
    """Conv1d with weight normalisation: weight = weight_g * weight_v / ||weight_v|| per output channel.

    Parameters are named ``bias``, ``weight_g`` (out, 1, 1) and ``weight_v`` (out, in, k), in that order,
    which is the layout of checkpoints written with ``torch.nn.utils.weight_norm`` (deprecated, hence this
    small replacement). ``to_conv()`` folds the normalisation into a plain ``nn.Conv1d`` for inference.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 1, dilation: int = 1, padding: int = 0
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.bias = nn.Parameter(torch.empty(out_channels))
        self.weight_g = nn.Parameter(torch.empty(out_channels, 1, 1))
        self.weight_v = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise like ``nn.Conv1d`` and set g = ||v|| so the effective weight starts equal to v."""
        nn.init.kaiming_uniform_(self.weight_v, a=math.sqrt(5))
        bound = 1.0 / math.sqrt(self.in_channels * self.kernel_size)
        nn.init.uniform_(self.bias, -bound, bound)
        if self.weight_v.is_meta:  # shapes only (e.g. layout checks): skip the slow meta norm
            return
        with torch.no_grad():
            self.weight_g.copy_(self._v_norm(self.weight_v))

    @staticmethod
    def _v_norm(v: Tensor) -> Tensor:
        return torch.linalg.vector_norm(v, dim=(1, 2), keepdim=True)

    def compute_weight(self) -> Tensor:
        """The effective convolution weight g * v / ||v||, shape (out, in, k)."""
        return self.weight_v * (self.weight_g / self._v_norm(self.weight_v))

    def forward(self, x: Tensor) -> Tensor:
        return F.conv1d(x, self.compute_weight(), self.bias, padding=self.padding, dilation=self.dilation)

    def to_conv(self) -> nn.Conv1d:
        """A plain ``nn.Conv1d`` computing the same function (weight norm folded into ``weight``)."""
        conv = nn.Conv1d(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            dilation=self.dilation,
            padding=self.padding,
            device=self.weight_v.device,
            dtype=self.weight_v.dtype,
        )
        with torch.no_grad():
            conv.weight.copy_(self.compute_weight())
            conv.bias.copy_(self.bias)
        return conv

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"dilation={self.dilation}, padding={self.padding}"
        )


def _conv_weight(conv: nn.Module) -> Tensor:
    """Effective weight of a ``WeightNormConv1d`` or a plain ``nn.Conv1d``."""
    if isinstance(conv, WeightNormConv1d):
        return conv.compute_weight()
    return conv.weight


def random_rotation(n: int) -> Tensor:
    """A random n x n orthonormal matrix with determinant +1 (float64, CPU, from the global torch RNG)."""
    q, _ = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64, device="cpu"))
    if torch.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


class Invertible1x1Conv(nn.Module):
    """Invertible channel mixing z = W x over groups, W initialised to a random rotation.

    ``forward`` returns ``(z, log_det_W)`` with ``log_det_W = batch * n_of_groups * log|det W|`` (computed
    in at least float32). ``reverse`` applies W^-1, cached and recomputed whenever the weight changes
    (optimizer step, ``load_state_dict``, ``.to()``); call ``invalidate()`` after changing the weight in a
    way autograd's version counter does not see.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.conv = nn.Conv1d(channels, channels, kernel_size=1, stride=1, padding=0, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(random_rotation(channels).view(channels, channels, 1))
        self._inverse: Tensor | None = None
        self._inverse_key: tuple[Any, ...] | None = None

    def _matrix(self) -> Tensor:
        return self.conv.weight.squeeze(2)

    def log_det(self) -> Tensor:
        """log|det W| as a 0-d tensor, in float32 or wider (the weight's dtype if that is wider)."""
        w = self._matrix()
        return torch.linalg.slogdet(w.to(torch.promote_types(w.dtype, torch.float32)))[1]

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        batch, _, n_of_groups = x.shape
        z = self.conv(x)
        return z, self.log_det() * (batch * n_of_groups)

    def invalidate(self) -> None:
        """Forget the cached inverse (it is recomputed on the next ``reverse``)."""
        self._inverse = None
        self._inverse_key = None

    def _weight_key(self) -> tuple[Any, ...] | None:
        w = self.conv.weight
        try:
            version = w._version
        except RuntimeError:  # inference tensors have no version counter: do not cache
            return None
        return (version, w.data_ptr(), w.dtype, w.device)

    def inverse_weight(self) -> Tensor:
        """W^-1 as a (c, c, 1) conv weight in the weight's dtype; differentiable when grad is enabled."""
        w = self._matrix()
        if torch.is_grad_enabled() and w.requires_grad:
            wide = w.to(torch.promote_types(w.dtype, torch.float32))
            return torch.linalg.inv(wide).to(w.dtype).unsqueeze(2)
        key = self._weight_key()
        if self._inverse is None or key is None or key != self._inverse_key:
            inv = torch.linalg.inv(w.detach().to(torch.float64)).to(w.dtype).unsqueeze(2)
            self._inverse, self._inverse_key = inv, key
        return self._inverse

    def reverse(self, z: Tensor) -> Tensor:
        """x = W^-1 z."""
        return F.conv1d(z, self.inverse_weight())


class WN(nn.Module):
    """WaveNet-like affine coupling network: (first half of audio, upsampled mel) -> (b, log_s).

    start: 1x1 weight-norm conv n_half -> C; per layer i: dilated conv (kernel k, dilation 2^i, same padding)
    C -> 2C plus a 1x1 conditioning conv n_cond -> 2C, gated tanh*sigmoid, 1x1 res/skip conv C -> 2C (the
    last layer C -> C, skip only); end: plain 1x1 conv C -> 2*n_half, zero-initialised so each coupling
    starts as the identity.
    """

    def __init__(
        self, n_in_channels: int, n_cond_channels: int, n_layers: int, n_channels: int, kernel_size: int
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise WaveGlowConfigError(f"WN kernel_size must be odd for 'same' padding, got {kernel_size}")
        if n_layers < 1 or n_channels < 1:
            raise WaveGlowConfigError(
                f"WN n_layers and n_channels must be positive, got {n_layers} and {n_channels}"
            )
        self.n_layers = n_layers
        self.n_channels = n_channels
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        self.cond_layers = nn.ModuleList()
        for i in range(n_layers):
            dilation = 2**i
            self.in_layers.append(
                WeightNormConv1d(
                    n_channels,
                    2 * n_channels,
                    kernel_size,
                    dilation=dilation,
                    padding=dilation * (kernel_size - 1) // 2,
                )
            )
            res_skip_channels = 2 * n_channels if i < n_layers - 1 else n_channels
            self.res_skip_layers.append(WeightNormConv1d(n_channels, res_skip_channels))
            self.cond_layers.append(WeightNormConv1d(n_cond_channels, 2 * n_channels))
        self.start = WeightNormConv1d(n_in_channels, n_channels)
        self.end = nn.Conv1d(n_channels, 2 * n_in_channels, kernel_size=1)
        nn.init.zeros_(self.end.weight)
        nn.init.zeros_(self.end.bias)

    def forward(self, audio: Tensor, spect: Tensor) -> Tensor:
        """audio (B, n_half, T'), spect (B, n_cond, T') -> (B, 2*n_half, T'): [b, log_s] along channels."""
        c = self.n_channels
        x = self.start(audio)
        # All conditioning convolutions at once: one (8*2C x n_cond) matrix product instead of eight.
        cond_weight = torch.cat([_conv_weight(layer) for layer in self.cond_layers])
        cond_bias = torch.cat([layer.bias for layer in self.cond_layers])
        cond = F.conv1d(spect, cond_weight, cond_bias)
        skip: Tensor | None = None
        for i in range(self.n_layers):
            acts = gated_activation(self.in_layers[i](x) + cond[:, 2 * c * i : 2 * c * (i + 1)], c)
            res_skip = self.res_skip_layers[i](acts)
            if i < self.n_layers - 1:
                x = x + res_skip[:, :c]
                skip_part = res_skip[:, c:]
            else:
                skip_part = res_skip
            skip = skip_part if skip is None else skip + skip_part
        return self.end(skip)

    def remove_weight_norm(self) -> None:
        """Replace every weight-norm conv with an equivalent plain ``nn.Conv1d`` (for inference)."""
        if isinstance(self.start, WeightNormConv1d):
            self.start = self.start.to_conv()
        for layers in (self.in_layers, self.res_skip_layers, self.cond_layers):
            for i, layer in enumerate(layers):
                if isinstance(layer, WeightNormConv1d):
                    layers[i] = layer.to_conv()


class WaveGlow(nn.Module):
    """WaveGlow vocoder (Prenger et al. 2019) with the NGC checkpoint layout.

    ``forward((spect, audio))`` maps audio to ``(z, log_s_list, log_det_W_list)`` for the training loss;
    ``infer(spect, sigma)`` maps noise to audio of ``frames * 256`` samples.
    """

    def __init__(
        self,
        n_mel_channels: int = 80,
        n_flows: int = 12,
        n_group: int = 8,
        n_early_every: int = 4,
        n_early_size: int = 2,
        WN_config: dict[str, int] | None = None,  # the reference's keyword (checkpoint configs)
    ) -> None:
        super().__init__()
        wn_config = dict(DEFAULT_WN_CONFIG if WN_config is None else WN_config)
        unknown = set(wn_config) - set(DEFAULT_WN_CONFIG)
        if unknown:
            raise WaveGlowConfigError(
                f"unknown WN_config keys {sorted(unknown)}; expected {sorted(DEFAULT_WN_CONFIG)}"
            )
        wn_config = {**DEFAULT_WN_CONFIG, **wn_config}
        self._check_config(n_mel_channels, n_flows, n_group, n_early_every, n_early_size)

        self.n_mel_channels = n_mel_channels
        self.n_flows = n_flows
        self.n_group = n_group
        self.n_early_every = n_early_every
        self.n_early_size = n_early_size
        self.wn_config = wn_config
        # "eager": `infer` below (the reference); "fast": waveglow/fast_infer.py (set_waveglow_impl).
        # A plain attribute, not a constructor argument or state.
        self.impl = "eager"

        self.upsample = nn.ConvTranspose1d(
            n_mel_channels, n_mel_channels, UPSAMPLE_KERNEL, stride=UPSAMPLE_STRIDE
        )
        self.WN = nn.ModuleList()
        self.convinv = nn.ModuleList()
        n_remaining = n_group
        for k in range(n_flows):
            if self.is_early(k):
                n_remaining -= n_early_size
            self.convinv.append(Invertible1x1Conv(n_remaining))
            self.WN.append(WN(n_remaining // 2, n_mel_channels * n_group, **wn_config))
        self.n_remaining_channels = n_remaining

    @staticmethod
    def _check_config(n_mel: int, n_flows: int, n_group: int, early_every: int, early_size: int) -> None:
        if n_mel < 1 or n_flows < 1:
            raise WaveGlowConfigError(
                f"n_mel_channels and n_flows must be positive, got {n_mel} and {n_flows}"
            )
        if n_group < 2 or n_group % 2 or UPSAMPLE_STRIDE % n_group:
            raise WaveGlowConfigError(
                f"n_group must be even and divide the hop length {UPSAMPLE_STRIDE}, got {n_group}"
            )
        if early_every < 1 or early_size < 0 or early_size % 2:
            raise WaveGlowConfigError(
                "n_early_every must be >= 1 and n_early_size even and >= 0, "
                f"got {early_every} and {early_size}"
            )
        n_early = (n_flows - 1) // early_every
        if n_group - n_early * early_size < 2:
            raise WaveGlowConfigError(
                f"n_group={n_group} leaves fewer than 2 channels after {n_early} early outputs of "
                f"n_early_size={early_size} (n_flows={n_flows}, n_early_every={early_every})"
            )

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments, as stored in checkpoints' ``config``."""
        return {
            "n_mel_channels": self.n_mel_channels,
            "n_flows": self.n_flows,
            "n_group": self.n_group,
            "n_early_every": self.n_early_every,
            "n_early_size": self.n_early_size,
            "WN_config": dict(self.wn_config),
        }

    def is_early(self, k: int) -> bool:
        """Whether flow ``k`` is preceded by an early output (n_early_size channels leave the flow)."""
        return k > 0 and k % self.n_early_every == 0

    def grouped_spect(self, spect: Tensor, n_samples: int) -> Tensor:
        """Upsample a mel (B, n_mel, frames), keep n_samples steps, group: (B, n_mel*n_group, n/n_group)."""
        if spect.dim() != 3 or spect.size(1) != self.n_mel_channels:
            raise ValueError(
                f"expected a mel of shape (batch, {self.n_mel_channels}, frames), got {tuple(spect.shape)}"
            )
        up = self.upsample(spect.to(self.upsample.weight.dtype))
        if up.size(2) < n_samples:
            raise ValueError(
                f"{spect.size(2)} mel frames upsample to {up.size(2)} samples, fewer than the "
                f"{n_samples} audio samples"
            )
        up = up[:, :, :n_samples]
        batch, n_mel, _ = up.shape
        g = self.n_group
        # (B, n_mel, T) -> (B, n_mel, T/g, g) -> (B, T/g, n_mel, g) -> (B, n_mel*g, T/g)
        up = up.unfold(2, g, g).permute(0, 2, 1, 3).reshape(batch, n_samples // g, n_mel * g)
        return up.transpose(1, 2)

    def _coupling(self, k: int, audio: Tensor, spect: Tensor) -> tuple[Tensor, Tensor]:
        n_half = audio.size(1) // 2
        audio_0, audio_1 = audio[:, :n_half], audio[:, n_half:]
        out = self.WN[k](audio_0, spect)
        b, log_s = out[:, :n_half], out[:, n_half:]
        return torch.cat([audio_0, torch.exp(log_s) * audio_1 + b], dim=1), log_s

    def _coupling_reverse(self, k: int, audio: Tensor, spect: Tensor) -> Tensor:
        n_half = audio.size(1) // 2
        audio_0, audio_1 = audio[:, :n_half], audio[:, n_half:]
        out = self.WN[k](audio_0, spect)
        b, log_s = out[:, :n_half], out[:, n_half:]
        return torch.cat([audio_0, (audio_1 - b) * torch.exp(-log_s)], dim=1)

    def forward(self, forward_input: tuple[Tensor, Tensor]) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        """(spect (B, n_mel, frames), audio (B, T)) -> (z (B, n_group, T/g), log_s_list, log_det_W_list)."""
        spect, audio = forward_input
        if audio.dim() != 2 or audio.size(1) % self.n_group:
            raise ValueError(
                f"expected audio of shape (batch, T) with T a multiple of n_group={self.n_group}, "
                f"got {tuple(audio.shape)}"
            )
        n_samples = audio.size(1)
        spect = self.grouped_spect(spect, n_samples)
        x = audio.to(self.upsample.weight.dtype).unfold(1, self.n_group, self.n_group).transpose(1, 2)

        early_outputs: list[Tensor] = []
        log_s_list: list[Tensor] = []
        log_det_w_list: list[Tensor] = []
        for k in range(self.n_flows):
            if self.is_early(k):
                early_outputs.append(x[:, : self.n_early_size])
                x = x[:, self.n_early_size :]
            x, log_det_w = self.convinv[k](x)
            x, log_s = self._coupling(k, x, spect)
            log_det_w_list.append(log_det_w)
            log_s_list.append(log_s)
        early_outputs.append(x)
        return torch.cat(early_outputs, dim=1), log_s_list, log_det_w_list

    @torch.no_grad()  # synthesis only: no autograd graph over the whole flow
    def infer(self, spect: Tensor, sigma: float = 1.0, z: Tensor | None = None) -> Tensor:
        """Mel (B, n_mel, frames) -> audio (B, frames * 256).

        z defaults to sigma * N(0, 1) in the upsampled mel's dtype and device; pass ``z`` of shape
        (B, n_group, frames * 256 / n_group), laid out like ``forward``'s output, to invert a given latent.
        """
        if self.impl == "fast":
            return waveglow_infer(self, spect, sigma, z)
        # The transposed conv gives (frames - 1) * stride + kernel samples; drop the kernel - stride overhang.
        n_samples = spect.size(2) * UPSAMPLE_STRIDE
        spect = self.grouped_spect(spect, n_samples)
        batch, _, n_steps = spect.shape
        if z is None:
            z = torch.randn(batch, self.n_group, n_steps, dtype=spect.dtype, device=spect.device) * sigma
        elif tuple(z.shape) != (batch, self.n_group, n_steps):
            raise ValueError(f"z must have shape {(batch, self.n_group, n_steps)}, got {tuple(z.shape)}")
        else:
            z = z.to(dtype=spect.dtype, device=spect.device)

        n_early_total = self.n_group - self.n_remaining_channels
        x = z[:, n_early_total:]
        early_index = n_early_total
        for k in reversed(range(self.n_flows)):
            x = self._coupling_reverse(k, x, spect)
            x = self.convinv[k].reverse(x)
            if self.is_early(k):
                early_index -= self.n_early_size
                x = torch.cat([z[:, early_index : early_index + self.n_early_size], x], dim=1)
        # (B, n_group, T/n_group) -> (B, T): sample t*n_group + k comes from channel k, step t.
        return x.transpose(1, 2).reshape(batch, -1)


def remove_weightnorm(model: WaveGlow) -> WaveGlow:
    """Fold weight normalisation into plain conv weights in every WN of ``model`` (in place); returns it."""
    for wn in model.WN:
        wn.remove_weight_norm()
    return model

"""Fast CPU inference for the HiFi-GAN generator: the function of `Generator.forward`, with fewer FLOPs.

`FastGenerator(generator)` prepares the weights once (weight norm folded, whatever the generator holds)
and computes the same audio up to float rounding (tests/test_hifigan_fast.py). What changes
(measurements: docs/PERFORMANCE.md, "HiFi-GAN"):

- **Long kernels in the frequency domain.** A residual-block convolution with k taps costs 2 k C^2 FLOPs
  per output sample directly. Overlap-save with real FFTs of n points (blocks of n - k + 1 outputs)
  costs 8 C^2 (n / 2 + 1) / (n - k + 1) in the per-frequency complex products, about 4.3 C^2 for
  n = 64 and k = 7 or 11 (direct: 14 C^2 and 22 C^2), plus O(C log n) for the transforms. The
  frequency-domain weights are computed once (conj(rfft(w)), the correlation that conv1d computes).
  Used where kernel x channels >= `fft_min_work` (1408: V1's 11-tap convolutions at 128 channels and
  its 7- and 11-tap ones at 256): below that, the transforms, the layout copies and the smaller
  products cost more than they save on this machine (docs/PERFORMANCE.md).
- **Dilation by polyphase.** A convolution with dilation d is d independent undilated convolutions over
  the d phases of the signal (samples r, r + d, ...), so the FFT blocks depend on k, not on the dilated
  span (up to 51 samples in V1).
- **Element-wise work in place.** LeakyReLU of the intermediate activations, the residual adds and the
  sum over the stage's blocks run in place; the 1/num_kernels of the block mean is folded into the next
  transposed convolution and into conv_post (LeakyReLU is positively homogeneous).
- **Channels-last direct convolutions.** Everything else (short kernels, narrow stages, the upsampling
  transposed convolutions) runs as 2-D convolutions over (B, C, 1, T) activations kept channels-last
  end to end, the layout oneDNN's direct kernels prefer on this CPU: no reorders between layers.

In float32 the FFT path's outputs differ from direct convolution by ~1e-6 relative; in float64 by ~1e-13.
Any float dtype and device work (the FFT products run in the complex type of the input's dtype).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hifigan.model import LRELU_SLOPE, POST_LRELU_SLOPE, Generator, ResBlock1

FFT_SIZE = 64
FFT_MIN_WORK = 1408  # kernel x channels from which the FFT path wins here (11 x 128, 7 x 256; not 7 x 128)


def _effective(conv: nn.Module) -> tuple[Tensor, Tensor]:
    """(weight, bias) of a weight-normalised or plain convolution, detached, in float64."""
    weight = conv.normalized_weight() if hasattr(conv, "normalized_weight") else conv.weight
    return weight.detach().double(), conv.bias.detach().double()


@dataclass
class _Conv:
    """One 'same' convolution (stride 1) prepared for `_conv`: direct taps or frequency-domain weights."""

    weight: Tensor  # (O, I, 1, k) channels-last: direct taps
    bias: Tensor  # (O,)
    kernel: int
    dilation: int
    freq: Tensor | None  # (bins, O, I) complex: conj(rfft(w, n)); None: direct convolution
    n_fft: int


def _prepare_conv(conv: nn.Module, dtype: torch.dtype, scale: float, n_fft: int, min_work: int) -> _Conv:
    weight, bias = _effective(conv)
    weight = weight * scale
    kernel, dilation = int(weight.shape[-1]), int(conv.dilation[0])
    freq = None
    if kernel * min(weight.shape[:2]) >= min_work and n_fft > kernel:
        complex_dtype = (torch.ones(1, dtype=dtype) * 1j).dtype
        freq = torch.fft.rfft(weight, n=n_fft).conj().permute(2, 0, 1).to(complex_dtype).contiguous()
    taps = weight.to(dtype).unsqueeze(2).contiguous(memory_format=torch.channels_last)  # (O, I, 1, k)
    return _Conv(taps, bias.to(dtype), kernel, dilation, freq, n_fft)


def fft_conv1d(x: Tensor, freq: Tensor, bias: Tensor, kernel: int, dilation: int, n_fft: int) -> Tensor:
    """'Same' (zero-padded) dilated conv1d of x (B, C, T) with the frequency-domain weights ``freq``
    (bins, O, C) = conj(rfft(w, n_fft)) of taps w (O, C, kernel): polyphase, then overlap-save."""
    batch, channels, length = x.shape
    half = (kernel - 1) // 2
    hop = n_fft - kernel + 1  # outputs per block
    if dilation > 1:  # phases r, r + d, ... are independent undilated convolutions
        padded = -(-length // dilation) * dilation
        x = F.pad(x, (0, padded - length)).view(batch, channels, padded // dilation, dilation)
        x = x.permute(0, 3, 1, 2).reshape(batch * dilation, channels, padded // dilation)
    items, _, steps = x.shape
    n_blocks = -(-steps // hop)
    x = F.pad(x, (half, n_blocks * hop + kernel - 1 - half - steps))
    spectra = torch.fft.rfft(x.unfold(-1, n_fft, hop))  # (items, C, blocks, bins)
    bins = spectra.size(-1)
    spectra = spectra.permute(3, 1, 0, 2).reshape(bins, channels, items * n_blocks)
    out = torch.bmm(freq, spectra)  # (bins, O, items * blocks)
    out_channels = out.size(1)
    out = out.view(bins, out_channels, items, n_blocks).permute(2, 1, 3, 0)
    y = torch.fft.irfft(out, n=n_fft)[..., :hop].reshape(items, out_channels, n_blocks * hop)[..., :steps]
    if dilation > 1:
        y = y.view(batch, dilation, out_channels, steps).permute(0, 2, 3, 1).reshape(batch, out_channels, -1)
        y = y[..., :length]
    return y + bias.view(1, -1, 1)


def _conv(x: Tensor, conv: _Conv) -> Tensor:
    """'Same' convolution of channels-last activations x (B, C, 1, T); returns the same layout."""
    if conv.freq is not None:
        y = fft_conv1d(x.squeeze(2), conv.freq, conv.bias, conv.kernel, conv.dilation, conv.n_fft)
        return y.unsqueeze(2).contiguous(memory_format=torch.channels_last)
    return F.conv2d(x, conv.weight, conv.bias, padding=(0, (conv.kernel - 1) // 2 * conv.dilation),
                    dilation=(1, conv.dilation))


class FastGenerator(nn.Module):
    """`Generator.forward` computed faster on the CPU (see the module docstring); same input and output.

    The weights are copied and prepared when it is built: rebuild it after changing the generator.
    """

    def __init__(self, generator: Generator, dtype: torch.dtype | None = None, n_fft: int = FFT_SIZE,
                 fft_min_work: int = FFT_MIN_WORK) -> None:
        super().__init__()
        if not isinstance(generator, Generator):
            raise TypeError(f"FastGenerator needs a hifigan.model.Generator, got {type(generator).__name__}")
        dtype = dtype or generator.conv_post.bias.dtype
        self.n_mel_channels = generator.conv_pre.in_channels
        self.hop_length = generator.hop_length
        k = generator.num_kernels

        def prep(conv: nn.Module, scale: float = 1.0) -> _Conv:
            return _prepare_conv(conv, dtype, scale, n_fft, fft_min_work)

        self.pre = prep(generator.conv_pre)
        self.ups: list[tuple[Tensor, Tensor, int, int]] = []
        self.blocks: list[list[list[tuple[_Conv, _Conv | None]]]] = []
        for i, (up, blocks) in enumerate(zip(generator.ups, generator.resblocks)):
            weight, bias = _effective(up)
            scale = 1.0 if i == 0 else 1.0 / k  # the previous stage's block mean
            taps = (weight * scale).to(dtype).unsqueeze(2).contiguous(memory_format=torch.channels_last)
            self.ups.append((taps, bias.to(dtype), int(up.stride[0]), int(up.padding[0])))
            stage = []
            for block in blocks:
                if isinstance(block, ResBlock1):
                    stage.append([(prep(c1), prep(c2)) for c1, c2 in zip(block.convs1, block.convs2)])
                else:
                    stage.append([(prep(c), None) for c in block.convs])
            self.blocks.append(stage)
        self.post = prep(generator.conv_post, 1.0 / k)

    def forward(self, mel: Tensor) -> Tensor:
        if mel.dim() != 3 or mel.size(1) != self.n_mel_channels:
            raise ValueError(f"HiFi-GAN generator expects mels of shape (batch, {self.n_mel_channels}, "
                             f"frames), got {tuple(mel.shape)}")
        with torch.no_grad():
            x = mel.to(self.pre.weight.dtype).unsqueeze(2).contiguous(memory_format=torch.channels_last)
            x = _conv(x, self.pre)
            for (weight, bias, stride, padding), stage in zip(self.ups, self.blocks):
                x = F.conv_transpose2d(F.leaky_relu_(x, LRELU_SLOPE), weight, bias, (1, stride), (0, padding))
                total = None
                for block in stage:
                    h = x
                    for c1, c2 in block:
                        t = _conv(F.leaky_relu(h, LRELU_SLOPE), c1)
                        if c2 is not None:
                            t = _conv(F.leaky_relu_(t, LRELU_SLOPE), c2)
                        h = t.add_(h)
                    total = h if total is None else total.add_(h)
                x = total
            return torch.tanh_(_conv(F.leaky_relu_(x, POST_LRELU_SLOPE), self.post)).squeeze(2).contiguous()

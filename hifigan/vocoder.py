"""HiFi-GAN as a vocoder for synthesis: a generator behind the interface the suite's synthesis pipeline
uses for WaveGlow (``infer(mel, sigma) -> audio (B, frames * hop)``, ``n_mel_channels``), so
`common.synthesis.Synthesizer`, its denoiser (waveglow/denoiser.py: the vocoder's output for an all-zero
mel, as a bias spectrum subtracted from every frame) and `inference.py --hifigan` treat both alike.

On the CPU in float32 it runs `FastGenerator` (hifigan/fast_infer.py); elsewhere the generator itself,
weight norm removed.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from hifigan.fast_infer import FastGenerator
from hifigan.model import Generator, generator_from_checkpoint, load_generator


class HiFiGANVocoder(nn.Module):
    """Mel (B, n_mel, frames) -> audio (B, frames * hop) with a HiFi-GAN generator (a copy, weight norm
    folded). ``fast`` (default on) uses `FastGenerator` for float32 input on the CPU."""

    def __init__(self, generator: Generator, fast: bool = True) -> None:
        super().__init__()
        self.generator = copy.deepcopy(generator).remove_weight_norm().eval().requires_grad_(False)
        self.n_mel_channels = int(self.generator.conv_pre.in_channels)
        self.hop_length = int(self.generator.hop_length)
        self.use_fast = fast
        self._fast: FastGenerator | None = None  # built on first CPU use (its weights stay on the CPU)

    @property
    def config(self) -> dict[str, Any]:
        """The generator's config (checkpoint ``config``)."""
        return self.generator.config

    def forward(self, mel: Tensor) -> Tensor:
        """Audio (B, 1, frames * hop), as `Generator.forward`."""
        if self.use_fast and mel.device.type == "cpu" and mel.dtype == torch.float32 \
                and self.generator.conv_post.weight.dtype == torch.float32 \
                and self.generator.conv_post.weight.device.type == "cpu":
            if self._fast is None:
                self._fast = FastGenerator(self.generator)
            return self._fast(mel)
        with torch.no_grad():
            return self.generator(mel.to(self.generator.conv_post.weight.dtype))

    def infer(self, mel: Tensor, sigma: float = 0.0) -> Tensor:
        """Audio (B, frames * hop); ``sigma`` is accepted for WaveGlow's signature and ignored (HiFi-GAN
        draws no noise)."""
        return self.forward(mel).squeeze(1)

    def _apply(self, fn: Any, recurse: bool = True) -> HiFiGANVocoder:
        self._fast = None  # moved or cast: prepare the fast path again when it is next used
        return super()._apply(fn, recurse)


def vocoder_from_checkpoint(checkpoint: Mapping[str, Any], source: str,
                            config: Mapping[str, Any] | None = None, fast: bool = True,
                            ema: bool = False) -> HiFiGANVocoder:
    """A `HiFiGANVocoder` from a checkpoint already read (NGC, ours or a `run.py -m HiFiGAN` one)."""
    return HiFiGANVocoder(generator_from_checkpoint(checkpoint, source, config, ema), fast=fast)


def load_vocoder(path: str | Path, config: Mapping[str, Any] | None = None, fast: bool = True,
                 ema: bool = False) -> HiFiGANVocoder:
    """A `HiFiGANVocoder` from a checkpoint file (`hifigan.model.load_generator`: weights_only, strict)."""
    return HiFiGANVocoder(load_generator(path, config, ema=ema), fast=fast)

"""Bias-spectrum denoiser: removes WaveGlow's constant background hiss by spectral subtraction.

WaveGlow leaves a faint, roughly stationary noise whose spectrum is what it produces for "no speech" input.
The denoiser measures that spectrum once (the model's output for a silent mel at sigma 0) and subtracts a
fraction of it from every frame of the synthesised audio, keeping the phase.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from common.stft import STFT

BIAS_MEL_FRAMES = 88
MODES = ("zeros", "normal")


class Denoiser(nn.Module):
    """Subtract ``strength`` times WaveGlow's bias spectrum from audio's STFT magnitude.

    Any vocoder with ``infer(mel, sigma)`` -> (B, T) and ``n_mel_channels`` works (e.g.
    `hifigan.vocoder.HiFiGANVocoder`).

    ``mode="zeros"`` measures the bias with an all-zero mel (1, n_mel, 88); ``mode="normal"`` with a
    standard normal mel drawn from a fixed seed. The STFT uses hop ``filter_length // n_overlap``. The bias
    spectrum (1, filter_length // 2 + 1, 1) is a buffer, so ``.to(device)`` moves it; the spectral work
    runs in float32 (or wider) whatever the model's dtype, and the output has the input audio's dtype.
    """

    def __init__(
        self,
        waveglow: nn.Module,
        filter_length: int = 1024,
        n_overlap: int = 4,
        win_length: int = 1024,
        mode: str = "zeros",
        seed: int = 0,
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"denoiser mode must be one of {MODES}, got {mode!r}")
        if n_overlap < 1 or filter_length % n_overlap:
            raise ValueError(f"n_overlap={n_overlap} must be >= 1 and divide filter_length={filter_length}")
        self.stft = STFT(filter_length, hop_length=filter_length // n_overlap, win_length=win_length)
        parameter = next(waveglow.parameters())
        device, dtype = parameter.device, parameter.dtype
        shape = (1, int(waveglow.n_mel_channels), BIAS_MEL_FRAMES)
        if mode == "zeros":
            mel = torch.zeros(shape, dtype=dtype, device=device)
        else:
            generator = torch.Generator().manual_seed(seed)
            mel = torch.randn(shape, generator=generator).to(device=device, dtype=dtype)
        with torch.no_grad():
            bias_audio = waveglow.infer(mel, sigma=0.0)
            self.stft.to(device)
            magnitude, _ = self.stft.transform(self._wide(bias_audio))
        self.register_buffer("bias_spec", magnitude[:, :, :1].clone())

    @staticmethod
    def _wide(audio: Tensor) -> Tensor:
        return audio.to(torch.promote_types(audio.dtype, torch.float32))

    def forward(self, audio: Tensor, strength: float = 0.01) -> Tensor:
        """Denoised audio (B, T) or (T,) -> the same shape; ``strength`` 0 is a plain STFT round trip."""
        single = audio.dim() == 1
        x = self._wide(audio.unsqueeze(0) if single else audio)
        magnitude, phase = self.stft.transform(x)
        magnitude = torch.clamp(magnitude - self.bias_spec.to(magnitude.dtype) * strength, min=0.0)
        out = self.stft.inverse(magnitude, phase, length=x.size(-1)).to(audio.dtype)
        return out[0] if single else out

"""STFT, the NGC reference's log-mel front end (`MelSTFT`), and Griffin-Lim phase reconstruction.

Pure torch, so the same code runs on CPU and GPU and under autograd. Conventions match the reference:
periodic Hann window, reflect padding of ``filter_length // 2`` on both sides (one second at 22050 Hz
with hop 256 gives 87 frames), magnitude spectra, librosa's Slaney mel filterbank, and
``log(clamp(mel, 1e-5))`` features.
"""

from __future__ import annotations

import librosa
import numpy as np
import torch

__all__ = [
    "STFT",
    "MelSTFT",
    "dynamic_range_compression",
    "dynamic_range_decompression",
    "griffin_lim",
    "mel_to_audio",
]

_WINDOWS = {
    "hann": torch.hann_window,
    "hamming": torch.hamming_window,
    "blackman": torch.blackman_window,
}


def _padded_window(
    window: str, win_length: int, filter_length: int, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Periodic window of ``win_length`` samples, zero-padded symmetrically to ``filter_length``."""
    if window not in _WINDOWS:
        raise ValueError(f"unknown window {window!r}; choose one of {sorted(_WINDOWS)}")
    w = _WINDOWS[window](win_length, periodic=True, dtype=torch.float64).to(dtype)
    left = (filter_length - win_length) // 2
    return torch.nn.functional.pad(w, (left, filter_length - win_length - left))


def dynamic_range_compression(x: torch.Tensor, C: float = 1.0, clip_val: float = 1e-5) -> torch.Tensor:
    """log(clamp(x, clip_val) * C): the log compression applied to mel magnitudes."""
    return torch.log(torch.clamp(x, min=clip_val) * C)


def dynamic_range_decompression(x: torch.Tensor, C: float = 1.0) -> torch.Tensor:
    """Inverse of :func:`dynamic_range_compression` (above the clip value)."""
    return torch.exp(x) / C


class STFT(torch.nn.Module):
    """Short-time Fourier transform and its inverse with the reference's framing."""

    def __init__(
        self, filter_length: int = 1024, hop_length: int = 256, win_length: int = 1024, window: str = "hann"
    ) -> None:
        super().__init__()
        if not 0 < hop_length <= win_length <= filter_length:
            raise ValueError(
                "need 0 < hop_length <= win_length <= filter_length, got "
                f"hop_length={hop_length}, win_length={win_length}, filter_length={filter_length}"
            )
        self.filter_length = filter_length
        self.hop_length = hop_length
        self.win_length = win_length
        self.window_name = window
        self.register_buffer("window", _padded_window(window, win_length, filter_length), persistent=False)

    def _window_for(self, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """The window in the signal's dtype and device.

        The buffer is float32 (float64 buffers break devices without float64, such as MPS). Float64
        signals get a freshly computed float64 window: the float32 rounding of the window alone limits
        the accuracy of low-level bins (about 1e-7 of the frame's peak).
        """
        if dtype == torch.float64:
            return _padded_window(self.window_name, self.win_length, self.filter_length, dtype).to(device)
        return self.window.to(device=device, dtype=dtype)

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for ``num_samples`` of audio (centred framing)."""
        return num_samples // self.hop_length + 1

    def stft(self, audio: torch.Tensor) -> torch.Tensor:
        """Complex spectrogram (B, filter_length // 2 + 1, frames) of real audio (B, T)."""
        if audio.dim() != 2:
            raise ValueError(f"STFT expects audio of shape (batch, samples), got {tuple(audio.shape)}")
        if audio.shape[-1] <= self.filter_length // 2:
            raise ValueError(
                f"audio of {audio.shape[-1]} samples is too short for reflect padding of "
                f"{self.filter_length // 2} samples (need more than filter_length // 2)"
            )
        return torch.stft(
            audio,
            n_fft=self.filter_length,
            hop_length=self.hop_length,
            win_length=self.filter_length,
            window=self._window_for(audio.dtype, audio.device),
            center=True,
            pad_mode="reflect",
            normalized=False,
            onesided=True,
            return_complex=True,
        )

    def istft(self, spectrum: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """Least-squares inverse of :meth:`stft` (window-squared overlap-add normalisation)."""
        return torch.istft(
            spectrum,
            n_fft=self.filter_length,
            hop_length=self.hop_length,
            win_length=self.filter_length,
            window=self._window_for(spectrum.real.dtype, spectrum.device),
            center=True,
            normalized=False,
            onesided=True,
            length=length,
        )

    def transform(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Magnitude and phase, each (B, filter_length // 2 + 1, frames), of audio (B, T)."""
        spectrum = self.stft(audio)
        return spectrum.abs(), spectrum.angle()

    def inverse(
        self, magnitude: torch.Tensor, phase: torch.Tensor, length: int | None = None
    ) -> torch.Tensor:
        """Audio (B, T') from magnitude and phase; T' = hop_length * (frames - 1) unless ``length``."""
        if magnitude.shape != phase.shape:
            raise ValueError(
                f"magnitude {tuple(magnitude.shape)} and phase {tuple(phase.shape)} differ in shape"
            )
        return self.istft(torch.polar(magnitude, phase.to(magnitude.dtype)), length=length)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """Analysis followed by synthesis: reconstructs ``audio`` (B, T) at its own length."""
        magnitude, phase = self.transform(audio)
        return self.inverse(magnitude, phase, length=audio.shape[-1])


class MelSTFT(torch.nn.Module):
    """The log-mel front end the models are trained on, and its approximate inverse to linear magnitudes."""

    def __init__(
        self,
        filter_length: int = 1024,
        hop_length: int = 256,
        win_length: int = 1024,
        n_mel_channels: int = 80,
        sampling_rate: int = 22050,
        mel_fmin: float = 0.0,
        mel_fmax: float | None = 8000.0,
    ) -> None:
        super().__init__()
        nyquist = sampling_rate / 2.0
        if mel_fmax is None:
            mel_fmax = nyquist
        if not 0.0 <= mel_fmin < mel_fmax <= nyquist:
            raise ValueError(
                f"need 0 <= mel_fmin < mel_fmax <= sampling_rate / 2 = {nyquist:g}, "
                f"got mel_fmin={mel_fmin:g}, mel_fmax={mel_fmax:g}"
            )
        self.n_mel_channels = n_mel_channels
        self.sampling_rate = sampling_rate
        self.mel_fmin = float(mel_fmin)
        self.mel_fmax = float(mel_fmax)
        self.stft_fn = STFT(filter_length, hop_length, win_length)
        basis = librosa.filters.mel(
            sr=sampling_rate, n_fft=filter_length, n_mels=n_mel_channels, fmin=mel_fmin, fmax=mel_fmax
        ).astype(np.float64)
        # Buffers of this module only, never checkpointed: they are derived from the constructor arguments.
        self.register_buffer("mel_basis", torch.from_numpy(basis).float(), persistent=False)
        pinv = np.linalg.pinv(basis)
        self.register_buffer("mel_basis_pinv", torch.from_numpy(pinv).float(), persistent=False)

    def spectral_normalize(self, magnitudes: torch.Tensor) -> torch.Tensor:
        """Natural log with the 1e-5 floor: the stored form of mel features."""
        return dynamic_range_compression(magnitudes)

    def spectral_de_normalize(self, magnitudes: torch.Tensor) -> torch.Tensor:
        """Undo :meth:`spectral_normalize` (exp)."""
        return dynamic_range_decompression(magnitudes)

    def mel_spectrogram(self, y: torch.Tensor) -> torch.Tensor:
        """Log-mel features (B, n_mel_channels, frames) of audio ``y`` (B, T) in [-1, 1]."""
        if y.dim() != 2:
            raise ValueError(f"mel_spectrogram expects audio of shape (batch, samples), got {tuple(y.shape)}")
        if y.numel() and (torch.min(y) < -1.0 or torch.max(y) > 1.0):
            low, high = torch.min(y).item(), torch.max(y).item()
            raise ValueError(
                f"audio must lie in [-1, 1], got range [{low:.4g}, {high:.4g}] "
                "(int16 audio must be divided by max_wav_value)"
            )
        # The STFT runs in float64: in float32, FFT rounding (~1e-7 of a frame's peak) moves near-silent bins
        # by up to ~2e-4 in log-mel; in float64 the features match an independent float64 computation to
        # ~1e-12 and differ from it only by the final rounding to the input's dtype.
        magnitude = self.stft_fn.stft(y.double()).abs()  # no phase: features need magnitudes only
        mel = torch.matmul(self.mel_basis.double(), magnitude)
        return self.spectral_normalize(mel).to(y.dtype)

    def mel_to_linear(self, mel_log: torch.Tensor) -> torch.Tensor:
        """Approximate linear magnitudes (B, F, frames) or (F, frames) from log-mels (B, n_mel, frames).

        F = filter_length // 2 + 1. Uses the pseudo-inverse of the mel basis; its negative values are
        clamped to 0. 2-D input (n_mel, frames) gives 2-D output.
        """
        if mel_log.dim() not in (2, 3) or mel_log.shape[-2] != self.n_mel_channels:
            raise ValueError(
                f"expected log-mels of shape ({self.n_mel_channels}, frames) or "
                f"(batch, {self.n_mel_channels}, frames), got {tuple(mel_log.shape)}"
            )
        mel = self.spectral_de_normalize(mel_log)
        return torch.clamp(torch.matmul(self.mel_basis_pinv.to(mel.dtype), mel), min=0.0)


def griffin_lim(
    magnitude: torch.Tensor,
    stft: STFT,
    n_iters: int = 60,
    momentum: float = 0.99,
    seed: int | None = 0,
) -> torch.Tensor:
    """Estimate audio (B, T) whose STFT magnitude approximates ``magnitude`` (B, F, frames).

    Fast Griffin-Lim (Perraudin, Balazs and Sondergaard, 2013): alternate projections onto the set of
    spectra with the given magnitude and the set of consistent spectra (STFT of some signal), with an
    extrapolation step of weight ``momentum``; ``momentum=0`` is the classic Griffin-Lim algorithm.
    The initial phase is uniform random from ``seed`` (drawn on the CPU, so CPU and GPU agree);
    ``seed=None`` uses torch's global generator. No gradients flow through the iterations.
    """
    if magnitude.dim() != 3 or magnitude.shape[1] != stft.filter_length // 2 + 1:
        raise ValueError(
            f"expected magnitude of shape (batch, {stft.filter_length // 2 + 1}, frames), "
            f"got {tuple(magnitude.shape)}"
        )
    if n_iters < 0:
        raise ValueError(f"n_iters must be >= 0, got {n_iters}")
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must lie in [0, 1], got {momentum}")
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    length = stft.hop_length * (magnitude.shape[-1] - 1)
    eps = torch.finfo(magnitude.dtype).tiny

    with torch.no_grad():
        magnitude = magnitude.detach()
        phase0 = 2.0 * torch.pi * torch.rand(magnitude.shape, generator=generator, dtype=magnitude.dtype)
        estimate = torch.polar(magnitude, phase0.to(magnitude.device))
        previous = None
        for _ in range(n_iters):
            # Consistency projection of the magnitude-constrained estimate.
            projected = stft.stft(stft.istft(estimate, length=length))
            target = projected if previous is None else projected + momentum * (projected - previous)
            previous = projected
            # Magnitude projection: keep the phase, impose the target magnitude.
            estimate = magnitude * target / (target.abs() + eps)
        return stft.istft(estimate, length=length)


def mel_to_audio(
    mel_log: torch.Tensor,
    mel_stft: MelSTFT,
    n_iters: int = 60,
    power: float = 1.2,
    seed: int | None = 0,
) -> torch.Tensor:
    """Vocoder-free audio from log-mels (B, n_mel, frames) -> (B, T), or (n_mel, frames) -> (T,).

    Linear magnitudes from the mel pseudo-inverse are raised to ``power`` (> 1 sharpens harmonics and
    lowers the noise floor, a common trick) before Griffin-Lim. The level is not normalised: pass the
    result to ``save_wav(..., normalize=True)`` or scale it yourself.
    """
    single = mel_log.dim() == 2
    magnitude = mel_stft.mel_to_linear(mel_log.unsqueeze(0) if single else mel_log)
    audio = griffin_lim(magnitude**power, mel_stft.stft_fn, n_iters=n_iters, seed=seed)
    return audio[0] if single else audio

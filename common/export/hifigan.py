"""HiFi-GAN generator export: TorchScript and ONNX, and an onnxruntime runner.

`HiFiGANInference` is an eval-mode copy of a `hifigan.model.Generator` with weight norm folded into plain
convolutions; `forward(mel)` (B, n_mel, frames) -> audio (B, frames * hop). Both exports go through it,
so exported audio equals eager `Generator(mel).squeeze(1)` up to float rounding
(tests/test_hifigan_export.py).
The ONNX graph has dynamic batch and frames and stores n_mel_channels and hop_length in its metadata.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from common.export.base import DEFAULT_OPSET, ExportError, _eval_copy
from common.export.onnx_export import _onnx_export, _set_onnx_metadata
from common.export.onnx_runtime import _as_numpy, _input_dtype, _metadata, _session
from common.export.torchscript import _script
from hifigan.model import Generator

HIFIGAN_INPUTS = ("mel",)
HIFIGAN_OUTPUTS = ("audio",)
ONNX_HIFIGAN_FILE = "hifigan.onnx"


class HiFiGANInference(nn.Module):
    """Export wrapper: the generator with weight norm removed, audio without the channel axis."""

    def __init__(self, generator: Generator, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if not isinstance(generator, Generator):
            raise ExportError(f"expected a HiFi-GAN Generator, got {type(generator).__name__}")
        self.generator = _eval_copy(generator, dtype).remove_weight_norm()
        self.generator.requires_grad_(False)
        self.n_mel_channels: int = generator.conv_pre.in_channels
        self.hop_length: int = generator.hop_length

    def forward(self, mel: Tensor) -> Tensor:
        """mel (B, n_mel, frames) -> audio (B, frames * hop) in [-1, 1]."""
        return self.generator(mel).squeeze(1)


def script_hifigan(generator: Generator, dtype: torch.dtype | None = None) -> torch.jit.ScriptModule:
    """TorchScript of `HiFiGANInference(generator)`; save it with `common.export.save_torchscript`."""
    return _script(HiFiGANInference(generator, dtype))


def export_hifigan_onnx(generator: Generator, out_path: str | Path, opset: int = DEFAULT_OPSET,
                        dtype: torch.dtype | None = None) -> Path:
    """Write the generator (weight norm removed) as one ONNX graph: mel (B, n_mel, frames) -> audio
    (B, frames * hop), batch and frames dynamic."""
    wrapper = HiFiGANInference(generator, dtype)
    param = wrapper.generator.conv_post.weight
    mel = torch.randn(1, wrapper.n_mel_channels, 3, generator=torch.Generator().manual_seed(0)).to(param)
    out_path = Path(out_path)
    _onnx_export(wrapper, (mel,), out_path, HIFIGAN_INPUTS, HIFIGAN_OUTPUTS,
                 {"mel": {0: "batch", 2: "frames"}, "audio": {0: "batch", 1: "samples"}}, opset)
    _set_onnx_metadata(out_path, {"n_mel_channels": wrapper.n_mel_channels, "hop_length": wrapper.hop_length})
    return out_path


class OnnxHiFiGAN:
    """HiFi-GAN synthesis from `hifigan.onnx`: `infer(mel)` -> audio (B, frames * hop) as numpy."""

    def __init__(self, path: str | Path, providers: Sequence[str] = ("CPUExecutionProvider",)) -> None:
        self.path = Path(path)
        self.session = _session(path, providers)
        self.meta = _metadata(self.session, path, ("n_mel_channels", "hop_length"))
        self.dtype = _input_dtype(self.session, "mel")

    def infer(self, mel: Any) -> np.ndarray:
        """mel (B, n_mel, frames >= 1), a tensor or array."""
        mel = _as_numpy(mel, self.dtype)
        n_mel = self.meta["n_mel_channels"]
        if mel.ndim != 3 or mel.shape[1] != n_mel or mel.shape[2] == 0:
            raise ExportError(f"{self.path}: mel must have shape (batch, {n_mel}, frames >= 1), "
                              f"got {mel.shape}")
        (audio,) = self.session.run(None, {"mel": mel})
        return audio

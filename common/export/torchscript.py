"""TorchScript: script the export wrappers (`Tacotron2Inference` with the whole decoding loop,
`ConditionedTacotron2Inference` for multi-speaker / multilingual models, `WaveGlowInference`), and save
and load the scripted modules with clear errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from common.export.base import ExportError, _eval_copy
from common.export.tacotron2 import (
    ConditionedTacotron2Inference,
    Tacotron2Inference,
    _conditioning,
    _export_copy,
)
from common.export.waveglow import WaveGlowInference
from common.io_errors import atomic_output
from tacotron2.model import Tacotron2
from waveglow.model import WaveGlow


def _script(module: nn.Module) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        try:
            return torch.jit.script(module)
        except Exception as err:  # noqa: BLE001 - report any compiler failure as an export failure
            raise ExportError(f"TorchScript compilation of {type(module).__name__} failed: {err}") from err


def script_tacotron2(model: Tacotron2, dtype: torch.dtype | None = None) -> torch.jit.ScriptModule:
    """TorchScript of `Tacotron2Inference(model)`: `forward`/`infer(text, input_lengths)` ->
    (mel_postnet, mel_lengths, alignments), the whole decoding loop included. A multi-speaker /
    multilingual model gives `ConditionedTacotron2Inference(model)`, whose `forward`/`infer` also take
    `speaker_ids` and `language_ids` as the model's own `infer` does."""
    clone = _export_copy(model, dtype)
    speaker, language = _conditioning(clone)
    if speaker or language:
        return _script(ConditionedTacotron2Inference(clone))
    return _script(Tacotron2Inference(clone))


def script_waveglow(model: WaveGlow, dtype: torch.dtype | None = None) -> torch.jit.ScriptModule:
    """TorchScript of `WaveGlowInference(model)` (weight norm removed): `forward(mel, z)` and
    `infer(mel, sigma)`."""
    if not isinstance(model, WaveGlow):
        raise ExportError(f"expected a WaveGlow model, got {type(model).__name__}")
    return _script(WaveGlowInference(_eval_copy(model, dtype)))


def save_torchscript(module: torch.jit.ScriptModule, path: str | Path) -> Path:
    """`torch.jit.save` (its deprecation warning silenced: TorchScript is still the format asked for).

    Written atomically through a file handle (`atomic_output`): a full disk is an OSError naming `path`
    (saving to a path name aborts the process), and an earlier export stays intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), atomic_output(path) as handle:
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(module, handle)
    return path


def load_torchscript(path: str | Path, map_location: str | torch.device = "cpu") -> torch.jit.ScriptModule:
    """`torch.jit.load` with a clear error for a missing or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"TorchScript file not found: {path}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return torch.jit.load(str(path), map_location=map_location)
        except Exception as err:  # noqa: BLE001 - a corrupt or foreign file
            raise ExportError(f"cannot load TorchScript file {path}: {err}") from None

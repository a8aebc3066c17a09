"""Export a VITS model as a Piper voice: ``DIR/NAME.onnx`` plus ``DIR/NAME.onnx.json``, the pair Piper's
runtimes (piper, piper-onnx, ...) load.

The graph (``PiperVoiceExport``, the model with weight norm folded, posterior encoder left out) takes
``input`` (int64 [B, T] phoneme ids), ``input_lengths`` (int64 [B]), ``scales`` (float32 [3]: noise_scale,
length_scale, noise_w) and, for multi-speaker voices, ``sid`` (int64 [B]); it outputs ``output``, the
audio as float32 [B, 1, samples]. The JSON holds Piper's config: ``audio.sample_rate``, ``espeak.voice``,
``phoneme_type`` "espeak", ``phoneme_id_map``, ``num_symbols``, ``num_speakers``, ``speaker_id_map`` and
the default ``inference`` scales.

CLI: ``python -m common.export piper --vits CKPT -o DIR [--name NAME] [--config CONFIG.json]``. ``CKPT`` is
a Piper Lightning checkpoint (``model_g.``/``model_d.`` state_dict; the voice's phoneme map then comes
from Piper's training ``config.json`` given by ``--config``, or the suite's default map) or one of our
VITS checkpoints (``run.py -m VITS``: ``config`` holds the generator keywords and the voice).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from common.export.base import DEFAULT_OPSET, ExportError
from vits.checkpoint import PiperCheckpointError, load_vits_generator

PIPER_INPUTS = ("input", "input_lengths", "scales")
PIPER_OUTPUTS = ("output",)
PIPER_VERSION = "1.0.0"
DEFAULT_SCALES = {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8}


class PiperVoiceExport(nn.Module):
    """Inference-only wrapper with Piper's voice signature around a copy of ``SynthesizerTrn``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        # rebuilt, not deep-copied: torch's weight norm keeps a computed weight that deepcopy refuses
        clone = type(model)(**model.keywords)
        state = model.state_dict()
        if not any(k.endswith("weight_g") for k in state):  # the model's weight norm is folded already
            clone.remove_weight_norm()
        clone.load_state_dict(state)
        model = clone.eval()
        model.remove_weight_norm()
        if hasattr(model, "enc_q"):
            del model.enc_q  # the posterior encoder is training-only
        self.model = model
        self.multi_speaker = model.n_speakers > 1

    def forward(self, input: Tensor, input_lengths: Tensor, scales: Tensor,
                sid: Tensor | None = None) -> Tensor:
        return self.model.infer(input, input_lengths, sid=sid, noise_scale=scales[0],
                                length_scale=scales[1], noise_scale_w=scales[2]).audio


def piper_config(phoneme_id_map: Mapping[str, list[int]], n_vocab: int, sample_rate: int = 22050,
                 espeak_voice: str = "en-us", speaker_id_map: Mapping[str, int] | None = None,
                 num_speakers: int = 1, scales: Mapping[str, float] | None = None, quality: str | None = None,
                 dataset: str = "") -> dict[str, Any]:
    """The ``NAME.onnx.json`` dict Piper's runtimes read."""
    ids = [i for v in phoneme_id_map.values() for i in v]
    if not ids or max(ids) >= n_vocab:
        raise ExportError(f"phoneme_id_map uses id {max(ids) if ids else None}, beyond the model's {n_vocab} "
                          "symbols")
    for key, symbol in (("pad", "_"), ("bos", "^"), ("eos", "$")):
        if symbol not in phoneme_id_map:
            raise ExportError(f"phoneme_id_map has no {key} symbol {symbol!r}")
    inference = {**DEFAULT_SCALES, **(scales or {})}
    return {
        "dataset": dataset,
        "audio": {"sample_rate": int(sample_rate), "quality": quality or ""},
        "espeak": {"voice": espeak_voice},
        "language": {"code": espeak_voice},
        "inference": {k: float(inference[k]) for k in ("noise_scale", "length_scale", "noise_w")},
        "phoneme_type": "espeak",
        "phoneme_map": {},
        "phoneme_id_map": {k: list(v) for k, v in phoneme_id_map.items()},
        "num_symbols": int(n_vocab),
        "num_speakers": int(num_speakers),
        "speaker_id_map": dict(speaker_id_map or {}),
        "piper_version": PIPER_VERSION,
    }


def export_piper_voice(model: nn.Module, out_dir: str | Path, name: str,
                       phoneme_id_map: Mapping[str, list[int]], sample_rate: int = 22050,
                       espeak_voice: str = "en-us", speaker_id_map: Mapping[str, int] | None = None,
                       scales: Mapping[str, float] | None = None, quality: str | None = None,
                       opset: int = DEFAULT_OPSET) -> tuple[Path, Path]:
    """Write ``out_dir/name.onnx`` and ``out_dir/name.onnx.json``; returns both paths."""

    if not name or "/" in name or name.startswith("."):
        raise ExportError(f"--name must be a plain file name, got {name!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path, json_path = out_dir / f"{name}.onnx", out_dir / f"{name}.onnx.json"
    wrapper = PiperVoiceExport(model)
    n_speakers = wrapper.model.n_speakers
    config = piper_config(phoneme_id_map, wrapper.model.keywords["n_vocab"], sample_rate, espeak_voice,
                          speaker_id_map, n_speakers, scales, quality, dataset=name)
    length = 50
    args: tuple = (torch.randint(4, 50, (1, length)), torch.tensor([length]),
                   torch.tensor([0.667, 1.0, 0.8]))
    input_names = list(PIPER_INPUTS)
    dynamic_axes = {"input": {0: "batch_size", 1: "phonemes"}, "input_lengths": {0: "batch_size"},
                    "output": {0: "batch_size", 2: "time"}}
    if n_speakers > 1:
        args = args + (torch.tensor([0]),)
        input_names.append("sid")
        dynamic_axes["sid"] = {0: "batch_size"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(wrapper, args, str(onnx_path), dynamo=False, opset_version=opset,
                              input_names=input_names, output_names=list(PIPER_OUTPUTS),
                              dynamic_axes=dynamic_axes, do_constant_folding=True)
        except Exception as err:  # noqa: BLE001 - any exporter failure means the same to the user
            raise ExportError(f"ONNX export of the Piper voice to {onnx_path} failed: {err}") from err
    json_path.write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return onnx_path, json_path


def load_vits_for_export(path: str | Path, config_json: str | Path | None = None
                         ) -> tuple[nn.Module, dict[str, Any]]:
    """The generator of a VITS checkpoint (Piper Lightning or ours) and the voice metadata for its JSON
    (``vits.checkpoint.load_vits_generator``)."""
    try:
        return load_vits_generator(path, config_json)
    except PiperCheckpointError as err:
        raise ExportError(str(err)) from None


def export_piper_checkpoint(vits: str | Path, out_dir: str | Path, name: str | None = None,
                            config_json: str | Path | None = None, opset: int = DEFAULT_OPSET) -> list[Path]:
    """``python -m common.export piper``: load the checkpoint and write the voice; returns both files."""
    model, voice = load_vits_for_export(vits, config_json)
    name = name or Path(vits).stem
    onnx_path, json_path = export_piper_voice(
        model, out_dir, name, voice["phoneme_id_map"], sample_rate=voice.get("sample_rate", 22050),
        espeak_voice=voice.get("espeak_voice", "en-us"), speaker_id_map=voice.get("speaker_id_map"),
        scales=voice.get("inference"), quality=voice.get("quality"), opset=opset)
    return [onnx_path, json_path]

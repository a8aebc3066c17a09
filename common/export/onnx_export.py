"""ONNX export of Tacotron 2 (three graphs) and WaveGlow (one graph).

- ONNX Tacotron 2 is three graphs (a loop with a data-dependent stop does not fit one ONNX graph well):
  `encoder.onnx`, `decoder_iter.onnx` (one decoder step, every state tensor an explicit input and output)
  and `postnet.onnx`. Prenet dropout, which the reference keeps on at inference, is an input of the step
  graph: `prenet_dropout_masks` (n_prenet_layers, B, prenet_dim) holding keep/(1-p) or 0, drawn by the
  Python driver `OnnxTacotron2` (`common.export.onnx_runtime`) from torch's RNG exactly as `F.dropout`
  draws them on the CPU, so a seeded ONNX run reproduces a seeded eager run (masks of ones give
  dropout-free decoding).
- Multi-speaker / multilingual models add `speaker_ids` and/or `language_ids` inputs to `encoder.onnx`,
  whose metadata holds the speaker and language names; the encoder graph outputs the conditioned memory,
  so the decoder-step and postnet graphs only see a wider memory.
- ONNX export uses the TorchScript-based exporter (`torch.onnx.export(..., dynamo=False)`, still available
  in torch 2.13 with a deprecation warning) at opset 17: the dynamo exporter, the default since torch 2.9,
  needs the `onnxscript` package, which this suite does not depend on. Decoder-step metadata
  (n_mel_channels, frames per step, prenet dropout, stop settings) is stored in `decoder_iter.onnx`'s
  metadata_props for the runner.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from common.export.base import (
    DECODER_INPUTS,
    DECODER_OUTPUTS,
    DECODER_STATE_NAMES,
    DEFAULT_OPSET,
    ENCODER_INPUTS,
    ENCODER_OUTPUTS,
    ONNX_TACOTRON2_FILES,
    POSTNET_INPUTS,
    POSTNET_OUTPUTS,
    WAVEGLOW_INPUTS,
    WAVEGLOW_OUTPUTS,
    ExportError,
    _eval_copy,
)
from common.export.tacotron2 import (
    ConditionedEncoderExport,
    DecoderStepExport,
    EncoderExport,
    PostnetExport,
    _conditioning,
    _export_copy,
)
from common.export.waveglow import WaveGlowInference
from tacotron2.model import Tacotron2
from tacotron2.multilingual import MultilingualTacotron2
from waveglow.model import UPSAMPLE_STRIDE, WaveGlow


def _onnx_export(module: nn.Module, args: tuple, path: Path, input_names: Sequence[str],
                 output_names: Sequence[str], dynamic_axes: dict[str, dict[int, str]], opset: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*(batch_size other than 1|sequence_lens).*")
        try:
            torch.onnx.export(
                module, args, str(path), dynamo=False, opset_version=opset, input_names=list(input_names),
                output_names=list(output_names), dynamic_axes=dynamic_axes, do_constant_folding=True,
            )
        except Exception as err:  # noqa: BLE001 - any exporter failure means the same to the user
            raise ExportError(f"ONNX export of {type(module).__name__} to {path} failed: {err}") from err


def _set_onnx_metadata(path: Path, metadata: dict[str, Any]) -> None:
    """Store string key/values in the model's metadata_props (read back by onnxruntime)."""
    # deferred: optional dependency (onnx, only for ONNX export)
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.save(proto, str(path))


def _example_text(model: Tacotron2, batch: int = 2, length: int = 9) -> tuple[Tensor, Tensor]:
    """Deterministic example ids/lengths (different lengths, so masking is part of the traced graph)."""
    n_symbols = model.embedding.num_embeddings
    device = model.embedding.weight.device
    text = (torch.arange(batch * length, device=device).reshape(batch, length) * 7 + 1) % n_symbols
    lengths = torch.tensor([length - 2 * i for i in range(batch)], device=device).clamp(min=1)
    return text, lengths


class _OnnxConditionedEncoder(nn.Module):
    """`ConditionedEncoderExport` with exactly the graph's inputs: text, input_lengths, then speaker_ids
    (B,) if used, then language_ids, (B, T_in) per symbol or (B,) per utterance (separate encoders)."""

    def __init__(self, encoder: ConditionedEncoderExport, speaker: bool, language: str) -> None:
        super().__init__()
        self.encoder = encoder
        self.speaker = speaker
        self.language = language

    def forward(self, text: Tensor, input_lengths: Tensor, *ids: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        rest = list(ids)
        speaker_ids = rest.pop(0) if self.speaker else None
        language_ids = rest.pop(0) if self.language else None
        if self.language == "utterance":
            language_ids = language_ids.unsqueeze(1).expand(-1, text.size(1))
        return self.encoder(text, input_lengths, speaker_ids, language_ids)


def _example_ids(model: MultilingualTacotron2, text: Tensor, speaker: bool,
                 language: str) -> tuple[Tensor, ...]:
    """Example speaker ids (B,) and language ids ((B, T_in) code-switched, or (B,)) for tracing."""
    batch, t_in = text.shape
    ids: list[Tensor] = []
    if speaker:
        ids.append(torch.arange(batch, device=text.device) % len(model.speakers))
    if language == "symbol":
        positions = torch.arange(t_in, device=text.device).unsqueeze(0) // 3
        ids.append((positions + torch.arange(batch, device=text.device).unsqueeze(1)) % len(model.languages))
    elif language == "utterance":
        ids.append(torch.arange(batch, device=text.device) % len(model.languages))
    return tuple(ids)


def export_tacotron2_onnx(model: Tacotron2, out_dir: str | Path, opset: int = DEFAULT_OPSET,
                          dtype: torch.dtype | None = None) -> list[Path]:
    """Write encoder.onnx, decoder_iter.onnx and postnet.onnx to `out_dir`; returns their paths.

    Dynamic axes: batch and text length (encoder, decoder step), batch and frames (postnet). For a
    multi-speaker / multilingual model the encoder graph also takes `speaker_ids` (B,) long and/or
    `language_ids` ((B, T_in) per symbol; (B,) per utterance with separate encoders, whose graph encodes
    single-language items: `OnnxTacotron2` splits code-switched items into spans), outputs the conditioned
    memory, and stores the speaker and language names in its metadata; the decoder-step graph only has
    the wider memory.
    """
    model = _export_copy(model, dtype)
    out_dir = Path(out_dir)
    paths = [out_dir / name for name in ONNX_TACOTRON2_FILES]
    speaker, language = _conditioning(model)
    text, lengths = _example_text(model)
    batch, text_len = {0: "batch"}, {0: "batch", 1: "text_len"}
    axes = {"text": text_len, "input_lengths": batch, "memory": text_len, "processed_memory": text_len,
            "memory_mask": text_len}
    if speaker or language:
        encoder: nn.Module = _OnnxConditionedEncoder(ConditionedEncoderExport(model), speaker, language)
        ids = _example_ids(model, text, speaker, language)
        input_names = (*ENCODER_INPUTS, *(["speaker_ids"] if speaker else []),
                       *(["language_ids"] if language else []))
        if speaker:
            axes["speaker_ids"] = batch
        if language:
            axes["language_ids"] = text_len if language == "symbol" else batch
    else:
        encoder, ids, input_names = EncoderExport(model), (), ENCODER_INPUTS
    step, postnet = DecoderStepExport(model), PostnetExport(model)
    with torch.no_grad():
        memory, processed_memory, memory_mask = encoder(text, lengths, *ids)
    _onnx_export(encoder, (text, lengths, *ids), paths[0], input_names, ENCODER_OUTPUTS, axes, opset)
    if speaker or language:
        _set_onnx_metadata(paths[0], {
            "speakers": list(model.speakers), "languages": list(model.languages),
            "encoder_type": model.encoder_type, "speaker_ids": speaker, "language_ids": language,
        })

    decoder = model.decoder
    b, t_in = memory.shape[:2]
    gen = torch.Generator().manual_seed(0)
    zeros = memory.new_zeros
    sizes = [layer.linear_layer.out_features for layer in decoder.prenet.layers]
    if len(set(sizes)) != 1:
        raise ExportError(f"prenet layers must all have the same size to stack their masks, got {sizes}")
    masks = torch.rand(len(sizes), b, sizes[0], generator=gen).to(memory)
    state = (zeros(b, decoder.attention_rnn_dim), zeros(b, decoder.attention_rnn_dim),
             zeros(b, decoder.decoder_rnn_dim), zeros(b, decoder.decoder_rnn_dim),
             torch.rand(b, t_in, generator=gen).to(memory), torch.rand(b, t_in, generator=gen).to(memory),
             zeros(b, decoder.memory_dim))
    step_args = (zeros(b, decoder.n_mel_channels), masks, *state, memory, processed_memory, memory_mask)
    axes = {"decoder_input": batch, "prenet_dropout_masks": {1: "batch"}, "memory": text_len,
            "processed_memory": text_len, "memory_mask": text_len, "frames": batch, "gate": batch}
    for name in DECODER_STATE_NAMES:
        per_text = name in ("attention_weights", "attention_weights_cum")
        axes[name] = text_len if per_text else batch
        axes[f"{name}_out"] = text_len if per_text else batch
    _onnx_export(step, step_args, paths[1], DECODER_INPUTS, DECODER_OUTPUTS, axes, opset)
    _set_onnx_metadata(paths[1], {
        "n_mel_channels": decoder.n_mel_channels, "n_frames_per_step": decoder.n_frames_per_step,
        "prenet_dropout": float(decoder.prenet.p_dropout), "prenet_sizes": sizes,
        "attention_rnn_dim": decoder.attention_rnn_dim, "decoder_rnn_dim": decoder.decoder_rnn_dim,
        "memory_dim": decoder.memory_dim, "max_decoder_steps": decoder.max_decoder_steps,
        "gate_threshold": float(decoder.gate_threshold), "early_stopping": bool(decoder.early_stopping),
        "attention_stop_frames": int(decoder.attention_stop_frames),
    })

    mel = torch.randn(b, decoder.n_mel_channels, 7, generator=gen).to(memory)
    mel_lengths = torch.tensor([7, 5][:b] + [7] * max(0, b - 2), device=memory.device)
    frames_axes = {0: "batch", 2: "frames"}
    _onnx_export(postnet, (mel, mel_lengths), paths[2], POSTNET_INPUTS, POSTNET_OUTPUTS,
                 {"mel": frames_axes, "mel_lengths": batch, "mel_postnet": frames_axes}, opset)
    return paths


def export_waveglow_onnx(model: WaveGlow, out_path: str | Path, opset: int = DEFAULT_OPSET,
                         dtype: torch.dtype | None = None) -> Path:
    """Write WaveGlow (weight norm removed) as one ONNX graph: inputs mel (B, n_mel, frames) and z
    (B, n_group, frames * 256 / n_group), output audio (B, frames * 256); batch and frames are dynamic."""
    if not isinstance(model, WaveGlow):
        raise ExportError(f"expected a WaveGlow model, got {type(model).__name__}")
    wrapper = WaveGlowInference(_eval_copy(model, dtype))
    param = wrapper.upsample.weight
    gen = torch.Generator().manual_seed(0)
    frames = 3
    mel = torch.randn(1, wrapper.n_mel_channels, frames, generator=gen).to(param)
    z = torch.randn(1, wrapper.n_group, frames * UPSAMPLE_STRIDE // wrapper.n_group, generator=gen).to(param)
    out_path = Path(out_path)
    _onnx_export(wrapper, (mel, z), out_path, WAVEGLOW_INPUTS, WAVEGLOW_OUTPUTS,
                 {"mel": {0: "batch", 2: "frames"}, "z": {0: "batch", 2: "z_steps"},
                  "audio": {0: "batch", 1: "samples"}}, opset)
    _set_onnx_metadata(out_path, {"n_mel_channels": wrapper.n_mel_channels, "n_group": wrapper.n_group,
                                  "hop_length": UPSAMPLE_STRIDE})
    return out_path

"""Shared pieces of the export package: file names, graph input/output names, the default ONNX opset,
`ExportError`, and the eval-mode copy every export wrapper is built from."""

from __future__ import annotations

import copy

import torch
from torch import nn

DEFAULT_OPSET = 17
TORCHSCRIPT_FILES = {"Tacotron2": "tacotron2_torchscript.pt", "WaveGlow": "waveglow_torchscript.pt"}
ONNX_TACOTRON2_FILES = ("encoder.onnx", "decoder_iter.onnx", "postnet.onnx")
ONNX_WAVEGLOW_FILE = "waveglow.onnx"

DECODER_STATE_NAMES = (
    "attention_hidden", "attention_cell", "decoder_hidden", "decoder_cell",
    "attention_weights", "attention_weights_cum", "attention_context",
)
ENCODER_INPUTS = ("text", "input_lengths")
CONDITIONING_INPUTS = ("speaker_ids", "language_ids")  # appended to ENCODER_INPUTS where the model uses them
ENCODER_OUTPUTS = ("memory", "processed_memory", "memory_mask")
DECODER_INPUTS = ("decoder_input", "prenet_dropout_masks", *DECODER_STATE_NAMES,
                  "memory", "processed_memory", "memory_mask")
DECODER_OUTPUTS = ("frames", "gate", *(f"{name}_out" for name in DECODER_STATE_NAMES))
POSTNET_INPUTS = ("mel", "mel_lengths")
POSTNET_OUTPUTS = ("mel_postnet",)
WAVEGLOW_INPUTS = ("mel", "z")
WAVEGLOW_OUTPUTS = ("audio",)


class ExportError(ValueError):
    """A model, checkpoint, exported file or input that cannot be exported or run (the message says which)."""


def _eval_copy(model: nn.Module, dtype: torch.dtype | None = None) -> nn.Module:
    """A detached eval-mode copy (exports never change the caller's model), optionally cast."""
    clone = copy.deepcopy(model).eval()
    for param in clone.parameters():
        param.requires_grad_(False)
    return clone.to(dtype) if dtype is not None else clone

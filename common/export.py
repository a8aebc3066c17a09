"""Model export: TorchScript for Tacotron 2 and WaveGlow, ONNX graphs, and an onnxruntime inference runner.

Design (why it looks like this):
- Exports go through small inference-only wrapper modules built from a trained model, never through the
  training modules themselves: the wrappers are always in eval mode, take flat tensors, and contain only
  constructs that both `torch.jit.script` and the ONNX exporter accept. They reuse the model's own layers
  (same parameters, same operations), so exported outputs equal eager ones up to float rounding.
- Tacotron 2's encoder runs its bidirectional LSTM without packed sequences (the ONNX exporter mistranslates
  `pack_padded_sequence` with unsorted lengths): the forward direction runs over the padded batch, the
  backward direction over each item's real part reversed in place. This equals the packed LSTM exactly.
- TorchScript Tacotron 2 (`script_tacotron2`) scripts the whole data-dependent decoding loop
  (`Tacotron2Inference.infer`), calling the model's own prenet (dropout on, as the reference) and
  `Decoder.decode`; it consumes the RNG exactly like eager `Tacotron2.infer`, so with the same seed it
  gives the same mels even with prenet dropout on.
- ONNX Tacotron 2 is three graphs (a loop with a data-dependent stop does not fit one ONNX graph well):
  `encoder.onnx`, `decoder_iter.onnx` (one decoder step, every state tensor an explicit input and output)
  and `postnet.onnx`. Prenet dropout, which the reference keeps on at inference, is an input of the step
  graph: `prenet_dropout_masks` (n_prenet_layers, B, prenet_dim) holding keep/(1-p) or 0, drawn by the
  Python driver `OnnxTacotron2` from torch's RNG exactly as `F.dropout` draws them on the CPU, so a seeded
  ONNX run reproduces a seeded eager run (masks of ones give dropout-free decoding).
- Multi-speaker / multilingual models (`MultilingualTacotron2`) export with `speaker_ids` (B,) and/or
  `language_ids` as extra inputs where the model uses them (`ConditionedTacotron2Inference` for
  TorchScript, extra inputs of `encoder.onnx`, whose metadata holds the speaker and language names). The
  encoder graph outputs the conditioned memory (speaker and language vectors appended, as
  `MultilingualTacotron2.condition`), so the decoder-step and postnet graphs only see a wider memory. All
  encoder variants export: shared (language embedding concatenated per symbol), generated (every
  language's convolution weights precomputed, each position gathering its own language's output) and
  separate. Separate encoders encode each single-language span on its own, with a data-dependent number
  of spans, which one static graph cannot express: their graph takes per-utterance `language_ids` (B,)
  and the TorchScript `infer` / the ONNX runner split code-switched items into spans (`_span_pieces`),
  encode the spans as items and scatter their rows back, as the eager encoder does (rows past an item's
  length, which attention masks out, stay 0 there instead of holding the speaker/language vectors).
- WaveGlow (`WaveGlowInference`) folds weight norm into plain convolutions, precomputes every inverse
  1x1-convolution weight (the ONNX opset has no matrix inverse) and takes the latent `z` as an input, so
  ONNX and TorchScript outputs can be checked against eager `WaveGlow.infer(mel, z=z)`.
- ONNX export uses the TorchScript-based exporter (`torch.onnx.export(..., dynamo=False)`, still available
  in torch 2.13 with a deprecation warning) at opset 17: the dynamo exporter, the default since torch 2.9,
  needs the `onnxscript` package, which this suite does not depend on. Decoder-step metadata
  (n_mel_channels, frames per step, prenet dropout, stop settings) is stored in `decoder_iter.onnx`'s
  metadata_props for the runner.

CLI: `python -m common.export torchscript|onnx --tacotron2 CKPT --waveglow CKPT -o DIR [--fp16]`.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from common.checkpoint import CheckpointError, load_checkpoint, load_model_state
from tacotron2.layers import lengths_to_mask
from tacotron2.model import Decoder, DecoderState, Encoder, Tacotron2
from tacotron2.multilingual import (
    GeneratedConv1d,
    GeneratedEncoder,
    MultilingualTacotron2,
    ScheduledDecoder,
    SeparateEncoder,
    SharedEncoder,
    build_tacotron2,
)
from waveglow.model import UPSAMPLE_STRIDE, WaveGlow, remove_weightnorm

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


# --------------------------------------------------------------------------------------------------------
# Tacotron 2 wrappers


def _eval_copy(model: nn.Module, dtype: torch.dtype | None = None) -> nn.Module:
    """A detached eval-mode copy (exports never change the caller's model), optionally cast."""
    clone = copy.deepcopy(model).eval()
    for param in clone.parameters():
        param.requires_grad_(False)
    return clone.to(dtype) if dtype is not None else clone


_KNOWN_HOOKS = ((Tacotron2.condition, Tacotron2.encode),
                (MultilingualTacotron2.condition, MultilingualTacotron2.encode))


def _check_tacotron2(model: nn.Module) -> None:
    if not isinstance(model, Tacotron2):
        raise ExportError(f"expected a Tacotron2 model, got {type(model).__name__}")
    if (type(model).condition, type(model).encode) not in _KNOWN_HOOKS:
        raise ExportError(
            f"{type(model).__name__} overrides the conditioning hooks (condition/encode) with its own; only "
            "Tacotron2 and MultilingualTacotron2 conditioning can be exported"
        )
    if type(model.decoder) not in (Decoder, ScheduledDecoder):
        raise ExportError(f"cannot export the decoder {type(model.decoder).__name__}: only Decoder and "
                          "ScheduledDecoder have export wrappers")


def _export_copy(model: nn.Module, dtype: torch.dtype | None) -> Tacotron2:
    """A checked eval-mode copy to build export wrappers from."""
    _check_tacotron2(model)
    clone = _eval_copy(model, dtype)
    if type(clone.decoder) is ScheduledDecoder:
        # ScheduledDecoder changes only the training-mode teacher-forced forward (its `super()` call does
        # not compile); inference uses Decoder's prenet and `decode`, so the copy is scripted as a Decoder.
        clone.decoder.__class__ = Decoder
    return clone


def _conditioning(model: Tacotron2) -> tuple[bool, str]:
    """(whether the exports take speaker_ids, language input: "symbol" (B, T_in), "utterance" (B,) for
    separate encoders, whose graph encodes single-language items, or "" for none)."""
    if not isinstance(model, MultilingualTacotron2):
        return False, ""
    language = ""
    if model.needs_language:
        language = "utterance" if model.encoder_type == "separate" else "symbol"
    return model.speaker_embedding is not None, language


def _lstm_direction(lstm: nn.LSTM, suffix: str) -> nn.LSTM:
    """A one-direction, one-layer LSTM holding the `*_l0{suffix}` weights of a bidirectional LSTM."""
    single = nn.LSTM(lstm.input_size, lstm.hidden_size, num_layers=1, batch_first=True, bias=lstm.bias)
    single = single.to(device=lstm.weight_ih_l0.device, dtype=lstm.weight_ih_l0.dtype)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            if hasattr(lstm, f"{name}_l0{suffix}"):
                getattr(single, f"{name}_l0").copy_(getattr(lstm, f"{name}_l0{suffix}"))
    return single


class _EncoderCore(nn.Module):
    """A reference `Encoder`'s convolution stack and bidirectional LSTM (eval mode: dropout off), the LSTM
    run without packing (see the module docstring): `forward(x (B, C, T_in), input_lengths (B,))` ->
    (outputs (B, T_in, D), zero past each item's length; mask (B, T_in) bool)."""

    def __init__(self, encoder: Encoder | None = None) -> None:
        super().__init__()
        if encoder is not None:
            self._attach(encoder)

    def _attach(self, encoder: Encoder) -> None:
        lstm = encoder.lstm
        if lstm.num_layers != 1 or not lstm.bidirectional or not lstm.batch_first:
            raise ExportError("the encoder LSTM must be one bidirectional batch-first layer to export")
        self.convolutions = encoder.convolutions
        self.lstm_forward = _lstm_direction(lstm, "")
        self.lstm_backward = _lstm_direction(lstm, "_reverse")

    def _run(self, x: Tensor, input_lengths: Tensor) -> tuple[Tensor, Tensor]:
        mask = lengths_to_mask(input_lengths, x.size(2))
        conv_mask = mask.unsqueeze(1)
        x = x.masked_fill(~conv_mask, 0.0)
        for layer in self.convolutions:
            x = F.relu(layer(x)).masked_fill(~conv_mask, 0.0)
        x = x.transpose(1, 2)
        # Backward direction: reverse each item's first `length` steps in place (padding stays at the end),
        # run forwards, and undo the permutation (it is its own inverse).
        positions = torch.arange(x.size(1), device=x.device).unsqueeze(0)
        last = input_lengths.unsqueeze(1) - 1
        order = torch.where(positions <= last, last - positions, positions)
        forward_out, _ = self.lstm_forward(x)
        reversed_in = torch.gather(x, 1, order.unsqueeze(2).expand(-1, -1, x.size(2)))
        backward_out, _ = self.lstm_backward(reversed_in)
        backward_out = torch.gather(backward_out, 1, order.unsqueeze(2).expand(-1, -1, backward_out.size(2)))
        return torch.cat((forward_out, backward_out), dim=2).masked_fill(~mask.unsqueeze(2), 0.0), mask

    def forward(self, x: Tensor, input_lengths: Tensor,
                language_ids: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._run(x, input_lengths)


class EncoderExport(_EncoderCore):
    """Text ids (B, T_in) long and lengths (B,) long -> memory (B, T_in, D), processed memory
    (B, T_in, attention_dim) and memory mask (B, T_in) bool, as `Tacotron2.encode` plus the decoder's
    memory layer (eval mode: encoder dropout off). Rows past an item's length are 0 in memory."""

    def __init__(self, model: Tacotron2) -> None:
        super().__init__()
        self.embedding = model.embedding
        self._attach(model.encoder)
        self.memory_layer = model.decoder.attention_layer.memory_layer

    def forward(self, text: Tensor, input_lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        memory, mask = self._run(self.embedding(text).transpose(1, 2), input_lengths)
        return memory, self.memory_layer(memory), mask


class _SharedEncoderExport(nn.Module):
    """`SharedEncoder`: the reference encoder over [symbol embedding; language embedding] per position."""

    def __init__(self, encoder: SharedEncoder) -> None:
        super().__init__()
        self.language_embedding = encoder.language_embedding
        self.core = _EncoderCore(encoder)

    def forward(self, x: Tensor, input_lengths: Tensor,
                language_ids: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if language_ids is None:
            raise ValueError("the shared encoder with a language embedding needs language ids")
        languages = self.language_embedding(language_ids).transpose(1, 2).to(x.dtype)
        return self.core(torch.cat((x, languages), dim=1), input_lengths)


class _SeparateEncoderExport(nn.Module):
    """`SeparateEncoder` for inputs whose items each hold one language (`language_ids[:, 0]`): every
    language's encoder runs over the whole batch and each item takes its own language's outputs.
    Code-switched items are split into single-language spans by the caller (`_span_pieces`), as the
    eager encoder splits them; the graph itself has no data-dependent loop."""

    def __init__(self, encoder: SeparateEncoder) -> None:
        super().__init__()
        self.encoders = nn.ModuleList(_EncoderCore(item) for item in encoder.encoders)

    def forward(self, x: Tensor, input_lengths: Tensor,
                language_ids: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if language_ids is None:
            raise ValueError("the separate encoders need language ids")
        outputs: list[Tensor] = []
        for encoder in self.encoders:
            outputs.append(encoder(x, input_lengths)[0])
        stacked = torch.stack(outputs)  # (n_languages, B, T_in, D)
        index = language_ids[:, 0].reshape(1, -1, 1, 1).expand(1, -1, stacked.size(2), stacked.size(3))
        return torch.gather(stacked, 0, index).squeeze(0), lengths_to_mask(input_lengths, x.size(2))


class _GeneratedConvExport(nn.Module):
    """One `GeneratedConv1d` + BatchNorm + ReLU with every language's generated weights precomputed (they
    depend on parameters only) and stacked into one convolution; each position keeps the output channels
    of its own language (a gather), as the eager layer computes position t with language_ids[:, t]."""

    def __init__(self, conv: GeneratedConv1d, norm: nn.BatchNorm1d, codes: Tensor) -> None:
        super().__init__()
        with torch.no_grad():
            weights, biases = conv.parameters_for(codes)
        n_languages, out_channels, in_channels, kernel_size = weights.shape
        self.register_buffer("weight", weights.reshape(-1, in_channels, kernel_size).clone())
        self.register_buffer("bias", biases.reshape(-1).clone())
        self.norm = norm
        self.n_languages: int = int(n_languages)
        self.out_channels: int = int(out_channels)
        self.padding: int = int(conv.shape[2] // 2)

    def forward(self, x: Tensor, language_ids: Tensor, mask: Tensor) -> Tensor:
        y = F.conv1d(x, self.weight.to(x.dtype), self.bias.to(x.dtype), padding=self.padding)
        y = y.reshape(y.size(0), self.n_languages, self.out_channels, y.size(2))
        index = language_ids.unsqueeze(1).unsqueeze(2).expand(-1, 1, self.out_channels, -1)
        y = torch.gather(y, 1, index).squeeze(1)
        return F.relu(self.norm(y)).masked_fill(~mask, 0.0)


class _GeneratedEncoderExport(nn.Module):
    """`GeneratedEncoder`: per-language generated convolutions, then the shared bidirectional LSTM."""

    def __init__(self, encoder: GeneratedEncoder) -> None:
        super().__init__()
        codes = encoder.language_embedding.weight
        self.layers = nn.ModuleList(_GeneratedConvExport(conv, norm, codes)
                                    for conv, norm in zip(encoder.generated, encoder.norms, strict=True))
        self.core = _EncoderCore(encoder)  # its own convolution list is empty

    def forward(self, x: Tensor, input_lengths: Tensor,
                language_ids: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if language_ids is None:
            raise ValueError("the generated encoder needs language ids")
        mask = lengths_to_mask(input_lengths, x.size(2)).unsqueeze(1)
        x = x.masked_fill(~mask, 0.0)
        for layer in self.layers:
            x = layer(x, language_ids, mask)
        return self.core(x, input_lengths)


def _encoder_variant(model: MultilingualTacotron2) -> nn.Module:
    encoder = model.encoder
    if type(encoder) is Encoder:
        return _EncoderCore(encoder)
    if type(encoder) is SharedEncoder:
        return _SharedEncoderExport(encoder)
    if type(encoder) is SeparateEncoder:
        return _SeparateEncoderExport(encoder)
    if type(encoder) is GeneratedEncoder:
        return _GeneratedEncoderExport(encoder)
    raise ExportError(f"cannot export the encoder {type(encoder).__name__}: only the reference, shared, "
                      "separate and generated encoders have export wrappers")


class ConditionedEncoderExport(nn.Module):
    """`MultilingualTacotron2.encode` plus the decoder's memory layer: text (B, T_in) long, input_lengths
    (B,) long, speaker_ids (B,) long (None without a speaker embedding) and per-symbol language_ids
    (B, T_in) long (None when the model uses no languages) -> memory (B, T_in, encoder_dim +
    conditioning_dim), processed memory and memory mask, exactly as eager `encode` (the speaker and
    language vectors are appended at every position, padding included). With separate encoders, each
    item's language is `language_ids[:, 0]` (see `_SeparateEncoderExport`)."""

    def __init__(self, model: MultilingualTacotron2) -> None:
        super().__init__()
        self.embedding = model.embedding
        self.encoder = _encoder_variant(model)
        self.speaker_embedding = model.speaker_embedding
        self.language_embedding = model.language_embedding
        self.memory_layer = model.decoder.attention_layer.memory_layer

    def forward(self, text: Tensor, input_lengths: Tensor, speaker_ids: Tensor | None,
                language_ids: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        memory, mask = self.encoder(self.embedding(text).transpose(1, 2), input_lengths, language_ids)
        parts = [memory]
        if self.speaker_embedding is not None:
            if speaker_ids is None:
                raise ValueError("this model needs speaker ids")
            vector = self.speaker_embedding(speaker_ids).to(memory.dtype)
            parts.append(vector.unsqueeze(1).expand(-1, memory.size(1), -1))
        if self.language_embedding is not None:
            if language_ids is None:
                raise ValueError("this model needs language ids")
            parts.append(self.language_embedding(language_ids).to(memory.dtype))
        memory = torch.cat(parts, dim=2)
        return memory, self.memory_layer(memory), mask


def _language_span_table(language_ids: Tensor, input_lengths: Tensor) -> Tensor:
    """Maximal same-language runs within each item's length as rows (item, start, end, language) (N, 4)
    long, in item then position order: `tacotron2.multilingual.language_spans` as tensor operations."""
    t_in = language_ids.size(1)
    positions = torch.arange(t_in, device=language_ids.device).unsqueeze(0)
    starts = torch.ones_like(language_ids, dtype=torch.bool)
    starts[:, 1:] = language_ids[:, 1:] != language_ids[:, :-1]
    starts = starts & (positions < input_lengths.unsqueeze(1))
    found = starts.nonzero()
    items, begin = found[:, 0], found[:, 1]
    next_items = torch.cat((items[1:], items.new_full([1], -1)))
    next_begin = torch.cat((begin[1:], begin.new_zeros([1])))
    end = torch.where(next_items == items, next_begin, input_lengths[items])
    return torch.stack((items, begin, end, language_ids[items, begin]), dim=1)


def _span_pieces(text: Tensor, input_lengths: Tensor, language_ids: Tensor
                 ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Split a batch into single-language pieces, as the eager separate encoders split it.

    -> piece text (N, W), piece lengths (N,), piece item (N,), piece language (N,), and for scattering
    rows back: valid (N, W) bool and target row `item * T_in + position` (N, W)."""
    spans = _language_span_table(language_ids, input_lengths)
    items, begin, end, languages = spans[:, 0], spans[:, 1], spans[:, 2], spans[:, 3]
    lengths = end - begin
    offsets = torch.arange(int(lengths.max()), device=text.device).unsqueeze(0)
    columns = (begin.unsqueeze(1) + offsets).clamp(max=text.size(1) - 1)
    pieces = text[items.unsqueeze(1), columns]
    valid = offsets < lengths.unsqueeze(1)
    targets = (items * text.size(1) + begin).unsqueeze(1) + offsets
    return pieces, lengths, items, languages, valid, targets


def _scatter_rows(rows: Tensor, valid: Tensor, targets: Tensor, batch: int, t_in: int) -> Tensor:
    """Piece rows (N, W, D) back into a zero (batch, t_in, D) tensor (see `_span_pieces`)."""
    out = rows.new_zeros([batch * t_in, rows.size(2)])
    out = out.index_copy(0, targets[valid], rows[valid])
    return out.reshape(batch, t_in, rows.size(2))


class DecoderStepExport(nn.Module):
    """One decoder step with flat tensors: prenet with explicit dropout masks, then `Decoder.decode`.

    Inputs: decoder_input (B, n_mel) (the previous step's last frame, zeros at step 0),
    prenet_dropout_masks (n_prenet_layers, B, prenet_dim) multiplied onto each prenet layer's ReLU output
    (keep/(1-p) or 0; all ones means no dropout), the seven `DecoderState` tensors, memory, processed
    memory and memory mask. Outputs: frames (B, n_mel * r), gate logit (B, 1) and the new state tensors.
    """

    def __init__(self, model: Tacotron2) -> None:
        super().__init__()
        self.decoder = model.decoder
        self.prenet_layers = model.decoder.prenet.layers

    def forward(
        self, decoder_input: Tensor, prenet_dropout_masks: Tensor, attention_hidden: Tensor,
        attention_cell: Tensor, decoder_hidden: Tensor, decoder_cell: Tensor, attention_weights: Tensor,
        attention_weights_cum: Tensor, attention_context: Tensor, memory: Tensor, processed_memory: Tensor,
        memory_mask: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
        x = decoder_input
        for i, layer in enumerate(self.prenet_layers):
            x = F.relu(layer(x)) * prenet_dropout_masks[i]
        state = DecoderState(attention_hidden, attention_cell, decoder_hidden, decoder_cell,
                             attention_weights, attention_weights_cum, attention_context)
        frames, gate, new = self.decoder.decode(x, state, memory, processed_memory, memory_mask)
        return (frames, gate, new.attention_hidden, new.attention_cell, new.decoder_hidden, new.decoder_cell,
                new.attention_weights, new.attention_weights_cum, new.attention_context)


class PostnetExport(nn.Module):
    """Decoder mel (B, n_mel, T) and mel lengths (B,) -> mel_postnet (B, n_mel, T), as `Tacotron2.infer`:
    frames past an item's length are zeroed before the postnet, masked inside it, and zeroed after."""

    def __init__(self, model: Tacotron2) -> None:
        super().__init__()
        self.postnet = model.postnet

    def forward(self, mel: Tensor, mel_lengths: Tensor) -> Tensor:
        frame_mask = lengths_to_mask(mel_lengths, mel.size(2)).unsqueeze(1)
        mel = mel.masked_fill(~frame_mask, 0.0)
        return (mel + self.postnet(mel, frame_mask)).masked_fill(~frame_mask, 0.0)


class _DecodingLoop(nn.Module):
    """The scriptable free-running decoding loop and postnet shared by the Tacotron 2 inference modules."""

    def __init__(self, encoder: nn.Module, model: Tacotron2) -> None:
        super().__init__()
        decoder = model.decoder
        self.encoder = encoder
        self.decoder = decoder
        self.postnet = PostnetExport(model)
        self.n_mel_channels: int = decoder.n_mel_channels
        self.n_frames_per_step: int = decoder.n_frames_per_step
        self.attention_rnn_dim: int = decoder.attention_rnn_dim
        self.decoder_rnn_dim: int = decoder.decoder_rnn_dim
        self.memory_dim: int = decoder.memory_dim
        self.max_decoder_steps: int = decoder.max_decoder_steps
        self.gate_threshold: float = float(decoder.gate_threshold)
        self.early_stopping: bool = bool(decoder.early_stopping)

    def _check_text(self, text: Tensor, input_lengths: Tensor) -> None:
        if text.dim() != 2 or input_lengths.dim() != 1 or input_lengths.size(0) != text.size(0):
            raise ValueError("Tacotron2Inference: text must be (batch, T_in) and input_lengths (batch,)")
        if text.size(1) == 0 or int(input_lengths.min()) < 1 or int(input_lengths.max()) > text.size(1):
            raise ValueError("Tacotron2Inference: input_lengths must lie in [1, T_in]")

    def _decode(self, memory: Tensor, processed_memory: Tensor,
                memory_mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Decoder loop and postnet from the (conditioned) memory -> mel_postnet, mel_lengths, alignments."""
        batch = memory.size(0)
        t_in = memory.size(1)
        state = DecoderState(
            memory.new_zeros([batch, self.attention_rnn_dim]),
            memory.new_zeros([batch, self.attention_rnn_dim]),
            memory.new_zeros([batch, self.decoder_rnn_dim]),
            memory.new_zeros([batch, self.decoder_rnn_dim]),
            memory.new_zeros([batch, t_in]), memory.new_zeros([batch, t_in]),
            memory.new_zeros([batch, self.memory_dim]),
        )
        decoder_input = memory.new_zeros([batch, self.n_mel_channels])
        finished = torch.zeros(batch, dtype=torch.bool, device=memory.device)
        stop_steps = torch.full((batch,), self.max_decoder_steps, dtype=torch.long, device=memory.device)
        frames: list[Tensor] = []
        alignments: list[Tensor] = []
        for step in range(self.max_decoder_steps):
            out, gate, state = self.decoder.decode(self.decoder.prenet(decoder_input), state, memory,
                                                   processed_memory, memory_mask)
            frames.append(out)
            alignments.append(state.attention_weights)
            stop = torch.sigmoid(gate.squeeze(1).float()) > self.gate_threshold
            stop_steps = torch.where(stop & ~finished, torch.full_like(stop_steps, step + 1), stop_steps)
            finished = finished | stop
            if self.early_stopping and bool(finished.all()):
                break
            decoder_input = out[:, out.size(1) - self.n_mel_channels:]
        if not bool(finished.all()):
            warnings.warn("Tacotron 2 reached max_decoder_steps before the gate stopped every item; "
                          "mels are truncated", stacklevel=2)
        stacked = torch.stack(frames, dim=1)
        mel = stacked.reshape(batch, stacked.size(1) * self.n_frames_per_step, self.n_mel_channels)
        mel_lengths = stop_steps * self.n_frames_per_step
        mel_postnet = self.postnet(mel.transpose(1, 2), mel_lengths)
        return mel_postnet, mel_lengths, torch.stack(alignments, dim=1)


class Tacotron2Inference(_DecodingLoop):
    """Scriptable Tacotron 2 synthesis: `infer(text, input_lengths)` -> (mel_postnet, mel_lengths,
    alignments) with the semantics of eager `Tacotron2.infer` (prenet dropout on; early stop when every
    item's gate fired, unless the model was built with decoder_no_early_stopping)."""

    def __init__(self, model: Tacotron2) -> None:
        super().__init__(EncoderExport(model), model)

    def forward(self, text: Tensor, input_lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return self.infer(text, input_lengths)

    @torch.jit.export
    def infer(self, text: Tensor, input_lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """text (B, T_in) long, input_lengths (B,) long -> mel_postnet (B, n_mel, T), mel_lengths (B,),
        alignments (B, steps, T_in)."""
        self._check_text(text, input_lengths)
        with torch.no_grad():
            memory, processed_memory, memory_mask = self.encoder(text, input_lengths)
            result = self._decode(memory, processed_memory, memory_mask)
        return result


class ConditionedTacotron2Inference(_DecodingLoop):
    """Scriptable multi-speaker / multilingual synthesis: `infer(text, input_lengths, speaker_ids=None,
    language_ids=None)` with the semantics of eager `MultilingualTacotron2.infer`.

    speaker_ids (B,) long (or one id for the whole batch) when the model has a speaker embedding; may be
    left out for a one-speaker model. language_ids (B,) per utterance or (B, T_in) per symbol
    (code-switching) when the model uses languages; may be left out for a one-language model. Ids a
    model does not use, missing ids and ids out of range are errors. With separate encoders, inputs are
    split into single-language spans exactly as the eager encoder splits them. The `speakers` and
    `languages` attributes hold the id -> name maps (TorchScript drops an empty one).
    """

    def __init__(self, model: MultilingualTacotron2) -> None:
        super().__init__(ConditionedEncoderExport(model), model)
        # The name lists are for callers (TorchScript keeps them unless empty); the checks use the counts.
        self.speakers = list(model.speakers)
        self.languages = list(model.languages)
        self.n_speakers: int = len(model.speakers)
        self.n_languages: int = len(model.languages)
        self.uses_speakers: bool = model.speaker_embedding is not None
        self.uses_languages: bool = bool(model.needs_language)
        self.split_spans: bool = model.encoder_type == "separate"

    def forward(self, text: Tensor, input_lengths: Tensor, speaker_ids: Tensor | None = None,
                language_ids: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        return self.infer(text, input_lengths, speaker_ids, language_ids)

    def _speaker_ids(self, speaker_ids: Tensor | None, text: Tensor) -> Tensor | None:
        batch = text.size(0)
        n = self.n_speakers
        if not self.uses_speakers:
            if speaker_ids is not None:
                raise ValueError("Tacotron2Inference: this model has no speaker embedding; "
                                 "do not pass speaker_ids")
            return None
        if speaker_ids is None:
            if n != 1:
                raise ValueError(f"Tacotron2Inference: this model has {n} speakers: pass speaker_ids (B,)")
            return torch.zeros(batch, dtype=torch.long, device=text.device)
        ids = speaker_ids.to(text.device).long().reshape(-1)
        if ids.numel() == 1 and batch > 1:
            ids = ids.expand(batch)
        if ids.size(0) != batch:
            shape = list(speaker_ids.shape)
            raise ValueError(f"Tacotron2Inference: speaker_ids must have shape ({batch},), got {shape}")
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= n:
            raise ValueError(f"Tacotron2Inference: speaker_ids must lie in [0, {n - 1}], got min {low} "
                             f"max {high}")
        return ids

    def _language_ids(self, language_ids: Tensor | None, text: Tensor) -> Tensor | None:
        batch = text.size(0)
        t_in = text.size(1)
        n = self.n_languages
        if not self.uses_languages:
            if language_ids is not None:
                raise ValueError("Tacotron2Inference: this model uses no languages; do not pass language_ids")
            return None
        if language_ids is None:
            if n != 1:
                raise ValueError(f"Tacotron2Inference: this model has {n} languages: pass language_ids (B,) "
                                 "or (B, T_in)")
            return torch.zeros([batch, t_in], dtype=torch.long, device=text.device)
        ids = language_ids.to(text.device).long()
        shape = list(language_ids.shape)
        if ids.dim() <= 1:
            ids = ids.reshape(-1)
            if ids.numel() == 1 and batch > 1:
                ids = ids.expand(batch)
            if ids.size(0) != batch:
                raise ValueError(f"Tacotron2Inference: language_ids must have shape ({batch},) or "
                                 f"({batch}, {t_in}), got {shape}")
            ids = ids.unsqueeze(1).expand(batch, t_in)
        elif ids.dim() != 2 or ids.size(0) != batch or ids.size(1) != t_in:
            raise ValueError(f"Tacotron2Inference: language_ids must have shape ({batch},) or "
                             f"({batch}, {t_in}), got {shape}")
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= n:
            raise ValueError(f"Tacotron2Inference: language_ids must lie in [0, {n - 1}], got min {low} "
                             f"max {high}")
        return ids

    def _encode_spans(self, text: Tensor, input_lengths: Tensor, speaker_ids: Tensor | None,
                      language_ids: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Separate encoders: encode each single-language span as its own item, scatter rows back."""
        pieces, lengths, items, languages, valid, targets = _span_pieces(text, input_lengths, language_ids)
        piece_speakers: Tensor | None = None
        if speaker_ids is not None:
            piece_speakers = speaker_ids[items]
        memory, processed, _ = self.encoder(pieces, lengths, piece_speakers,
                                            languages.unsqueeze(1).expand(-1, pieces.size(1)))
        batch = text.size(0)
        t_in = text.size(1)
        return (_scatter_rows(memory, valid, targets, batch, t_in),
                _scatter_rows(processed, valid, targets, batch, t_in), lengths_to_mask(input_lengths, t_in))

    @torch.jit.export
    def infer(self, text: Tensor, input_lengths: Tensor, speaker_ids: Tensor | None = None,
              language_ids: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """text (B, T_in) long, input_lengths (B,) long, speaker/language ids -> mel_postnet (B, n_mel, T),
        mel_lengths (B,), alignments (B, steps, T_in)."""
        self._check_text(text, input_lengths)
        speakers = self._speaker_ids(speaker_ids, text)
        languages = self._language_ids(language_ids, text)
        with torch.no_grad():
            if self.split_spans and languages is not None:
                memory, processed_memory, memory_mask = self._encode_spans(text, input_lengths, speakers,
                                                                           languages)
            else:
                memory, processed_memory, memory_mask = self.encoder(text, input_lengths, speakers, languages)
            result = self._decode(memory, processed_memory, memory_mask)
        return result


# --------------------------------------------------------------------------------------------------------
# WaveGlow wrappers


class _WNLayerExport(nn.Module):
    """One WN layer (weight norm folded): gated dilated conv plus its slice of the conditioning, res/skip."""

    def __init__(self, in_layer: nn.Conv1d, res_skip_layer: nn.Conv1d, index: int, n_channels: int,
                 is_last: bool) -> None:
        super().__init__()
        self.in_layer = in_layer
        self.res_skip_layer = res_skip_layer
        self.n_channels = n_channels
        self.cond_start = 2 * n_channels * index
        self.cond_end = 2 * n_channels * (index + 1)
        self.is_last = is_last

    def forward(self, x: Tensor, cond: Tensor) -> tuple[Tensor, Tensor]:
        """-> (new residual stream x, this layer's skip contribution)."""
        c = self.n_channels
        h = self.in_layer(x) + cond[:, self.cond_start:self.cond_end]
        acts = torch.tanh(h[:, :c]) * torch.sigmoid(h[:, c:])
        res_skip = self.res_skip_layer(acts)
        if self.is_last:
            return x, res_skip
        return x + res_skip[:, :c], res_skip[:, c:]


class _WNExport(nn.Module):
    """`waveglow.model.WN.forward` over plain convolutions (all conditioning convs as one matrix)."""

    def __init__(self, wn: nn.Module) -> None:
        super().__init__()
        if not isinstance(wn.start, nn.Conv1d):
            raise ExportError("WaveGlow WN still has weight norm; call remove_weightnorm first")
        self.start = wn.start
        self.end = wn.end
        self.register_buffer("cond_weight", torch.cat([layer.weight for layer in wn.cond_layers]).detach())
        self.register_buffer("cond_bias", torch.cat([layer.bias for layer in wn.cond_layers]).detach())
        n = wn.n_layers
        self.layers = nn.ModuleList(
            _WNLayerExport(wn.in_layers[i], wn.res_skip_layers[i], i, wn.n_channels, i == n - 1)
            for i in range(n)
        )

    def forward(self, audio: Tensor, spect: Tensor) -> Tensor:
        x = self.start(audio)
        cond = F.conv1d(spect, self.cond_weight, self.cond_bias)
        skip: Tensor | None = None
        for layer in self.layers:
            x, part = layer(x, cond)
            skip = part if skip is None else skip + part
        assert skip is not None
        return self.end(skip)


class _FlowReverseExport(nn.Module):
    """One inverted flow: affine coupling reversed, inverse 1x1 conv, then re-attach early channels of z."""

    def __init__(self, wn: nn.Module, inverse_weight: Tensor, early_start: int, early_size: int) -> None:
        super().__init__()
        self.wn = _WNExport(wn)
        self.register_buffer("inverse_weight", inverse_weight.detach().clone())
        self.early_start = early_start  # -1: this flow emitted no early channels
        self.early_end = early_start + early_size

    def forward(self, x: Tensor, spect: Tensor, z: Tensor) -> Tensor:
        n_half = x.size(1) // 2
        audio_0 = x[:, :n_half]
        out = self.wn(audio_0, spect)
        b = out[:, :n_half]
        log_s = out[:, n_half:]
        x = torch.cat([audio_0, (x[:, n_half:] - b) * torch.exp(-log_s)], dim=1)
        x = F.conv1d(x, self.inverse_weight)
        if self.early_start >= 0:
            x = torch.cat([z[:, self.early_start:self.early_end], x], dim=1)
        return x


class WaveGlowInference(nn.Module):
    """WaveGlow synthesis with z as an input: `forward(mel, z)` = eager `WaveGlow.infer(mel, z=z)`.

    mel (B, n_mel, frames); z (B, n_group, frames * 256 / n_group) (sigma already applied) -> audio
    (B, frames * 256). `infer(mel, sigma)` draws z like eager `infer` (same RNG use).
    """

    def __init__(self, model: WaveGlow) -> None:
        super().__init__()
        model = remove_weightnorm(_eval_copy(model))
        self.upsample = model.upsample
        self.n_group: int = model.n_group
        self.n_mel_channels: int = model.n_mel_channels
        self.hop_length: int = UPSAMPLE_STRIDE
        self.n_early_total: int = model.n_group - model.n_remaining_channels
        flows = []
        early_index = self.n_early_total
        with torch.no_grad():
            for k in reversed(range(model.n_flows)):
                early_start = -1
                if model._is_early(k):
                    early_index -= model.n_early_size
                    early_start = early_index
                inverse = model.convinv[k].inverse_weight()
                flows.append(_FlowReverseExport(model.WN[k], inverse, early_start, model.n_early_size))
        self.flows = nn.ModuleList(flows)

    def _grouped_spect(self, mel: Tensor, n_samples: int) -> Tensor:
        up = self.upsample(mel)[:, :, :n_samples]
        batch = up.size(0)
        g = self.n_group
        up = up.reshape(batch, self.n_mel_channels, -1, g).permute(0, 2, 1, 3)
        return up.reshape(batch, -1, self.n_mel_channels * g).transpose(1, 2)

    def forward(self, mel: Tensor, z: Tensor) -> Tensor:
        spect = self._grouped_spect(mel, z.size(2) * self.n_group)
        z = z.to(spect.dtype)
        x = z[:, self.n_early_total:]
        for flow in self.flows:
            x = flow(x, spect, z)
        return x.transpose(1, 2).reshape(x.size(0), -1)

    @torch.jit.export
    def infer(self, mel: Tensor, sigma: float = 1.0) -> Tensor:
        """Draw z ~ sigma * N(0, 1) (as eager `WaveGlow.infer`) and synthesise."""
        with torch.no_grad():
            n_steps = mel.size(2) * self.hop_length // self.n_group
            shape = [mel.size(0), self.n_group, n_steps]
            z = torch.randn(shape, dtype=self.upsample.weight.dtype, device=mel.device) * sigma
            return self.forward(mel, z)


# --------------------------------------------------------------------------------------------------------
# TorchScript


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
    """`torch.jit.save` (its deprecation warning silenced: TorchScript is still the format asked for)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(module, str(path))
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


# --------------------------------------------------------------------------------------------------------
# ONNX


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


# --------------------------------------------------------------------------------------------------------
# onnxruntime inference


_ORT_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


def _session(path: str | Path, providers: Sequence[str]) -> Any:
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise ExportError(f"ONNX file not found: {path}")
    try:
        return ort.InferenceSession(str(path), providers=list(providers))
    except Exception as err:  # noqa: BLE001 - a corrupt or foreign file
        raise ExportError(f"cannot load ONNX model {path}: {err}") from None


def _metadata(session: Any, path: str | Path, keys: Sequence[str]) -> dict[str, Any]:
    raw = session.get_modelmeta().custom_metadata_map
    missing = [key for key in keys if key not in raw]
    if missing:
        raise ExportError(f"{path} lacks export metadata {missing}: export it with common.export")
    return {key: json.loads(value) for key, value in raw.items()}


def _input_dtype(session: Any, name: str) -> np.dtype:
    for item in session.get_inputs():
        if item.name == name:
            return np.dtype(_ORT_DTYPES.get(item.type, np.float32))
    raise ExportError(f"ONNX graph has no input {name!r}")


def _as_numpy(x: Any, dtype: Any) -> np.ndarray:
    if isinstance(x, Tensor):
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(np.asarray(x, dtype=dtype))


class OnnxTacotron2:
    """Tacotron 2 synthesis from the three exported graphs, the decoding loop driven in Python.

    `infer` mirrors eager `Tacotron2.infer`, prenet dropout included: each step's masks are drawn from
    torch's RNG (`generator`, or the global one) in the order and shape `F.dropout` draws them on the CPU,
    so with the same seed the result matches a seeded eager run; `prenet_dropout=0.0` disables dropout.
    A multi-speaker / multilingual export takes `speaker_ids` and `language_ids` as the model's `infer`
    does (`speakers` and `languages` hold the id -> name maps); with separate encoders, each item is
    split into single-language spans, each encoded as its own item, as the eager encoder splits it.
    """

    def __init__(self, encoder_path: str | Path, decoder_path: str | Path, postnet_path: str | Path,
                 providers: Sequence[str] = ("CPUExecutionProvider",)) -> None:
        self.encoder = _session(encoder_path, providers)
        self.decoder = _session(decoder_path, providers)
        self.postnet = _session(postnet_path, providers)
        self.meta = _metadata(self.decoder, decoder_path, ("n_mel_channels", "n_frames_per_step",
                                                           "prenet_dropout", "prenet_sizes", "memory_dim"))
        self.dtype = _input_dtype(self.decoder, "decoder_input")
        inputs = [item.name for item in self.encoder.get_inputs()]
        self.speaker_input = "speaker_ids" in inputs
        self.language_input = "language_ids" in inputs
        self.speakers: list[str] = []
        self.languages: list[str] = []
        self.split_spans = False
        if self.speaker_input or self.language_input:
            encoder_meta = _metadata(self.encoder, encoder_path, ("speakers", "languages", "language_ids"))
            self.speakers, self.languages = list(encoder_meta["speakers"]), list(encoder_meta["languages"])
            self.split_spans = encoder_meta["language_ids"] == "utterance"

    def _speaker_ids(self, speaker_ids: Any, batch: int) -> np.ndarray | None:
        """(B,) int64 speaker ids as eager `MultilingualTacotron2` takes them, or None if unused."""
        if not self.speaker_input:
            if speaker_ids is not None:
                raise ExportError("this exported model has no speaker embedding: do not pass speaker_ids")
            return None
        if speaker_ids is None:
            if len(self.speakers) != 1:
                raise ExportError(f"this model has {len(self.speakers)} speakers {self.speakers}: "
                                  "pass speaker_ids (B,)")
            return np.zeros(batch, dtype=np.int64)
        ids = _as_numpy(speaker_ids, np.int64).reshape(-1)
        if ids.size == 1 and batch > 1:
            ids = np.full(batch, ids[0], dtype=np.int64)
        if ids.shape != (batch,):
            raise ExportError(f"speaker_ids must have shape ({batch},), got {ids.shape}")
        if ids.min() < 0 or ids.max() >= len(self.speakers):
            raise ExportError(f"speaker_ids must lie in [0, {len(self.speakers) - 1}], got {ids.tolist()}")
        return ids

    def _language_ids(self, language_ids: Any, batch: int, t_in: int) -> np.ndarray | None:
        """(B, T_in) int64 per-symbol language ids from (B,) or (B, T_in), or None if unused."""
        if not self.language_input:
            if language_ids is not None:
                raise ExportError("this exported model uses no languages: do not pass language_ids")
            return None
        if language_ids is None:
            if len(self.languages) != 1:
                raise ExportError(f"this model has {len(self.languages)} languages {self.languages}: "
                                  "pass language_ids (B,) or (B, T_in)")
            return np.zeros((batch, t_in), dtype=np.int64)
        ids = _as_numpy(language_ids, np.int64)
        if ids.ndim <= 1:
            ids = ids.reshape(-1)
            if ids.size == 1 and batch > 1:
                ids = np.full(batch, ids[0], dtype=np.int64)
            if ids.shape == (batch,):
                ids = np.repeat(ids[:, None], t_in, axis=1)
        if ids.shape != (batch, t_in):
            raise ExportError(f"language_ids must have shape ({batch},) or ({batch}, {t_in}), "
                              f"got {np.shape(language_ids)}")
        if ids.min() < 0 or ids.max() >= len(self.languages):
            raise ExportError(f"language_ids must lie in [0, {len(self.languages) - 1}], got min {ids.min()} "
                              f"max {ids.max()}")
        return ids

    def _encode(self, text: np.ndarray, lengths: np.ndarray, speakers: np.ndarray | None,
                languages: np.ndarray | None) -> list[np.ndarray]:
        """Run the encoder graph -> memory, processed memory, memory mask."""
        if not self.split_spans or languages is None:
            feed = {"text": text, "input_lengths": lengths}
            if speakers is not None:
                feed["speaker_ids"] = speakers
            if languages is not None:
                feed["language_ids"] = languages
            return self.encoder.run(None, feed)
        pieces, piece_lengths, items, piece_languages, valid, targets = _span_pieces(
            torch.from_numpy(text), torch.from_numpy(lengths), torch.from_numpy(languages))
        feed = {"text": pieces.numpy(), "input_lengths": piece_lengths.numpy(),
                "language_ids": piece_languages.numpy()}
        if speakers is not None:
            feed["speaker_ids"] = np.ascontiguousarray(speakers[items.numpy()])
        memory, processed_memory, _ = self.encoder.run(None, feed)
        batch, t_in = text.shape
        rows = [_scatter_rows(torch.from_numpy(out), valid, targets, batch, t_in).numpy()
                for out in (memory, processed_memory)]
        return [*rows, lengths_to_mask(torch.from_numpy(lengths), t_in).numpy()]

    def _prenet_masks(self, batch: int, p: float, generator: torch.Generator | None) -> np.ndarray:
        sizes = self.meta["prenet_sizes"]
        if p == 0.0:
            return np.ones((len(sizes), batch, sizes[0]), dtype=self.dtype)
        torch_dtype = torch.float16 if self.dtype == np.float16 else torch.float32
        masks = [torch.empty(batch, size, dtype=torch_dtype).bernoulli_(1.0 - p, generator=generator)
                 .div_(1.0 - p) for size in sizes]
        return torch.stack(masks).numpy().astype(self.dtype, copy=False)

    def infer(self, text_ids: Any, max_decoder_steps: int | None = None, gate_threshold: float | None = None,
              input_lengths: Any = None, prenet_dropout: float | None = None,
              generator: torch.Generator | None = None, early_stopping: bool | None = None,
              speaker_ids: Any = None, language_ids: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """text_ids (B, T_in) -> (mel_postnet (B, n_mel, T) float, mel_lengths (B,) int64,
        alignments (B, steps, T_in)). Defaults come from the exported model's settings. speaker_ids (B,)
        and language_ids (B,) or (B, T_in) where the exported model takes them."""
        meta = self.meta
        max_steps = int(meta["max_decoder_steps"] if max_decoder_steps is None else max_decoder_steps)
        threshold = float(meta["gate_threshold"] if gate_threshold is None else gate_threshold)
        p = float(meta["prenet_dropout"] if prenet_dropout is None else prenet_dropout)
        stop_early = bool(meta["early_stopping"] if early_stopping is None else early_stopping)
        if max_steps < 1:
            raise ExportError(f"max_decoder_steps must be >= 1, got {max_steps}")
        if not 0.0 <= p < 1.0:
            raise ExportError(f"prenet_dropout must be in [0, 1), got {p}")
        text = _as_numpy(text_ids, np.int64)
        if text.ndim != 2 or text.shape[1] == 0:
            raise ExportError(f"text_ids must have shape (batch, T_in) with T_in >= 1, got {text.shape}")
        batch, t_in = text.shape
        lengths = (np.full((batch,), t_in, dtype=np.int64) if input_lengths is None
                   else _as_numpy(input_lengths, np.int64))
        if lengths.shape != (batch,) or lengths.min() < 1 or lengths.max() > t_in:
            raise ExportError(f"input_lengths must be {batch} values in [1, {t_in}], got {lengths.tolist()}")
        speakers = self._speaker_ids(speaker_ids, batch)
        languages = self._language_ids(language_ids, batch, t_in)

        memory, processed_memory, memory_mask = self._encode(text, lengths, speakers, languages)
        n_mel, r = meta["n_mel_channels"], meta["n_frames_per_step"]
        dims = {"attention_hidden": meta["attention_rnn_dim"], "attention_cell": meta["attention_rnn_dim"],
                "decoder_hidden": meta["decoder_rnn_dim"], "decoder_cell": meta["decoder_rnn_dim"],
                "attention_weights": t_in, "attention_weights_cum": t_in,
                "attention_context": meta["memory_dim"]}
        state = {name: np.zeros((batch, dims[name]), dtype=self.dtype) for name in DECODER_STATE_NAMES}
        decoder_input = np.zeros((batch, n_mel), dtype=self.dtype)
        finished = np.zeros(batch, dtype=bool)
        stop_steps = np.full(batch, max_steps, dtype=np.int64)
        frames, alignments = [], []
        for step in range(max_steps):
            feed = {"decoder_input": decoder_input,
                    "prenet_dropout_masks": self._prenet_masks(batch, p, generator), **state,
                    "memory": memory, "processed_memory": processed_memory, "memory_mask": memory_mask}
            out, gate, *new_state = self.decoder.run(None, feed)
            state = dict(zip(DECODER_STATE_NAMES, new_state))
            frames.append(out)
            alignments.append(state["attention_weights"])
            stop = 1.0 / (1.0 + np.exp(-gate[:, 0].astype(np.float64))) > threshold
            stop_steps = np.where(stop & ~finished, step + 1, stop_steps)
            finished |= stop
            if stop_early and finished.all():
                break
            decoder_input = np.ascontiguousarray(out[:, -n_mel:])
        if not finished.all():
            warnings.warn(f"ONNX Tacotron 2 reached max_decoder_steps={max_steps} before the gate stopped "
                          f"batch item(s) {np.flatnonzero(~finished).tolist()}", stacklevel=2)
        mel = np.stack(frames, axis=1).reshape(batch, len(frames) * r, n_mel).transpose(0, 2, 1)
        mel_lengths = stop_steps * r
        (mel_postnet,) = self.postnet.run(None, {"mel": np.ascontiguousarray(mel),
                                                 "mel_lengths": mel_lengths})
        return mel_postnet, mel_lengths, np.stack(alignments, axis=1)


class OnnxWaveGlow:
    """WaveGlow synthesis from `waveglow.onnx`: `infer(mel, z)` -> audio (B, frames * 256)."""

    def __init__(self, path: str | Path, providers: Sequence[str] = ("CPUExecutionProvider",)) -> None:
        self.path = Path(path)
        self.session = _session(path, providers)
        self.meta = _metadata(self.session, path, ("n_mel_channels", "n_group", "hop_length"))
        self.dtype = _input_dtype(self.session, "mel")

    def infer(self, mel: Any, z: Any = None, sigma: float = 1.0,
              generator: torch.Generator | None = None) -> np.ndarray:
        """mel (B, n_mel, frames); z (B, n_group, frames * hop / n_group), or None to draw sigma * N(0, 1)."""
        mel = _as_numpy(mel, self.dtype)
        n_mel, n_group, hop = self.meta["n_mel_channels"], self.meta["n_group"], self.meta["hop_length"]
        if mel.ndim != 3 or mel.shape[1] != n_mel or mel.shape[2] == 0:
            raise ExportError(f"mel must have shape (batch, {n_mel}, frames >= 1), got {mel.shape}")
        shape = (mel.shape[0], n_group, mel.shape[2] * hop // n_group)
        if z is None:
            z = torch.randn(shape, generator=generator) * sigma
        z = _as_numpy(z, self.dtype)
        if z.shape != shape:
            raise ExportError(f"z must have shape {shape} for this mel, got {z.shape}")
        (audio,) = self.session.run(None, {"mel": mel, "z": z})
        return audio


# --------------------------------------------------------------------------------------------------------
# Checkpoints and CLI


def load_model(path: str | Path, model_name: str) -> nn.Module:
    """Build `Tacotron2` or `WaveGlow` from one of our checkpoints (model_name, config, state_dict)."""
    checkpoint = load_checkpoint(path)
    stored = checkpoint.get("model_name")
    if stored is not None and stored != model_name:
        raise ExportError(f"{path} holds a {stored} checkpoint, expected {model_name}")
    config = checkpoint.get("config")
    if not isinstance(config, dict):
        raise ExportError(f"{path} has no 'config' dict (the model constructor arguments)")
    model_class = build_tacotron2 if model_name == "Tacotron2" else WaveGlow  # multilingual keys -> subclass
    try:
        model = model_class(**config)
    except (TypeError, ValueError) as err:
        raise ExportError(f"{path}: cannot build {model_name} from its config: {err}") from None
    load_model_state(model, checkpoint["state_dict"], source=str(path))
    return model.eval()


def export_checkpoints(fmt: str, out_dir: str | Path, tacotron2: str | Path | None = None,
                       waveglow: str | Path | None = None, fp16: bool = False,
                       opset: int = DEFAULT_OPSET) -> list[Path]:
    """Export the given checkpoints as `torchscript` or `onnx` into `out_dir`; returns the written files."""
    if fmt not in ("torchscript", "onnx"):
        raise ExportError(f"format must be 'torchscript' or 'onnx', got {fmt!r}")
    if tacotron2 is None and waveglow is None:
        raise ExportError("nothing to export: give --tacotron2 and/or --waveglow")
    dtype = torch.float16 if fp16 else None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, ckpt in (("Tacotron2", tacotron2), ("WaveGlow", waveglow)):
        if ckpt is None:
            continue
        model = load_model(ckpt, name)
        if fmt == "torchscript":
            scripted = (script_tacotron2 if name == "Tacotron2" else script_waveglow)(model, dtype)
            written.append(save_torchscript(scripted, out_dir / TORCHSCRIPT_FILES[name]))
        elif name == "Tacotron2":
            written += export_tacotron2_onnx(model, out_dir, opset=opset, dtype=dtype)
        else:
            path = out_dir / ONNX_WAVEGLOW_FILE
            written.append(export_waveglow_onnx(model, path, opset=opset, dtype=dtype))
    return written


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m common.export",
        description="Export Tacotron 2 / WaveGlow checkpoints to TorchScript or ONNX.",
    )
    parser.add_argument("format", choices=("torchscript", "onnx"))
    parser.add_argument("--tacotron2", type=Path, help="Tacotron 2 checkpoint (.pt)")
    parser.add_argument("--waveglow", type=Path, help="WaveGlow checkpoint (.pt)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output directory")
    parser.add_argument("--fp16", action="store_true", help="export half-precision weights and graphs")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (default 17)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.tacotron2 is None and args.waveglow is None:
        build_parser().error("give --tacotron2 and/or --waveglow")
    try:
        written = export_checkpoints(args.format, args.output, args.tacotron2, args.waveglow,
                                     fp16=args.fp16, opset=args.opset)
    except (ExportError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

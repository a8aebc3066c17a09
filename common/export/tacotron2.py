"""Tacotron 2 export wrappers and the scriptable decoding loop.

- The wrappers reuse the trained model's own layers in eval mode with flat tensor inputs, so TorchScript
  and ONNX outputs equal eager ones up to float rounding.
- Tacotron 2's encoder runs its bidirectional LSTM without packed sequences (the ONNX exporter mistranslates
  `pack_padded_sequence` with unsorted lengths): the forward direction runs over the padded batch, the
  backward direction over each item's real part reversed in place. This equals the packed LSTM exactly.
- The TorchScript loop (`Tacotron2Inference.infer`, scripted by `common.export.torchscript.script_tacotron2`)
  covers the whole data-dependent decoding loop, calling the model's own prenet (dropout on, as the
  reference) and `Decoder.decode`; it consumes the RNG exactly like eager `Tacotron2.infer`, so with the
  same seed it gives the same mels even with prenet dropout on. `DecoderStepExport` is the one-step
  module the ONNX decoder graph is exported from (prenet dropout masks as an explicit input).
- Multi-speaker / multilingual models (`MultilingualTacotron2`) export with `speaker_ids` (B,) and/or
  `language_ids` as extra inputs where the model uses them (`ConditionedTacotron2Inference` for
  TorchScript, extra inputs of `encoder.onnx`, whose metadata holds the speaker and language names). The
  encoder wrapper outputs the conditioned memory (speaker and language vectors appended, as
  `MultilingualTacotron2.condition`), so the decoder step and postnet only see a wider memory. All
  encoder variants export: shared (language embedding concatenated per symbol), generated (every
  language's convolution weights precomputed, each position gathering its own language's output) and
  separate. Separate encoders encode each single-language span on its own, with a data-dependent number
  of spans, which one static graph cannot express: their graph takes per-utterance `language_ids` (B,)
  and the TorchScript `infer` / the ONNX runner split code-switched items into spans (`_span_pieces`),
  encode the spans as items and scatter their rows back, as the eager encoder does (rows past an item's
  length, which attention masks out, stay 0 there instead of holding the speaker/language vectors).
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from common.export.base import ExportError, _eval_copy
from tacotron2.layers import lengths_to_mask
from tacotron2.model import Decoder, DecoderState, Encoder, Tacotron2, attention_dwell, attention_stop_steps
from tacotron2.multilingual import (
    GeneratedConv1d,
    GeneratedEncoder,
    MultilingualTacotron2,
    ScheduledDecoder,
    SeparateEncoder,
    SharedEncoder,
)

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
        self.dwell_steps: int = attention_stop_steps(decoder.attention_stop_frames, decoder.n_frames_per_step)

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
        last_index = memory_mask.sum(dim=1).long() - 1
        dwell = torch.zeros_like(stop_steps)
        frames: list[Tensor] = []
        alignments: list[Tensor] = []
        for step in range(self.max_decoder_steps):
            out, gate, state = self.decoder.decode(self.decoder.prenet(decoder_input), state, memory,
                                                   processed_memory, memory_mask)
            frames.append(out)
            alignments.append(state.attention_weights)
            stop = torch.sigmoid(gate.squeeze(1).float()) > self.gate_threshold
            if self.dwell_steps > 0:
                dwell = attention_dwell(state.attention_weights, last_index, dwell)
                stop = stop | (dwell >= self.dwell_steps)
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

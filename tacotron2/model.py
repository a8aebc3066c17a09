"""Tacotron 2: characters/phonemes -> mel spectrogram, with the reference's parameter names and shapes.

Submodules (names are the checkpoint's): `embedding`, `encoder` (3 conv+BatchNorm, bidirectional LSTM),
`decoder` (prenet, attention LSTMCell, location-sensitive attention, decoder LSTMCell, mel projection,
gate), `postnet` (5 conv+BatchNorm, residual). See REFERENCE.md, "Tacotron 2".
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from tacotron2.batch import Outputs
from tacotron2.fast_decoder import decoder_forward, decoder_infer
from tacotron2.layers import ConvNorm, LinearNorm, lengths_to_mask
from tacotron2.stopping import (  # noqa: F401  (public here too: tacotron2.model has always exported them)
    ATTENTION_STOP_FRAMES,
    MaxDecoderStepsWarning,
    attention_dwell,
    attention_stop_steps,
    warn_unfinished,
)

GATE_PAD_LOGIT = 1e3  # gate logit written at padded decoder steps when mask_padding is on (as the reference)


class Tacotron2ConfigError(ValueError):
    """A Tacotron 2 constructor argument (a `--flag` of the model parser) has an unusable value."""


class Tacotron2InputError(ValueError):
    """Tensors passed to Tacotron 2 have the wrong shape, dtype or lengths."""


def _check_lengths(lengths: Tensor, max_len: int, what: str) -> Tensor:
    """Validate a (B,) lengths tensor against a padded size; return it on the CPU (needed for packing)."""
    if lengths.dim() != 1:
        raise Tacotron2InputError(f"{what} must be 1-D (batch,), got shape {tuple(lengths.shape)}")
    cpu = lengths.detach().to("cpu", torch.int64)
    if cpu.numel() and (int(cpu.min()) < 1 or int(cpu.max()) > max_len):
        raise Tacotron2InputError(
            f"{what} must lie in [1, {max_len}] (the padded size), "
            f"got min {int(cpu.min())} max {int(cpu.max())}"
        )
    return cpu


class Encoder(nn.Module):
    """Convolution stack (Conv1d + BatchNorm + ReLU + dropout 0.5) and a bidirectional LSTM.

    Padded positions are zeroed before every convolution, so a padded item sees exactly the zero padding it
    would see alone, and the LSTM runs over packed sequences: outputs do not depend on batch padding.
    """

    def __init__(
        self,
        encoder_n_convolutions: int,
        encoder_embedding_dim: int,
        encoder_kernel_size: int,
        symbols_embedding_dim: int,
        p_dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.p_dropout = p_dropout
        dims = [symbols_embedding_dim] + [encoder_embedding_dim] * encoder_n_convolutions
        self.convolutions = nn.ModuleList(
            nn.Sequential(
                ConvNorm(dims[i], dims[i + 1], kernel_size=encoder_kernel_size, w_init_gain="relu"),
                nn.BatchNorm1d(dims[i + 1]),
            )
            for i in range(encoder_n_convolutions)
        )
        self.lstm = nn.LSTM(dims[-1], encoder_embedding_dim // 2, num_layers=1, batch_first=True,
                            bidirectional=True)

    def forward(self, x: Tensor, input_lengths: Tensor | None = None,
                language_ids: Tensor | None = None) -> Tensor:
        """(B, C_emb, T_in) embedded symbols -> (B, T_in, encoder_embedding_dim); padded rows are 0.

        `input_lengths=None` means no padding (e.g. batch 1). `language_ids` is a conditioning hook that
        the base encoder ignores.
        """
        del language_ids  # hook for multilingual subclasses
        mask = None
        lengths_cpu = None
        if input_lengths is not None:
            lengths_cpu = _check_lengths(input_lengths, x.size(2), "input_lengths")
            mask = lengths_to_mask(input_lengths.to(x.device), x.size(2)).unsqueeze(1)
            x = x.masked_fill(~mask, 0.0)
        for layer in self.convolutions:
            x = F.dropout(F.relu(layer(x)), self.p_dropout, self.training)
            if mask is not None:
                x = x.masked_fill(~mask, 0.0)
        x = x.transpose(1, 2)
        self.lstm.flatten_parameters()
        if lengths_cpu is None:
            outputs, _ = self.lstm(x)
            return outputs
        packed = pack_padded_sequence(x, lengths_cpu, batch_first=True, enforce_sorted=False)
        outputs, _ = self.lstm(packed)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=x.size(1))
        return outputs


class Prenet(nn.Module):
    """Bias-free Linear + ReLU + dropout layers; dropout stays on at inference (`p_dropout`, 0.5)."""

    def __init__(self, in_dim: int, sizes: list[int], p_dropout: float = 0.5) -> None:
        super().__init__()
        self.p_dropout = p_dropout
        dims = [in_dim] + list(sizes)
        self.layers = nn.ModuleList(LinearNorm(dims[i], dims[i + 1], bias=False) for i in range(len(sizes)))

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = F.dropout(F.relu(layer(x)), p=self.p_dropout, training=True)
        return x


class LocationLayer(nn.Module):
    """Location features: Conv1d over [previous, cumulative] attention weights, then a Linear."""

    def __init__(self, n_filters: int, kernel_size: int, attention_dim: int) -> None:
        super().__init__()
        self.location_conv = ConvNorm(2, n_filters, kernel_size=kernel_size, bias=False)
        self.location_dense = LinearNorm(n_filters, attention_dim, bias=False, w_init_gain="tanh")

    def forward(self, weights_cat: Tensor) -> Tensor:
        """(B, 2, T_in) -> (B, T_in, attention_dim)."""
        return self.location_dense(self.location_conv(weights_cat).transpose(1, 2))


class Attention(nn.Module):
    """Location-sensitive attention: e = v . tanh(W q + V m + U f); padded energies -inf; softmax."""

    def __init__(self, attention_rnn_dim: int, memory_dim: int, attention_dim: int,
                 attention_location_n_filters: int, attention_location_kernel_size: int) -> None:
        super().__init__()
        self.query_layer = LinearNorm(attention_rnn_dim, attention_dim, bias=False, w_init_gain="tanh")
        self.memory_layer = LinearNorm(memory_dim, attention_dim, bias=False, w_init_gain="tanh")
        self.v = LinearNorm(attention_dim, 1, bias=False)
        self.location_layer = LocationLayer(attention_location_n_filters, attention_location_kernel_size,
                                            attention_dim)

    def forward(self, query: Tensor, memory: Tensor, processed_memory: Tensor, weights_cat: Tensor,
                memory_mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """One attention step.

        query (B, attention_rnn_dim); memory (B, T_in, D); processed_memory = memory_layer(memory)
        (B, T_in, attention_dim); weights_cat (B, 2, T_in); memory_mask (B, T_in) True at real positions.
        Returns context (B, D) and weights (B, T_in).
        """
        energies = self.v(torch.tanh(
            self.query_layer(query).unsqueeze(1) + self.location_layer(weights_cat) + processed_memory
        )).squeeze(2)
        if memory_mask is not None:
            energies = energies.masked_fill(~memory_mask, float("-inf"))
        weights = F.softmax(energies, dim=1)
        context = torch.bmm(weights.unsqueeze(1).to(memory.dtype), memory).squeeze(1)
        return context, weights


# Functional form so the field types are real classes, not the strings `from __future__ import annotations`
# makes of class-body annotations: TorchScript (common/export/ scripts `Decoder.decode`) rejects those.
DecoderState = NamedTuple("DecoderState", [  # noqa: UP014 - see above
    ("attention_hidden", Tensor),  # (B, attention_rnn_dim)
    ("attention_cell", Tensor),  # (B, attention_rnn_dim)
    ("decoder_hidden", Tensor),  # (B, decoder_rnn_dim)
    ("decoder_cell", Tensor),  # (B, decoder_rnn_dim)
    ("attention_weights", Tensor),  # (B, T_in)
    ("attention_weights_cum", Tensor),  # (B, T_in)
    ("attention_context", Tensor),  # (B, memory_dim)
])
DecoderState.__doc__ = "Recurrent state carried from one decoder step to the next."


class Decoder(nn.Module):
    """Autoregressive decoder: prenet -> attention LSTMCell -> attention -> decoder LSTMCell -> mel, gate.

    Each step emits `n_frames_per_step` (r) frames; its input is the last frame of the previous group
    (a zero "go" frame at step 0). `conditioning_dim` widens the memory (encoder outputs plus a
    per-utterance conditioning vector, concatenated along features); at 0 the shapes are the reference's.
    """

    def __init__(
        self,
        n_mel_channels: int,
        n_frames_per_step: int,
        encoder_embedding_dim: int,
        attention_dim: int,
        attention_rnn_dim: int,
        attention_location_n_filters: int,
        attention_location_kernel_size: int,
        decoder_rnn_dim: int,
        prenet_dim: int,
        max_decoder_steps: int,
        gate_threshold: float,
        p_attention_dropout: float,
        p_decoder_dropout: float,
        early_stopping: bool = True,
        conditioning_dim: int = 0,
    ) -> None:
        super().__init__()
        self.n_mel_channels = n_mel_channels
        self.n_frames_per_step = n_frames_per_step
        self.memory_dim = encoder_embedding_dim + conditioning_dim
        self.attention_rnn_dim = attention_rnn_dim
        self.decoder_rnn_dim = decoder_rnn_dim
        self.max_decoder_steps = max_decoder_steps
        self.gate_threshold = gate_threshold
        self.p_attention_dropout = p_attention_dropout
        self.p_decoder_dropout = p_decoder_dropout
        self.early_stopping = early_stopping
        self.attention_stop_frames = ATTENTION_STOP_FRAMES
        self.last_unfinished: list[int] = []
        # "eager": the step-by-step `decode` loop below (the reference); "fast": tacotron2/fast_decoder.py.
        # A plain attribute (set with fast_decoder.set_decoder_impl), not a constructor keyword or state.
        self.impl = "eager"

        self.prenet = Prenet(n_mel_channels, [prenet_dim, prenet_dim])
        self.attention_rnn = nn.LSTMCell(prenet_dim + self.memory_dim, attention_rnn_dim)
        self.attention_layer = Attention(attention_rnn_dim, self.memory_dim, attention_dim,
                                         attention_location_n_filters, attention_location_kernel_size)
        self.decoder_rnn = nn.LSTMCell(attention_rnn_dim + self.memory_dim, decoder_rnn_dim)
        self.linear_projection = LinearNorm(decoder_rnn_dim + self.memory_dim,
                                            n_mel_channels * n_frames_per_step)
        self.gate_layer = LinearNorm(decoder_rnn_dim + self.memory_dim, 1, bias=True, w_init_gain="sigmoid")

    @staticmethod
    def _memory_mask(memory: Tensor, memory_lengths: Tensor | None) -> Tensor | None:
        """(B, T_in) True at real encoder positions, or None when nothing is padded."""
        if memory_lengths is None:
            return None
        return lengths_to_mask(memory_lengths.to(memory.device), memory.size(1))

    @staticmethod
    def _last_index(memory: Tensor, memory_lengths: Tensor | None) -> Tensor:
        """(B,) index of each item's last real encoder position."""
        if memory_lengths is None:
            return torch.full((memory.size(0),), memory.size(1) - 1, dtype=torch.long, device=memory.device)
        return memory_lengths.to(device=memory.device, dtype=torch.long) - 1

    def initial_state(self, memory: Tensor) -> DecoderState:
        """All-zero state for a batch of memories (B, T_in, memory_dim)."""
        batch, t_in, _ = memory.shape
        zeros = memory.new_zeros
        return DecoderState(
            attention_hidden=zeros(batch, self.attention_rnn_dim),
            attention_cell=zeros(batch, self.attention_rnn_dim),
            decoder_hidden=zeros(batch, self.decoder_rnn_dim),
            decoder_cell=zeros(batch, self.decoder_rnn_dim),
            attention_weights=zeros(batch, t_in),
            attention_weights_cum=zeros(batch, t_in),
            attention_context=zeros(batch, self.memory_dim),
        )

    def decode(self, decoder_input: Tensor, state: DecoderState, memory: Tensor, processed_memory: Tensor,
               memory_mask: Tensor | None) -> tuple[Tensor, Tensor, DecoderState]:
        """One decoder step (the eager reference path).

        decoder_input is the prenet output (B, prenet_dim) for the previous frame. Returns the projected
        frames (B, n_mel_channels * r; frame j occupies [j*n_mel, (j+1)*n_mel)), the gate logit (B, 1)
        and the new state (its `attention_weights` are this step's alignment).
        """
        cell_input = torch.cat((decoder_input, state.attention_context), dim=-1)
        att_h, att_c = self.attention_rnn(cell_input, (state.attention_hidden, state.attention_cell))
        att_h = F.dropout(att_h, self.p_attention_dropout, self.training)

        weights_cat = torch.stack((state.attention_weights, state.attention_weights_cum), dim=1)
        context, weights = self.attention_layer(att_h, memory, processed_memory, weights_cat, memory_mask)
        weights = weights.to(state.attention_weights_cum.dtype)
        weights_cum = state.attention_weights_cum + weights

        dec_in = torch.cat((att_h, context), dim=-1)
        dec_h, dec_c = self.decoder_rnn(dec_in, (state.decoder_hidden, state.decoder_cell))
        dec_h = F.dropout(dec_h, self.p_decoder_dropout, self.training)

        hidden_context = torch.cat((dec_h, context), dim=1)
        frames = self.linear_projection(hidden_context)
        gate = self.gate_layer(hidden_context)
        new_state = DecoderState(att_h, att_c, dec_h, dec_c, weights, weights_cum, context)
        return frames, gate, new_state

    def _fast_forward(self, memory: Tensor, decoder_inputs: Tensor,
                      memory_lengths: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        return decoder_forward(self, memory, decoder_inputs, memory_lengths)

    def _fast_infer(self, memory: Tensor,
                    memory_lengths: Tensor | None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return decoder_infer(self, memory, memory_lengths, stacklevel=4)  # warn at Tacotron2.infer's caller

    def _frames_to_mel(self, frames: list[Tensor]) -> Tensor:
        """Per-step (B, n_mel*r) outputs -> (B, n_mel, steps*r)."""
        stacked = torch.stack(frames, dim=1)
        batch, steps, _ = stacked.shape
        return stacked.reshape(batch, steps * self.n_frames_per_step, self.n_mel_channels).transpose(1, 2)

    def forward(self, memory: Tensor, decoder_inputs: Tensor,
                memory_lengths: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """Teacher-forced decoding.

        memory (B, T_in, memory_dim); decoder_inputs = target mels (B, n_mel, T_out), T_out a multiple of
        r. Returns mel (B, n_mel, T_out), gate logits (B, T_out // r), alignments (B, T_out // r, T_in).
        """
        if not torch.jit.is_scripting():  # TorchScript (common/export/) compiles the eager loop only
            if self.impl == "fast":
                return self._fast_forward(memory, decoder_inputs, memory_lengths)
        r = self.n_frames_per_step
        batch = memory.size(0)
        # Step s > 0 is fed the last frame of group s - 1; step 0 gets the go frame.
        group_ends = decoder_inputs.transpose(1, 2)[:, r - 1::r]
        go_frame = memory.new_zeros(batch, 1, self.n_mel_channels).to(group_ends.dtype)
        prenet_out = self.prenet(torch.cat((go_frame, group_ends[:, :-1]), dim=1))

        memory_mask = self._memory_mask(memory, memory_lengths)
        processed_memory = self.attention_layer.memory_layer(memory)
        state = self.initial_state(memory)
        frames, gates, alignments = [], [], []
        for step in range(prenet_out.size(1)):
            out, gate, state = self.decode(prenet_out[:, step], state, memory, processed_memory, memory_mask)
            frames.append(out)
            gates.append(gate)
            alignments.append(state.attention_weights)
        return self._frames_to_mel(frames), torch.cat(gates, dim=1), torch.stack(alignments, dim=1)

    def infer(self, memory: Tensor,
              memory_lengths: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Free-running decoding until every item has ended (or max_decoder_steps).

        Returns mel (B, n_mel, steps*r) (frames after an item's end are NOT zeroed here), gate logits
        (B, steps), alignments (B, steps, T_in) and mel lengths (B,) long. An item ends at the first step
        whose sigmoid(gate) exceeds gate_threshold, or whose attention peak has stayed on its last input
        symbol for `attention_stop_frames` frames (`attention_dwell`; 0: gate only, as the reference); its
        length is (step + 1) * r. Items never stopped get max_decoder_steps * r, are listed in
        `self.last_unfinished` and trigger a MaxDecoderStepsWarning.
        """
        if self.impl == "fast" and not torch.is_grad_enabled():  # the fast loop keeps no autograd graph
            return self._fast_infer(memory, memory_lengths)
        batch = memory.size(0)
        memory_mask = self._memory_mask(memory, memory_lengths)
        processed_memory = self.attention_layer.memory_layer(memory)
        state = self.initial_state(memory)
        decoder_input = memory.new_zeros(batch, self.n_mel_channels)
        finished = torch.zeros(batch, dtype=torch.bool, device=memory.device)
        stop_steps = torch.full((batch,), self.max_decoder_steps, dtype=torch.long, device=memory.device)
        last_index = self._last_index(memory, memory_lengths)
        dwell_steps = attention_stop_steps(self.attention_stop_frames, self.n_frames_per_step)
        dwell = torch.zeros_like(stop_steps)
        frames, gates, alignments = [], [], []
        for step in range(self.max_decoder_steps):
            out, gate, state = self.decode(self.prenet(decoder_input), state, memory, processed_memory,
                                           memory_mask)
            frames.append(out)
            gates.append(gate)
            alignments.append(state.attention_weights)
            stop = torch.sigmoid(gate.squeeze(1).float()) > self.gate_threshold
            if dwell_steps > 0:
                dwell = attention_dwell(state.attention_weights, last_index, dwell)
                stop = stop | (dwell >= dwell_steps)
            stop_steps = torch.where(stop & ~finished, torch.full_like(stop_steps, step + 1), stop_steps)
            finished = finished | stop
            if self.early_stopping and bool(finished.all()):
                break
            decoder_input = out[:, -self.n_mel_channels:]

        self.last_unfinished = torch.nonzero(~finished).flatten().tolist()
        # stacklevel 3: warn_unfinished -> Decoder.infer -> Tacotron2.infer -> its caller
        warn_unfinished(self.last_unfinished, self.max_decoder_steps, stacklevel=3)
        mel_lengths = stop_steps * self.n_frames_per_step
        return (self._frames_to_mel(frames), torch.cat(gates, dim=1), torch.stack(alignments, dim=1),
                mel_lengths)


class Postnet(nn.Module):
    """Conv1d + BatchNorm layers (tanh between, none after the last, dropout 0.5 after each) -> residual.

    With a frame mask, padded frames are zeroed before every convolution so real frames do not depend
    on what lies in the padding.
    """

    def __init__(self, n_mel_channels: int, postnet_embedding_dim: int, postnet_kernel_size: int,
                 postnet_n_convolutions: int, p_dropout: float = 0.5) -> None:
        super().__init__()
        self.p_dropout = p_dropout
        dims = [n_mel_channels] + [postnet_embedding_dim] * (postnet_n_convolutions - 1) + [n_mel_channels]
        last = postnet_n_convolutions - 1
        self.convolutions = nn.ModuleList(
            nn.Sequential(
                ConvNorm(dims[i], dims[i + 1], kernel_size=postnet_kernel_size,
                         w_init_gain="tanh" if i < last else "linear"),
                nn.BatchNorm1d(dims[i + 1]),
            )
            for i in range(postnet_n_convolutions)
        )

    def forward(self, x: Tensor, frame_mask: Tensor | None = None) -> Tensor:
        """(B, n_mel, T) -> residual (B, n_mel, T); frame_mask (B, 1, T) True at real frames."""
        last = len(self.convolutions) - 1
        for i, layer in enumerate(self.convolutions):
            if frame_mask is not None:
                x = x.masked_fill(~frame_mask, 0.0)
            x = layer(x)
            if i < last:
                x = torch.tanh(x)
            x = F.dropout(x, self.p_dropout, self.training)
        return x


class Tacotron2(nn.Module):
    """Tacotron 2 with the reference's constructor keywords and state_dict names/shapes.

    Conditioning hook (multi-speaker / multilingual, additive): `forward` and `infer` accept optional
    `speaker_ids` and `language_ids` (B,) and pass them to `encoder(..., language_ids=...)` and to
    `condition(memory, text_ids, speaker_ids, language_ids)`, which may append a per-utterance vector to
    the encoder outputs (memory) along features. The base class returns memory unchanged. A conditioned
    subclass builds its decoder with `Decoder(**self.decoder_config, conditioning_dim=D)` so the
    attention memory layer, both LSTMCells' inputs and the projections grow by D; at D = 0 (the default)
    the model, and its state_dict, are exactly the reference's.
    """

    def __init__(
        self,
        mask_padding: bool = False,
        n_mel_channels: int = 80,
        n_symbols: int = 148,
        symbols_embedding_dim: int = 512,
        encoder_kernel_size: int = 5,
        encoder_n_convolutions: int = 3,
        encoder_embedding_dim: int = 512,
        attention_rnn_dim: int = 1024,
        attention_dim: int = 128,
        attention_location_n_filters: int = 32,
        attention_location_kernel_size: int = 31,
        n_frames_per_step: int = 1,
        decoder_rnn_dim: int = 1024,
        prenet_dim: int = 256,
        max_decoder_steps: int = 2000,
        gate_threshold: float = 0.5,
        p_attention_dropout: float = 0.1,
        p_decoder_dropout: float = 0.1,
        postnet_embedding_dim: int = 512,
        postnet_kernel_size: int = 5,
        postnet_n_convolutions: int = 5,
        decoder_no_early_stopping: bool = False,
    ) -> None:
        super().__init__()
        _validate_config(
            n_mel_channels=n_mel_channels, n_symbols=n_symbols, symbols_embedding_dim=symbols_embedding_dim,
            encoder_kernel_size=encoder_kernel_size, encoder_n_convolutions=encoder_n_convolutions,
            encoder_embedding_dim=encoder_embedding_dim, attention_rnn_dim=attention_rnn_dim,
            attention_dim=attention_dim, attention_location_n_filters=attention_location_n_filters,
            attention_location_kernel_size=attention_location_kernel_size,
            n_frames_per_step=n_frames_per_step, decoder_rnn_dim=decoder_rnn_dim, prenet_dim=prenet_dim,
            max_decoder_steps=max_decoder_steps, postnet_embedding_dim=postnet_embedding_dim,
            postnet_kernel_size=postnet_kernel_size, postnet_n_convolutions=postnet_n_convolutions,
            gate_threshold=gate_threshold, p_attention_dropout=p_attention_dropout,
            p_decoder_dropout=p_decoder_dropout,
        )
        self.mask_padding = bool(mask_padding)
        self.n_mel_channels = n_mel_channels
        self.n_frames_per_step = n_frames_per_step
        self.last_unfinished: list[int] = []

        self.embedding = nn.Embedding(n_symbols, symbols_embedding_dim)
        bound = math.sqrt(3.0) * math.sqrt(2.0 / (n_symbols + symbols_embedding_dim))
        nn.init.uniform_(self.embedding.weight, -bound, bound)
        self.encoder = Encoder(encoder_n_convolutions, encoder_embedding_dim, encoder_kernel_size,
                               symbols_embedding_dim)
        self.decoder_config = dict(
            n_mel_channels=n_mel_channels, n_frames_per_step=n_frames_per_step,
            encoder_embedding_dim=encoder_embedding_dim, attention_dim=attention_dim,
            attention_rnn_dim=attention_rnn_dim, attention_location_n_filters=attention_location_n_filters,
            attention_location_kernel_size=attention_location_kernel_size, decoder_rnn_dim=decoder_rnn_dim,
            prenet_dim=prenet_dim, max_decoder_steps=max_decoder_steps, gate_threshold=gate_threshold,
            p_attention_dropout=p_attention_dropout, p_decoder_dropout=p_decoder_dropout,
            early_stopping=not decoder_no_early_stopping,
        )
        self.decoder = Decoder(**self.decoder_config)
        self.postnet = Postnet(n_mel_channels, postnet_embedding_dim, postnet_kernel_size,
                               postnet_n_convolutions)

    def condition(self, memory: Tensor, text_ids: Tensor, speaker_ids: Tensor | None = None,
                  language_ids: Tensor | None = None) -> Tensor:
        """Conditioning hook: (B, T_in, D) encoder outputs -> decoder memory. Identity in the base model."""
        del text_ids, speaker_ids, language_ids
        return memory

    def encode(self, text_ids: Tensor, input_lengths: Tensor | None, speaker_ids: Tensor | None = None,
               language_ids: Tensor | None = None) -> Tensor:
        """Text ids (B, T_in) -> decoder memory (B, T_in, memory_dim)."""
        embedded = self.embedding(text_ids).transpose(1, 2)
        memory = self.encoder(embedded, input_lengths, language_ids=language_ids)
        return self.condition(memory, text_ids, speaker_ids, language_ids)

    def _check_text(self, text: Tensor, input_lengths: Tensor | None) -> None:
        if text.dim() != 2 or text.dtype not in (torch.int64, torch.int32):
            raise Tacotron2InputError(
                f"text ids must be an integer tensor (batch, T_in), got {text.dtype} {tuple(text.shape)}"
            )
        if input_lengths is not None and input_lengths.shape != (text.size(0),):
            raise Tacotron2InputError(
                f"input_lengths must have shape ({text.size(0)},) to match the text batch, "
                f"got {tuple(input_lengths.shape)}"
            )

    def forward(self, inputs: tuple, speaker_ids: Tensor | None = None,
                language_ids: Tensor | None = None) -> Outputs:
        """Teacher-forced pass for training.

        inputs = (text_padded (B, T_in) long, input_lengths (B,) long, mel_padded (B, n_mel, T_out),
        max_len (int, accepted for compatibility, unused), output_lengths (B,) long).
        Returns `Outputs` (tacotron2/batch.py, a NamedTuple): mel (B, n_mel, T_out), mel_postnet
        (B, n_mel, T_out), gate (B, T_out // r), alignments (B, T_out // r, T_in). With mask_padding,
        frames past output_lengths are 0 and gate logits of decoder steps that start past them are 1e3.
        """
        if len(inputs) != 5:
            raise Tacotron2InputError(
                "Tacotron2.forward expects inputs = (text_padded, input_lengths, mel_padded, max_len, "
                f"output_lengths), got {len(inputs)} items"
            )
        text, input_lengths, mel_padded, _max_len, output_lengths = inputs
        self._check_text(text, input_lengths)
        r = self.n_frames_per_step
        if mel_padded.dim() != 3 or mel_padded.size(0) != text.size(0) \
                or mel_padded.size(1) != self.n_mel_channels:
            raise Tacotron2InputError(
                f"mel_padded must have shape ({text.size(0)}, n_mel_channels={self.n_mel_channels}, T_out), "
                f"got {tuple(mel_padded.shape)}"
            )
        t_out = mel_padded.size(2)
        if t_out == 0 or t_out % r != 0:
            raise Tacotron2InputError(
                f"mel length T_out={t_out} must be a positive multiple of n_frames_per_step={r} "
                "(the collate pads to a multiple of r)"
            )

        memory = self.encode(text, input_lengths, speaker_ids, language_ids)
        mel, gate, alignments = self.decoder(memory, mel_padded, input_lengths)

        frame_mask = None
        if self.mask_padding and output_lengths is not None:
            frame_mask = lengths_to_mask(output_lengths.to(mel.device), t_out).unsqueeze(1)
        mel_postnet = mel + self.postnet(mel, frame_mask)
        if frame_mask is not None:
            mel = mel.masked_fill(~frame_mask, 0.0)
            mel_postnet = mel_postnet.masked_fill(~frame_mask, 0.0)
            # A decoder step is padding when its first frame is; the step holding the last real frame
            # keeps its logit (its gate target is 1, the stop).
            gate = gate.masked_fill(~frame_mask[:, 0, ::r], GATE_PAD_LOGIT)
        return Outputs(mel, mel_postnet, gate, alignments)

    def infer(self, inputs: Tensor, input_lengths: Tensor | None = None, speaker_ids: Tensor | None = None,
              language_ids: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Free-running synthesis: text ids (B, T_in) -> (mel_postnet (B, n_mel, T), mel_lengths (B,) long,
        alignments (B, steps, T_in)).

        Frames after an item's end are zeroed before (and after) the postnet. Eval mode for
        BatchNorm/dropout is the caller's job; the prenet dropout stays on as in the reference.
        `self.last_unfinished` lists items that hit max_decoder_steps (a MaxDecoderStepsWarning is issued).
        """
        self._check_text(inputs, input_lengths)
        with torch.no_grad():
            memory = self.encode(inputs, input_lengths, speaker_ids, language_ids)
            mel, _gate, alignments, mel_lengths = self.decoder.infer(memory, input_lengths)
            self.last_unfinished = list(self.decoder.last_unfinished)
            frame_mask = lengths_to_mask(mel_lengths, mel.size(2)).unsqueeze(1)
            mel = mel.masked_fill(~frame_mask, 0.0)
            mel_postnet = (mel + self.postnet(mel, frame_mask)).masked_fill(~frame_mask, 0.0)
        return mel_postnet, mel_lengths, alignments


def _validate_config(**config: float) -> None:
    """Reject constructor values the model cannot be built with, naming the flag."""
    positive = [
        "n_mel_channels", "n_symbols", "symbols_embedding_dim", "encoder_kernel_size",
        "encoder_embedding_dim", "attention_rnn_dim", "attention_dim", "attention_location_n_filters",
        "attention_location_kernel_size", "n_frames_per_step", "decoder_rnn_dim", "prenet_dim",
        "max_decoder_steps", "postnet_embedding_dim", "postnet_kernel_size", "postnet_n_convolutions",
    ]
    for name in positive:
        value = config[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            flag = "--" + name.replace("_", "-")
            raise Tacotron2ConfigError(f"{flag} must be a positive integer, got {value!r}")
    n_conv = config["encoder_n_convolutions"]
    if isinstance(n_conv, bool) or not isinstance(n_conv, int) or n_conv < 0:
        raise Tacotron2ConfigError(f"--encoder-n-convolutions must be an integer >= 0, got {n_conv!r}")
    if config["encoder_embedding_dim"] % 2:
        raise Tacotron2ConfigError(
            "--encoder-embedding-dim must be even (the bidirectional LSTM has encoder_embedding_dim/2 units "
            f"per direction), got {config['encoder_embedding_dim']}"
        )
    for name in ("encoder_kernel_size", "attention_location_kernel_size", "postnet_kernel_size"):
        if config[name] % 2 != 1:
            raise Tacotron2ConfigError(
                f"--{name.replace('_', '-')} must be odd ('same' padding), got {config[name]}"
            )
    for name in ("p_attention_dropout", "p_decoder_dropout"):
        if not 0.0 <= config[name] < 1.0:
            raise Tacotron2ConfigError(f"--{name.replace('_', '-')} must be in [0, 1), got {config[name]}")
    if not 0.0 < config["gate_threshold"] < 1.0:
        raise Tacotron2ConfigError(f"--gate-threshold must be in (0, 1), got {config['gate_threshold']}")

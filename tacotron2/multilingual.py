"""Multi-speaker, multilingual Tacotron 2 (after Nekvinda and Dušek, 2020, "One Model, Many Languages").

`MultilingualTacotron2` is a `Tacotron2` subclass; it takes the reference's keywords plus these (the
checkpoint `config` stores them, so a checkpoint restores its own speaker, language and symbol maps):

- `speakers`, `languages`, `symbols`: the id -> name maps (lists; the id is the position). With
  `symbols`, `n_symbols` is `len(symbols)`.
- `speaker_embedding_dim` (0 = none), `language_embedding_dim` (0 = none): per-utterance speaker vector
  and per-symbol language vector appended to the encoder outputs through the `condition` hook, so the
  decoder (attention memory, both LSTM cells, projections) sees them.
- `encoder_type`: `shared` (one encoder; with a language embedding, that embedding is concatenated to
  every character embedding), `separate` (one encoder per language; each span of a language goes through
  its own encoder), `generated` (one encoder whose convolution weights and biases are generated per
  language from a language embedding through a small bottleneck, `generator_bottleneck_dim`: the
  "parameter generation" approach; BatchNorm and the LSTM are shared).
- `speaker_classifier_hidden_dim` (0 = none), `reversal_lambda`: an adversarial speaker classifier on the
  encoder outputs behind a gradient reversal layer (gradient clipped to +-0.25, then scaled by -lambda),
  so the encoder is pushed to drop speaker information. Its logits (B, T_in, n_speakers) are a fifth
  model output.

`build_tacotron2(**config)` builds this class when the config holds any of these keys and the plain
reference `Tacotron2` otherwise, so default configs (and NGC checkpoints) give the reference model.

Language ids are per utterance (B,) or per input symbol (B, T_in) (code-switching); speaker ids are per
utterance. Teacher forcing: `set_teacher_forcing(ratio, seed)` makes training-mode forward passes feed
the decoder the ground-truth previous frame with probability `ratio` (drawn per item and step from a
generator seeded with `seed`) and the model's own previous output (detached, as in scheduled sampling)
otherwise; ratio 1 (the default) is the reference's teacher-forced pass.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from tacotron2.layers import LinearNorm, lengths_to_mask
from tacotron2.model import (
    Decoder,
    Encoder,
    Tacotron2,
    Tacotron2ConfigError,
    Tacotron2InputError,
)
from tacotron2.text import LanguageTagError, MultilingualTextEncoder, split_language_tags
from tacotron2.validation import MEL_CEPSTRUM_ORDER, mel_cepstra, validation_mcd  # noqa: F401  (public here too)

__all__ = [
    "ENCODER_TYPES",
    "EXTENSION_DEFAULTS",
    "GRADIENT_CLIP",
    "TEACHER_FORCING_SCHEDULES",
    "GeneratedConv1d",
    "GeneratedEncoder",
    "LanguageTagError",
    "MultilingualConfigError",
    "MultilingualInputError",
    "MultilingualTacotron2",
    "MultilingualTextEncoder",
    "ScheduledDecoder",
    "SeparateEncoder",
    "SharedEncoder",
    "SpeakerClassifier",
    "build_tacotron2",
    "language_spans",
    "mel_cepstra",
    "reverse_gradient",
    "split_language_tags",
    "teacher_forcing_ratio",
    "validation_mcd",
]

ENCODER_TYPES = ("shared", "separate", "generated")
TEACHER_FORCING_SCHEDULES = ("constant", "linear", "cosine")
GRADIENT_CLIP = 0.25  # the reversal layer clips the classifier's gradient to +-0.25 (Nekvinda and Dusek)

EXTENSION_DEFAULTS: dict[str, Any] = {
    "speakers": None,
    "languages": None,
    "symbols": None,
    "text_cleaners": None,
    "speaker_embedding_dim": 0,
    "language_embedding_dim": 0,
    "encoder_type": "shared",
    "generator_bottleneck_dim": 8,
    "speaker_classifier_hidden_dim": 0,
    "reversal_lambda": 1.0,
}


class MultilingualConfigError(Tacotron2ConfigError):
    """A multi-speaker/multilingual constructor argument (a `--flag`) has an unusable value."""


class MultilingualInputError(Tacotron2InputError):
    """Speaker or language ids that do not fit the model (missing, wrong shape, out of range)."""


# ------------------------------------------------------------------------------------ gradient reversal

class _ReverseGradient(torch.autograd.Function):
    """Identity forward; backward: clip the incoming gradient to [-clip, clip], then multiply by -scale."""

    @staticmethod
    def forward(ctx, x: Tensor, scale: float, clip: float) -> Tensor:  # type: ignore[override]
        ctx.scale, ctx.clip = scale, clip
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        return grad.clamp(-ctx.clip, ctx.clip) * -ctx.scale, None, None


def reverse_gradient(x: Tensor, scale: float = 1.0, clip: float = GRADIENT_CLIP) -> Tensor:
    """`x` unchanged; its gradient becomes `-scale * clamp(grad, -clip, clip)`."""
    return _ReverseGradient.apply(x, float(scale), float(clip))


class SpeakerClassifier(nn.Module):
    """Per-position speaker classifier on encoder outputs, behind a gradient reversal layer.

    Linear(D, hidden) + ReLU + Linear(hidden, n_speakers). Minimising its cross-entropy trains the
    classifier; the reversed gradient trains the encoder to make speakers indistinguishable.
    """

    def __init__(self, input_dim: int, hidden_dim: int, n_speakers: int, reversal_lambda: float = 1.0,
                 clip: float = GRADIENT_CLIP) -> None:
        super().__init__()
        self.reversal_lambda, self.clip = reversal_lambda, clip
        self.hidden = LinearNorm(input_dim, hidden_dim, w_init_gain="relu")
        self.output = LinearNorm(hidden_dim, n_speakers)

    def forward(self, encoder_outputs: Tensor) -> Tensor:
        """(B, T_in, D) -> speaker logits (B, T_in, n_speakers)."""
        x = reverse_gradient(encoder_outputs, self.reversal_lambda, self.clip)
        return self.output(F.relu(self.hidden(x)))


# ------------------------------------------------------------------------------------------- encoders

def language_spans(language_ids: Tensor,
                   input_lengths: Tensor | None = None) -> list[tuple[int, int, int, int]]:
    """Maximal runs of one language per item: (item, start, end, language), end exclusive, no padding.

    language_ids (B, T_in); input_lengths (B,) or None (no padding).
    """
    ids = language_ids.detach().to("cpu", torch.int64)
    batch, t_in = ids.shape
    lengths = [t_in] * batch if input_lengths is None else input_lengths.detach().cpu().tolist()
    changes = (ids[:, 1:] != ids[:, :-1]).nonzero().tolist()
    cuts: list[list[int]] = [[] for _ in range(batch)]
    for b, t in changes:
        cuts[b].append(t + 1)
    spans = []
    for b in range(batch):
        length = int(lengths[b])
        bounds = [0] + [c for c in cuts[b] if c < length] + [length]
        spans += [(b, s, e, int(ids[b, s])) for s, e in zip(bounds[:-1], bounds[1:], strict=True) if e > s]
    return spans


class SharedEncoder(Encoder):
    """The reference encoder over [character embedding; language embedding] at every position."""

    def __init__(self, encoder_n_convolutions: int, encoder_embedding_dim: int, encoder_kernel_size: int,
                 symbols_embedding_dim: int, n_languages: int, language_embedding_dim: int,
                 p_dropout: float = 0.5) -> None:
        super().__init__(encoder_n_convolutions, encoder_embedding_dim, encoder_kernel_size,
                         symbols_embedding_dim + language_embedding_dim, p_dropout)
        self.language_embedding = nn.Embedding(n_languages, language_embedding_dim)
        _uniform_embedding_init(self.language_embedding)

    def forward(self, x: Tensor, input_lengths: Tensor | None = None,
                language_ids: Tensor | None = None) -> Tensor:
        """(B, C_emb, T_in) embedded symbols and (B, T_in) language ids -> (B, T_in, encoder_dim)."""
        if language_ids is None:
            raise MultilingualInputError("the shared encoder with a language embedding needs language ids")
        languages = self.language_embedding(language_ids).transpose(1, 2).to(x.dtype)
        return super().forward(torch.cat((x, languages), dim=1), input_lengths)


class SeparateEncoder(nn.Module):
    """One reference encoder per language; every same-language span of an input runs through its own.

    In training mode, encoders that get no span in a batch still enter the graph with a zero-weighted
    term, so DistributedDataParallel sees every parameter used.
    """

    def __init__(self, n_languages: int, encoder_n_convolutions: int, encoder_embedding_dim: int,
                 encoder_kernel_size: int, symbols_embedding_dim: int, p_dropout: float = 0.5) -> None:
        super().__init__()
        self.encoder_embedding_dim = encoder_embedding_dim
        self.encoders = nn.ModuleList(
            Encoder(encoder_n_convolutions, encoder_embedding_dim, encoder_kernel_size, symbols_embedding_dim,
                    p_dropout)
            for _ in range(n_languages)
        )

    def forward(self, x: Tensor, input_lengths: Tensor | None = None,
                language_ids: Tensor | None = None) -> Tensor:
        """(B, C_emb, T_in) and (B, T_in) language ids -> (B, T_in, encoder_dim); padded rows are 0."""
        if language_ids is None:
            raise MultilingualInputError("the separate encoders need language ids")
        batch, _, t_in = x.shape
        spans = language_spans(language_ids, input_lengths)
        out = x.new_zeros(batch, t_in, self.encoder_embedding_dim)
        for language, encoder in enumerate(self.encoders):
            mine = [span for span in spans if span[3] == language]
            if not mine:
                if self.training:
                    out = out + 0.0 * sum(p.sum() for p in encoder.parameters())
                continue
            lengths = torch.tensor([end - start for _, start, end, _ in mine], dtype=torch.long)
            pieces = x.new_zeros(len(mine), x.size(1), int(lengths.max()))
            for i, (b, start, end, _) in enumerate(mine):
                pieces[i, :, : end - start] = x[b, :, start:end]
            encoded = encoder(pieces, lengths.to(x.device))
            for i, (b, start, end, _) in enumerate(mine):
                out[b, start:end] = encoded[i, : end - start]
        return out


class GeneratedConv1d(nn.Module):
    """Conv1d ('same' padding) whose weight and bias are generated from a language embedding.

    code (E) -> Linear(E, bottleneck) -> Linear(bottleneck, out*in*k + out) -> (weight, bias). The
    generator's bias starts as a Xavier-initialised convolution (ReLU gain) and zero bias, so every language
    starts from one well-scaled convolution and learns its own deviation through the bottleneck.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, embedding_dim: int,
                 bottleneck_dim: int) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise MultilingualConfigError(
                f"--encoder-kernel-size must be odd ('same' padding), got {kernel_size}"
            )
        self.shape = (out_channels, in_channels, kernel_size)
        self.n_weights = out_channels * in_channels * kernel_size
        self.bottleneck = LinearNorm(embedding_dim, bottleneck_dim)
        self.generator = LinearNorm(bottleneck_dim, self.n_weights + out_channels)
        with torch.no_grad():
            base = torch.empty(self.shape)
            nn.init.xavier_uniform_(base, gain=nn.init.calculate_gain("relu"))
            self.generator.linear_layer.bias.copy_(torch.cat((base.flatten(), torch.zeros(out_channels))))

    def parameters_for(self, codes: Tensor) -> tuple[Tensor, Tensor]:
        """Language codes (L, E) -> weights (L, out, in, k) and biases (L, out)."""
        params = self.generator(self.bottleneck(codes))
        return params[:, : self.n_weights].reshape(-1, *self.shape), params[:, self.n_weights:]

    def forward(self, x: Tensor, language_ids: Tensor, codes: Tensor) -> Tensor:
        """(B, in, T) with per-position language ids (B, T) -> (B, out, T).

        Position t is computed with the weights of language_ids[:, t] (so spans of a code-switched input
        each use their language's convolution).
        """
        weights, biases = self.parameters_for(codes)
        weights, biases = weights.to(x.dtype), biases.to(x.dtype)
        padding = self.shape[2] // 2
        present = torch.unique(language_ids).tolist()
        if len(present) == 1:
            return F.conv1d(x, weights[present[0]], biases[present[0]], padding=padding)
        out = x.new_zeros(x.size(0), self.shape[0], x.size(2))
        for language in present:
            mask = language_ids == language
            items = mask.any(dim=1).nonzero().squeeze(1)
            y = F.conv1d(x[items], weights[language], biases[language], padding=padding)
            out = out.index_add(0, items, y * mask[items].unsqueeze(1).to(y.dtype))
        return out


class GeneratedEncoder(Encoder):
    """Encoder whose convolutions are generated per language (`GeneratedConv1d` + shared BatchNorm, ReLU,
    dropout 0.5), followed by the reference's shared bidirectional LSTM."""

    def __init__(self, encoder_n_convolutions: int, encoder_embedding_dim: int, encoder_kernel_size: int,
                 symbols_embedding_dim: int, n_languages: int, language_embedding_dim: int,
                 bottleneck_dim: int, p_dropout: float = 0.5) -> None:
        lstm_input = encoder_embedding_dim if encoder_n_convolutions else symbols_embedding_dim
        super().__init__(0, encoder_embedding_dim, encoder_kernel_size, lstm_input, p_dropout)
        self.language_embedding = nn.Embedding(n_languages, language_embedding_dim)
        _uniform_embedding_init(self.language_embedding)
        dims = [symbols_embedding_dim] + [encoder_embedding_dim] * encoder_n_convolutions
        self.generated = nn.ModuleList(
            GeneratedConv1d(dims[i], dims[i + 1], encoder_kernel_size, language_embedding_dim, bottleneck_dim)
            for i in range(encoder_n_convolutions)
        )
        self.norms = nn.ModuleList(nn.BatchNorm1d(dims[i + 1]) for i in range(encoder_n_convolutions))

    def forward(self, x: Tensor, input_lengths: Tensor | None = None,
                language_ids: Tensor | None = None) -> Tensor:
        """(B, C_emb, T_in) and (B, T_in) language ids -> (B, T_in, encoder_dim); padded rows are 0."""
        if language_ids is None:
            raise MultilingualInputError("the generated encoder needs language ids")
        mask = None
        if input_lengths is not None:
            mask = lengths_to_mask(input_lengths.to(x.device), x.size(2)).unsqueeze(1)
            x = x.masked_fill(~mask, 0.0)
        codes = self.language_embedding.weight
        for conv, norm in zip(self.generated, self.norms, strict=True):
            x = F.dropout(F.relu(norm(conv(x, language_ids, codes))), self.p_dropout, self.training)
            if mask is not None:
                x = x.masked_fill(~mask, 0.0)
        return super().forward(x, input_lengths)


def _uniform_embedding_init(embedding: nn.Embedding) -> None:
    """U(-b, b) with b = sqrt(3) * sqrt(2 / (rows + dim)), as the symbol embedding."""
    rows, dim = embedding.weight.shape
    bound = math.sqrt(3.0) * math.sqrt(2.0 / (rows + dim))
    nn.init.uniform_(embedding.weight, -bound, bound)


# ------------------------------------------------------------------------------------ teacher forcing

def teacher_forcing_ratio(step: int, schedule: str = "constant", start_step: int = 0, end_step: int = 0,
                          final_ratio: float = 1.0) -> float:
    """The share of decoder inputs taken from the ground truth at optimizer step `step`.

    constant: `final_ratio` at every step. linear / cosine: 1.0 up to `start_step`, then a linear or
    half-cosine decay to `final_ratio` at `end_step`, and `final_ratio` after (with end <= start the ratio
    drops to `final_ratio` at `start_step`).
    """
    if schedule not in TEACHER_FORCING_SCHEDULES:
        raise MultilingualConfigError(
            f"--teacher-forcing {schedule!r}: choose one of {', '.join(TEACHER_FORCING_SCHEDULES)}"
        )
    if not 0.0 <= final_ratio <= 1.0:
        raise MultilingualConfigError(f"--teacher-forcing-final-ratio must be in [0, 1], got {final_ratio}")
    if schedule == "constant":
        return float(final_ratio)
    if step < start_step:
        return 1.0
    if step >= end_step:
        return float(final_ratio)
    progress = (step - start_step) / (end_step - start_step)
    if schedule == "linear":
        fraction = 1.0 - progress
    else:
        fraction = 0.5 * (1.0 + math.cos(math.pi * progress))
    return float(final_ratio + (1.0 - final_ratio) * fraction)


class ScheduledDecoder(Decoder):
    """The reference decoder with a teacher-forcing ratio for training-mode forward passes.

    `teacher_forcing_ratio` 1.0 (or eval mode) runs the reference teacher-forced pass unchanged. Below 1,
    the input of step s > 0 is, per item, the ground-truth last frame of group s - 1 with probability
    `ratio` and otherwise the model's own last predicted frame of step s - 1 (detached); the choices are
    drawn from a generator seeded with `teacher_forcing_seed`, so they are reproducible.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.teacher_forcing_ratio = 1.0
        self.teacher_forcing_seed = 0

    def forward(self, memory: Tensor, decoder_inputs: Tensor,
                memory_lengths: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        if not self.training or self.teacher_forcing_ratio >= 1.0:
            return super().forward(memory, decoder_inputs, memory_lengths)
        r = self.n_frames_per_step
        batch = memory.size(0)
        group_ends = decoder_inputs.transpose(1, 2)[:, r - 1::r]
        steps = group_ends.size(1)
        generator = torch.Generator().manual_seed(int(self.teacher_forcing_seed))
        use_truth = (torch.rand(batch, steps, generator=generator) < self.teacher_forcing_ratio)
        use_truth = use_truth.to(memory.device).unsqueeze(2)
        memory_mask = self._memory_mask(memory, memory_lengths)
        processed_memory = self.attention_layer.memory_layer(memory)
        state = self.initial_state(memory)
        previous = memory.new_zeros(batch, self.n_mel_channels).to(group_ends.dtype)
        frames, gates, alignments = [], [], []
        for step in range(steps):
            if step > 0:
                own = frames[-1][:, -self.n_mel_channels:].detach().to(group_ends.dtype)
                previous = torch.where(use_truth[:, step], group_ends[:, step - 1], own)
            out, gate, state = self.decode(self.prenet(previous), state, memory, processed_memory,
                                           memory_mask)
            frames.append(out)
            gates.append(gate)
            alignments.append(state.attention_weights)
        return self._frames_to_mel(frames), torch.cat(gates, dim=1), torch.stack(alignments, dim=1)


# ------------------------------------------------------------------------------------------------ model

class MultilingualTacotron2(Tacotron2):
    """Tacotron 2 with speaker/language conditioning, encoder variants and an adversarial speaker classifier.

    Takes every `Tacotron2` keyword plus those of `EXTENSION_DEFAULTS` (see the module docstring).
    `forward(inputs)` accepts the reference's 5-tuple or a 7-tuple ending in (speaker_ids, language_ids),
    as `tacotron2.data_function.batch_to_device` builds for multi-speaker data; it returns
    [mel, mel_postnet, gate, alignments] plus speaker logits (B, T_in, n_speakers) with a classifier.
    """

    def __init__(self, *, speakers: list[str] | None = None, languages: list[str] | None = None,
                 symbols: list[str] | None = None, text_cleaners: list[str] | None = None,
                 speaker_embedding_dim: int = 0, language_embedding_dim: int = 0,
                 encoder_type: str = "shared", generator_bottleneck_dim: int = 8,
                 speaker_classifier_hidden_dim: int = 0, reversal_lambda: float = 1.0,
                 **reference: Any) -> None:
        if symbols is not None:
            symbols = [str(s) for s in symbols]
            n_symbols = reference.get("n_symbols")
            if n_symbols is not None and n_symbols != len(symbols):
                raise MultilingualConfigError(
                    f"n_symbols {n_symbols} disagrees with the {len(symbols)} symbols of the table"
                )
            reference["n_symbols"] = len(symbols)
        super().__init__(**reference)
        self.speakers = _names("speakers", speakers)
        self.languages = _names("languages", languages)
        self.symbols = symbols
        # the cleaners that made `symbols` (e.g. ipa_cleaners): synthesis must clean text the same way
        self.text_cleaners = [str(c) for c in text_cleaners] if text_cleaners else None
        _check_extension(speaker_embedding_dim=speaker_embedding_dim,
                         language_embedding_dim=language_embedding_dim, encoder_type=encoder_type,
                         generator_bottleneck_dim=generator_bottleneck_dim,
                         speaker_classifier_hidden_dim=speaker_classifier_hidden_dim,
                         reversal_lambda=reversal_lambda, n_speakers=len(self.speakers),
                         n_languages=len(self.languages))
        self.encoder_type = encoder_type
        n_speakers, n_languages = len(self.speakers), len(self.languages)
        embedding_dim = self.embedding.embedding_dim
        encoder_args = (reference.get("encoder_n_convolutions", 3),
                        reference.get("encoder_embedding_dim", 512), reference.get("encoder_kernel_size", 5))
        if encoder_type == "shared" and language_embedding_dim > 0:
            self.encoder = SharedEncoder(*encoder_args, embedding_dim, n_languages, language_embedding_dim)
        elif encoder_type == "separate":
            self.encoder = SeparateEncoder(n_languages, *encoder_args, embedding_dim)
        elif encoder_type == "generated":
            self.encoder = GeneratedEncoder(*encoder_args, embedding_dim, n_languages, language_embedding_dim,
                                            generator_bottleneck_dim)

        self.speaker_embedding = None
        if speaker_embedding_dim > 0:
            self.speaker_embedding = nn.Embedding(n_speakers, speaker_embedding_dim)
            _uniform_embedding_init(self.speaker_embedding)
        self.language_embedding = None
        if language_embedding_dim > 0:
            self.language_embedding = nn.Embedding(n_languages, language_embedding_dim)
            _uniform_embedding_init(self.language_embedding)
        self.conditioning_dim = speaker_embedding_dim + language_embedding_dim
        self.decoder = ScheduledDecoder(**self.decoder_config, conditioning_dim=self.conditioning_dim)

        self.speaker_classifier = None
        if speaker_classifier_hidden_dim > 0:
            self.speaker_classifier = SpeakerClassifier(encoder_args[1], speaker_classifier_hidden_dim,
                                                        n_speakers, reversal_lambda)
        self._encoder_outputs: Tensor | None = None

    # --------------------------------------------------------------------------------- ids and names

    @property
    def needs_speaker(self) -> bool:
        """Whether speaker ids matter (a speaker embedding or classifier)."""
        return self.speaker_embedding is not None or self.speaker_classifier is not None

    @property
    def needs_language(self) -> bool:
        """Whether language ids matter (a language embedding or per-language encoders)."""
        return self.language_embedding is not None or self.encoder_type in ("separate", "generated")

    def speaker_id(self, name: str) -> int:
        """The id of a speaker name; MultilingualInputError listing the known ones otherwise."""
        if name not in self.speakers:
            raise MultilingualInputError(f"unknown speaker {name!r}; this model knows {self.speakers}")
        return self.speakers.index(name)

    def language_id(self, name: str) -> int:
        """The id of a language code; MultilingualInputError listing the known ones otherwise."""
        if name not in self.languages:
            raise MultilingualInputError(f"unknown language {name!r}; this model knows {self.languages}")
        return self.languages.index(name)

    def _speaker_ids(self, speaker_ids: Tensor | None, text: Tensor) -> Tensor | None:
        if not self.needs_speaker:
            return None
        batch = text.size(0)
        if speaker_ids is None:
            if len(self.speakers) != 1:
                raise MultilingualInputError(
                    f"this model has {len(self.speakers)} speakers {self.speakers}: pass speaker ids (B,)"
                )
            return text.new_zeros(batch, dtype=torch.long)
        speaker_ids = torch.as_tensor(speaker_ids, device=text.device).long().reshape(-1)
        if speaker_ids.numel() == 1 and batch > 1:
            speaker_ids = speaker_ids.expand(batch)
        if speaker_ids.shape != (batch,):
            raise MultilingualInputError(
                f"speaker_ids must have shape ({batch},), got {tuple(speaker_ids.shape)}"
            )
        _check_range(speaker_ids, len(self.speakers), "speaker_ids")
        return speaker_ids

    def _language_ids(self, language_ids: Tensor | None, text: Tensor) -> Tensor | None:
        """Per-symbol language ids (B, T_in) from per-utterance (B,) or per-symbol ids."""
        if not self.needs_language:
            return None
        batch, t_in = text.shape
        if language_ids is None:
            if len(self.languages) != 1:
                raise MultilingualInputError(
                    f"this model has {len(self.languages)} languages {self.languages}: pass language ids "
                    "(B,) or (B, T_in)"
                )
            return text.new_zeros(batch, t_in, dtype=torch.long)
        language_ids = torch.as_tensor(language_ids, device=text.device).long()
        if language_ids.dim() <= 1:
            language_ids = language_ids.reshape(-1)
            if language_ids.numel() == 1 and batch > 1:
                language_ids = language_ids.expand(batch)
            if language_ids.shape != (batch,):
                raise MultilingualInputError(f"language_ids must have shape ({batch},) or ({batch}, {t_in}), "
                                             f"got {tuple(language_ids.shape)}")
            language_ids = language_ids.unsqueeze(1).expand(batch, t_in)
        elif language_ids.shape != (batch, t_in):
            raise MultilingualInputError(f"language_ids must have shape ({batch},) or ({batch}, {t_in}), "
                                         f"got {tuple(language_ids.shape)}")
        _check_range(language_ids, len(self.languages), "language_ids")
        return language_ids

    # ------------------------------------------------------------------------------------ hooks

    def set_teacher_forcing(self, ratio: float, seed: int = 0) -> None:
        """Teacher-forcing ratio (and the seed of its per-step draws) for the next training forward pass."""
        if not 0.0 <= ratio <= 1.0:
            raise MultilingualInputError(f"teacher forcing ratio must be in [0, 1], got {ratio}")
        self.decoder.teacher_forcing_ratio = float(ratio)
        self.decoder.teacher_forcing_seed = int(seed)

    @property
    def teacher_forcing_ratio(self) -> float:
        return self.decoder.teacher_forcing_ratio

    def encode(self, text_ids: Tensor, input_lengths: Tensor | None, speaker_ids: Tensor | None = None,
               language_ids: Tensor | None = None) -> Tensor:
        """Text ids (B, T_in) -> decoder memory (B, T_in, encoder_dim + conditioning_dim)."""
        speaker_ids = self._speaker_ids(speaker_ids, text_ids)
        language_ids = self._language_ids(language_ids, text_ids)
        embedded = self.embedding(text_ids).transpose(1, 2)
        outputs = self.encoder(embedded, input_lengths, language_ids=language_ids)
        if self.speaker_classifier is not None:
            self._encoder_outputs = outputs  # for forward's classifier output
        return self.condition(outputs, text_ids, speaker_ids, language_ids)

    def condition(self, memory: Tensor, text_ids: Tensor, speaker_ids: Tensor | None = None,
                  language_ids: Tensor | None = None) -> Tensor:
        """Append the speaker embedding (every position) and the per-symbol language embedding."""
        parts = [memory]
        t_in = memory.size(1)
        if self.speaker_embedding is not None:
            vector = self.speaker_embedding(speaker_ids).to(memory.dtype)
            parts.append(vector.unsqueeze(1).expand(-1, t_in, -1))
        if self.language_embedding is not None:
            parts.append(self.language_embedding(language_ids).to(memory.dtype))
        return torch.cat(parts, dim=2) if len(parts) > 1 else memory

    def forward(self, inputs: tuple, speaker_ids: Tensor | None = None,
                language_ids: Tensor | None = None) -> list[Tensor]:
        inputs = tuple(inputs)
        if len(inputs) == 7:
            inputs, speaker_ids, language_ids = inputs[:5], inputs[5], inputs[6]
        self._encoder_outputs = None
        outputs = super().forward(inputs, speaker_ids, language_ids)
        if self.speaker_classifier is not None:
            outputs.append(self.speaker_classifier(self._encoder_outputs))
        self._encoder_outputs = None
        return outputs


def _names(what: str, names: list[str] | None) -> list[str]:
    names = [str(n) for n in (names or [])]
    if len(set(names)) != len(names):
        raise MultilingualConfigError(f"{what} must be distinct, got {names}")
    return names


def _check_range(ids: Tensor, n: int, what: str) -> None:
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= n):
        raise MultilingualInputError(f"{what} must lie in [0, {n - 1}], got min {int(ids.min())} "
                                     f"max {int(ids.max())}")


def _check_extension(*, speaker_embedding_dim: int, language_embedding_dim: int, encoder_type: str,
                     generator_bottleneck_dim: int, speaker_classifier_hidden_dim: int,
                     reversal_lambda: float, n_speakers: int, n_languages: int) -> None:
    """Reject extension settings the model cannot be built with, naming the flag."""
    for name, value in (("speaker_embedding_dim", speaker_embedding_dim),
                        ("language_embedding_dim", language_embedding_dim),
                        ("speaker_classifier_hidden_dim", speaker_classifier_hidden_dim)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            flag = "--" + name.replace("_", "-")
            raise MultilingualConfigError(f"{flag} must be an integer >= 0, got {value!r}")
    if encoder_type not in ENCODER_TYPES:
        raise MultilingualConfigError(
            f"--encoder-type {encoder_type!r}: choose one of {', '.join(ENCODER_TYPES)}"
        )
    if isinstance(generator_bottleneck_dim, bool) or not isinstance(generator_bottleneck_dim, int) \
            or generator_bottleneck_dim < 1:
        raise MultilingualConfigError(
            f"--generator-bottleneck-dim must be a positive integer, got {generator_bottleneck_dim!r}"
        )
    if reversal_lambda < 0:
        raise MultilingualConfigError(f"--reversal-lambda must be >= 0, got {reversal_lambda}")
    if (speaker_embedding_dim or speaker_classifier_hidden_dim) and n_speakers < 1:
        raise MultilingualConfigError(
            "--speaker-embedding-dim / --speaker-classifier-weight need speakers (path|text|speaker|language "
            "filelists)"
        )
    needs_languages = language_embedding_dim or encoder_type in ("separate", "generated")
    if needs_languages and n_languages < 1:
        raise MultilingualConfigError(
            f"--encoder-type {encoder_type} / --language-embedding-dim need languages "
            "(path|text|speaker|language filelists)"
        )
    if encoder_type == "generated" and language_embedding_dim < 1:
        raise MultilingualConfigError(
            "--encoder-type generated generates its convolutions from a language embedding: "
            "set --language-embedding-dim > 0"
        )


def build_tacotron2(**config: Any) -> Tacotron2:
    """`MultilingualTacotron2(**config)` if the config holds any extension key, else `Tacotron2(**config)`."""
    if any(key in config for key in EXTENSION_DEFAULTS):
        return MultilingualTacotron2(**config)
    return Tacotron2(**config)

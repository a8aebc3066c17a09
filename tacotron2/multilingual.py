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

The parts live beside this file, one job each: the errors (`multilingual_errors.py`), the adversarial speaker
classifier (`speaker_classifier.py`), the language encoders (`language_encoders.py`) and teacher forcing
(`teacher_forcing.py`); their public names are importable from here too.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from tacotron2.batch import ClassifiedOutputs, Outputs
from tacotron2.language_encoders import (  # noqa: F401  (public here too)
    ENCODER_TYPES,
    GeneratedConv1d,
    GeneratedEncoder,
    SeparateEncoder,
    SharedEncoder,
    _uniform_embedding_init,
    language_spans,
)
from tacotron2.model import Tacotron2
from tacotron2.multilingual_errors import MultilingualConfigError, MultilingualInputError
from tacotron2.speaker_classifier import GRADIENT_CLIP, SpeakerClassifier, reverse_gradient
from tacotron2.teacher_forcing import TEACHER_FORCING_SCHEDULES, ScheduledDecoder, teacher_forcing_ratio
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
                language_ids: Tensor | None = None) -> Outputs | ClassifiedOutputs:
        """`Tacotron2.forward` with speaker and language ids (given, or as items 6 and 7 of `inputs`);
        with the speaker classifier, `ClassifiedOutputs` (its logits last)."""
        inputs = tuple(inputs)
        if len(inputs) == 7:
            inputs, speaker_ids, language_ids = inputs[:5], inputs[5], inputs[6]
        self._encoder_outputs = None
        outputs: Outputs | ClassifiedOutputs = super().forward(inputs, speaker_ids, language_ids)
        if self.speaker_classifier is not None:
            outputs = ClassifiedOutputs(*outputs, self.speaker_classifier(self._encoder_outputs))
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

"""The Tacotron 2 model config: which flags are constructor keywords (`MODEL_KEYS`), whether a run is
conditioned on speakers/languages, and `model_config`, the checkpoint's `config` built from parsed flags."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from tacotron2.multilingual import EXTENSION_DEFAULTS
from tacotron2.text import build_vocabulary, phoneme_symbols


def is_conditioned(args: argparse.Namespace) -> bool:
    """Whether the flags ask for multi-speaker/multilingual training (see `_add_multilingual_flags`)."""
    return bool(getattr(args, "speaker_embedding_dim", 0) or getattr(args, "language_embedding_dim", 0)
                or getattr(args, "encoder_type", "shared") != "shared"
                or getattr(args, "speaker_classifier_weight", 0.0) > 0)


def uses_phonemes(text_cleaners: Sequence[str]) -> bool:
    """Whether --text-cleaners turn text into espeak-ng IPA (`ipa_cleaners`, `ipa_cleaners_<code>`): such a
    model gets a symbol table of the phonemes in its training text, saved with the cleaners in its config."""
    return any(name.startswith("ipa_cleaners") for name in text_cleaners)


def uses_teacher_forcing_schedule(args: argparse.Namespace) -> bool:
    """Whether the teacher-forcing ratio ever drops below 1 (the reference always feeds the ground truth)."""
    return getattr(args, "teacher_forcing_final_ratio", 1.0) < 1.0


MODEL_KEYS = (
    "mask_padding", "n_mel_channels", "n_symbols", "symbols_embedding_dim", "encoder_kernel_size",
    "encoder_n_convolutions", "encoder_embedding_dim", "attention_rnn_dim", "attention_dim",
    "attention_location_n_filters", "attention_location_kernel_size", "n_frames_per_step",
    "decoder_rnn_dim", "prenet_dim", "max_decoder_steps", "gate_threshold", "p_attention_dropout",
    "p_decoder_dropout", "postnet_embedding_dim", "postnet_kernel_size", "postnet_n_convolutions",
    "decoder_no_early_stopping",
)


def model_config(args: argparse.Namespace, vocabulary: Any = None) -> dict:
    """The Tacotron2 constructor keywords (the checkpoint's `config`) from parsed flags.

    Default flags give exactly the reference keywords (the plain `Tacotron2`). Conditioned runs add the
    `MultilingualTacotron2` keywords, with the speaker, language and symbol maps of `vocabulary` (a
    `tacotron2.text.Vocabulary`), by default read from --training-files (`build_vocabulary`);
    a teacher-forcing schedule alone adds the extension keys at their defaults (same weights as the
    reference, the decoder that can be fed its own output).
    """
    config = {key: getattr(args, key) for key in MODEL_KEYS}
    # --text-cleaners is a general flag: a Tacotron 2 parser built on a bare parent (the model's own flags
    # only, as tests build it) has none, and then no phoneme input
    cleaners = getattr(args, "text_cleaners", None) or ()
    if is_conditioned(args):
        if vocabulary is None:
            vocabulary = build_vocabulary(args.training_files, args.text_cleaners)
        classifier = args.speaker_classifier_hidden_dim if args.speaker_classifier_weight > 0 else 0
        config.update(
            n_symbols=len(vocabulary.symbols), symbols=vocabulary.symbols, speakers=vocabulary.speakers,
            languages=vocabulary.languages, speaker_embedding_dim=args.speaker_embedding_dim,
            language_embedding_dim=args.language_embedding_dim, encoder_type=args.encoder_type,
            generator_bottleneck_dim=args.generator_bottleneck_dim,
            speaker_classifier_hidden_dim=classifier, reversal_lambda=args.reversal_lambda,
        )
    elif uses_teacher_forcing_schedule(args) or uses_phonemes(cleaners):
        config.update(EXTENSION_DEFAULTS)
        if uses_phonemes(cleaners):
            symbols = phoneme_symbols(args.training_files, args.text_cleaners)
            config.update(n_symbols=len(symbols), symbols=symbols, text_cleaners=list(args.text_cleaners))
    return config

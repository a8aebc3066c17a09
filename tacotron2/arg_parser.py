"""Tacotron 2 flags, with the reference's names and defaults."""

from __future__ import annotations

import argparse

from tacotron2.config import (  # noqa: F401  (public here too: the model's flags and their config)
    MODEL_KEYS,
    is_conditioned,
    model_config,
    uses_phonemes,
    uses_teacher_forcing_schedule,
)
from tacotron2.samplers import SAMPLERS


def tacotron2_parser(parent: argparse.ArgumentParser, add_help: bool = False) -> argparse.ArgumentParser:
    """A new parser holding `parent`'s flags plus the Tacotron 2 model flags."""
    parser = _CheckedParser(parents=[parent], add_help=add_help, allow_abbrev=False)

    parser.add_argument("--mask-padding", action="store_true",
                        help="exclude padded frames from the outputs and the loss")
    parser.add_argument("--n-mel-channels", type=int, default=80, help="number of mel bands")

    symbols = parser.add_argument_group("symbols parameters")
    symbols.add_argument("--n-symbols", type=int, default=148, help="number of input symbols")
    symbols.add_argument("--symbols-embedding-dim", type=int, default=512, help="input embedding dimension")

    encoder = parser.add_argument_group("encoder parameters")
    encoder.add_argument("--encoder-kernel-size", type=int, default=5)
    encoder.add_argument("--encoder-n-convolutions", type=int, default=3)
    encoder.add_argument("--encoder-embedding-dim", type=int, default=512)

    decoder = parser.add_argument_group("decoder parameters")
    decoder.add_argument("--n-frames-per-step", type=int, default=1,
                         help="mel frames produced per decoder step (reduction factor r)")
    decoder.add_argument("--decoder-rnn-dim", type=int, default=1024)
    decoder.add_argument("--prenet-dim", type=int, default=256)
    decoder.add_argument("--max-decoder-steps", type=int, default=2000)
    decoder.add_argument("--gate-threshold", type=float, default=0.5)
    decoder.add_argument("--p-attention-dropout", type=float, default=0.1)
    decoder.add_argument("--p-decoder-dropout", type=float, default=0.1)
    decoder.add_argument("--decoder-no-early-stopping", action="store_true",
                         help="always run --max-decoder-steps steps at inference (fixed-length benchmarks)")

    attention = parser.add_argument_group("attention parameters")
    attention.add_argument("--attention-rnn-dim", type=int, default=1024)
    attention.add_argument("--attention-dim", type=int, default=128)

    location = parser.add_argument_group("location layer parameters")
    location.add_argument("--attention-location-n-filters", type=int, default=32)
    location.add_argument("--attention-location-kernel-size", type=int, default=31)

    postnet = parser.add_argument_group("postnet parameters")
    postnet.add_argument("--postnet-embedding-dim", type=int, default=512)
    postnet.add_argument("--postnet-kernel-size", type=int, default=5)
    postnet.add_argument("--postnet-n-convolutions", type=int, default=5)

    loss = parser.add_argument_group("Tacotron 2 loss")
    loss.add_argument("--guided-attention-weight", type=float, default=0.0,
                      help="weight of the guided (diagonal) attention loss; 0 = off, as the reference")
    loss.add_argument("--guided-attention-sigma", type=float, default=0.2,
                      help="width of the diagonal band of the guided attention prior")
    loss.add_argument("--guided-attention-decay", type=float, default=1.0,
                      help="multiply the guided attention weight by this every optimizer step")

    data = parser.add_argument_group("Tacotron 2 data")
    data.add_argument("--max-mel-length", type=int, default=None,
                      help="skip (and count) training utterances with more mel frames than this")
    _add_multilingual_flags(parser)
    _add_performance_flags(parser)
    return parser


def _add_performance_flags(parser: argparse.ArgumentParser) -> None:
    """How the decoder loop is computed; the function (and the checkpoint) is the same either way."""
    group = parser.add_argument_group("performance")
    group.add_argument("--decoder-impl", choices=["eager", "fast"], default="fast",
                       help="decoder loop: fast (tacotron2/fast_decoder.py: batched input products, "
                            "hand-written backward through time; outputs and gradients equal eager to "
                            "float rounding, tests/test_fast_paths.py) or eager (the step-by-step "
                            "reference loop)")


class _CheckedParser(argparse.ArgumentParser):
    """An ArgumentParser that also rejects flag combinations the model cannot use (`parser.error`)."""

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        parsed = super().parse_args(args, namespace)
        problem = multilingual_flag_problem(parsed)
        if problem:
            self.error(problem)
        return parsed


def _non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {value}")
    return number


def _non_negative_float(value: str) -> float:
    number = float(value)
    if not number >= 0.0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return number


def _ratio(value: str) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {value}")
    return number


def _add_multilingual_flags(parser: argparse.ArgumentParser) -> None:
    """Multi-speaker / multilingual options (Nekvinda and Dusek, 2020); all off by default.

    Any of --speaker-embedding-dim, --language-embedding-dim, --encoder-type separate|generated or
    --speaker-classifier-weight switches the run to conditioned training: filelists must be
    path|text|speaker|language, speaker/language/symbol maps come from --training-files and are saved in the
    checkpoint config, text is cleaned per line by its language's cleaner (--text-cleaners for languages
    without one), and the model is tacotron2.multilingual.MultilingualTacotron2.
    """
    group = parser.add_argument_group("multi-speaker and multilingual (all off by default)")
    group.add_argument("--speaker-embedding-dim", type=_non_negative_int, default=0,
                       help="speaker embedding fed to the decoder (0 = none)")
    group.add_argument("--language-embedding-dim", type=_non_negative_int, default=0,
                       help="language embedding fed to the decoder, and to the shared encoder's input "
                            "(0 = none)")
    group.add_argument("--encoder-type", default="shared", choices=["shared", "separate", "generated"],
                       help="shared: one encoder (language embedding concatenated to each character "
                            "embedding); separate: one encoder per language; generated: convolution "
                            "weights generated per language from a language embedding")
    group.add_argument("--generator-bottleneck-dim", type=_non_negative_int, default=8,
                       help="bottleneck of the --encoder-type generated parameter generator")
    group.add_argument("--speaker-classifier-weight", type=_non_negative_float, default=0.0,
                       help="loss weight of the adversarial speaker classifier on the encoder outputs "
                            "(0 = no classifier)")
    group.add_argument("--speaker-classifier-hidden-dim", type=_non_negative_int, default=256,
                       help="hidden units of the speaker classifier")
    group.add_argument("--reversal-lambda", type=_non_negative_float, default=1.0,
                       help="the gradient reversal layer scales the (clipped to +-0.25) classifier gradient "
                            "by -lambda")
    group.add_argument("--sampler", default="default", choices=SAMPLERS,
                       help="training batches: default (shuffled), imbalanced (items weighted inverse to "
                            "their language's share), perfect (every batch holds each language equally; "
                            "--batch-size must be a multiple of the number of languages) or bucketed (items "
                            "of similar text length share a batch: less padding, faster steps)")

    schedule = parser.add_argument_group("teacher forcing")
    schedule.add_argument("--teacher-forcing", default="constant", choices=["constant", "linear", "cosine"],
                          help="share of decoder inputs taken from the ground truth (else the model's own "
                               "previous frame): constant = --teacher-forcing-final-ratio throughout; "
                               "linear/cosine decay from 1 to it between the start and end steps")
    schedule.add_argument("--teacher-forcing-start-step", type=_non_negative_int, default=0,
                          help="optimizer step where the decay starts")
    schedule.add_argument("--teacher-forcing-end-step", type=_non_negative_int, default=0,
                          help="optimizer step where the decay reaches the final ratio")
    schedule.add_argument("--teacher-forcing-final-ratio", type=_ratio, default=1.0,
                          help="teacher-forcing ratio at the end of the decay (1.0 = the reference)")

    validation = parser.add_argument_group("validation")
    validation.add_argument("--val-mcd-utterances", type=_non_negative_int, default=0,
                            help="per epoch, synthesise this many validation utterances free-running and "
                                 "log their mel cepstral distortion (val_mcd, computed from the log-mels: "
                                 "tacotron2.multilingual.mel_cepstra) (0 = off)")


def multilingual_flag_problem(args: argparse.Namespace) -> str | None:
    """A message for flag combinations that cannot work together, else None."""
    if args.encoder_type == "generated" and args.language_embedding_dim < 1:
        return ("--encoder-type generated generates its convolutions from a language embedding: set "
                "--language-embedding-dim > 0")
    if args.encoder_type == "generated" and args.generator_bottleneck_dim < 1:
        return "--generator-bottleneck-dim must be >= 1"
    if args.speaker_classifier_weight > 0 and args.speaker_classifier_hidden_dim < 1:
        return "--speaker-classifier-hidden-dim must be >= 1 with --speaker-classifier-weight > 0"
    return None

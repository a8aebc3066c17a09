"""Tacotron 2 flags, with the reference's names and defaults."""

from __future__ import annotations

import argparse


def tacotron2_parser(parent: argparse.ArgumentParser, add_help: bool = False) -> argparse.ArgumentParser:
    """A new parser holding `parent`'s flags plus the Tacotron 2 model flags."""
    parser = argparse.ArgumentParser(parents=[parent], add_help=add_help, allow_abbrev=False)

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
    return parser


MODEL_KEYS = (
    "mask_padding", "n_mel_channels", "n_symbols", "symbols_embedding_dim", "encoder_kernel_size",
    "encoder_n_convolutions", "encoder_embedding_dim", "attention_rnn_dim", "attention_dim",
    "attention_location_n_filters", "attention_location_kernel_size", "n_frames_per_step",
    "decoder_rnn_dim", "prenet_dim", "max_decoder_steps", "gate_threshold", "p_attention_dropout",
    "p_decoder_dropout", "postnet_embedding_dim", "postnet_kernel_size", "postnet_n_convolutions",
    "decoder_no_early_stopping",
)


def model_config(args: argparse.Namespace) -> dict:
    """The Tacotron2 constructor keywords (the checkpoint's `config`) from parsed flags."""
    return {key: getattr(args, key) for key in MODEL_KEYS}

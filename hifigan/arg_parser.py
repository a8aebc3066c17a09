"""HiFi-GAN flags, with the reference's names and defaults (both spellings: ``--lr-decay``/``--lr_decay``).

Model: ``--hifigan-preset`` (NGC default, V1, V2, V3) and overrides of every generator config key;
``--mpd-periods``. Training: ``--segment-size`` 8192, ``--lr-decay`` 0.9998 (ExponentialLR per epoch),
``--adam-betas`` 0.8 0.99, ``--mel-fmax-loss`` (none = full band), ``--ema-decay`` 0, ``--warmup-steps``
1000, ``--fine-tuning`` with ``--input-mels-dir``. The general flags (learning rate, clip threshold,
gradient accumulation, audio parameters) come from the parent parser; the reference's recipe sets
lr 3e-4, clip 1000 and batch 16.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from hifigan.model import DEFAULT_CONFIG, MPD_PERIODS, PRESETS, check_config, preset

PRESET_CHOICES = ("NGC", *PRESETS)  # NGC: the suite's default (V1 with kernels [11, 7, 3])


def _dilations(text: str) -> list[list[int]]:
    message = f"expected a JSON list of lists such as [[1,3,5],[1,3,5]], got {text!r}"
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise argparse.ArgumentTypeError(message) from None
    if not isinstance(value, list) or not all(isinstance(v, list) for v in value):
        raise argparse.ArgumentTypeError(message)
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1], got {text}")
    return value


def _width(text: str) -> float:
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie in (0, 1], got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def hifigan_parser(parent: argparse.ArgumentParser, add_help: bool = False) -> argparse.ArgumentParser:
    """A new parser holding `parent`'s flags plus the HiFi-GAN model and training flags."""
    parser = argparse.ArgumentParser(parents=[parent], add_help=add_help, allow_abbrev=False)

    model = parser.add_argument_group("HiFi-GAN generator")
    model.add_argument("--hifigan-preset", type=str.upper, default="NGC", choices=PRESET_CHOICES,
                       help="generator configuration; the flags below override single keys")
    model.add_argument("--n-mel-channels", type=_positive_int, default=80, help="number of mel bands")
    model.add_argument("--upsample-rates", "--upsample_rates", type=_positive_int, nargs="+", default=None)
    model.add_argument("--upsample-kernel-sizes", "--upsample_kernel_sizes", type=_positive_int, nargs="+",
                       default=None)
    model.add_argument("--upsample-initial-channel", "--upsample_initial_channel", type=_positive_int,
                       default=None)
    model.add_argument("--resblock", type=str, choices=("1", "2"), default=None)
    model.add_argument("--resblock-kernel-sizes", "--resblock_kernel_sizes", type=_positive_int, nargs="+",
                       default=None)
    model.add_argument("--resblock-dilation-sizes", "--resblock_dilation_sizes", type=_dilations,
                       default=None, help="JSON, e.g. [[1,3,5],[1,3,5],[1,3,5]]")
    model.add_argument("--mpd-periods", "--mpd_periods", type=_positive_int, nargs="+",
                       default=list(MPD_PERIODS))
    model.add_argument("--discriminator-width", type=_width, default=1.0,
                       help="scale of the discriminator channels (1: the reference; <1: quick CPU runs)")

    train = parser.add_argument_group("HiFi-GAN training")
    train.add_argument("--segment-size", "--segment_size", type=_positive_int, default=8192,
                       help="audio samples per training segment (a multiple of --hop-length)")
    train.add_argument("--lr-decay", "--lr_decay", type=_fraction, default=0.9998,
                       help="ExponentialLR gamma, stepped once per epoch, for both optimizers")
    train.add_argument("--adam-betas", "--adam_betas", type=float, nargs=2, default=[0.8, 0.99],
                       help="AdamW betas of both optimizers")
    train.add_argument("--mel-fmax-loss", "--mel_fmax_loss", type=float, default=None,
                       help="upper frequency of the loss mel (default: the full band)")
    train.add_argument("--ema-decay", "--ema_decay", type=_fraction, default=0.0,
                       help="exponential moving average of the generator weights (0: off)")
    train.add_argument("--warmup-steps", "--warmup_steps", type=int, default=1000,
                       help="linear learning-rate warm-up in optimizer steps")
    train.add_argument("--fine-tuning", "--fine_tuning", action="store_true",
                       help="train on the acoustic model's teacher-forced mels from --input-mels-dir")
    train.add_argument("--input-mels-dir", "--input_mels_dir", type=str, default=None,
                       help="directory of <wav stem>.pt mels (n_mel_channels, frames) for --fine-tuning")
    return parser


def model_config(args: argparse.Namespace) -> dict[str, Any]:
    """The generator constructor keywords (the checkpoint's ``config``) from parsed flags."""
    config = dict(DEFAULT_CONFIG) if args.hifigan_preset == "NGC" else preset(args.hifigan_preset)
    for key in ("upsample_rates", "upsample_kernel_sizes", "upsample_initial_channel", "resblock",
                "resblock_kernel_sizes", "resblock_dilation_sizes"):
        value = getattr(args, key, None)
        if value is not None:
            config[key] = value
    config["n_mel_channels"] = args.n_mel_channels
    return check_config(config)


def check_args(args: argparse.Namespace) -> None:
    """Cross-flag checks, each a one-line ValueError naming the flag."""
    hop = getattr(args, "hop_length", 256)
    if args.segment_size % hop:
        raise ValueError(f"--segment-size {args.segment_size} must be a multiple of --hop-length {hop}")
    if args.fine_tuning and not args.input_mels_dir:
        raise ValueError("--fine-tuning needs --input-mels-dir (mels predicted by the acoustic model)")
    if args.input_mels_dir and not args.fine_tuning:
        raise ValueError("--input-mels-dir is only read with --fine-tuning")
    rates = model_config(args)["upsample_rates"]
    if math.prod(rates) != hop:
        raise ValueError(f"--upsample-rates {rates} multiply to {math.prod(rates)}, "
                         f"but --hop-length is {hop}")

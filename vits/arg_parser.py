"""VITS flags for ``run.py -m VITS`` (Piper's training options with the suite's dashed names).

``--quality x-low|medium|high`` picks Piper's generator preset; ``--piper-checkpoint`` fine-tunes from a
Piper Lightning checkpoint (strict load); ``--resume-from-single-speaker-checkpoint`` does Piper's
single- to multi-speaker conversion. Optimiser defaults are Piper's: AdamW lr 2e-4 (the suite's
``--learning-rate`` flag), betas (0.8, 0.99), eps 1e-9, ExponentialLR 0.999875 per epoch, c_mel 45, c_kl 1.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vits.model import QUALITY_PRESETS, preset_keywords

SIZE_KEYS = ("inter_channels", "hidden_channels", "filter_channels", "n_layers", "upsample_initial_channel")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _existing_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such checkpoint file: {text}")
    return path


def vits_parser(parent: argparse.ArgumentParser, add_help: bool = False) -> argparse.ArgumentParser:
    """A new parser holding ``parent``'s flags plus the VITS flags."""
    parser = argparse.ArgumentParser(parents=[parent], add_help=add_help, allow_abbrev=False)
    group = parser.add_argument_group("VITS (Piper) parameters")
    group.add_argument("--quality", choices=list(QUALITY_PRESETS), default="medium",
                       help="Piper's generator preset (default medium)")
    group.add_argument("--piper-checkpoint", type=_existing_file, default=None,
                       help="fine-tune from a Piper Lightning checkpoint (.ckpt, loaded strictly)")
    group.add_argument("--resume-from-single-speaker-checkpoint", type=_existing_file, default=None,
                       help="start a multi-speaker model from a single-speaker Piper checkpoint (Piper's "
                            "conversion: speaker-conditioning weights are new, all others copied)")
    group.add_argument("--n-speakers", type=int, default=None,
                       help="number of speakers (default: the speakers of the training filelist)")
    group.add_argument("--n-vocab", type=int, default=256, help="phoneme id vocabulary size (Piper: 256)")
    group.add_argument("--espeak-language", default="en",
                       help="language of `path|text` lines (4-field lines name their own)")
    group.add_argument("--segment-size", type=int, default=8192,
                       help="audio samples decoded per item in training (a multiple of the hop length)")
    group.add_argument("--c-mel", type=_positive_float, default=45.0, help="mel L1 weight")
    group.add_argument("--c-kl", type=_positive_float, default=1.0, help="KL weight")
    group.add_argument("--lr-decay", type=_positive_float, default=0.999875,
                       help="ExponentialLR gamma per epoch")
    group.add_argument("--adam-betas", type=float, nargs=2, default=(0.8, 0.99), metavar=("B1", "B2"))
    group.add_argument("--adam-eps", type=_positive_float, default=1e-9)
    group.add_argument("--no-sdp", action="store_true",
                       help="deterministic duration predictor instead of the stochastic one")
    group.add_argument("--discriminator-width", type=_positive_float, default=1.0,
                       help="scale of the discriminator's channel counts, in (0, 1] (1: Piper's)")
    sizes = parser.add_argument_group("VITS size overrides (default: the --quality preset's; set them only "
                                      "for small test models, the result is no Piper preset)")
    for name in SIZE_KEYS:
        sizes.add_argument("--" + name.replace("_", "-"), type=int, default=None)
    return parser


def check_args(args: argparse.Namespace) -> str | None:
    """The first problem with a VITS flag combination (a one-line message naming the flag), or None."""
    if args.segment_size % 256:
        return f"--segment-size {args.segment_size} must be a multiple of the hop length 256"
    if args.n_speakers is not None and args.n_speakers < 1:
        return f"--n-speakers must be at least 1, got {args.n_speakers}"
    if args.resume_from_single_speaker_checkpoint is not None and (args.n_speakers or 0) < 2:
        return "--resume-from-single-speaker-checkpoint needs a multi-speaker model (--n-speakers >= 2)"
    if args.resume_from_single_speaker_checkpoint is not None and args.piper_checkpoint is not None:
        return "give --piper-checkpoint or --resume-from-single-speaker-checkpoint, not both"
    if not 1 <= args.n_vocab:
        return f"--n-vocab must be positive, got {args.n_vocab}"
    if not args.discriminator_width <= 1.0:
        return f"--discriminator-width must lie in (0, 1], got {args.discriminator_width}"
    for name in SIZE_KEYS:
        value = getattr(args, name, None)
        if value is not None and value < 1:
            return f"--{name.replace('_', '-')} must be positive, got {value}"
    for name, why in (("inter_channels", "the flow splits it"), ("hidden_channels", "two attention heads")):
        value = getattr(args, name)
        if value is not None and value % 2:
            return f"--{name.replace('_', '-')} must be even ({why}), got {value}"
    return None


def model_config(args: argparse.Namespace) -> dict[str, Any]:
    """SynthesizerTrn keywords for these flags."""
    keywords = preset_keywords(args.quality, n_speakers=args.n_speakers or 1, n_vocab=args.n_vocab)
    keywords["segment_size"] = args.segment_size // 256
    keywords["use_sdp"] = not args.no_sdp
    keywords.update({k: getattr(args, k) for k in SIZE_KEYS if getattr(args, k, None) is not None})
    return keywords


DEFAULT_LEARNING_RATE = 2e-4  # Piper's; the suite's --learning-rate has no model-independent default


def optimizer_config(args: argparse.Namespace) -> dict[str, Any]:
    """``VitsTrainer`` keywords for these flags (Piper's defaults where a flag is unset)."""
    learning_rate = getattr(args, "learning_rate", None) or DEFAULT_LEARNING_RATE
    return {"learning_rate": learning_rate, "betas": tuple(args.adam_betas), "eps": args.adam_eps,
            "lr_decay": args.lr_decay, "c_mel": args.c_mel, "c_kl": args.c_kl}

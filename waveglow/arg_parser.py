"""WaveGlow flags, with the reference's names and defaults."""

from __future__ import annotations

import argparse


def waveglow_parser(parent: argparse.ArgumentParser, add_help: bool = False) -> argparse.ArgumentParser:
    """A new parser holding `parent`'s flags plus the WaveGlow model flags."""
    parser = argparse.ArgumentParser(parents=[parent], add_help=add_help, allow_abbrev=False)

    parser.add_argument("--n-mel-channels", type=int, default=80, help="number of mel bands")

    flow = parser.add_argument_group("flow parameters")
    flow.add_argument("--flows", type=int, default=12, help="number of flows")
    flow.add_argument("--groups", type=int, default=8, help="audio samples grouped per flow step")
    flow.add_argument("--early-every", type=int, default=4, help="output channels early every N flows")
    flow.add_argument("--early-size", type=int, default=2, help="channels output early each time")
    flow.add_argument("--sigma", type=float, default=1.0, help="standard deviation of the prior")
    flow.add_argument("--segment-length", type=int, default=4000, help="audio samples per training segment")

    wn = parser.add_argument_group("WN parameters")
    wn.add_argument("--wn-kernel-size", type=int, default=3)
    wn.add_argument("--wn-channels", type=int, default=512)
    wn.add_argument("--wn-layers", type=int, default=8)
    return parser


def model_config(args: argparse.Namespace) -> dict:
    """The WaveGlow constructor keywords (the checkpoint's `config`) from parsed flags."""
    return {
        "n_mel_channels": args.n_mel_channels,
        "n_flows": args.flows,
        "n_group": args.groups,
        "n_early_every": args.early_every,
        "n_early_size": args.early_size,
        "WN_config": {"n_layers": args.wn_layers, "kernel_size": args.wn_kernel_size,
                      "n_channels": args.wn_channels},
    }

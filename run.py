#!/usr/bin/env python3
"""Train Tacotron 2 or WaveGlow: `python run.py -m Tacotron2 -o out/ -lr 1e-3 --epochs 10 -bs 4 ...`.

Dispatches on `-m/--model-name`; `--help` with a model name lists that model's flags too. Runs on CPU or
GPU, alone or as one rank of `multiproc.py` / torchrun.
"""

from __future__ import annotations

import argparse
import sys

from common.arg_parser import REQUIRED, parse_args, training_parser


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors caused by input (files, flags, checkpoints): reported in one line, without a traceback."""
    from common.audio import AudioError
    from common.checkpoint import CheckpointError
    from common.data import DatasetError
    from common.filelist import FilelistError
    from common.run_lock import RunLockError
    from common.text.cleaners import UnknownCleanerError

    return (AudioError, CheckpointError, DatasetError, FilelistError, RunLockError, UnknownCleanerError)


def build_parser(argv: list[str]) -> tuple[argparse.ArgumentParser, str | None]:
    """The full parser for the model named in argv (or in its --config-file), and that name."""
    base = training_parser(add_help=False)
    known, _ = base.parse_known_args(argv)
    name = known.model_name
    if name is None and known.config_file:
        import json
        from pathlib import Path

        try:
            name = json.loads(Path(known.config_file).read_text()).get("model_name")
        except (OSError, ValueError, AttributeError):
            name = None
    if name is None:
        parser = training_parser(add_help=True)
        parser.prog = "run.py"
        return parser, None
    from common.models import get_model_spec

    spec = get_model_spec(name)
    parser = spec.parser(training_parser(add_help=False), True)
    parser.prog = f"run.py -m {name}"
    parser.description = f"Train {name}."
    return parser, name


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        parser, name = build_parser(argv)
    except ValueError as err:
        print(f"run.py: error: {err}", file=sys.stderr)
        return 2
    args = parse_args(parser, argv, REQUIRED)
    from common.distributed import cleanup
    from common.models import get_model_spec
    from common.training import train

    try:
        train(args, get_model_spec(name))
    except KeyboardInterrupt:
        print("run.py: interrupted", file=sys.stderr)
        return 130
    except user_errors() as err:
        rank = getattr(args, "rank", 0)
        print(f"run.py: error (rank {rank}): {err}", file=sys.stderr)
        return 1
    finally:
        from common import logger as runlog

        runlog.get_logger().close()
        cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

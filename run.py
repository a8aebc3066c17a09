#!/usr/bin/env python3
"""Train Tacotron 2 or WaveGlow: `python run.py -m Tacotron2 -o out/ -lr 1e-3 --epochs 10 -bs 4 ...`.

Dispatches on `-m/--model-name`; `--help` with a model name lists that model's flags too. Runs on CPU or
GPU, alone or as one rank of `multiproc.py` / torchrun. `train.py` is the same entry point under the
reference's name, so the reference's commands paste unchanged.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common import logger as runlog
from common import training
from common.arg_parser import REQUIRED, parse_args, training_parser
from common.audio import AudioError
from common.checkpoint import CheckpointError
from common.data import DatasetError
from common.distributed import cleanup
from common.divergence import DivergenceError
from common.elastic import launcher_rank, peer_error
from common.filelist import FilelistError
from common.io_errors import OutputError, output_errors
from common.logger import LoggerError
from common.models import get_model_spec
from common.run_lock import RunLockError
from common.text.cleaners import UnknownCleanerError


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors caused by input (files, flags, checkpoints): reported in one line, without a traceback."""
    return (AudioError, CheckpointError, DatasetError, DivergenceError, FilelistError, LoggerError,
            OutputError, RunLockError, UnknownCleanerError, training.TrainingSetupError)


def program_name() -> str:
    """The entry point's name for messages and --help: `train.py` or `run.py`, as it was started."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return name if name in ("train.py", "run.py") else "run.py"


def build_parser(argv: list[str], prog: str = "run.py") -> tuple[argparse.ArgumentParser, str | None]:
    """The full parser for the model named in argv (or in its --config-file), and that name."""
    base = training_parser(add_help=False)
    known, _ = base.parse_known_args(argv)
    name = known.model_name
    if name is None and known.config_file:
        try:
            name = json.loads(Path(known.config_file).read_text()).get("model_name")
        except (OSError, ValueError, AttributeError):
            name = None
    if name is None:
        parser = training_parser(add_help=True)
        parser.prog = prog
        return parser, None
    spec = get_model_spec(name)
    parser = spec.parser(training_parser(add_help=False), True)
    parser.prog = f"{prog} -m {name}"
    parser.description = f"Train {name}."
    return parser, name


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Parse the flags and train; returns the exit status (errors caused by input: one line, status 1)."""
    argv = sys.argv[1:] if argv is None else argv
    prog = prog or program_name()
    try:
        parser, name = build_parser(argv, prog)
    except ValueError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    args = parse_args(parser, argv, REQUIRED)
    label = f"{prog}: error (rank {launcher_rank(args)})"
    try:
        with output_errors("-o/--output"):  # a full disk or an unwritable folder: one line
            training.train(args, get_model_spec(name))  # looked up here: tests replace it
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except user_errors() as err:
        print(f"{label}: {err}", file=sys.stderr)
        return 1
    except RuntimeError as err:  # a lost peer: one line here, the cause in the failing rank's own error
        message = peer_error(err)
        if message is None:
            raise
        print(f"{label}: {message}", file=sys.stderr)
        return 1
    finally:
        runlog.get_logger().close()
        cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

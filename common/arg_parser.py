"""Training flags shared by every model, with the reference's names and defaults.

Each call builds fresh parsers (the reference's parser mutated global state and failed when built twice).
`parse_args` also reads `--config-file`: a JSON object whose keys are flag names (`learning_rate` or
`learning-rate`) and whose values become defaults that the command line still overrides.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from common.audio_config import DEFAULT_AUDIO


class ConfigFileError(ValueError):
    """A `--config-file` that is unreadable or names unknown flags."""


def int_at_least(minimum: int, name: str) -> Callable[[str], int]:
    """An argparse type: an integer >= `minimum`, called `name` in its error (argparse adds the flag)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {name}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {name}, got {value}")
        return value

    parse.__name__ = name.replace(" ", "_")  # argparse names the type in "invalid ... value" errors
    return parse


positive_int = int_at_least(1, "a positive integer")
non_negative_int = int_at_least(0, "an integer >= 0")


def training_parser(add_help: bool = False) -> argparse.ArgumentParser:
    """The general flags of `run.py` (model flags are added by each model's arg_parser)."""
    parser = argparse.ArgumentParser(add_help=add_help, allow_abbrev=False)

    general = parser.add_argument_group("general")
    general.add_argument("-o", "--output", help="folder for checkpoints and logs (required)")
    general.add_argument("-d", "--dataset-path", default="./",
                         help="root that filelist paths are relative to")
    general.add_argument("-m", "--model-name",
                         help="the model to train, a name registered in common/models.py (required)")
    general.add_argument("--log-file", default="nvlog.json", help="run log name, inside --output")
    general.add_argument("--tensorboard-dir", default=None, help="also log scalars for TensorBoard here")
    general.add_argument("--anneal-steps", nargs="*", type=int, default=None,
                         help="epochs after which the learning rate is annealed")
    general.add_argument("--anneal-factor", type=float, default=0.1, choices=[0.1, 0.3],
                         help="factor for learning rate annealing")
    general.add_argument("--config-file", default=None, help="JSON file setting any flag")
    general.add_argument("--seed", type=int, default=None, help="random seed (fixed seed: reproducible runs)")

    training = parser.add_argument_group("training setup")
    training.add_argument("--epochs", type=int, help="number of epochs to run (required)")
    training.add_argument("--epochs-per-checkpoint", type=int, default=50, help="checkpoint every N epochs")
    training.add_argument("--checkpoint-path", default="", help="checkpoint to resume from")
    training.add_argument("--resume-from-last", action="store_true",
                          help="resume from checkpoint_<Model>_last.pt in --output (a dangling or unreadable "
                               "one: from the newest readable checkpoint there)")
    training.add_argument("--overwrite", action="store_true",
                          help="start afresh in an --output that holds this model's checkpoints, deleting "
                               "them (without it, such a folder needs --resume-from-last)")
    training.add_argument("--checkpoint-interval-steps", type=non_negative_int, default=0, metavar="N",
                          help="also checkpoint every N iterations, mid-epoch (bounds what a kill loses; "
                               "0: only every --epochs-per-checkpoint epochs)")
    training.add_argument("--amp", action="store_true",
                          help="mixed precision: fp16 autocast + GradScaler on CUDA, bf16 autocast on CPU")
    training.add_argument("--cudnn-enabled", action="store_true", help="enable cuDNN")
    training.add_argument("--cudnn-benchmark", action="store_true", help="run cuDNN benchmark")
    training.add_argument("--disable-uniform-initialize-bn-weight", action="store_true",
                          help="keep PyTorch's BatchNorm weight init instead of U(0, 1)")
    training.add_argument("--cpu", action="store_true", help="train on the CPU even when CUDA is available")
    training.add_argument("--cpu-threads", type=int, default=None,
                          help="torch intra-op threads on CPU (default: torch's choice; 1 is often fastest "
                               "for small models on few cores)")
    training.add_argument("--max-steps-per-epoch", type=int, default=None,
                          help="cut every epoch after N iterations (quick runs and benchmarks)")
    training.add_argument("--time-budget", type=float, default=None,
                          help="stop cleanly after this many minutes, writing a checkpoint")
    training.add_argument("--max-skipped-steps", type=int, default=20,
                          help="stop with an error after this many steps in a row were skipped for a "
                               "non-finite loss or gradient (divergence)")

    optimization = parser.add_argument_group("optimization setup")
    optimization.add_argument("--use-saved-learning-rate", action="store_true",
                              help="on resume, keep the learning rate stored in the optimizer")
    optimization.add_argument("-lr", "--learning-rate", type=float, help="learning rate (required)")
    optimization.add_argument("--weight-decay", type=float, default=1e-6, help="weight decay")
    optimization.add_argument("--grad-clip-thresh", type=float, default=1.0, help="gradient norm clip")
    optimization.add_argument("-bs", "--batch-size", type=int, help="batch size per process (required)")
    optimization.add_argument("--grad-accumulation", type=positive_int, default=1, metavar="N",
                              help="accumulate the gradients of N batches into one optimizer step (an "
                                   "effective batch of N x --batch-size per process; the last group of an "
                                   "epoch may be shorter and is averaged over its own batches)")

    finetuning = parser.add_argument_group("fine-tuning")
    finetuning.add_argument("--warm-start", default=None, metavar="CHECKPOINT",
                            help="start from this checkpoint's weights (matched by name and shape; fresh "
                                 "optimizer, epoch 0), reporting what was loaded, re-initialised and ignored")
    finetuning.add_argument("--ignore-layers", nargs="+", default=[], metavar="PATTERN",
                            help="with --warm-start: parameters to keep freshly initialised (fnmatch-style, "
                                 "e.g. 'NAME.*', an exact parameter name, or a module prefix)")
    finetuning.add_argument("--freeze", nargs="+", default=[], metavar="MODULE",
                            help="modules not to train (names or prefixes, e.g. MODULE.SUB): no gradient, "
                                 "not in the optimizer, BatchNorm statistics kept")
    finetuning.add_argument("--extend-vocabulary", nargs="+", default=[], metavar="LANG",
                            help="with --warm-start: append these languages' symbols to the checkpoint's "
                                 "table; the original embedding rows stay bitwise frozen")
    finetuning.add_argument("--symbols-from-data", action="store_true",
                            help="with --warm-start: also append every symbol the cleaned training "
                                 "transcripts contain that the table lacks")

    dataset = parser.add_argument_group("dataset parameters")
    dataset.add_argument("--load-mel-from-disk", action="store_true",
                         help="filelists point at precomputed mel .pt files instead of wavs")
    dataset.add_argument("--training-files", default="filelists/ljs_audio_text_train_filelist.txt")
    dataset.add_argument("--validation-files", default="filelists/ljs_audio_text_val_filelist.txt")
    dataset.add_argument("--text-cleaners", nargs="*", default=["english_cleaners"])
    dataset.add_argument("--num-workers", type=int, default=2, help="data loader worker processes")
    dataset.add_argument("--skip-bad-files", action="store_true",
                         help="skip (and count) unreadable or unusable utterances instead of stopping")

    audio = parser.add_argument_group("audio parameters")
    audio.add_argument("--max-wav-value", type=float, default=DEFAULT_AUDIO.max_wav_value)
    audio.add_argument("--sampling-rate", type=int, default=DEFAULT_AUDIO.sampling_rate)
    audio.add_argument("--filter-length", type=int, default=DEFAULT_AUDIO.filter_length)
    audio.add_argument("--hop-length", type=int, default=DEFAULT_AUDIO.hop_length)
    audio.add_argument("--win-length", type=int, default=DEFAULT_AUDIO.win_length)
    audio.add_argument("--mel-fmin", type=float, default=DEFAULT_AUDIO.mel_fmin)
    audio.add_argument("--mel-fmax", type=float, default=DEFAULT_AUDIO.mel_fmax)

    distributed = parser.add_argument_group("distributed setup")
    distributed.add_argument("--rank", type=int, default=0, help="rank of this process")
    distributed.add_argument("--world-size", type=int, default=1, help="number of processes")
    distributed.add_argument("--dist-url", default="tcp://localhost:23456", help="rendezvous address")
    distributed.add_argument("--dist-backend", default=None, choices=["nccl", "gloo"],
                             help="nccl on GPU, gloo on CPU (default: chosen by device)")
    distributed.add_argument("--dist-timeout", type=float, default=60.0,
                             help="seconds a rank waits for the others (rendezvous and every collective) "
                                  "before the job stops; raise it if one rank's checkpoint write can take "
                                  "longer")
    return parser


REQUIRED = {
    "output": "-o/--output",
    "model_name": "-m/--model-name",
    "epochs": "--epochs",
    "learning_rate": "-lr/--learning-rate",
    "batch_size": "-bs/--batch-size",
}


MINIMUMS = {
    "max_skipped_steps": ("--max-skipped-steps", 1),
    "dist_timeout": ("--dist-timeout", 1),
}


def load_config_file(path: str | Path, parser: argparse.ArgumentParser) -> dict:
    """Read a JSON config and map its keys to parser destinations; unknown keys are an error."""
    path = Path(path)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigFileError(f"--config-file {path}: file not found") from None
    except json.JSONDecodeError as err:
        raise ConfigFileError(f"--config-file {path}: invalid JSON at line {err.lineno}: {err.msg}") from None
    if not isinstance(config, dict):
        raise ConfigFileError(f"--config-file {path}: expected a JSON object of flag: value")
    dests = {action.dest for action in parser._actions}
    defaults = {}
    unknown = []
    for key, value in config.items():
        dest = key.lstrip("-").replace("-", "_")
        if dest not in dests or dest in ("help", "config_file"):
            unknown.append(key)
        else:
            defaults[dest] = value
    if unknown:
        raise ConfigFileError(f"--config-file {path}: unknown flag(s): {', '.join(sorted(unknown))}")
    return defaults


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None,
               required: dict[str, str] | None = None) -> argparse.Namespace:
    """Parse argv, applying `--config-file` values as defaults, then check required flags."""
    first, _ = parser.parse_known_args(argv)
    if getattr(first, "config_file", None):
        try:
            parser.set_defaults(**load_config_file(first.config_file, parser))
        except ConfigFileError as err:
            parser.error(str(err))
    args = parser.parse_args(argv)
    missing = [flag for dest, flag in (required or {}).items() if getattr(args, dest, None) is None]
    if missing:
        parser.error("the following arguments are required: " + ", ".join(missing))
    for dest, (flag, minimum) in MINIMUMS.items():  # also what --config-file set, which argparse leaves be
        value = getattr(args, dest, None)
        if value is not None and not (isinstance(value, int | float) and value >= minimum):
            parser.error(f"{flag} must be a number of at least {minimum}, got {value!r}")
    return args

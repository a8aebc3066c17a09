"""Command line for dataset preparation and validation.

``python scripts/prepare_data.py SUBCOMMAND ...`` or ``python -m common.datasets SUBCOMMAND ...``:

- ``ljspeech --input DIR --output OUT``: filelists and manifest for an LJSpeech-style folder,
- ``common-voice --input CV_DIR --output OUT``: convert a Common Voice release folder,
- ``custom --audio-dir DIR --transcript FILE --output OUT``: convert your own recordings,
- ``validate --filelist F [F ...]``: check filelists and audio; exit status 1 when errors are found.

Exit status 2 means unusable arguments or input (the message names the flag, file or line).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from common.arg_parser import positive_int
from common.audio_config import DEFAULT_AUDIO
from common.datasets.common_voice import prepare_common_voice
from common.datasets.convert import ConversionSettings
from common.datasets.custom import prepare_custom
from common.datasets.ljspeech import prepare_ljspeech
from common.datasets.manifest import DatasetError
from common.datasets.validate import validate_filelists

if TYPE_CHECKING:
    from common.datasets.convert import ConversionSettings

__all__ = ["build_parser", "main"]


def _non_negative_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not number >= 0.0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return number


def _add_common(parser: argparse.ArgumentParser) -> None:
    """Flags every preparation subcommand has: output, split, parallelism."""
    parser.add_argument("--output", "-o", required=True, help="output folder (filelists/, manifest.json)")
    parser.add_argument("--seed", type=int, default=1234, help="seed of the hash split (default 1234)")
    parser.add_argument("--val-fraction", type=float, default=0.05, help="share of utterances in val")
    parser.add_argument("--test-fraction", type=float, default=0.05, help="share of utterances in test")
    parser.add_argument("--jobs", "-j", type=positive_int, default=1, help="worker processes (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _add_conversion(parser: argparse.ArgumentParser) -> None:
    """Flags of the subcommands that convert audio."""
    parser.add_argument("--sampling-rate", type=positive_int, default=DEFAULT_AUDIO.sampling_rate,
                        help="target rate (Hz)")
    parser.add_argument("--trim-silence", action="store_true", help="cut leading/trailing silence")
    parser.add_argument("--trim-top-db", type=_non_negative_float, default=40.0,
                        help="silence is this many dB below the loudest frame (default 40)")
    parser.add_argument("--trim-margin", type=_non_negative_float, default=0.05,
                        help="seconds of silence kept each side when trimming (default 0.05)")
    parser.add_argument("--min-duration", type=_non_negative_float, default=0.5,
                        help="skip clips shorter than this (seconds, after conversion; default 0.5)")
    parser.add_argument("--max-duration", type=_non_negative_float, default=15.0,
                        help="skip clips longer than this (seconds, after conversion; default 15)")
    parser.add_argument("--overwrite", action="store_true",
                        help="convert again even where OUT/wavs already holds a wav")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prepare_data.py", description="Prepare TTS datasets (filelists, manifest) and validate them.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")

    ljs = sub.add_parser("ljspeech", help="LJSpeech-style folder: metadata.csv id|text|normalized + wavs/",
                         description="Write filelists (wavs/<id>.wav|normalized text, relative to --input) "
                                     "and a manifest; audio is neither copied nor converted.")
    ljs.add_argument("--input", "-i", required=True, help="the folder holding metadata.csv and wavs/")
    ljs.add_argument("--speaker", default="ljs", help="speaker name in the multi-speaker filelists")
    ljs.add_argument("--language", default="en", help="language code (default en)")
    ljs.add_argument("--split", choices=["reference", "hash"], default="reference",
                     help="reference: the reference's LJSpeech split, plus its named filelists and subsets "
                          "(ljs_{audio,mel}_text_*); hash: the seeded split of --seed/--val-fraction/"
                          "--test-fraction (other LJSpeech-layout datasets)")
    _add_common(ljs)

    cv = sub.add_parser("common-voice", help="Mozilla Common Voice language folder ({split}.tsv + clips/)",
                        description="Convert Common Voice clips to mono 16-bit wavs and write filelists.")
    cv.add_argument("--input", "-i", required=True, help="the language folder holding train.tsv and clips/")
    cv.add_argument("--splits", nargs="+", default=["train", "dev", "test"],
                    help="which {split}.tsv files to read (default train dev test)")
    cv.add_argument("--language", default=None,
                    help="language code (default: the locale column, else the folder name)")
    _add_conversion(cv)
    _add_common(cv)

    custom = sub.add_parser("custom", help="your recordings with a file|text or file|speaker|text transcript",
                            description="Convert recordings (wav, flac, ogg, mp3, ...) and write filelists.")
    custom.add_argument("--audio-dir", required=True, help="folder the transcript's paths are relative to")
    custom.add_argument("--transcript", required=True, help="lines file|text or file|speaker|text")
    custom.add_argument("--language", default="en", help="language code (default en)")
    custom.add_argument("--speaker", default=None, help="speaker of file|text lines (default speaker0)")
    _add_conversion(custom)
    _add_common(custom)

    val = sub.add_parser("validate", help="check filelists and their audio; exit 1 on errors",
                         description="Check filelists and audio; exit status 1 when any error is found "
                                     "(or any warning, with --strict).")
    val.add_argument("--filelist", "-f", nargs="+", required=True, help="one or more filelists")
    val.add_argument("--dataset-path", "-d", default=".", help="folder the filelist paths are relative to")
    val.add_argument("--sampling-rate", type=positive_int, default=DEFAULT_AUDIO.sampling_rate)
    val.add_argument("--min-duration", type=_non_negative_float, default=0.3, help="shorter is an error")
    val.add_argument("--max-duration", type=_non_negative_float, default=20.0, help="longer is a warning")
    val.add_argument("--text-cleaners", nargs="*", default=["english_cleaners"])
    val.add_argument("--report", default=None, help="write the full report as JSON here")
    val.add_argument("--strict", action="store_true", help="warnings fail the check too")
    val.add_argument("--headers-only", action="store_true", help="read audio headers only (faster)")
    val.add_argument("--max-shown", type=positive_int, default=50, help="issues printed (default 50)")
    val.add_argument("--jobs", "-j", type=positive_int, default=1, help="worker processes (default 1)")
    val.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _conversion_settings(args: argparse.Namespace) -> ConversionSettings:
    if args.max_duration <= args.min_duration:
        raise DatasetError(f"--max-duration {args.max_duration} must exceed "
                           f"--min-duration {args.min_duration}")
    return ConversionSettings(sampling_rate=args.sampling_rate, trim_silence=args.trim_silence,
                              trim_top_db=args.trim_top_db, trim_margin=args.trim_margin,
                              min_duration=args.min_duration, max_duration=args.max_duration,
                              overwrite=args.overwrite)


def _prepare(args: argparse.Namespace) -> int:
    common = dict(seed=args.seed, val_fraction=args.val_fraction, test_fraction=args.test_fraction,
                  jobs=args.jobs, progress=not args.no_progress)
    if args.command == "ljspeech":
        report = prepare_ljspeech(args.input, args.output, speaker=args.speaker, language=args.language,
                                  split=args.split, **common)
    elif args.command == "common-voice":
        report = prepare_common_voice(args.input, args.output, splits=args.splits, language=args.language,
                                      settings=_conversion_settings(args), **common)
    else:
        report = prepare_custom(args.audio_dir, args.transcript, args.output, language=args.language,
                                speaker=args.speaker, settings=_conversion_settings(args), **common)
    print(report.format())
    return 0


def _validate(args: argparse.Namespace) -> int:
    report = validate_filelists(args.filelist, args.dataset_path, sampling_rate=args.sampling_rate,
                                min_duration=args.min_duration, max_duration=args.max_duration,
                                text_cleaners=args.text_cleaners, decode=not args.headers_only,
                                strict=args.strict, jobs=args.jobs, progress=not args.no_progress)
    if args.report:
        path = Path(args.report)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            text = json.dumps(report.to_json(), indent=1, ensure_ascii=False)
            path.write_text(text + "\n", encoding="utf-8")
        except OSError as err:
            raise DatasetError(f"--report {path}: cannot write ({err})") from None
    print(report.format(max_issues=args.max_shown))
    if args.report:
        print(f"full report: {args.report}")
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns the exit status (0 ok, 1 validation failed, 2 bad arguments or input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "validate":
            return _validate(args)
        return _prepare(args)
    except DatasetError as err:
        print(f"{parser.prog} {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog} {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

"""Command line: ``python -m common.evaluation {mcd,alignment,intelligibility} ...``.

``mcd --ref-dir R --syn-dir S [--csv out.csv]`` scores every synthesized audio file in S against the file of
the same stem in R (two files instead of two folders score one pair). Synthesized files without a
reference and references without a synthesized file are listed; unreadable files are listed with the
reason. ``alignment FILE...`` prints the alignment scores of ``.pt``/``.npy`` alignment files.
``intelligibility -i PHRASES --syn-dir S [--corpus C]`` transcribes ``S/audio_<i><suffix>.wav`` (what
``inference.py -i PHRASES -o S`` writes) with pocketsphinx and scores it against phrase i; with ``--corpus``
it also scores espeak-ng's rendering of the phrases in the corpus voice (the ceiling). English only.

Exit status: 0 on success; 1 when a file could not be scored or nothing matched; 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from common.evaluation.curve import intelligibility_curve, plot_curve
from common.evaluation.intelligibility import compare, evaluate_with_ceiling, phrase_files, phrase_texts
from common.logger import RunLogger
from common.metrics.alignment import SCORE_NAMES, alignment_scores, load_alignment
from common.metrics.errors import EvaluationError
from common.metrics.mcd import FolderMCD, check_settings, format_results, mcd_files, mcd_folder

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m common.evaluation", description="Objective evaluation of synthesized speech."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    m = sub.add_parser("mcd", help="mel cepstral distortion (DTW-aligned) against reference recordings")
    m.add_argument("--ref-dir", required=True, type=Path, help="folder of reference audio (or one file)")
    m.add_argument("--syn-dir", required=True, type=Path, help="folder of synthesized audio (or one file)")
    m.add_argument("--csv", type=Path, help="write per-file results to this CSV file")
    m.add_argument("--syn-suffix", default="", help="suffix removed from synthesized stems before matching")
    m.add_argument("--order", type=int, default=24, help="mel-cepstrum order: c0..c_order (default 24)")
    m.add_argument(
        "--alpha", type=float, help="all-pass constant (default: fitted to the rate, 0.455 at 22.05 kHz)",
    )
    m.add_argument("--frame-ms", type=float, default=25.0, help="analysis frame length in ms (default 25)")
    m.add_argument("--hop-ms", type=float, default=5.0, help="frame hop in ms (default 5)")
    m.add_argument("--sampling-rate", type=int, help="analysis rate (default: each reference's own rate)")
    m.add_argument("--trim-db", type=float, help="trim leading/trailing silence this many dB below the peak")
    m.add_argument("--include-c0", action="store_true", help="include c0 (energy) in the distance")
    m.add_argument("--log-file", type=Path, help="append a summary to this run log (DLLogger format)")

    a = sub.add_parser("alignment", help="attention alignment scores of .pt/.npy alignment files")
    a.add_argument("files", nargs="+", type=Path, help="alignment files (decoder steps x encoder steps)")
    a.add_argument("--input-length", type=int, help="encoder steps to keep (overrides the file's)")
    a.add_argument("--output-length", type=int, help="decoder steps to keep (overrides the file's)")
    a.add_argument("--csv", type=Path, help="write per-file scores to this CSV file")
    a.add_argument("--log-file", type=Path, help="append a summary to this run log (DLLogger format)")
    i = sub.add_parser("intelligibility", help="word/phone error rates and closed-set accuracy (English, "
                                               "offline pocketsphinx), with the espeak-ng ceiling")
    i.add_argument("-i", "--input", required=True, type=Path,
                   help="the phrases the wavs should say, one per line (as given to inference.py -i)")
    i.add_argument("--syn-dir", required=True, type=Path, help="folder holding audio_<i><suffix>.wav")
    i.add_argument("--syn-suffix", default="", help="the --suffix inference.py was given")
    i.add_argument("--corpus", type=Path,
                   help="offline corpus folder: also score espeak-ng's rendering in its speaker's voice "
                        "(the ceiling)")
    i.add_argument("--speaker", help="corpus speaker id for the ceiling (default: its first English speaker)")
    i.add_argument("--csv", type=Path, help="write per-sentence results to this CSV file")
    i.add_argument("--json", type=Path, help="write the report (and the ceiling's) to this JSON file")
    i.add_argument("--log-file", type=Path, help="append a summary to this run log (DLLogger format)")

    c = sub.add_parser("curve", help="intelligibility of a Tacotron 2 run's checkpoints against training "
                                     "minutes (Griffin-Lim; English), with a plot")
    c.add_argument("--run-dir", required=True, type=Path, help="a run.py -m Tacotron2 output folder")
    c.add_argument("-i", "--input", required=True, type=Path, help="held-out phrases, one per line")
    c.add_argument("-o", "--output", required=True, type=Path,
                   help="folder for intelligibility_curve.png/.json and the last checkpoint's wavs")
    c.add_argument("--corpus", type=Path, help="offline corpus folder: add espeak-ng's ceiling")
    c.add_argument("--points", type=int, default=4, help="checkpoints to score, spread over the run")
    c.add_argument("--griffin-lim-iters", type=int, default=60,
                   help="Griffin-Lim iterations (inference.py's default)")
    c.add_argument("--max-decoder-steps", type=int, help="decoder step cap (default: the checkpoint's)")
    c.add_argument("--log-file", type=Path, help="append each point to this run log (DLLogger format)")
    return parser


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
    except OSError as exc:
        raise EvaluationError(f"cannot write CSV file {path}: {exc}") from exc


def _write_json(path: Path, data: object) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2) + "\n")
    except OSError as exc:
        raise EvaluationError(f"cannot write JSON file {path}: {exc}") from exc


def _log_summary(log_file: Path | None, data: dict[str, object]) -> None:
    if log_file is None:
        return

    with RunLogger(log_file, stdout=False) as logger:
        logger.log([], data)


def _run_mcd(args: argparse.Namespace) -> int:
    options = dict(
        sampling_rate=args.sampling_rate, order=args.order, alpha=args.alpha, frame_ms=args.frame_ms,
        hop_ms=args.hop_ms, trim_top_db=args.trim_db, exclude_c0=not args.include_c0,
    )
    if args.ref_dir.is_file() and args.syn_dir.is_file():
        check_settings(args.sampling_rate, args.order, args.alpha, args.frame_ms, args.hop_ms, args.trim_db)
        outcome = FolderMCD()
        try:
            outcome.results.append(mcd_files(args.ref_dir, args.syn_dir, **options))
        except EvaluationError as err:
            outcome.errors.append((args.syn_dir, str(err)))
    else:
        outcome = mcd_folder(args.ref_dir, args.syn_dir, syn_suffix=args.syn_suffix, **options)

    for line in format_results(outcome.results):
        print(line)
    for syn in outcome.missing_reference:
        print(f"warning: no reference for {syn} (expected {args.ref_dir}/<same stem>)", file=sys.stderr)
    if outcome.missing_synthesis:
        names = ", ".join(p.name for p in outcome.missing_synthesis)
        print(f"note: {len(outcome.missing_synthesis)} reference(s) without a synthesized file: {names}",
              file=sys.stderr)
    for syn, message in outcome.errors:
        print(f"error: {message}" if str(syn) in message else f"error: {syn}: {message}", file=sys.stderr)

    if args.csv is not None:
        rows: list[list[object]] = [
            [r.synthesized, r.reference, f"{r.mcd_db:.6f}", r.ref_frames, r.syn_frames, r.path_length, "ok"]
            for r in outcome.results
        ]
        rows += [[p, "", "", "", "", "", "missing reference"] for p in outcome.missing_reference]
        rows += [[p, "", "", "", "", "", f"error: {msg}"] for p, msg in outcome.errors]
        _write_csv(args.csv, ["synthesized", "reference", "mcd_db", "ref_frames", "syn_frames",
                              "path_length", "status"], rows)
    if not outcome.results:
        print("error: no synthesized file could be scored against a reference", file=sys.stderr)
        return 1
    print(f"mean MCD over {len(outcome.results)} file(s): {outcome.mean:.4f} dB")
    _log_summary(args.log_file, {"mcd_db": outcome.mean, "mcd_files": len(outcome.results),
                                 "mcd_missing_reference": len(outcome.missing_reference),
                                 "mcd_errors": len(outcome.errors)})
    return 1 if outcome.errors else 0


def _run_alignment(args: argparse.Namespace) -> int:
    rows: list[list[object]] = []
    scored: list[dict[str, float | int]] = []
    failures = 0
    for path in args.files:
        try:
            matrix, input_length, output_length = load_alignment(path)
            if args.input_length is not None:
                input_length = args.input_length
            if args.output_length is not None:
                output_length = args.output_length
            try:
                scores = alignment_scores(matrix, input_length, output_length)
            except EvaluationError as err:
                raise EvaluationError(f"{path}: {err}") from err
        except EvaluationError as err:
            print(f"error: {err}", file=sys.stderr)
            rows.append([path, "", "", "", "", "", f"error: {err}"])
            failures += 1
            continue
        scored.append(scores)
        print(f"{path}: " + ", ".join(f"{k} {scores[k]:.4f}" for k in SCORE_NAMES)
              + f" (decoder steps {scores['output_length']}, encoder steps {scores['input_length']})")
        rows.append([path, *(f"{scores[k]:.6f}" for k in SCORE_NAMES), scores["input_length"],
                     scores["output_length"], "ok"])
    if args.csv is not None:
        _write_csv(args.csv, ["file", *SCORE_NAMES, "input_length", "output_length", "status"], rows)
    if scored:
        means = {k: sum(float(s[k]) for s in scored) / len(scored) for k in SCORE_NAMES}
        if len(scored) > 1:
            print(f"mean over {len(scored)} file(s): " + ", ".join(f"{k} {v:.4f}" for k, v in means.items()))
        _log_summary(args.log_file, {**means, "alignment_files": len(scored)})
    return 1 if failures or not scored else 0


def _run_intelligibility(args: argparse.Namespace) -> int:
    texts, wavs = phrase_files(args.input, args.syn_dir, args.syn_suffix)
    report, ceiling = evaluate_with_ceiling(wavs, texts, args.corpus, args.speaker)
    for u in report.utterances:
        print(f"{u.name}: WER {u.wer:.2f}, PER {u.per:.2f}, {'right' if u.correct else 'wrong'} sentence; "
              f"heard {u.heard!r}")
    print(compare(report, ceiling))
    if args.csv is not None:
        rows = [[u.name, u.text, u.heard, f"{u.wer:.4f}", f"{u.per:.4f}", int(u.correct)]
                for u in report.utterances]
        _write_csv(args.csv, ["file", "text", "heard", "wer", "per", "closed_set_correct"], rows)
    if args.json is not None:
        _write_json(args.json, {"synthesized": report.to_json(),
                                "ceiling": ceiling.to_json() if ceiling else None})
    _log_summary(args.log_file, report.summary(ceiling))
    return 0


def _run_curve(args: argparse.Namespace) -> int:
    if args.points < 1:
        raise EvaluationError(f"--points must be >= 1, got {args.points}")
    texts = phrase_texts(args.input)
    points, ceiling = intelligibility_curve(args.run_dir, texts, args.points, args.corpus, args.output,
                                            args.griffin_lim_iters, args.max_decoder_steps)
    for p in points:
        print(f"{p.checkpoint} (epoch {p.epoch}, {p.minutes:.1f} min): WER {p.report.wer:.3f}, "
              f"PER {p.report.per:.3f}, closed-set {p.report.accuracy:.3f}")
    print(compare(points[-1].report, ceiling))
    plot = plot_curve(points, ceiling, args.output / "intelligibility_curve.png")
    data = {"points": [{"checkpoint": p.checkpoint, "epoch": p.epoch, "minutes": p.minutes,
                        **p.report.to_json()} for p in points],
            "ceiling": ceiling.to_json() if ceiling else None}
    _write_json(args.output / "intelligibility_curve.json", data)
    print(f"plot: {plot}")
    if args.log_file is not None:
        with RunLogger(args.log_file, stdout=False) as logger:
            for p in points:
                logger.log([p.epoch], {"train_minutes": p.minutes, **p.report.metrics("intelligibility_")})
    _log_summary(args.log_file, points[-1].report.summary(ceiling))
    return 0


_COMMANDS = {"mcd": _run_mcd, "alignment": _run_alignment, "intelligibility": _run_intelligibility,
             "curve": _run_curve}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_flush_denormal(True)  # synthesis here runs on the CPU, where denormal floats are slow
    try:
        return _COMMANDS[args.command](args)
    except EvaluationError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

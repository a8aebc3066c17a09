"""Text-to-speech latency benchmark (the reference's inference_perf role), on GPU or CPU.

    python -m common.benchmark_infer --batch-size 1 --input-length 128 --precision fp32 --iterations 10 \\
        --warmup 2 [--tacotron2 CKPT --waveglow CKPT | random weights] [--wn-channels 256] [--cpu] \\
        [--decoder-steps N] [--csv results.csv]
    python -m common.benchmark_infer --cpu --threads 1 --hifigan-preset V2 --decoder-steps 200   # HiFi-GAN

Each iteration synthesises one batch of `--batch-size` phrases of about `--input-length` characters
(phrases/phrase_<B>_<L>.txt; other batch sizes repeat the lines of phrase_8_<L>.txt) through the same
pipeline as inference.py: Tacotron 2, WaveGlow, denoiser. The first `--warmup` iterations are not timed.
`--hifigan CKPT` or `--hifigan-preset V1|V2|V3` (random weights) puts HiFi-GAN in WaveGlow's place (its
fast CPU path with `--impl fast`); its stage is reported under the `waveglow_*` fields (the vocoder).

Random weights never produce a sensible stop gate, so their decoder runs a fixed number of steps:
`--decoder-steps N` (default 100 for random weights: the ~602 frames that a trained model makes for 128
characters take minutes per iteration on a CPU) disables early stopping and keeps every item at N * r
frames. With checkpoints the gate decides unless `--decoder-steps` is given.

Reported (run log summary at step [], and one CSV line appended to `--csv`): latency mean, standard
deviation (population), percentiles 50/90/95/99 (linear interpolation), min and max; throughput in audio
samples per second (mean samples per iteration / mean latency); mel frames and audio seconds per iteration;
and the real-time factor in both conventions: `rtf` = audio seconds / wall seconds (the reference's, > 1 is
faster than real time) and `rtf_wall_per_audio` = wall seconds / audio seconds (the usual one, < 1 is
faster than real time).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common import logger as runlog
from common.checkpoint import CheckpointError
from common.synthesis import SynthesisError, Synthesizer, load_hifigan, load_tacotron2, load_waveglow
from hifigan.model import PRESETS as HIFIGAN_PRESETS
from hifigan.model import Generator
from hifigan.vocoder import HiFiGANVocoder
from tacotron2.fast_decoder import set_decoder_impl
from tacotron2.model import Tacotron2
from waveglow.fast_infer import set_waveglow_impl
from waveglow.model import WaveGlow, remove_weightnorm

PHRASES_DIR = Path(__file__).resolve().parents[2] / "phrases"
PHRASE_BATCHES = (1, 4, 8)
DEFAULT_RANDOM_DECODER_STEPS = 100
PERCENTILES = (50, 90, 95, 99)

# Tiny dimensions (80 mel bands, so they combine with the full-size models) for tests and smoke runs.
TACOTRON2_CONFIGS: dict[str, dict[str, Any]] = {
    "full": {},
    "small": dict(symbols_embedding_dim=32, encoder_kernel_size=3, encoder_n_convolutions=1,
                  encoder_embedding_dim=32, attention_rnn_dim=32, attention_dim=16,
                  attention_location_n_filters=4, attention_location_kernel_size=5, decoder_rnn_dim=32,
                  prenet_dim=16, postnet_embedding_dim=32, postnet_kernel_size=3, postnet_n_convolutions=2),
}
WAVEGLOW_CONFIGS: dict[str, dict[str, Any]] = {
    "full": {},  # 12 flows, 8 groups, early every 4 by 2, WN 8 layers, kernel 3, --wn-channels channels
    "small": dict(n_flows=4, n_group=8, n_early_every=2, n_early_size=2,
                  WN_config={"n_layers": 2, "kernel_size": 3, "n_channels": 16}),
}

CSV_FIELDS = (
    "device", "precision", "batch_size", "input_length", "decoder_steps", "tacotron2", "waveglow",
    "wn_channels", "iterations", "latency_mean", "latency_std", "latency_p50", "latency_p90", "latency_p95",
    "latency_p99", "latency_min", "latency_max", "throughput_samples_per_sec", "mels_generated",
    "audio_seconds", "rtf", "rtf_wall_per_audio", "tacotron2_latency", "waveglow_latency", "denoiser_latency",
)


class BenchmarkError(ValueError):
    """A flag combination or input file the benchmark cannot use (named in the message)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m common.benchmark_infer", allow_abbrev=False,
                                     description="Tacotron 2 + WaveGlow (or HiFi-GAN) inference latency "
                                                 "benchmark.")
    run = parser.add_argument_group("workload")
    run.add_argument("-bs", "--batch-size", type=int, default=1, help="phrases per batch")
    run.add_argument("-il", "--input-length", type=int, default=128,
                     help="characters per phrase: picks phrases/phrase_<B>_<L>.txt")
    run.add_argument("-p", "--precision", choices=["fp32", "fp16"], default="fp32",
                     help="fp16 needs CUDA")
    run.add_argument("--iterations", type=int, default=10, help="timed iterations")
    run.add_argument("--warmup", type=int, default=2, help="untimed iterations first")
    run.add_argument("--decoder-steps", type=int, default=None,
                     help="fixed decoder steps (no early stopping); default "
                          f"{DEFAULT_RANDOM_DECODER_STEPS} for random weights, the gate for checkpoints")
    run.add_argument("--cpu", action="store_true", help="run on the CPU even when CUDA is available")
    run.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    run.add_argument("--impl", choices=["eager", "fast"], default="fast",
                     help="decoder loop and WaveGlow inference implementation (docs/PERFORMANCE.md)")
    run.add_argument("--seed", type=int, default=0, help="seed for weights, prenet dropout and noise")

    models = parser.add_argument_group("models")
    models.add_argument("--tacotron2", default=None, help="Tacotron 2 checkpoint (default: random weights)")
    models.add_argument("--waveglow", default=None, help="WaveGlow checkpoint (default: random weights)")
    models.add_argument("--hifigan", default=None, help="HiFi-GAN generator checkpoint instead of WaveGlow")
    models.add_argument("--hifigan-preset", choices=sorted(HIFIGAN_PRESETS), default=None,
                        help="a random-weight HiFi-GAN generator of this preset instead of WaveGlow")
    models.add_argument("--wn-channels", type=int, default=256,
                        help="WN channels of a random full-size WaveGlow (checkpoints carry their own)")
    models.add_argument("--tacotron2-config", choices=sorted(TACOTRON2_CONFIGS), default="full",
                        help="size of a random Tacotron 2 (small: tiny dimensions for tests)")
    models.add_argument("--waveglow-config", choices=sorted(WAVEGLOW_CONFIGS), default="full",
                        help="size of a random WaveGlow (small: 4 flows, WN 2 layers x 16 channels)")
    models.add_argument("-s", "--sigma-infer", type=float, default=0.9, help="WaveGlow noise sigma")
    models.add_argument("-d", "--denoising-strength", type=float, default=0.01, help="denoiser strength")

    out = parser.add_argument_group("output")
    out.add_argument("-o", "--output", default="benchmark_output", help="folder for the run log")
    out.add_argument("--log-file", default="nvlog_infer.json", help="run log name, inside --output")
    out.add_argument("--csv", default=None, help="append one result line to this CSV (header when new)")
    return parser


def available_lengths(phrases_dir: Path = PHRASES_DIR) -> list[int]:
    lengths = set()
    for path in phrases_dir.glob("phrase_*_*.txt"):
        parts = path.stem.split("_")
        if len(parts) == 3 and parts[2].isdigit():
            lengths.add(int(parts[2]))
    return sorted(lengths)


def benchmark_phrases(batch_size: int, input_length: int, phrases_dir: Path = PHRASES_DIR) -> list[str]:
    """``batch_size`` phrases of about ``input_length`` characters from the phrase files.

    phrase_<B>_<L>.txt for B in 1, 4, 8; other batch sizes cycle through the lines of the largest file
    of that length.
    """
    if batch_size < 1:
        raise BenchmarkError(f"--batch-size must be >= 1, got {batch_size}")
    lengths = available_lengths(phrases_dir)
    if input_length not in lengths:
        raise BenchmarkError(f"--input-length {input_length}: no phrase file for it in {phrases_dir} "
                             f"(available lengths: {', '.join(map(str, lengths)) or 'none'})")
    exact = phrases_dir / f"phrase_{batch_size}_{input_length}.txt"
    if exact.is_file():
        source = exact
    else:
        sizes = [b for b in PHRASE_BATCHES if (phrases_dir / f"phrase_{b}_{input_length}.txt").is_file()]
        source = phrases_dir / f"phrase_{max(sizes)}_{input_length}.txt"
    lines = [line.strip() for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        raise BenchmarkError(f"{source} holds no phrases")
    return [lines[i % len(lines)] for i in range(batch_size)]


def latency_stats(latencies: list[float]) -> dict[str, float]:
    """Mean, population standard deviation, min, max and percentiles (linear interpolation) in seconds."""
    values = np.asarray(latencies, dtype=np.float64)
    stats = {"latency_mean": float(values.mean()), "latency_std": float(values.std())}
    for q, value in zip(PERCENTILES, np.percentile(values, PERCENTILES), strict=True):
        stats[f"latency_p{q}"] = float(value)
    stats["latency_min"] = float(values.min())
    stats["latency_max"] = float(values.max())
    return stats


def build_models(args: argparse.Namespace
                 ) -> tuple[Tacotron2, WaveGlow | HiFiGANVocoder, int | None, list[str]]:
    """(Tacotron 2, the vocoder (WaveGlow without weight norm, or HiFi-GAN), fixed decoder steps or None,
    notes for the user)."""
    notes: list[str] = []
    steps = args.decoder_steps
    if steps is None and args.tacotron2 is None:
        steps = DEFAULT_RANDOM_DECODER_STEPS
        notes.append(f"random Tacotron 2 weights: decoder fixed at {steps} steps (--decoder-steps; a trained "
                     "model makes ~602 frames for 128 characters)")
    fixed = {"max_decoder_steps": steps, "decoder_no_early_stopping": True} if steps is not None else {}
    if args.tacotron2 is not None:
        tacotron2 = load_tacotron2(args.tacotron2, overrides=fixed)
    else:
        tacotron2 = Tacotron2(**{**TACOTRON2_CONFIGS[args.tacotron2_config], **fixed})
    if args.hifigan is not None:
        waveglow = load_hifigan(args.hifigan, fast=args.impl == "fast")
    elif args.hifigan_preset is not None:
        waveglow = HiFiGANVocoder(Generator(**HIFIGAN_PRESETS[args.hifigan_preset]), fast=args.impl == "fast")
    elif args.waveglow is not None:
        waveglow = load_waveglow(args.waveglow)
        if args.wn_channels != waveglow.wn_config["n_channels"]:
            notes.append(f"--wn-channels {args.wn_channels} ignored: {args.waveglow} has "
                         f"{waveglow.wn_config['n_channels']} WN channels")
    else:
        config = dict(WAVEGLOW_CONFIGS[args.waveglow_config])
        if args.waveglow_config == "full":
            config["WN_config"] = {"n_layers": 8, "kernel_size": 3, "n_channels": args.wn_channels}
        waveglow = remove_weightnorm(WaveGlow(**config)).eval()
    return tacotron2, waveglow, steps, notes


def vocoder_name(args: argparse.Namespace) -> str:
    """The vocoder in the summary's `waveglow` field: a checkpoint, random-<config> or
    random-hifigan-<preset>."""
    if args.hifigan is not None:
        return f"hifigan:{args.hifigan}"
    if args.hifigan_preset is not None:
        return f"random-hifigan-{args.hifigan_preset}"
    return args.waveglow or f"random-{args.waveglow_config}"


def check_args(args: argparse.Namespace) -> torch.device:
    if args.iterations < 1 or args.warmup < 0:
        raise BenchmarkError("--iterations must be >= 1 and --warmup >= 0")
    if args.decoder_steps is not None and args.decoder_steps < 1:
        raise BenchmarkError(f"--decoder-steps must be >= 1, got {args.decoder_steps}")
    if sum(x is not None for x in (args.waveglow, args.hifigan, args.hifigan_preset)) > 1:
        raise BenchmarkError("--waveglow, --hifigan and --hifigan-preset: choose one vocoder")
    if args.wn_channels < 1:
        raise BenchmarkError(f"--wn-channels must be >= 1, got {args.wn_channels}")
    use_cuda = torch.cuda.is_available() and not args.cpu
    if args.precision == "fp16" and not use_cuda:
        raise BenchmarkError("--precision fp16 needs a CUDA GPU" + (" (drop --cpu)" if args.cpu else
                                                                    " and none is available"))
    return torch.device("cuda" if use_cuda else "cpu")


def run_benchmark(args: argparse.Namespace, log: runlog.RunLogger | None = None) -> dict[str, Any]:
    """Time the pipeline and return the summary record (see the module docstring for the fields)."""
    device = check_args(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    phrases = benchmark_phrases(args.batch_size, args.input_length)
    torch.manual_seed(args.seed)
    tacotron2, waveglow, steps, notes = build_models(args)
    set_decoder_impl(tacotron2, args.impl)
    if isinstance(waveglow, WaveGlow):
        set_waveglow_impl(waveglow, args.impl)
    for note in notes:
        print(f"benchmark_infer: note: {note}", file=sys.stderr)
    synth = Synthesizer(tacotron2, waveglow, device=device, fp16=args.precision == "fp16",
                        sigma=args.sigma_infer, denoising_strength=args.denoising_strength,
                        trim_to_gate=steps is None)

    for _ in range(args.warmup):
        synth.synthesize(phrases)
    latencies, mels, samples = [], [], []
    stage = {"tacotron2": [], "waveglow": [], "denoiser": []}
    for i in range(args.iterations):
        result = synth.synthesize(phrases)
        latencies.append(result.times.total)
        mels.append(result.mel_frames)
        samples.append(result.generated_samples)
        for name in stage:
            stage[name].append(getattr(result.times, name))
        if log is not None:
            log.log((0, i), {"latency": result.times.total, "mel_frames": result.mel_frames,
                             "audio_samples": result.generated_samples})

    stats = latency_stats(latencies)
    mean_samples = float(np.mean(samples))
    mean_mels = float(np.mean(mels))
    audio_seconds = mean_samples / synth.sampling_rate
    t2_latency = float(np.mean(stage["tacotron2"]))
    wg_latency = float(np.mean(stage["waveglow"]))
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" \
        else f"CPU x{torch.get_num_threads()}"
    return {
        "device": device_name,
        "precision": args.precision,
        "batch_size": args.batch_size,
        "input_length": args.input_length,
        "decoder_steps": steps if steps is not None else "gate",
        "tacotron2": args.tacotron2 or f"random-{args.tacotron2_config}",
        "waveglow": vocoder_name(args),
        "wn_channels": int(waveglow.wn_config["n_channels"]) if isinstance(waveglow, WaveGlow) else 0,
        "iterations": args.iterations,
        **stats,
        "throughput_samples_per_sec": mean_samples / stats["latency_mean"],
        "mels_generated": mean_mels,
        "audio_samples": mean_samples,
        "audio_seconds": audio_seconds,
        "rtf": audio_seconds / stats["latency_mean"],
        "rtf_wall_per_audio": stats["latency_mean"] / audio_seconds,
        "tacotron2_latency": t2_latency,
        "tacotron2_items_per_sec": mean_mels / t2_latency,
        "waveglow_latency": wg_latency,
        "waveglow_items_per_sec": mean_samples / wg_latency,
        "denoiser_latency": float(np.mean(stage["denoiser"])),
    }


def append_csv(path: str | Path, summary: dict[str, Any]) -> Path:
    """Append the summary's CSV_FIELDS as one line; write the header first when the file is new/empty."""
    path = Path(path)
    new = not path.exists() or path.stat().st_size == 0
    if not new:
        with open(path, newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), [])
        if tuple(header) != CSV_FIELDS:
            raise BenchmarkError(f"--csv {path}: its header does not match this benchmark's columns "
                                 "(use a new file)")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(CSV_FIELDS)
        writer.writerow([_csv_value(summary[field]) for field in CSV_FIELDS])
    return path


def _csv_value(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


UNITS = {"latency": "s", "throughput_samples_per_sec": "samples/s", "mels_generated": "frames",
         "audio_seconds": "s", "audio_samples": "samples", "rtf": "audio s / wall s",
         "rtf_wall_per_audio": "wall s / audio s", "tacotron2_items_per_sec": "mels/s",
         "waveglow_items_per_sec": "samples/s"}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    start = time.perf_counter()
    log = None
    try:
        log = runlog.init_logger(Path(args.output) / args.log_file, stdout=False)
        log.log_parameters({"model_name": "Tacotron2_WaveGlow", **vars(args)})
        for name, unit in UNITS.items():
            log.metadata(name, unit=unit)
        for name in CSV_FIELDS:
            if name.startswith("latency_") or name.endswith("_latency"):
                log.metadata(name, unit="s")
        summary = run_benchmark(args, log)
        log.log((), summary)
        if args.csv:
            append_csv(args.csv, summary)
    except (BenchmarkError, CheckpointError, SynthesisError, runlog.LoggerError) as err:
        print(f"benchmark_infer: error: {err}", file=sys.stderr)
        return 1
    finally:
        if log is not None:
            log.close()
    s = summary
    print(f"{s['device']} | {s['precision']} | batch {s['batch_size']} | {s['input_length']} chars | "
          f"decoder steps {s['decoder_steps']} | WN {s['wn_channels']} | {s['iterations']} iterations")
    print(f"latency mean {s['latency_mean']:.4f} s, std {s['latency_std']:.4f} s, "
          f"p50 {s['latency_p50']:.4f}, p90 {s['latency_p90']:.4f}, p95 {s['latency_p95']:.4f}, "
          f"p99 {s['latency_p99']:.4f} s")
    print(f"tacotron2 {s['tacotron2_latency']:.4f} s, waveglow {s['waveglow_latency']:.4f} s, "
          f"denoiser {s['denoiser_latency']:.4f} s")
    print(f"throughput {s['throughput_samples_per_sec']:,.0f} samples/s; "
          f"{s['mels_generated']:.0f} mel frames, {s['audio_seconds']:.3f} s of audio per iteration")
    print(f"RTF {s['rtf']:.4f} (audio s / wall s, the reference's convention: > 1 is faster than real time); "
          f"wall/audio {s['rtf_wall_per_audio']:.4f} (the usual RTF: < 1 is faster than real time)")
    print(f"benchmark wall time {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

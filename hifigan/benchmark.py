"""HiFi-GAN generator latency: the eager generator (weight norm removed) and `FastGenerator`, side by side.

    python -m hifigan.benchmark --presets V1 V2 V3 --frames 431 --threads 1 --warmup 1 --repeats 5

Both implementations run in one process on the same weights and mel, alternating within every repeat;
each line gives the median latency, audio seconds per wall second ("x real time", the reference's RTF)
and the fast / eager throughput ratio. Random weights: speed does not depend on them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from hifigan.fast_infer import FFT_MIN_WORK, FFT_SIZE, FastGenerator
from hifigan.model import PRESETS, Generator, preset

SAMPLING_RATE = 22050


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m hifigan.benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), type=str.upper, choices=list(PRESETS))
    parser.add_argument("--frames", type=_positive, default=431, help="mel frames (431 = 5.0 s of audio)")
    parser.add_argument("--batch-size", type=_positive, default=1)
    parser.add_argument("--threads", type=_positive, default=1)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=_positive, default=5)
    parser.add_argument("--n-fft", type=_positive, default=FFT_SIZE)
    parser.add_argument("--fft-min-work", type=_positive, default=FFT_MIN_WORK,
                        help="kernel x channels from which convolutions run through FFTs")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {args.warmup}")
    return args


def benchmark(name: str, args: argparse.Namespace) -> dict[str, float]:
    """Median latencies of eager and fast for one preset; prints one line each and their ratio."""
    torch.manual_seed(0)
    eager = Generator(**preset(name)).eval().remove_weight_norm()
    fast = FastGenerator(eager, n_fft=args.n_fft, fft_min_work=args.fft_min_work)
    mel = torch.randn(args.batch_size, 80, args.frames)
    runs = {"eager": eager, "fast": fast}
    times: dict[str, list[float]] = {key: [] for key in runs}
    with torch.inference_mode():
        error = ((fast(mel) - eager(mel)).abs().max() / eager(mel).abs().max()).item()
        for i in range(args.warmup + args.repeats):
            for key, run in runs.items():
                start = time.perf_counter()
                run(mel)
                if i >= args.warmup:
                    times[key].append(time.perf_counter() - start)
    audio_s = args.batch_size * args.frames * eager.hop_length / SAMPLING_RATE
    result: dict[str, float] = {"audio_s": audio_s, "max_rel_error": error}
    for key, values in times.items():
        med = statistics.median(values)
        result[f"{key}_latency_s"] = med
        result[f"{key}_x_real_time"] = audio_s / med
        print(f"HiFi-GAN {name} | {key:5s} | batch {args.batch_size}, {args.frames} frames "
              f"({audio_s:.2f} s audio) | {med:.3f} s median | {audio_s / med:.2f}x faster than real time | "
              f"{audio_s * SAMPLING_RATE / med:,.0f} samples/s", flush=True)
    result["speedup_fast_over_eager"] = result["eager_latency_s"] / result["fast_latency_s"]
    print(f"HiFi-GAN {name} | fast / eager throughput {result['speedup_fast_over_eager']:.2f}x "
          f"(max relative difference {error:.1e})", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark for every requested preset."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"threads {args.threads}, warmup {args.warmup}, repeats {args.repeats}, medians", flush=True)
    results = {name: benchmark(name, args) for name in args.presets}
    if args.json is not None:
        try:
            args.json.write_text(json.dumps({"threads": args.threads, "results": results}, indent=1))
        except OSError as err:
            print(f"--json {args.json}: cannot write: {err.strerror}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training (and WaveGlow inference) throughput on a fixed synthetic batch, CPU or GPU.

    python -m common.benchmark_train -m Tacotron2 --batch-size 4 --text-length 150 --mel-length 600
    python -m common.benchmark_train -m WaveGlow --batch-size 4 --segment-length 8000 --wn-channels 256
    python -m common.benchmark_train -m WaveGlow --mode infer --mel-length 80 --wn-channels 256

Each repeat is one full optimizer step (forward, backward, clip, Adam) or one inference call; the first
`--warmup` repeats are discarded and the median of the rest is reported, with min/max, as items per second
(mel frames for Tacotron 2, audio samples for WaveGlow), on stdout and in an nvlog file.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from common import logger as runlog
from common.arg_parser import training_parser
from common.models import ModelSpec, build_model, get_model_spec


def benchmark_flags(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    group = parser.add_argument_group("benchmark")
    group.add_argument("--mode", choices=["train", "infer"], default="train",
                       help="train: optimizer steps; infer: WaveGlow synthesis")
    group.add_argument("--text-length", type=int, default=150, help="Tacotron 2 input symbols per item")
    group.add_argument("--mel-length", type=int, default=600,
                       help="mel frames per item (Tacotron 2 target; WaveGlow inference input)")
    group.add_argument("--warmup", type=int, default=2, help="repeats discarded before timing")
    group.add_argument("--repeats", type=int, default=5, help="timed repeats (the median is reported)")
    group.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    group.add_argument("--sigma-infer", type=float, default=0.9, help="WaveGlow inference sigma")
    return parser


def build_parser(model_name: str) -> argparse.ArgumentParser:
    spec = get_model_spec(model_name)
    parser = spec.parser(training_parser(add_help=False), True)
    parser.prog = f"python -m common.benchmark_train -m {model_name}"
    parser.set_defaults(output="benchmark_output", log_file="nvlog_benchmark.json", batch_size=4,
                        learning_rate=1e-3)
    return benchmark_flags(parser)


def synthetic_batch(spec: ModelSpec, args: argparse.Namespace, device: torch.device,
                    generator: torch.Generator) -> tuple:
    """(x, y, items) of fixed shapes: every item has the full text and mel length."""
    b = args.batch_size
    if spec.name == "Tacotron2":
        r = args.n_frames_per_step
        mel_len = args.mel_length + (-args.mel_length) % r
        text = torch.randint(1, args.n_symbols, (b, args.text_length), generator=generator)
        mel = torch.randn(b, args.n_mel_channels, mel_len, generator=generator)
        gate = torch.zeros(b, mel_len)
        gate[:, -1] = 1.0
        text_lengths = torch.full((b,), args.text_length, dtype=torch.long)
        out_lengths = torch.full((b,), mel_len, dtype=torch.long)
        text, mel, gate = text.to(device), mel.to(device), gate.to(device)
        text_lengths, out_lengths = text_lengths.to(device), out_lengths.to(device)
        x = (text, text_lengths, mel, mel_len, out_lengths)
        return x, (mel, gate, out_lengths, text_lengths), b * mel_len
    segment = args.segment_length
    frames = segment // args.hop_length + 1
    audio = (torch.rand(b, segment, generator=generator) * 2 - 1) * 0.5
    mel = torch.randn(b, args.n_mel_channels, frames, generator=generator)
    return (mel.to(device), audio.to(device)), audio.to(device), b * segment


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_repeats(step, warmup: int, repeats: int, device: torch.device) -> list[float]:
    """Wall time of each timed repeat of `step()` after `warmup` untimed ones."""
    times = []
    for i in range(warmup + repeats):
        sync(device)
        start = time.perf_counter()
        step()
        sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def run(args: argparse.Namespace, spec: ModelSpec) -> dict:
    """Time the chosen mode and return the result record."""
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed or 0)
    model = build_model(spec, spec.model_config(args)).to(device)
    generator = torch.Generator().manual_seed(args.seed or 0)
    autocast = (torch.autocast(device.type, dtype=torch.float16 if device.type == "cuda" else torch.bfloat16)
                if args.amp else None)

    if args.mode == "infer":
        if spec.name != "WaveGlow":
            raise SystemExit("--mode infer is for WaveGlow here; Tacotron 2 inference latency is measured "
                             "by the inference benchmark")
        from waveglow.model import remove_weightnorm

        model = remove_weightnorm(model).eval()
        mel = torch.randn(args.batch_size, args.n_mel_channels, args.mel_length, generator=generator)
        mel = mel.to(device)
        if args.amp and device.type == "cuda":
            model, mel = model.half(), mel.half()
        items = args.batch_size * args.mel_length * args.hop_length

        def step() -> None:
            with torch.no_grad():
                model.infer(mel, sigma=args.sigma_infer)
    else:
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate,
                                     weight_decay=args.weight_decay)
        scaler = torch.amp.GradScaler("cuda", enabled=args.amp and device.type == "cuda")
        criterion = spec.criterion(args)
        x, y, items = synthetic_batch(spec, args, device, generator)

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            if autocast is not None:
                with autocast:
                    loss = criterion(model(x), y)
            else:
                loss = criterion(model(x), y)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip_thresh)
            scaler.step(optimizer)
            scaler.update()

    times = time_repeats(step, args.warmup, args.repeats, device)
    median = statistics.median(times)
    name = "train" if args.mode == "train" else "infer"
    if device.type == "cuda":
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = f"CPU x{torch.get_num_threads()} threads"
    return {
        f"{name}_items_per_sec": items / median,
        f"{name}_step_time_median": median,
        f"{name}_step_time_min": min(times),
        f"{name}_step_time_max": max(times),
        "items_per_step": items,
        "items": spec.items,
        "device": device_name,
        "precision": ("fp16" if device.type == "cuda" else "bf16") if args.amp else "fp32",
        "repeats": args.repeats,
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("-m", "--model-name", default="Tacotron2")
    known, _ = pre.parse_known_args(argv)
    try:
        spec = get_model_spec(known.model_name)
    except ValueError as err:
        print(f"benchmark_train: error: {err}", file=sys.stderr)
        return 2
    args = build_parser(spec.name).parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        print("benchmark_train: error: --repeats must be >= 1 and --warmup >= 0", file=sys.stderr)
        return 2
    log = runlog.init_logger(Path(args.output) / args.log_file, stdout=False)
    log.log_parameters({"model_name": spec.name, **vars(args)})
    result = run(args, spec)
    log.log((), result)
    log.flush()
    rate = result[f"{'train' if args.mode == 'train' else 'infer'}_items_per_sec"]
    print(f"{spec.name} {args.mode} | batch {args.batch_size} | {result['precision']} | {result['device']} | "
          f"{rate:,.1f} {spec.items}/s (median of {args.repeats}, "
          f"step {result[f'{args.mode}_step_time_median']:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

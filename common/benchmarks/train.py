"""Training (and WaveGlow inference) throughput on a fixed synthetic batch, CPU or GPU.

    python -m common.benchmark_train -m Tacotron2 --batch-size 4 --text-length 150 --mel-length 600
    python -m common.benchmark_train -m WaveGlow --batch-size 4 --segment-length 8000 --wn-channels 256
    python -m common.benchmark_train -m WaveGlow --mode infer --mel-length 80 --wn-channels 256
    python -m common.benchmark_train -m Tacotron2 --mode infer --batch-size 1 --compare-impl

Each repeat is one full optimizer step (forward, backward, clip, Adam) or one inference call; the first
`--warmup` repeats are discarded and the median of the rest is reported, with min/max, as items per second
(mel frames for Tacotron 2, audio samples for WaveGlow), on stdout and in an nvlog file.
`--compare-impl` times the eager and the fast implementation (docs/PERFORMANCE.md) in one run, alternating
them within each repeat, and adds their ratio (`speedup_fast_over_eager`).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from common import logger as runlog
from common.arg_parser import training_parser
from common.models import ModelSpec, build_model, get_model_spec
from common.text.symbols import SymbolTable
from tacotron2.arg_parser import is_conditioned, model_config
from tacotron2.data_function import Vocabulary
from tacotron2.fast_decoder import set_decoder_impl
from tacotron2.model import MaxDecoderStepsWarning
from waveglow.fast_infer import set_waveglow_impl
from waveglow.model import remove_weightnorm


def benchmark_flags(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    group = parser.add_argument_group("benchmark")
    group.add_argument("--mode", choices=["train", "infer"], default="train",
                       help="train: optimizer steps; infer: WaveGlow synthesis, or Tacotron 2 synthesis of "
                            "--mel-length frames (fixed steps) from --text-length symbols")
    group.add_argument("--impl", choices=["eager", "fast"], default=None,
                       help="implementation to time (Tacotron 2: overrides --decoder-impl; WaveGlow "
                            "inference: waveglow/fast_infer.py or the reference; default eager)")
    group.add_argument("--compare-impl", action="store_true",
                       help="time eager and fast in one run (alternating repeats, same weights and batch) "
                            "and report both and their ratio")
    group.add_argument("--text-length", type=int, default=150, help="Tacotron 2 input symbols per item")
    group.add_argument("--mel-length", type=int, default=600,
                       help="mel frames per item (Tacotron 2 target; WaveGlow inference input)")
    group.add_argument("--warmup", type=int, default=2, help="repeats discarded before timing")
    group.add_argument("--repeats", type=int, default=5, help="timed repeats (the median is reported)")
    group.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    group.add_argument("--sigma-infer", type=float, default=0.9, help="WaveGlow inference sigma")
    group.add_argument("--n-speakers", type=int, default=4,
                       help="Tacotron 2 with conditioning flags (--speaker-embedding-dim etc.): synthetic "
                            "speakers; each item gets a random one")
    group.add_argument("--n-languages", type=int, default=2,
                       help="the same for languages (synthetic names, the default symbol table)")
    return parser


def conditioned(spec: ModelSpec, args: argparse.Namespace) -> bool:
    """Whether the flags ask for a multi-speaker/multilingual Tacotron 2."""
    if spec.name != "Tacotron2":
        return False

    return is_conditioned(args)


def benchmark_config(spec: ModelSpec, args: argparse.Namespace) -> dict:
    """The model config of the flags. A conditioned Tacotron 2 gets --n-speakers / --n-languages synthetic
    speakers and languages and the default symbol table instead of the maps of --training-files."""
    if not conditioned(spec, args):
        return spec.model_config(args)

    if args.n_speakers < 1 or args.n_languages < 1:
        raise ValueError("--n-speakers and --n-languages must be >= 1")
    vocabulary = Vocabulary(speakers=[f"speaker{i}" for i in range(args.n_speakers)],
                            languages=[f"language{i}" for i in range(args.n_languages)],
                            symbols=SymbolTable.default().to_list())
    return model_config(args, vocabulary)


def conditioning_ids(spec: ModelSpec, args: argparse.Namespace, device: torch.device,
                     generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """(speaker_ids, language_ids) drawn for a conditioned Tacotron 2 batch, else ()."""
    if not conditioned(spec, args):
        return ()
    speakers = torch.randint(0, args.n_speakers, (args.batch_size,), generator=generator)
    languages = torch.randint(0, args.n_languages, (args.batch_size,), generator=generator)
    return speakers.to(device), languages.to(device)


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
        y = (mel, gate, out_lengths, text_lengths)
        ids = conditioning_ids(spec, args, device, generator)
        if ids:  # a conditioned model: x gains (speaker_ids, language_ids), y the speaker targets
            x, y = (*x, *ids), (*y, ids[0])
        return x, y, b * mel_len
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


IMPLS = ("eager", "fast")


def chosen_impl(args: argparse.Namespace, spec: ModelSpec) -> str:
    """The implementation a single run times: --impl, else Tacotron 2's --decoder-impl, else eager."""
    if args.impl is not None:
        return args.impl
    return getattr(args, "decoder_impl", None) or "eager"


def make_step(spec: ModelSpec, args: argparse.Namespace, device: torch.device,
              impl: str) -> tuple[Callable[[], None], int]:
    """A model built from the seed (the same weights for every impl) and one timed step: (step, items)."""
    torch.manual_seed(args.seed or 0)
    model = build_model(spec, benchmark_config(spec, args)).to(device)
    generator = torch.Generator().manual_seed(args.seed or 0)
    autocast = (torch.autocast(device.type, dtype=torch.float16 if device.type == "cuda" else torch.bfloat16)
                if args.amp else contextlib.nullcontext())

    if args.mode == "infer" and spec.name == "WaveGlow":
        model = set_waveglow_impl(remove_weightnorm(model).eval(), impl)
        mel = torch.randn(args.batch_size, args.n_mel_channels, args.mel_length, generator=generator)
        mel = mel.to(device)
        if args.amp and device.type == "cuda":
            model, mel = model.half(), mel.half()
        items = args.batch_size * args.mel_length * args.hop_length

        def step() -> None:
            with torch.no_grad():
                model.infer(mel, sigma=args.sigma_infer)
        return step, items

    if spec.name == "Tacotron2":
        set_decoder_impl(model, impl)
    if args.mode == "infer":  # Tacotron 2 synthesis latency: a fixed number of decoder steps
        r = args.n_frames_per_step
        steps = -(-args.mel_length // r)
        model.eval()
        model.decoder.max_decoder_steps = steps  # random weights never fire the gate: run exactly `steps`
        model.decoder.early_stopping = False
        text = torch.randint(1, args.n_symbols, (args.batch_size, args.text_length), generator=generator)
        text = text.to(device)
        lengths = torch.full((args.batch_size,), args.text_length, dtype=torch.long, device=device)
        ids = conditioning_ids(spec, args, device, generator)

        def step() -> None:
            with autocast, warnings.catch_warnings():
                warnings.simplefilter("ignore", MaxDecoderStepsWarning)  # expected: fixed-length run
                model.infer(text, lengths, *ids)
        return step, args.batch_size * steps * r

    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
    scaler = torch.amp.GradScaler("cuda", enabled=args.amp and device.type == "cuda")
    criterion = spec.criterion(args)
    x, y, items = synthetic_batch(spec, args, device, generator)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = criterion(model(x), y)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip_thresh)
        scaler.step(optimizer)
        scaler.update()
    return step, items


def time_interleaved(steps: dict[str, Callable[[], None]], warmup: int, repeats: int,
                     device: torch.device) -> dict[str, list[float]]:
    """Like `time_repeats` for several steps, alternating them within every repeat, so that load from
    other processes on a shared machine falls on all of them alike (their ratio is what counts)."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for i in range(warmup + repeats):
        for name, step in steps.items():
            sync(device)
            start = time.perf_counter()
            step()
            sync(device)
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


def _stats(prefix: str, times: list[float], items: int) -> dict:
    median = statistics.median(times)
    return {f"{prefix}_items_per_sec": items / median, f"{prefix}_step_time_median": median,
            f"{prefix}_step_time_min": min(times), f"{prefix}_step_time_max": max(times)}


def run(args: argparse.Namespace, spec: ModelSpec) -> dict:
    """Time the chosen mode (one implementation, or both with --compare-impl) and return the record."""
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    impls = IMPLS if args.compare_impl else (chosen_impl(args, spec),)
    built = {impl: make_step(spec, args, device, impl) for impl in impls}
    items = built[impls[0]][1]
    times = time_interleaved({impl: step for impl, (step, _) in built.items()}, args.warmup, args.repeats,
                             device)
    name = "train" if args.mode == "train" else "infer"
    if device.type == "cuda":
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = f"CPU x{torch.get_num_threads()} threads"
    record = {
        "items_per_step": items,
        "items": spec.items,
        "device": device_name,
        "precision": ("fp16" if device.type == "cuda" else "bf16") if args.amp else "fp32",
        "repeats": args.repeats,
        "impl": "+".join(impls),
    }
    if args.compare_impl:
        for impl in impls:
            record.update(_stats(f"{impl}_{name}", times[impl], items))
        record["speedup_fast_over_eager"] = (statistics.median(times["eager"])
                                             / statistics.median(times["fast"]))
    else:
        record.update(_stats(name, times[impls[0]], items))
    return record


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
    if args.n_speakers < 1 or args.n_languages < 1:
        print("benchmark_train: error: --n-speakers and --n-languages must be >= 1", file=sys.stderr)
        return 2
    log = runlog.init_logger(Path(args.output) / args.log_file, stdout=False)
    log.log_parameters({"model_name": spec.name, **vars(args)})
    result = run(args, spec)
    log.log((), result)
    log.flush()
    head = f"{spec.name} {args.mode} | batch {args.batch_size} | {result['precision']} | {result['device']}"
    prefixes = [f"{impl}_{args.mode}" for impl in IMPLS] if args.compare_impl else [args.mode]
    for prefix in prefixes:
        label = f" | {prefix.split('_')[0]}" if args.compare_impl else ""
        print(f"{head}{label} | {result[f'{prefix}_items_per_sec']:,.1f} {spec.items}/s (median of "
              f"{args.repeats}, step {result[f'{prefix}_step_time_median']:.3f} s)")
    if args.compare_impl:
        print(f"{head} | fast / eager throughput: {result['speedup_fast_over_eager']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

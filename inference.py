#!/usr/bin/env python3
"""Text lines to wav files with Tacotron 2 and WaveGlow or HiFi-GAN (or Griffin-Lim without a vocoder),
or with VITS.

    python inference.py -i phrases/phrase.txt -o output/ --tacotron2 T2.pt --waveglow WG.pt [--cpu|--fp16]
    python inference.py -i phrases/phrase.txt -o output/ --tacotron2 T2.pt --hifigan HG.pt --cpu
    python inference.py -i phrases/phrase.txt -o output/ --vits VITS.pt [--speaker S] [--noise-scale 0.667]

One phrase per line (blank lines are skipped with a warning; `-i -` reads stdin). For line i (counting
phrases from 0) it writes `audio_<i><suffix>.wav` (peak-normalised 16-bit PCM) and
`alignment_<i><suffix>.png`, and appends the latencies and throughputs to the run log (`--log-file`,
DLLogger format) in `--output`. Model flags of both models are accepted; shapes come from the checkpoints,
and only the inference settings `--max-decoder-steps`, `--gate-threshold` and `--decoder-no-early-stopping`
change the loaded Tacotron 2 when given.

Multi-speaker / multilingual checkpoints (tacotron2.multilingual): `--speaker NAME` and `--language CODE`
set the voice and language of every line; a line `text|speaker|language` (or `text|speaker`) sets its own
(empty fields fall back to the flags; a model with one speaker or language needs neither). Any speaker can
speak any of the model's languages. Within a line, a span in another language is tagged with its code:

    Hello <fr>bonjour mes amis</fr> again|spk00|en

Each span is cleaned by its language's cleaner and every input symbol carries its span's language (the
separate-encoder model runs each span through its language's encoder). Tags do not nest.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch

from common.audio import AudioError, save_wav
from common.audio_config import DEFAULT_AUDIO, AudioConfig
from common.checkpoint import CheckpointError
from common.filelist import decode_text
from common.io_errors import OutputError, output_errors
from common.logger import LoggerError, RunLogger, init_logger
from common.synthesis import (
    Phrase,
    SynthesisError,
    SynthesisResult,
    Synthesizer,
    detect_tacotron2_config,
    load_hifigan,
    load_tacotron2,
    load_waveglow,
    plot_alignment,
    read_phrases,
)
from common.synthesis.vits import add_vits_flags, run_vits
from common.text.cleaners import UnknownCleanerError
from tacotron2.arg_parser import MODEL_KEYS, tacotron2_parser
from tacotron2.fast_decoder import set_decoder_impl
from tacotron2.model import ATTENTION_STOP_FRAMES, MaxDecoderStepsWarning
from waveglow.arg_parser import waveglow_parser
from waveglow.fast_infer import set_waveglow_impl

PROG = "inference.py"
WARMUP_PASSES = 3  # the reference's --include-warmup runs three untimed passes
RTF_DEFINITION = ("RTF = audio seconds / wall seconds; > 1 is faster than real time, "
                  "the reference's convention")
TACOTRON2_INFERENCE_KEYS = ("max_decoder_steps", "gate_threshold", "decoder_no_early_stopping")
# WaveGlow flag -> path in WaveGlow.config (shapes come from the checkpoint, so these flags are only checked)
WAVEGLOW_FLAG_KEYS = {
    "n_mel_channels": ("n_mel_channels",), "flows": ("n_flows",), "groups": ("n_group",),
    "early_every": ("n_early_every",), "early_size": ("n_early_size",),
    "wn_channels": ("WN_config", "n_channels"), "wn_layers": ("WN_config", "n_layers"),
    "wn_kernel_size": ("WN_config", "kernel_size"),
}


class InferenceError(ValueError):
    """A problem with the command line or the input file (named in the message)."""


USER_ERRORS = (InferenceError, CheckpointError, SynthesisError, AudioError, UnknownCleanerError, LoggerError,
               OutputError)


def inference_flags(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The reference's inference flags, plus batching, sentence splitting and Griffin-Lim settings."""
    io = parser.add_argument_group("input and output")
    io.add_argument("-i", "--input", required=True,
                    help="text file with one phrase per line ('-' reads stdin); all lines form one batch")
    io.add_argument("-o", "--output", required=True, help="folder for wavs, alignment plots and the log")
    io.add_argument("--suffix", default="", help="appended to output file names: audio_<i><suffix>.wav")
    io.add_argument("--log-file", default="nvlog.json", help="run log name, inside --output")

    models = parser.add_argument_group("checkpoints")
    models.add_argument("--tacotron2", help="Tacotron 2 checkpoint (ours or NGC layout); required")
    models.add_argument("--waveglow",
                        help="WaveGlow checkpoint (ours or NGC layout); without a vocoder, Griffin-Lim")
    models.add_argument("--hifigan", help="HiFi-GAN generator checkpoint (NGC layout, ours or run.py -m "
                                          "HiFiGAN's), instead of --waveglow; -d denoises it too")

    synth = parser.add_argument_group("synthesis")
    synth.add_argument("-s", "--sigma-infer", type=float, default=0.9,
                       help="WaveGlow noise standard deviation")
    synth.add_argument("-d", "--denoising-strength", type=float, default=0.01,
                       help="fraction of the vocoder's bias spectrum removed (0: no denoiser)")
    synth.add_argument("-sr", "--sampling-rate", type=int, default=DEFAULT_AUDIO.sampling_rate,
                       help="sampling rate of the wavs")
    synth.add_argument("--stft-hop-length", type=int, default=DEFAULT_AUDIO.hop_length,
                       help="audio samples per mel frame")
    synth.add_argument("--text-cleaners", nargs="*", default=["english_cleaners"], help="text cleaners")
    synth.add_argument("--batch-size", type=int, default=None,
                       help="phrases per Tacotron 2 / WaveGlow batch (default: all lines in one batch)")
    synth.add_argument("--max-chars-per-chunk", type=int, default=None,
                       help="split longer lines into sentences (then at commas) of at most this many "
                            "characters, synthesised separately and joined with a short pause")
    synth.add_argument("--chunk-pause", type=float, default=0.15,
                       help="seconds of silence between the chunks of a split line")
    synth.add_argument("--griffin-lim-iters", type=int, default=60,
                       help="Griffin-Lim iterations (used when no --waveglow is given)")
    synth.add_argument("--attention-stop-frames", type=int, default=ATTENTION_STOP_FRAMES,
                       help="end an utterance once its attention has stayed on the last input symbol for "
                            f"this many mel frames, even if the gate has not fired (default "
                            f"{ATTENTION_STOP_FRAMES}; 0: the gate alone, as the reference)")
    synth.add_argument("--seed", type=int, default=None,
                       help="seed for the prenet dropout and the WaveGlow noise")
    synth.add_argument("--speaker", default=None,
                       help="speaker of every line (multi-speaker checkpoints; a text|speaker|language line "
                            "overrides it)")
    synth.add_argument("--language", default=None,
                       help="language of every line (multilingual checkpoints; a line's own field and "
                            "<xx>...</xx> span tags override it)")

    run = parser.add_argument_group("run")
    precision = run.add_mutually_exclusive_group()
    precision.add_argument("--fp16", action="store_true", help="half-precision inference (needs CUDA)")
    precision.add_argument("--cpu", action="store_true", help="run on the CPU even when CUDA is available")
    add_vits_flags(parser)
    run.add_argument("--include-warmup", action="store_true",
                     help=f"run {WARMUP_PASSES} untimed warm-up passes over the first batch before the "
                          "timed one, as the reference does (without it the timed pass is the cold one)")
    return parser


def build_parser() -> argparse.ArgumentParser:
    """Inference flags plus every Tacotron 2 and WaveGlow model flag (a fresh parser on every call)."""
    base = inference_flags(argparse.ArgumentParser(add_help=False, allow_abbrev=False))
    tacotron2 = tacotron2_parser(base, add_help=False)
    waveglow = waveglow_parser(argparse.ArgumentParser(add_help=False, allow_abbrev=False), add_help=False)
    # Both model parsers define --n-mel-channels (same default): "resolve" keeps one of them.
    parser = argparse.ArgumentParser(
        prog=PROG, parents=[tacotron2, waveglow], conflict_handler="resolve", allow_abbrev=False,
        description="Synthesise one wav per input line with Tacotron 2 + WaveGlow (or Griffin-Lim).",
        epilog=f"Real-time factor: {RTF_DEFINITION}; the log also holds rtf_wall_per_audio (wall/audio).",
    )
    return parser


def given_flags(argv: Sequence[str]) -> set[str]:
    """Destinations of the long flags written on the command line (to tell them from defaults)."""
    return {token[2:].split("=", 1)[0].replace("-", "_") for token in argv
            if token.startswith("--") and len(token) > 2}


def read_input(path: str) -> tuple[list[Phrase], list[int], str]:
    """Phrases of the input file (or stdin for '-'), the blank line numbers, and the source name."""
    if path == "-":
        return (*read_phrases(sys.stdin.read().splitlines(), "<stdin>"), "<stdin>")
    file = Path(path)
    if not file.exists():
        raise InferenceError(f"-i/--input: file not found: {file}")
    if not file.is_file():
        raise InferenceError(f"-i/--input: not a regular file: {file}")
    try:
        text = decode_text(file.read_bytes())
    except ValueError as err:
        raise InferenceError(f"-i/--input: {file}: {err}") from None
    return (*read_phrases(text.splitlines(), str(file)), str(file))


def choose_device(args: argparse.Namespace) -> torch.device:
    if args.fp16 and not torch.cuda.is_available():
        raise InferenceError("--fp16 needs a CUDA GPU and none is available; drop --fp16 (or use --cpu)")
    return torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")


def check_flags(args: argparse.Namespace) -> None:
    if args.batch_size is not None and args.batch_size < 1:
        raise InferenceError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.max_chars_per_chunk is not None and args.max_chars_per_chunk < 1:
        raise InferenceError(f"--max-chars-per-chunk must be >= 1, got {args.max_chars_per_chunk}")
    if args.griffin_lim_iters < 0:
        raise InferenceError(f"--griffin-lim-iters must be >= 0, got {args.griffin_lim_iters}")
    if args.attention_stop_frames < 0:
        raise InferenceError(f"--attention-stop-frames must be >= 0, got {args.attention_stop_frames}")
    if args.sigma_infer < 0 or args.denoising_strength < 0 or args.chunk_pause < 0:
        raise InferenceError("-s/--sigma-infer, -d/--denoising-strength and --chunk-pause must be >= 0")
    if args.sampling_rate < 1 or args.stft_hop_length < 1:
        raise InferenceError("-sr/--sampling-rate and --stft-hop-length must be positive")
    if not args.tacotron2 and not args.vits:
        raise InferenceError("--tacotron2 CHECKPOINT is required (or --vits CHECKPOINT)")
    if args.tacotron2 and args.vits:
        raise InferenceError("give --tacotron2 or --vits, not both")
    if args.waveglow and args.hifigan:
        raise InferenceError("--waveglow and --hifigan: choose one vocoder")


def ignored_flag_notes(args: argparse.Namespace, given: set[str], tacotron2_config: dict,
                       waveglow_config: dict | None) -> list[str]:
    """Notes for shape flags given on the command line that disagree with the loaded checkpoints."""
    notes = []
    for key in MODEL_KEYS:
        if key in given and key not in TACOTRON2_INFERENCE_KEYS and key in tacotron2_config \
                and getattr(args, key) != tacotron2_config[key]:
            notes.append(f"--{key.replace('_', '-')} {getattr(args, key)} ignored: the Tacotron 2 checkpoint "
                         f"has {tacotron2_config[key]}")
    if waveglow_config is not None:
        for key, path in WAVEGLOW_FLAG_KEYS.items():
            value = waveglow_config
            for part in path:
                value = value[part]
            if key in given and getattr(args, key) != value:
                notes.append(f"--{key.replace('_', '-')} {getattr(args, key)} ignored: the WaveGlow "
                             f"checkpoint has {value}")
    return notes


def _rate(items: float, seconds: float) -> float:
    return items / seconds if seconds > 0 else float("inf")


def summary_metrics(result: SynthesisResult, vocoder: str) -> dict:
    """The run-log summary: stage latencies (s), throughputs (mel frames/s, samples/s) and RTF."""
    times = result.times
    metrics = {
        "tacotron2_items_per_sec": _rate(result.mel_frames, times.tacotron2),
        "tacotron2_latency": times.tacotron2,
    }
    if vocoder in ("waveglow", "hifigan"):  # the Synthesizer times either vocoder as its "waveglow" stage
        metrics.update({
            f"{vocoder}_items_per_sec": _rate(result.generated_samples, times.waveglow),
            f"{vocoder}_latency": times.waveglow,
            "denoiser_latency": times.denoiser,
        })
    else:
        metrics.update({
            "griffin_lim_items_per_sec": _rate(result.generated_samples, times.griffin_lim),
            "griffin_lim_latency": times.griffin_lim,
        })
    metrics.update({
        "latency": times.total,
        "mel_frames": result.mel_frames,
        "audio_samples": result.audio_samples,
        "audio_seconds": result.audio_seconds,
        "rtf": _rate(result.audio_seconds, times.total),
        "rtf_wall_per_audio": _rate(times.total, result.audio_seconds),
        "num_phrases": len(result.utterances),
        "max_decoder_steps_hit": [u.phrase.line for u in result.utterances if u.hit_max_decoder_steps],
    })
    return metrics


def declare_metrics(log: RunLogger) -> None:
    for name, unit in [("tacotron2_items_per_sec", "mels/s"), ("tacotron2_latency", "s"),
                       ("waveglow_items_per_sec", "samples/s"), ("waveglow_latency", "s"),
                       ("hifigan_items_per_sec", "samples/s"), ("hifigan_latency", "s"),
                       ("denoiser_latency", "s"), ("griffin_lim_items_per_sec", "samples/s"),
                       ("griffin_lim_latency", "s"), ("latency", "s"), ("mel_frames", "frames"),
                       ("audio_samples", "samples"), ("audio_seconds", "s"),
                       ("rtf", "audio s / wall s"), ("rtf_wall_per_audio", "wall s / audio s")]:
        log.metadata(name, unit=unit)


def warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Python warnings (e.g. phrases that hit --max-decoder-steps) as one line each, without source."""
    warn(str(message).splitlines()[0] if str(message) else category.__name__)


def run(args: argparse.Namespace, given: set[str]) -> int:
    check_flags(args)
    phrases, blank, source = read_input(args.input)
    if blank and phrases:
        lines = ", ".join(str(n) for n in blank)
        warn(f"{source}: blank line{'s' if len(blank) > 1 else ''} {lines} skipped")
    if not phrases:
        raise InferenceError(f"-i/--input: {source} holds no phrases (it is empty or has blank lines only)")
    if args.vits:
        return run_vits(args, phrases, Path(args.output), InferenceError)  # common/synthesis/vits.py
    device = choose_device(args)
    if device.type == "cpu":
        torch.set_flush_denormal(True)  # denormal floats slow CPU math (common/training/loop.py)
    if args.seed is not None:
        torch.manual_seed(args.seed)

    overrides = {key: getattr(args, key) for key in TACOTRON2_INFERENCE_KEYS if key in given}
    tacotron2 = load_tacotron2(args.tacotron2, device="cpu", overrides=overrides)
    waveglow = load_waveglow(args.waveglow, device="cpu") if args.waveglow else None
    # --decoder-impl picks the decoder loop and WaveGlow inference (same numerics; docs/PERFORMANCE.md)
    set_decoder_impl(tacotron2, args.decoder_impl)
    tacotron2.decoder.attention_stop_frames = args.attention_stop_frames
    if waveglow is not None:
        set_waveglow_impl(waveglow, args.decoder_impl)
    vocoder = load_hifigan(args.hifigan) if args.hifigan else waveglow
    try:
        shapes = detect_tacotron2_config(tacotron2.state_dict())
    except CheckpointError:  # e.g. per-language encoders: no single encoder to read the shapes from
        shapes = {}
    for note in ignored_flag_notes(args, given, shapes, waveglow.config if waveglow is not None else None):
        print(f"{PROG}: note: {note}", file=sys.stderr)

    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    log = init_logger(output / args.log_file, stdout=False)
    try:
        return synthesize_and_write(args, phrases, tacotron2, vocoder, device, output, log)
    finally:
        log.close()


def synthesize_and_write(args: argparse.Namespace, phrases: list[Phrase], tacotron2, waveglow,
                         device: torch.device, output: Path, log: RunLogger) -> int:
    """Warm up, synthesise, write the wavs and plots, log and print the summary."""
    vocoder = "hifigan" if args.hifigan else "waveglow" if waveglow is not None else "griffin_lim"
    names = {"hifigan": "Tacotron2_HiFiGAN", "waveglow": "Tacotron2_WaveGlow", "griffin_lim": "Tacotron2"}
    log.log_parameters({"model_name": names[vocoder], "device": str(device), **vars(args)})
    declare_metrics(log)

    synth = Synthesizer(
        tacotron2, waveglow, device=device, fp16=args.fp16, sigma=args.sigma_infer,
        denoising_strength=args.denoising_strength, text_cleaners=args.text_cleaners,
        audio=AudioConfig(sampling_rate=args.sampling_rate, hop_length=args.stft_hop_length),
        griffin_lim_iters=args.griffin_lim_iters, max_chars_per_chunk=args.max_chars_per_chunk,
        pause_seconds=args.chunk_pause, speaker=args.speaker, language=args.language,
    )
    if args.include_warmup:
        synth.warmup(phrases, args.batch_size, passes=WARMUP_PASSES)
    result = synth.synthesize(phrases, args.batch_size)

    for i, utterance in enumerate(result.utterances):
        name = f"{i}{args.suffix}"
        save_wav(output / f"audio_{name}.wav", utterance.audio, args.sampling_rate, normalize=True)
        text = utterance.phrase.text
        text = text if len(text) <= 60 else text[:57] + "..."
        plot_alignment(utterance.alignment, output / f"alignment_{name}.png",
                       title=f"line {utterance.phrase.line}: {text}")
        seconds = utterance.audio.numel() / args.sampling_rate
        print(f"audio_{name}.wav: {seconds:.2f} s, line {utterance.phrase.line}"
              + (f", {len(utterance.chunks)} chunks" if len(utterance.chunks) > 1 else "")
              + (" (hit --max-decoder-steps)" if utterance.hit_max_decoder_steps else ""))

    metrics = summary_metrics(result, vocoder)
    log.log((), metrics)
    print(f"latency {metrics['latency']:.3f} s for {metrics['audio_seconds']:.2f} s of audio on {device}; "
          f"RTF {metrics['rtf']:.3f} ({RTF_DEFINITION}); wall/audio {metrics['rtf_wall_per_audio']:.3f}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (errors caused by input: one line, status 1)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("always", MaxDecoderStepsWarning)
        warnings.showwarning = _show_warning
        try:
            with output_errors("-o/--output"):  # a full disk or an unwritable folder: one line
                return run(args, given_flags(argv))
        except USER_ERRORS as err:
            print(f"{PROG}: error: {err}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())

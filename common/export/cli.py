"""Checkpoint loading and the export command line.

CLI: `python -m common.export torchscript|onnx --tacotron2 CKPT --waveglow CKPT -o DIR [--fp16]`,
`python -m common.export torchscript|onnx --hifigan CKPT -o DIR` (a HiFi-GAN generator: NGC, ours or
`run.py -m HiFiGAN`'s; the written file is run once against eager and the largest difference printed), and
`python -m common.export piper --vits CKPT -o DIR [--name NAME] [--config CONFIG.json]` (a Piper voice,
see `common.export.piper`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from common.checkpoint import CheckpointError, load_checkpoint, load_model_state
from common.export.base import DEFAULT_OPSET, ONNX_WAVEGLOW_FILE, TORCHSCRIPT_FILES, ExportError
from common.export.hifigan import ONNX_HIFIGAN_FILE, OnnxHiFiGAN, export_hifigan_onnx, script_hifigan
from common.export.onnx_export import export_tacotron2_onnx, export_waveglow_onnx
from common.export.piper import export_piper_checkpoint
from common.export.torchscript import load_torchscript, save_torchscript, script_tacotron2, script_waveglow
from common.io_errors import OutputError, output_errors
from hifigan.model import HiFiGANCheckpointError, load_generator
from tacotron2.multilingual import build_tacotron2
from waveglow.model import WaveGlow


def load_model(path: str | Path, model_name: str) -> nn.Module:
    """Build `Tacotron2` or `WaveGlow` from one of our checkpoints (model_name, config, state_dict)."""
    checkpoint = load_checkpoint(path)
    stored = checkpoint.get("model_name")
    if stored is not None and stored != model_name:
        raise ExportError(f"{path} holds a {stored} checkpoint, expected {model_name}")
    config = checkpoint.get("config")
    if not isinstance(config, dict):
        raise ExportError(f"{path} has no 'config' dict (the model constructor arguments)")
    model_class = build_tacotron2 if model_name == "Tacotron2" else WaveGlow  # multilingual keys -> subclass
    try:
        model = model_class(**config)
    except (TypeError, ValueError) as err:
        raise ExportError(f"{path}: cannot build {model_name} from its config: {err}") from None
    load_model_state(model, checkpoint["state_dict"], source=str(path))
    return model.eval()


def export_checkpoints(fmt: str, out_dir: str | Path, tacotron2: str | Path | None = None,
                       waveglow: str | Path | None = None, fp16: bool = False,
                       opset: int = DEFAULT_OPSET) -> list[Path]:
    """Export the given checkpoints as `torchscript` or `onnx` into `out_dir`; returns the written files."""
    if fmt not in ("torchscript", "onnx"):
        raise ExportError(f"format must be 'torchscript' or 'onnx', got {fmt!r}")
    if tacotron2 is None and waveglow is None:
        raise ExportError("nothing to export: give --tacotron2 and/or --waveglow")
    dtype = torch.float16 if fp16 else None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, ckpt in (("Tacotron2", tacotron2), ("WaveGlow", waveglow)):
        if ckpt is None:
            continue
        model = load_model(ckpt, name)
        if fmt == "torchscript":
            scripted = (script_tacotron2 if name == "Tacotron2" else script_waveglow)(model, dtype)
            written.append(save_torchscript(scripted, out_dir / TORCHSCRIPT_FILES[name]))
        elif name == "Tacotron2":
            written += export_tacotron2_onnx(model, out_dir, opset=opset, dtype=dtype)
        else:
            path = out_dir / ONNX_WAVEGLOW_FILE
            written.append(export_waveglow_onnx(model, path, opset=opset, dtype=dtype))
    return written


TORCHSCRIPT_HIFIGAN_FILE = "hifigan_torchscript.pt"
HIFIGAN_CHECK_FRAMES = 32  # the random mel the written export is checked with


def export_hifigan_checkpoint(fmt: str, out_dir: str | Path, checkpoint: str | Path, fp16: bool = False,
                              opset: int = DEFAULT_OPSET) -> tuple[Path, float]:
    """Export a HiFi-GAN generator checkpoint as `torchscript` (hifigan_torchscript.pt) or `onnx`
    (hifigan.onnx) into ``out_dir``, then run the written file and eager on one random mel; returns the
    file and the largest absolute difference of their audio (ExportError above 1e-3 in float32)."""
    try:
        generator = load_generator(checkpoint).eval()
    except HiFiGANCheckpointError as err:
        raise ExportError(str(err)) from None
    dtype = torch.float16 if fp16 else None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if fmt == "torchscript":
        path = save_torchscript(script_hifigan(generator, dtype), out_dir / TORCHSCRIPT_HIFIGAN_FILE)
    elif fmt == "onnx":
        path = export_hifigan_onnx(generator, out_dir / ONNX_HIFIGAN_FILE, opset=opset, dtype=dtype)
    else:
        raise ExportError(f"format must be 'torchscript' or 'onnx', got {fmt!r}")
    if fp16:  # half precision runs on CUDA only here: nothing to check against on the CPU
        return path, float("nan")
    mel = torch.randn(1, generator.conv_pre.in_channels, HIFIGAN_CHECK_FRAMES,
                      generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        eager = generator.remove_weight_norm()(mel).squeeze(1)
        exported = (load_torchscript(path)(mel) if fmt == "torchscript"
                    else torch.from_numpy(OnnxHiFiGAN(path).infer(mel)))
    difference = float((exported.float() - eager).abs().max())
    if not difference <= 1e-3:
        raise ExportError(f"{path} differs from eager by {difference:.3g} (max abs)")
    return path, difference


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m common.export",
        description="Export Tacotron 2 / WaveGlow checkpoints to TorchScript or ONNX.",
    )
    parser.add_argument("format", choices=("torchscript", "onnx", "piper"))
    parser.add_argument("--tacotron2", type=Path, help="Tacotron 2 checkpoint (.pt)")
    parser.add_argument("--waveglow", type=Path, help="WaveGlow checkpoint (.pt)")
    parser.add_argument("--hifigan", type=Path, help="HiFi-GAN generator checkpoint (.pt), exported alone")
    parser.add_argument("--vits", type=Path, help="VITS checkpoint (ours or Piper's .ckpt), for `piper`")
    parser.add_argument("--name", help="voice name for `piper` (default: the checkpoint's file stem)")
    parser.add_argument("--config", type=Path, help="Piper's training config.json (phoneme map), for `piper`")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output directory")
    parser.add_argument("--fp16", action="store_true", help="export half-precision weights and graphs")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (default 17)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.format == "piper":
        return _main_piper(args)
    if args.hifigan is not None:
        return _main_hifigan(args)
    if args.tacotron2 is None and args.waveglow is None:
        build_parser().error("give --tacotron2 and/or --waveglow (or --hifigan)")
    try:
        with output_errors("-o/--output"):  # a full disk or an unwritable folder: one line
            written = export_checkpoints(args.format, args.output, args.tacotron2, args.waveglow,
                                         fp16=args.fp16, opset=args.opset)
    except (ExportError, CheckpointError, OutputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


def _main_hifigan(args: argparse.Namespace) -> int:
    """`python -m common.export torchscript|onnx --hifigan CKPT -o DIR`: the file, checked against eager."""
    if args.tacotron2 is not None or args.waveglow is not None:
        build_parser().error("--hifigan is exported alone (without --tacotron2/--waveglow)")
    try:
        with output_errors("-o/--output"):
            path, difference = export_hifigan_checkpoint(args.format, args.output, args.hifigan,
                                                         fp16=args.fp16, opset=args.opset)
    except (ExportError, OutputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(path)
    if difference == difference:  # not NaN (fp16 is not checked on the CPU)
        print(f"checked against eager: max abs difference {difference:.2e}")
    return 0


def _main_piper(args: argparse.Namespace) -> int:
    """`python -m common.export piper --vits CKPT -o DIR`: write DIR/NAME.onnx and DIR/NAME.onnx.json."""

    if args.vits is None:
        build_parser().error("piper needs --vits CKPT")
    try:
        with output_errors("-o/--output"):
            written = export_piper_checkpoint(args.vits, args.output, args.name, args.config,
                                              opset=args.opset)
    except (ExportError, OutputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0

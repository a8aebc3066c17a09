"""Teacher-forced Tacotron 2 mels for HiFi-GAN fine-tuning (``--fine-tuning --input-mels-dir DIR``).

For every entry of a filelist the wav's mel (`MelSTFT`) is fed to Tacotron 2 with teacher forcing,
and the post-net mel it predicts is saved as ``DIR/<wav stem>.pt``, a float32 (n_mel_channels, frames)
tensor with as many frames as the wav's own mel, so the vocoder learns to turn the acoustic model's
(slightly blurred) mels into the recorded audio. The prenet's dropout stays on as in the reference
(Tacotron 2 keeps it at inference); ``--seed`` makes the files reproducible.

CLI: ``python scripts/extract_mels.py --tacotron2 CKPT -d DATASET --filelist F -o DIR [--batch-size 8]``.
A bad wav or transcript stops the run with its filelist file and line (``--skip-bad-files``: skipped
and counted).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from common.checkpoint import CheckpointError
from common.data import BadItem, DatasetError
from common.filelist import FilelistError
from common.io_errors import atomic_output
from common.synthesis import load_tacotron2
from tacotron2.data_function import TextMelCollate, TextMelLoader, batch_to_device


def extract_mels(tacotron2_path: str | Path, dataset_path: str | Path, filelist: str | Path,
                 output_dir: str | Path, batch_size: int = 8,
                 text_cleaners: tuple[str, ...] = ("english_cleaners",), skip_bad_files: bool = False,
                 seed: int = 1234, device: str = "cpu") -> dict[str, int]:
    """Write ``output_dir/<wav stem>.pt`` for every usable filelist entry; returns counts
    (``written``, ``skipped``)."""
    model = load_tacotron2(tacotron2_path, device)
    r = model.decoder.n_frames_per_step
    dataset = TextMelLoader(dataset_path, filelist, list(text_cleaners),
                            n_mel_channels=model.decoder.n_mel_channels, skip_bad_files=skip_bad_files)
    collate = TextMelCollate(r)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    written, skipped = 0, len(dataset.rejected)
    for start in range(0, len(dataset), batch_size):
        items, entries = [], []
        for index in range(start, min(start + batch_size, len(dataset))):
            item = dataset[index]
            if isinstance(item, BadItem):
                if not skip_bad_files:
                    raise DatasetError(item.message)
                skipped += 1
                continue
            items.append(item)
            entries.append(dataset.entries[index])
        if not items:
            continue
        x, _, _ = batch_to_device(collate(items), device)
        with torch.no_grad():
            mel_postnet = model(x).mel_postnet
        for i, entry in enumerate(entries):
            frames = items[i][1].size(1)
            path = output_dir / f"{Path(entry.audio_path).stem}.pt"
            with atomic_output(path) as handle:
                torch.save(mel_postnet[i, :, :frames].detach().float().cpu().clone(), handle)
            written += 1
    return {"written": written, "skipped": skipped}


def build_parser() -> argparse.ArgumentParser:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python scripts/extract_mels.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tacotron2", required=True, help="Tacotron 2 checkpoint (ours or NGC)")
    parser.add_argument("-d", "--dataset-path", default="./", help="root of the filelist's wav paths")
    parser.add_argument("--filelist", required=True, help="path|text filelist of wavs")
    parser.add_argument("-o", "--output-dir", required=True, help="directory for <wav stem>.pt mels")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--text-cleaners", nargs="+", default=["english_cleaners"])
    parser.add_argument("--skip-bad-files", action="store_true")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--cpu", action="store_true", help="run on the CPU even when CUDA is available")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the extraction; a bad input is one line on stderr and exit status 1."""
    args = build_parser().parse_args(argv)
    if args.batch_size < 1:
        print(f"--batch-size must be positive, got {args.batch_size}", file=sys.stderr)
        return 2
    device = "cuda" if torch.cuda.is_available() and not args.cpu else "cpu"
    try:
        counts = extract_mels(args.tacotron2, args.dataset_path, args.filelist, args.output_dir,
                              args.batch_size, tuple(args.text_cleaners), args.skip_bad_files, args.seed,
                              device)
    except (CheckpointError, DatasetError, FilelistError, OSError, ValueError) as err:
        print(f"extract_mels: {err}", file=sys.stderr)
        return 1
    print(f"wrote {counts['written']} mels to {args.output_dir}"
          + (f", skipped {counts['skipped']} bad entries" if counts["skipped"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

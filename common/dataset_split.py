"""Split an LJSpeech ``metadata.csv`` into train/val/test filelists.

``metadata.csv`` lines are ``id|text|normalized text``; the filelists get ``wavs/<id>.wav|normalized text``
lines, with paths relative to the LJSpeech folder (pass that folder as ``-d/--dataset-path``). The shuffle
is seeded, so the same metadata and seed always give the same split. The defaults reproduce the sizes of
the reference's LJSpeech filelists: 100 validation and 500 test utterances, the rest (12,500) for training.

CLI: ``python -m common.dataset_split data/LJSpeech-1.1/metadata.csv -o filelists/``.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Sequence
from pathlib import Path

from common.filelist import FilelistEntry, read_numbered_lines, write_filelist

__all__ = ["DatasetSplitError", "main", "read_ljspeech_metadata", "split_ljspeech"]


class DatasetSplitError(ValueError):
    """A malformed ``metadata.csv`` or split sizes that do not fit it."""


def read_ljspeech_metadata(metadata_csv: str | Path) -> list[tuple[str, str, str]]:
    """``(id, text, normalized)`` for every non-blank line; raise naming ``file:line`` when malformed.

    Lines are split on ``|`` only (LJSpeech texts hold quotes, so a CSV reader would mangle them).
    """
    path = Path(metadata_csv)
    lines = read_numbered_lines(path, DatasetSplitError, not_found="metadata file not found: {path}",
                                unreadable="cannot read metadata file {path}: {err}")
    rows: list[tuple[str, str, str]] = []
    seen: dict[str, int] = {}
    for number, line in lines:
        fields = line.split("|")
        if len(fields) != 3:
            raise DatasetSplitError(
                f"{path}:{number}: expected 3 fields id|text|normalized text, got {len(fields)}: "
                f"{line[:80]!r}"
            )
        utt_id, text, normalized = (f.strip() for f in fields)
        if not utt_id or not normalized:
            raise DatasetSplitError(f"{path}:{number}: empty id or normalized text: {line[:80]!r}")
        if utt_id in seen:
            raise DatasetSplitError(f"{path}:{number}: id {utt_id} already used on line {seen[utt_id]}")
        seen[utt_id] = number
        rows.append((utt_id, text, normalized))
    if not rows:
        raise DatasetSplitError(f"metadata file {path} has no entries")
    return rows


def split_ljspeech(
    metadata_csv: str | Path,
    out_dir: str | Path,
    n_val: int = 100,
    n_test: int = 500,
    seed: int = 1234,
    prefix: str = "ljs_audio_text",
) -> dict[str, Path]:
    """Write ``{prefix}_{train,val,test}_filelist.txt`` into ``out_dir``; return their paths by split name."""
    if n_val < 0 or n_test < 0:
        raise DatasetSplitError(f"--n-val and --n-test must be >= 0, got {n_val} and {n_test}")
    rows = read_ljspeech_metadata(metadata_csv)
    if n_val + n_test >= len(rows):
        raise DatasetSplitError(
            f"{metadata_csv}: {len(rows)} utterances leave none for training with --n-val {n_val} "
            f"and --n-test {n_test}"
        )
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    parts = {
        "train": order[n_val + n_test:],
        "val": order[:n_val],
        "test": order[n_val:n_val + n_test],
    }
    out = Path(out_dir)
    paths: dict[str, Path] = {}
    for name, indices in parts.items():
        entries = [FilelistEntry(f"wavs/{rows[i][0]}.wav", rows[i][2]) for i in indices]
        path = out / f"{prefix}_{name}_filelist.txt"
        write_filelist(path, entries, multi_speaker=False)
        paths[name] = path
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m common.dataset_split",
        description="Split an LJSpeech metadata.csv into train/val/test filelists (wavs/<id>.wav|text).",
    )
    parser.add_argument("metadata", help="LJSpeech metadata.csv (id|text|normalized text)")
    parser.add_argument("-o", "--output-dir", default="filelists", help="where the filelists go")
    parser.add_argument("--n-val", type=int, default=100)
    parser.add_argument("--n-test", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--prefix", default="ljs_audio_text")
    args = parser.parse_args(argv)
    try:
        paths = split_ljspeech(args.metadata, args.output_dir, n_val=args.n_val, n_test=args.n_test,
                               seed=args.seed, prefix=args.prefix)
    except DatasetSplitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for name, path in paths.items():
        count = sum(1 for _ in path.open(encoding="utf-8"))
        print(f"{name}: {count} lines -> {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

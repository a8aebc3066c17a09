"""Split an LJSpeech ``metadata.csv`` into filelists: the reference's split, or a seeded shuffle.

``metadata.csv`` lines are ``id|text|normalized text``. Two modes:

- ``reference`` (the default): the reference's own split, whose ids travel with the package
  (``common/splits/ljspeech/``): ``ljs_audio_text_{train,val,test}_filelist.txt`` (12,500 / 100 / 500),
  the benchmark subsets ``ljs_audio_text_train_subset_{64,300,625,1250,2500}_filelist.txt``, and every list
  again as ``ljs_mel_text_*``. Lines are the reference's: ``LJSpeech-1.1/wavs/<id>.wav|<normalized text>``
  and ``LJSpeech-1.1/mels/<id>.pt|<normalized text>``, relative to the folder that holds ``LJSpeech-1.1``
  (the reference's ``-d ./``). An id missing from ``metadata.csv`` is an error that names it.
- ``shuffle``: a seeded shuffle into 100 validation and 500 test utterances and the rest for training,
  ``wavs/<id>.wav|<normalized text>`` relative to the dataset folder (any LJSpeech-layout dataset).

CLI: ``python -m common.dataset_split data/LJSpeech-1.1/metadata.csv -o filelists/ [--split shuffle]``.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Sequence
from pathlib import Path

from common.data_tools.ljspeech_metadata import read_ljspeech_metadata_rows
from common.filelist import FilelistEntry, read_numbered_lines, write_filelist

__all__ = ["REFERENCE_LISTS", "DatasetSplitError", "main", "read_ljspeech_metadata", "reference_split_ids",
           "split_ljspeech", "write_reference_filelists"]

SPLIT_DIR = Path(__file__).resolve().parents[1] / "splits" / "ljspeech"
# the reference's lists: ljs_{audio,mel}_text_<name>_filelist.txt from <name>.ids
REFERENCE_LISTS = ("train", "val", "test", "train_subset_64", "train_subset_300", "train_subset_625",
                   "train_subset_1250", "train_subset_2500")


class DatasetSplitError(ValueError):
    """A malformed ``metadata.csv`` or split sizes that do not fit it."""


def read_ljspeech_metadata(metadata_csv: str | Path) -> list[tuple[str, str, str]]:
    """``(id, text, normalized)`` for every non-blank line (common/data_tools/ljspeech_metadata.py: every
    line needs its three fields); malformed lines raise one DatasetSplitError naming ``file:line``."""
    rows = read_ljspeech_metadata_rows(metadata_csv, DatasetSplitError,
                                       not_found="metadata file not found: {path}",
                                       unreadable="cannot read metadata file {path}: {err}")
    return [(row.id, row.text, row.normalized) for row in rows]


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


def reference_split_ids(split_dir: str | Path | None = None) -> dict[str, list[str]]:
    """The reference's ids of every list in ``REFERENCE_LISTS``, in the reference's order (from
    ``split_dir``, by default the copy in the package: ``SPLIT_DIR``)."""
    lists = {}
    for name in REFERENCE_LISTS:
        path = Path(split_dir if split_dir is not None else SPLIT_DIR) / f"{name}.ids"
        lines = read_numbered_lines(path, DatasetSplitError, not_found="split ids file not found: {path}",
                                    unreadable="cannot read split ids file {path}: {err}")
        lists[name] = [line.strip() for _, line in lines]
    return lists


def write_reference_filelists(texts: dict[str, str], out_dir: str | Path, source: str,
                              path_prefix: str = "LJSpeech-1.1/",
                              split_dir: str | Path | None = None) -> dict[str, Path]:
    """Write the reference's audio and mel filelists for ``texts`` (id -> transcript); return their paths
    by name (``audio_text_train``, ``mel_text_train``, ...). Ids that ``texts`` lacks are one error naming
    them and ``source`` (where the texts came from)."""
    lists = reference_split_ids(split_dir)
    missing = sorted({i for ids in lists.values() for i in ids if i not in texts})
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise DatasetSplitError(f"{source}: {len(missing)} id(s) of the reference's LJSpeech split are "
                                f"missing: {shown} (for another dataset use --split shuffle)")
    out = Path(out_dir)
    paths: dict[str, Path] = {}
    for name, ids in lists.items():
        for kind, folder, ext in (("audio", "wavs", "wav"), ("mel", "mels", "pt")):
            entries = [FilelistEntry(f"{path_prefix}{folder}/{i}.{ext}", texts[i]) for i in ids]
            path = out / f"ljs_{kind}_text_{name}_filelist.txt"
            write_filelist(path, entries, multi_speaker=False)
            paths[f"{kind}_text_{name}"] = path
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m common.dataset_split",
        description="Write LJSpeech filelists: the reference's split (default) or a seeded shuffle.",
    )
    parser.add_argument("metadata", help="LJSpeech metadata.csv (id|text|normalized text)")
    parser.add_argument("-o", "--output-dir", default="filelists", help="where the filelists go")
    parser.add_argument("--split", choices=["reference", "shuffle"], default="reference",
                        help="reference: the reference's lists and subsets, audio and mel (paths "
                             "LJSpeech-1.1/wavs/<id>.wav); shuffle: a seeded split of any LJSpeech-layout "
                             "dataset (paths wavs/<id>.wav)")
    parser.add_argument("--path-prefix", default="LJSpeech-1.1/",
                        help="--split reference: what precedes wavs/ and mels/ in the paths")
    parser.add_argument("--n-val", type=int, default=100, help="--split shuffle: validation utterances")
    parser.add_argument("--n-test", type=int, default=500, help="--split shuffle: test utterances")
    parser.add_argument("--seed", type=int, default=1234, help="--split shuffle: shuffle seed")
    parser.add_argument("--prefix", default="ljs_audio_text", help="--split shuffle: filelist name prefix")
    args = parser.parse_args(argv)
    try:
        if args.split == "reference":
            texts = {utt_id: normalized for utt_id, _, normalized in read_ljspeech_metadata(args.metadata)}
            paths = write_reference_filelists(texts, args.output_dir, args.metadata, args.path_prefix)
        else:
            paths = split_ljspeech(args.metadata, args.output_dir, n_val=args.n_val, n_test=args.n_test,
                                   seed=args.seed, prefix=args.prefix)
    except DatasetSplitError as err:
        print(f"python -m common.dataset_split: error: {err}", file=sys.stderr)
        return 2
    for name, path in paths.items():
        count = sum(1 for _ in path.open(encoding="utf-8"))
        print(f"{name}: {count} lines -> {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

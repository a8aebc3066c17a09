"""LJSpeech-style folder (``metadata.csv`` + ``wavs/``) -> filelists and manifest; no audio is copied.

``metadata.csv`` lines are ``id|text|normalized text`` (split on ``|`` only: the texts hold quotes). The
filelists get ``wavs/<id>.wav|normalized text`` lines relative to the LJSpeech folder itself, so training
uses ``-d <that folder>`` wherever the filelists are written. Only wav headers are read (for durations);
run ``validate`` for the full audio check.

``split="reference"`` (the default) uses the reference's LJSpeech split (``common/splits/ljspeech/``) and
also writes the reference's named filelists, subsets and mel variants included
(``ljs_{audio,mel}_text_*_filelist.txt``, paths relative to the LJSpeech folder too); an id of that split
missing from the folder is an error that names it. ``split="hash"`` is the seeded split of other datasets.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import soundfile as sf

from common.data_tools.dataset_split import DatasetSplitError, reference_split_ids, write_reference_filelists
from common.data_tools.ljspeech_metadata import MetadataRow, read_ljspeech_metadata_rows
from common.datasets.manifest import (
    SPLITS,
    DatasetError,
    PrepareReport,
    Utterance,
    check_fractions,
    clean_field,
    run_parallel,
    write_dataset,
)

__all__ = ["MetadataRow", "prepare_ljspeech", "read_metadata", "wav_duration"]


def read_metadata(path: str | Path) -> list[MetadataRow]:
    """Parse ``metadata.csv`` (common/data_tools/ljspeech_metadata.py; ``id|text`` lines allowed), fields
    made filelist-safe; every malformed line is listed in one DatasetError."""
    rows = read_ljspeech_metadata_rows(
        path, DatasetError, not_found="{path}: metadata file not found (is --input an LJSpeech folder?)",
        unreadable="{path}: cannot read ({err})", require_normalized=False,
    )
    return [replace(row, text=clean_field(row.text), normalized=clean_field(row.normalized)) for row in rows]


def wav_duration(path: str) -> float:
    """Duration in seconds from the audio header (a worker function)."""
    if not Path(path).is_file():
        raise DatasetError(f"{path}: file not found")
    try:
        info = sf.info(path)
    except (sf.SoundFileError, RuntimeError) as exc:
        raise DatasetError(f"{path}: cannot read audio header ({exc})") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise DatasetError(f"{path}: holds no audio samples")
    return info.frames / info.samplerate


def prepare_ljspeech(input_dir: str | Path, output_dir: str | Path, speaker: str = "ljs",
                     language: str = "en", seed: int = 1234, val_fraction: float = 0.05,
                     test_fraction: float = 0.05, jobs: int = 1, progress: bool = True,
                     split: str = "reference") -> PrepareReport:
    """Write filelists and manifest for an LJSpeech-style folder (paths relative to ``input_dir``)."""
    check_fractions(val_fraction, test_fraction)
    if split not in ("reference", "hash"):
        raise DatasetError(f"--split {split}: expected reference or hash")
    input_dir, out = Path(input_dir), Path(output_dir)
    if not input_dir.is_dir():
        raise DatasetError(f"--input {input_dir}: not a folder")
    speaker, language = clean_field(speaker).replace(" ", "_"), clean_field(language)
    if not speaker or not language:
        raise DatasetError("--speaker and --language must not be empty")
    rows = read_metadata(input_dir / "metadata.csv")
    report = PrepareReport("ljspeech", str(input_dir), str(out), str(input_dir), {
        "speaker": speaker, "language": language, "seed": seed, "val_fraction": val_fraction,
        "test_fraction": test_fraction,
    })
    report.n_candidates = len(rows)

    kept: list[MetadataRow] = []
    for row in rows:
        if row.normalized or row.text:
            kept.append(row)
        else:
            report.skip(row.where, "empty_transcript", f"utterance {row.id} has no text")
    paths = [str(input_dir / "wavs" / f"{row.id}.wav") for row in kept]
    results = run_parallel(wav_duration, paths, jobs=jobs, desc="reading headers", progress=progress)
    utterances: list[Utterance] = []
    for row, path, result in zip(kept, paths, results):
        if result.error is not None:
            kind = "missing_file" if not Path(path).is_file() else "unreadable"
            report.skip(row.where, kind, result.error)
            continue
        text = row.normalized or row.text
        duration = float(result.value)
        utterances.append(Utterance(row.id, f"wavs/{row.id}.wav", text, speaker, language, duration))
    if split == "hash":
        write_dataset(out, utterances, report, seed, val_fraction, test_fraction)
        return report
    # the reference's split: every id must be usable here; utterances outside it are left out
    texts = {u.id: u.text for u in utterances}
    try:
        lists = reference_split_ids()
        write_reference_filelists(texts, out / "filelists", f"--input {input_dir} (usable utterances)",
                                  path_prefix="")
    except DatasetSplitError as err:
        raise DatasetError(str(err)) from None
    split_of = {i: name for name in SPLITS for i in lists[name]}
    for u in utterances:
        if u.id not in split_of:
            report.skip(f"{input_dir / 'metadata.csv'}", "not_in_reference_split",
                        f"utterance {u.id} is in none of the reference's lists")
    report.files["reference_filelists"] = str(out / "filelists" / "ljs_{audio,mel}_text_*_filelist.txt")
    write_dataset(out, [u for u in utterances if u.id in split_of], report, seed, val_fraction, test_fraction,
                  split_of)
    return report

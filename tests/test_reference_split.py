"""The reference's LJSpeech split: bundled ids, the reference's filelists (audio and mel, subsets), and a
clear error for ids missing from the metadata; the adapter's reference split."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from common.data_tools import dataset_split
from common.data_tools.dataset_split import REFERENCE_LISTS, reference_split_ids
from common.datasets.cli import main as prepare_main

SHARED_SPLIT = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "ljspeech_split"
SIZES = {"train": 12500, "val": 100, "test": 500, "train_subset_64": 64, "train_subset_300": 300,
         "train_subset_625": 625, "train_subset_1250": 1250, "train_subset_2500": 2500}


def test_bundled_ids_have_the_reference_sizes_and_match_the_shared_copy():
    lists = reference_split_ids()
    assert {name: len(ids) for name, ids in lists.items()} == SIZES
    assert lists["train"][:2] == ["LJ050-0234", "LJ019-0373"]
    assert len(set(lists["train"]) | set(lists["val"]) | set(lists["test"])) == 13100  # disjoint
    if SHARED_SPLIT.is_dir():
        for name in REFERENCE_LISTS:
            assert lists[name] == (SHARED_SPLIT / f"{name}.ids").read_text().split(), name


def write_metadata(path: Path, ids: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{i}|Raw {i}.|spoken {i}.\n" for i in ids), encoding="utf-8")
    return path


def test_dataset_split_writes_the_reference_filelists(tmp_path, capsys):
    lists = reference_split_ids()
    every_id = sorted({i for ids in lists.values() for i in ids})
    metadata = write_metadata(tmp_path / "LJSpeech-1.1" / "metadata.csv", every_id)
    assert dataset_split.main([str(metadata), "-o", str(tmp_path / "filelists")]) == 0
    files = sorted(p.name for p in (tmp_path / "filelists").iterdir())
    assert files == sorted(f"ljs_{kind}_text_{name}_filelist.txt" for kind in ("audio", "mel")
                           for name in REFERENCE_LISTS)
    for name in REFERENCE_LISTS:
        audio = (tmp_path / "filelists" / f"ljs_audio_text_{name}_filelist.txt").read_text().splitlines()
        mel = (tmp_path / "filelists" / f"ljs_mel_text_{name}_filelist.txt").read_text().splitlines()
        assert audio == [f"LJSpeech-1.1/wavs/{i}.wav|spoken {i}." for i in lists[name]]
        assert mel == [f"LJSpeech-1.1/mels/{i}.pt|spoken {i}." for i in lists[name]]


def test_missing_ids_are_named_in_one_line(tmp_path, capsys):
    lists = reference_split_ids()
    every_id = sorted({i for ids in lists.values() for i in ids})
    kept = [i for i in every_id if i not in ("LJ001-0001", "LJ050-0234")]
    metadata = write_metadata(tmp_path / "metadata.csv", kept)
    assert dataset_split.main([str(metadata), "-o", str(tmp_path / "filelists")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"python -m common.dataset_split: error: {metadata}: 2 id(s) of the reference's LJSpeech "
                   "split are missing: LJ001-0001, LJ050-0234 (for another dataset use --split shuffle)"]
    assert not (tmp_path / "filelists").exists()


def test_shuffle_split_stays_available(tmp_path):
    metadata = write_metadata(tmp_path / "metadata.csv", [f"X{i:03d}" for i in range(20)])
    assert dataset_split.main([str(metadata), "-o", str(tmp_path / "out"), "--split", "shuffle",
                               "--n-val", "2", "--n-test", "3"]) == 0
    counts = {s: len((tmp_path / "out" / f"ljs_audio_text_{s}_filelist.txt").read_text().splitlines())
              for s in ("train", "val", "test")}
    assert counts == {"train": 15, "val": 2, "test": 3}


@pytest.fixture
def small_reference_split(tmp_path, monkeypatch) -> dict[str, list[str]]:
    """A reference split of a few ids (the adapter reads wav headers, so a real one would need 13,100)."""
    lists = {"train": ["LJ001-0003", "LJ001-0001"], "val": ["LJ001-0002"], "test": ["LJ001-0004"],
             "train_subset_64": ["LJ001-0001"], "train_subset_300": ["LJ001-0003"],
             "train_subset_625": ["LJ001-0001"], "train_subset_1250": ["LJ001-0003", "LJ001-0001"],
             "train_subset_2500": ["LJ001-0001"]}
    folder = tmp_path / "split"
    folder.mkdir()
    for name, ids in lists.items():
        (folder / f"{name}.ids").write_text("\n".join(ids) + "\n")
    monkeypatch.setattr(dataset_split, "SPLIT_DIR", folder)
    return lists


def test_adapter_uses_the_reference_split(tmp_path, small_reference_split, capsys):
    ljs = tmp_path / "LJSpeech-1.1"
    ids = ["LJ001-0001", "LJ001-0002", "LJ001-0003", "LJ001-0004", "LJ009-0009"]
    write_metadata(ljs / "metadata.csv", ids)
    (ljs / "wavs").mkdir()
    for utt_id in ids:
        sf.write(str(ljs / "wavs" / f"{utt_id}.wav"), np.zeros(2205), 22050, subtype="PCM_16")
    out = tmp_path / "out"
    assert prepare_main(["ljspeech", "--input", str(ljs), "--output", str(out), "--no-progress"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert {m["id"]: m["split"] for m in manifest} == {
        "LJ001-0001": "train", "LJ001-0002": "val", "LJ001-0003": "train", "LJ001-0004": "test"}
    report = json.loads((out / "prepare_report.json").read_text())
    assert report["skipped_by_kind"] == {"not_in_reference_split": 1}
    lines = (out / "filelists" / "ljs_audio_text_train_subset_1250_filelist.txt").read_text().splitlines()
    assert lines == ["wavs/LJ001-0003.wav|spoken LJ001-0003.", "wavs/LJ001-0001.wav|spoken LJ001-0001."]
    mel = (out / "filelists" / "ljs_mel_text_val_filelist.txt").read_text().splitlines()
    assert mel == ["mels/LJ001-0002.pt|spoken LJ001-0002."]

    (ljs / "wavs" / "LJ001-0002.wav").unlink()  # a reference id without its wav
    assert prepare_main(["ljspeech", "--input", str(ljs), "--output", str(tmp_path / "o2"),
                         "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "1 id(s) of the reference's LJSpeech split are missing: LJ001-0002" in err


def test_prepare_dataset_script_writes_the_reference_filelists(tmp_path):
    root = Path(__file__).resolve().parents[1]
    lists = reference_split_ids()
    write_metadata(tmp_path / "data" / "LJSpeech-1.1" / "metadata.csv",
                   sorted({i for ids in lists.values() for i in ids}))
    env = {"PATH": os.environ["PATH"], "DATA_DIR": str(tmp_path / "data"),
           "FILELISTS": str(tmp_path / "filelists"), "LINK": "0"}
    proc = subprocess.run(["bash", str(root / "scripts" / "prepare_dataset.sh")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    subset = (tmp_path / "filelists" / "ljs_mel_text_train_subset_2500_filelist.txt").read_text().splitlines()
    assert len(subset) == 2500 and subset[0].startswith("LJSpeech-1.1/mels/")
    audio = (tmp_path / "filelists" / "ljs_audio_text_train_subset_1250_filelist.txt").read_text()
    assert len(audio.splitlines()) == 1250
    assert "train with -d ./ (the reference's default)" in proc.stdout

"""Issue 17's bad-input failures (5, 6, 8, 9, 13), one test each: every bad input gets a one-line error
naming its file, line or flag, or, under --skip-bad-files, a counted skip named in skipped.txt."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from test_run import run_args

import run
from common.filelist import read_filelist, write_filelist
from common.log_reader import read_nvlog
from common.prepare_mels import prepare_mels


def summary_of(out: Path) -> dict:
    return [r for r in read_nvlog(out / "nvlog.json") if r.get("step") == []][-1]["data"]


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "error" in line]


@pytest.fixture(scope="module")
def mel_corpus(tiny_corpus, tmp_path_factory) -> tuple[Path, Path, Path]:
    """(dataset, mel train filelist, mel val filelist): the tiny corpus's mels in a folder of their own."""
    root = tmp_path_factory.mktemp("mels")
    lists = []
    for name in ("short_train", "short_val"):
        entries = read_filelist(tiny_corpus / f"{name}.txt")
        write_filelist(root / f"{name}_audio.txt", entries, multi_speaker=False)
        lists.append(root / f"{name}_audio.txt")
    summary = prepare_mels(tiny_corpus, lists, output_dir=root / "mels", jobs=1, progress=False)
    return tiny_corpus, *summary.mel_filelists


def test_5_corrupt_empty_and_foreign_mels_are_named_or_counted(mel_corpus, tmp_path, capsys):
    dataset, train, val = mel_corpus
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    (bad_dir / "empty.pt").write_bytes(b"")
    (bad_dir / "corrupt.pt").write_bytes(b"\x80\x02garbage" * 20)
    torch.save({"mel": torch.zeros(80, 20)}, bad_dir / "foreign.pt")
    good = torch.load(read_filelist(train)[0].audio_path, weights_only=True)
    (bad_dir / "truncated.pt").write_bytes(Path(read_filelist(train)[0].audio_path).read_bytes()[:200])
    torch.save(torch.zeros(80, 0), bad_dir / "zero.pt")
    assert good.size(1) > 0
    filelist = tmp_path / "mixed.txt"
    lines = train.read_text().splitlines()
    bad_lines = [f"{bad_dir / name}.pt|{text}" for name, text in
                 [("empty", "an empty file"), ("corrupt", "a corrupt file"), ("foreign", "a dict"),
                  ("truncated", "half a file"), ("zero", "no frames")]]
    filelist.write_text("\n".join(lines[:3] + bad_lines + lines[3:]) + "\n")  # bad ones on lines 4-8
    out = tmp_path / "out"
    args = run_args(dataset, out, "Tacotron2", 1, "-lr", "1e-3", "--load-mel-from-disk",
                    "--num-workers", "1", "-bs", "11")  # the last flags win: one batch, loaded in a worker
    args[args.index("--training-files") + 1] = str(filelist)
    args[args.index("--validation-files") + 1] = str(val)
    assert run.main(args) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(error_lines(err)) == 1, err
    # the first bad item of the shuffled batch is named by its line and file
    line = int(re.search(r"mixed\.txt:(\d+): ", err).group(1))
    assert 4 <= line <= 8 and bad_lines[line - 4].split("|")[0] in err
    assert "--skip-bad-files" in err

    assert run.main([*args, "--skip-bad-files"]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    summary = summary_of(out)
    counts = (summary["skipped_utterances"], summary["skipped_unreadable"], summary["skipped_empty_mel"])
    assert counts == (5, 4, 1)
    report = (out / "skipped.txt").read_text().splitlines()
    assert [line.split(": ", 1)[0] for line in report] == [f"{filelist}:{n}" for n in range(4, 9)]
    assert "weights-only loader" in report[1] and "[unreadable]" in report[1]
    assert "expected a mel tensor (80, frames), got dict" in report[2]
    assert "the mel has 0 frames [empty_mel]" in report[4]

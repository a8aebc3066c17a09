"""Issue 17's bad-input failures (5, 6, 8, 9, 13), one test each: every bad input gets a one-line error
naming its file, line or flag, or, under --skip-bad-files, a counted skip named in skipped.txt."""

from __future__ import annotations

import codecs
import errno
import os
import re
from pathlib import Path

import pytest
import torch
from test_run import run_args

import run
from common.data_tools.prepare_mels import prepare_mels
from common.filelist import read_filelist, write_filelist
from common.log_reader import read_nvlog


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


def test_6_a_byte_order_mark_is_dropped_from_line_1(tiny_corpus, tmp_path, capsys):
    text = (tiny_corpus / "short_train.txt").read_text()
    bom = tmp_path / "bom.txt"
    bom.write_bytes(codecs.BOM_UTF8 + text.encode())
    assert read_filelist(bom)[0].audio_path == text.split("|", 1)[0]
    out = tmp_path / "out"
    args = run_args(tiny_corpus, out, "Tacotron2", 1, "-lr", "1e-3", "-bs", "6", "--skip-bad-files")
    args[args.index("--training-files") + 1] = str(bom)
    assert run.main(args) == 0
    assert summary_of(out)["skipped_utterances"] == 0 and not (out / "skipped.txt").exists()
    # prepare_mels saw "\ufeffwavs/x.wav" and "wavs/x.wav" as two wavs bound for one mel file
    plain = tmp_path / "plain_audio.txt"
    plain.write_text(text.splitlines()[0] + "\n")
    summary = prepare_mels(tiny_corpus, [bom, plain], output_dir=tmp_path / "mels", jobs=1, progress=False)
    assert (summary.n_entries, summary.n_files) == (7, 6)
    assert read_filelist(summary.mel_filelists[0])[0].audio_path == str(tmp_path / "mels" / Path(
        text.split("|", 1)[0]).with_suffix(".pt").name)


def test_9_rejected_transcripts_are_counted_and_named(tiny_corpus, tmp_path, capsys):
    lines = (tiny_corpus / "short_train.txt").read_text().splitlines()
    wavs = [line.split("|", 1)[0] for line in lines]
    filelist = tmp_path / "texts.txt"
    # line 7 cleans to a single space ("#" and "%" are no symbols), line 8 has no known symbol at all
    filelist.write_text("\n".join([*lines, f"{wavs[0]}|# %", f"{wavs[1]}|###"]) + "\n")
    out = tmp_path / "out"
    args = run_args(tiny_corpus, out, "Tacotron2", 1, "-lr", "1e-3", "-bs", "6")
    args[args.index("--training-files") + 1] = str(filelist)
    assert run.main(args) == 1
    err = capsys.readouterr().err
    assert len(error_lines(err)) == 1 and "Traceback" not in err
    assert f"{filelist}:7: transcript is empty after cleaning (only spaces are left of '# %')" in err
    assert run.main([*args, "--skip-bad-files"]) == 0
    summary = summary_of(out)
    assert (summary["skipped_utterances"], summary["skipped_no_text"]) == (2, 2)
    assert (out / "skipped.txt").read_text().splitlines() == [
        f"{filelist}:7: transcript is empty after cleaning (only spaces are left of '# %') [no_text]",
        f"{filelist}:8: transcript has no known symbol: '###' [no_text]",
    ]
    assert f"skipped 2 utterances (2 no_text): listed in {out / 'skipped.txt'}" in capsys.readouterr().out


def test_13_minor_failures(tiny_corpus, tmp_path, capsys):
    # a non-UTF-8 filelist line is named by its number, in run.py and in inference.py
    lines = (tiny_corpus / "short_train.txt").read_text().splitlines()
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("\n".join([lines[0], lines[1], "wavs/x.wav|caf\xe9"]).encode("latin-1") + b"\n")
    args = run_args(tiny_corpus, tmp_path / "out", "Tacotron2", 1, "-lr", "1e-3")
    args[args.index("--training-files") + 1] = str(latin1)
    assert run.main(args) == 1
    assert (f"cannot read filelist {latin1}: line 3 is not valid utf-8 (byte 0xe9 at column 15: invalid "
            "continuation byte)") in capsys.readouterr().err
    import inference

    assert inference.main(["-i", str(latin1), "-o", str(tmp_path / "speech"), "--tacotron2", "x.pt"]) == 1
    assert f"-i/--input: {latin1}: line 3 is not valid utf-8" in capsys.readouterr().err

    # an empty checkpoint gets a reason
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    assert run.main(run_args(tiny_corpus, tmp_path / "o2", "Tacotron2", 1, "-lr", "1e-3",
                             "--checkpoint-path", str(empty))) == 1
    assert f"cannot load checkpoint {empty}: the file is empty (0 bytes)" in capsys.readouterr().err

    # hints name real fixes, not keyword arguments
    import numpy as np
    import soundfile as sf

    from common.audio import AudioError, load_wav

    sf.write(tmp_path / "stereo.wav", np.zeros((2000, 2), dtype=np.int16), 16000, subtype="PCM_16")
    with pytest.raises(AudioError) as stereo:
        load_wav(tmp_path / "stereo.wav", sampling_rate=16000)
    sf.write(tmp_path / "slow.wav", np.zeros(2000, dtype=np.int16), 16000, subtype="PCM_16")
    with pytest.raises(AudioError) as slow:
        load_wav(tmp_path / "slow.wav")
    for message in (str(stereo.value), str(slow.value)):
        assert "=True" not in message and "python scripts/prepare_data.py custom" in message
    assert "or set --sampling-rate 16000 where every file has that rate" in str(slow.value)

    # a very long utterance trains with a warning naming the limit flag (here the limit is 4 x 3 frames)
    out = tmp_path / "long"
    assert run.main(run_args(tiny_corpus, out, "Tacotron2", 1, "-lr", "1e-3", "-bs", "6",
                             "--max-decoder-steps", "4")) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 8  # every training and validation utterance, each once
    assert warnings[0].endswith("set --max-mel-length 12 to skip such utterances")
    assert re.match(r"warning: .*short_(train|val)\.txt:\d: \d+ mel frames \(\d+ s\) exceed the 12 frames "
                    r"the model can synthesise \(--max-decoder-steps x --n-frames-per-step\)", warnings[0])
    # and --max-mel-length skips the longer ones (of the training set only), named as too long
    frames = {m.group(1): int(m.group(2)) for m in
              (re.search(r"(short_train\.txt:\d): (\d+) mel frames", w) for w in warnings) if m}
    limit = sorted(frames.values())[2]
    too_long = sorted(where for where, n in frames.items() if n > limit)
    out = tmp_path / "limited"
    assert run.main(run_args(tiny_corpus, out, "Tacotron2", 1, "-lr", "1e-3", "-bs", "6",
                             "--max-mel-length", str(limit))) == 0
    assert summary_of(out)["skipped_too_long"] == len(too_long) == 3
    report = (out / "skipped.txt").read_text().splitlines()
    assert [line.split(": ")[0].rsplit("/", 1)[1] for line in report] == too_long
    assert report[0].endswith(f"mel frames, over --max-mel-length {limit} [too_long]")


def test_8_full_disk_and_unwritable_folders_give_one_line_and_lose_nothing(tiny_corpus, tmp_path, capsys,
                                                                           monkeypatch):
    real_save = torch.save
    calls: list = []

    def disk_fills_at(n: int):
        def save(obj, f, *args, **kwargs):
            calls.append(f)
            if len(calls) == n:
                f.write(b"half a file") if hasattr(f, "write") else None
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real_save(obj, f, *args, **kwargs)
        calls.clear()
        return save

    def one_error_line(expected: str) -> None:
        err = capsys.readouterr().err
        assert "Traceback" not in err and error_lines(err) == [expected], err

    # run.py: the disk fills while the epoch-1 checkpoint is written; epoch 0's stays, with _last on it
    out = tmp_path / "out"
    monkeypatch.setattr(torch, "save", disk_fills_at(2))
    assert run.main(run_args(tiny_corpus, out, "Tacotron2", 2, "-lr", "1e-3", "--max-steps-per-epoch", "1",
                             "--epochs-per-checkpoint", "1")) == 1
    monkeypatch.setattr(torch, "save", real_save)
    one_error_line(f"run.py: error (rank 0): cannot write {out / 'checkpoint_Tacotron2_1.pt'}: no space left "
                   "on device; free some space or choose another -o/--output; files written before are "
                   "intact")
    checkpoint = out / "checkpoint_Tacotron2_0.pt"
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 0
    last = out / "checkpoint_Tacotron2_last.pt"
    assert last.resolve() == checkpoint.resolve()
    assert sorted(p.name for p in out.glob("checkpoint_*")) == [checkpoint.name, last.name]
    assert not list(out.glob("*.tmp")) and (out / "nvlog.json").stat().st_size > 0

    # an output folder that cannot be made (its parent is a file), for each entry point
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert run.main(run_args(tiny_corpus, blocker / "out", "Tacotron2", 1, "-lr", "1e-3")) == 1
    one_error_line(f"run.py: error (rank 0): cannot write {blocker / 'out'}: not a directory; choose a "
                   "writable -o/--output folder (or fix its permissions)")
    import inference

    phrases = tmp_path / "phrases.txt"
    phrases.write_text("hello there\n")
    assert inference.main(["-i", str(phrases), "-o", str(blocker / "speech"), "--tacotron2", str(checkpoint),
                           "--cpu", "--max-decoder-steps", "3"]) == 1
    one_error_line(f"inference.py: error: cannot write {blocker / 'speech'}: not a directory; choose a "
                   "writable -o/--output folder (or fix its permissions)")
    from common.export.cli import main as export_main

    assert export_main(["torchscript", "--tacotron2", str(checkpoint), "-o", str(blocker / "exported")]) == 2
    one_error_line(f"error: cannot write {blocker / 'exported'}: not a directory; choose a writable "
                   "-o/--output folder (or fix its permissions)")
    from common.data_tools.prepare_mels import main as prepare_main

    filelist = tmp_path / "audio.txt"
    filelist.write_text((tiny_corpus / "short_val.txt").read_text())
    mels = ["-d", str(tiny_corpus), "--filelists", str(filelist), "--jobs", "1", "--quiet"]
    assert prepare_main([*mels, "--output-dir", str(blocker / "mels")]) == 2
    one_error_line(f"error: cannot write {blocker / 'mels'}: not a directory; choose a writable --output-dir "
                   "folder (or fix its permissions)")

    # prepare_mels: a full disk while recomputing leaves the mels and the mel filelist of the first run
    assert prepare_main([*mels, "--output-dir", str(tmp_path / "mels")]) == 0
    before = {p.name: p.read_bytes() for p in [*(tmp_path / "mels").iterdir(), tmp_path / "mel.txt"]}
    assert len(before) == 3
    monkeypatch.setattr(torch, "save", disk_fills_at(2))
    assert prepare_main([*mels, "--output-dir", str(tmp_path / "mels"), "--overwrite"]) == 2
    monkeypatch.setattr(torch, "save", real_save)
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(error_lines(err)) == 1
    assert re.fullmatch(rf"error: cannot write {re.escape(str(tmp_path / 'mels'))}/\w+\.pt: no space left "
                        r"on device; free some space or choose another --output-dir; files written before "
                        r"are intact", err.strip()), err
    assert {p.name: p.read_bytes() for p in [*(tmp_path / "mels").iterdir(), tmp_path / "mel.txt"]} == before

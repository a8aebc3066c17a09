"""`run.py` end to end on the offline corpus: loss falls, resume is bitwise, bad input is named, 2 workers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import run
from common.log_reader import metric_series, parameters, read_nvlog
from common.models import get_model_spec

ROOT = Path(__file__).resolve().parents[1]


def run_args(corpus: Path, out: Path, model: str, epochs: int, *extra: str) -> list[str]:
    tiny = get_model_spec(model).tiny_flags
    return ["-m", model, "-o", str(out), "-d", str(corpus),
            "--training-files", str(corpus / "short_train.txt"),
            "--validation-files", str(corpus / "short_val.txt"), "--epochs", str(epochs), "-bs", "3",
            "--cpu", "--seed", "5", "--num-workers", "0", *tiny, *extra]


def final_state(out: Path, model: str) -> dict:
    return torch.load(out / f"checkpoint_{model}_last.pt", weights_only=True)


@pytest.mark.parametrize("model, lr, epochs", [("Tacotron2", "5e-3", 8), ("WaveGlow", "2e-3", 8)])
def test_loss_falls_on_the_offline_corpus(tiny_corpus, tmp_path, model, lr, epochs):
    assert run.main(run_args(tiny_corpus, tmp_path, model, epochs, "-lr", lr)) == 0
    records = read_nvlog(tmp_path / "nvlog.json")
    per_iteration = metric_series(records, "train_loss", "iteration")
    first = per_iteration[0][1]
    last_epoch = metric_series(records, "train_loss", "epoch")[-1][1]
    # the epoch value is the mean of that epoch's iterations
    last_iters = [value for step, value in per_iteration if step[0] == epochs - 1]
    assert last_epoch == pytest.approx(sum(last_iters) / len(last_iters))
    drop = first - last_epoch
    # Tacotron 2 starts near 80 (log-mel MSE, twice); WaveGlow's loss goes negative as it learns
    assert drop > (0.5 * first if model == "Tacotron2" else 0.3), (first, last_epoch)
    assert metric_series(records, "val_loss", "epoch"), "validation ran every epoch"
    if model == "Tacotron2":
        focus = metric_series(records, "val_attention_focus", "epoch")
        assert len(focus) == epochs and all(0 < value <= 1 for _, value in focus)
    assert parameters(records)["model_name"] == model


@pytest.mark.parametrize("model", ["Tacotron2", "WaveGlow"])
def test_resume_is_bitwise(tiny_corpus, tmp_path, model):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    common = ["-lr", "1e-3", "--num-workers", "1"]
    assert run.main(run_args(tiny_corpus, straight, model, 2, *common)) == 0
    assert run.main(run_args(tiny_corpus, resumed, model, 1, *common)) == 0
    assert run.main(run_args(tiny_corpus, resumed, model, 2, *common, "--resume-from-last")) == 0
    a, b = final_state(straight, model), final_state(resumed, model)
    assert a["epoch"] == b["epoch"] == 1
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key
    for key, state in a["optimizer"]["state"].items():
        for name, value in state.items():
            assert torch.equal(value, b["optimizer"]["state"][key][name]), (key, name)
    first_epoch = torch.load(straight / f"checkpoint_{model}_0.pt", weights_only=True)
    assert not all(torch.equal(first_epoch["state_dict"][k], a["state_dict"][k]) for k in a["state_dict"])


def test_bad_filelist_line_is_named_without_traceback(tiny_corpus, tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text((tiny_corpus / "short_train.txt").read_text() + "wavs/x.wav\n")
    args = run_args(tiny_corpus, tmp_path / "o", "Tacotron2", 1, "-lr", "1e-3")
    args[args.index("--training-files") + 1] = str(bad)
    assert run.main(args) == 1
    err = capsys.readouterr().err
    assert "bad.txt:7" in err and "expected 2 fields" in err and "Traceback" not in err


def test_missing_audio_file_is_named_and_can_be_skipped(tiny_corpus, tmp_path, capsys):
    lines = (tiny_corpus / "short_train.txt").read_text().splitlines()
    bad = tmp_path / "missing.txt"
    bad.write_text("\n".join(["wavs/nope.wav|a missing file"] + lines) + "\n")
    args = run_args(tiny_corpus, tmp_path / "o", "Tacotron2", 1, "-lr", "1e-3", "--max-steps-per-epoch", "3")
    args[args.index("--training-files") + 1] = str(bad)
    args[args.index("-bs") + 1] = "7"
    assert run.main(args) == 1
    err = capsys.readouterr().err
    assert "missing.txt:1" in err and "nope.wav" in err and "--skip-bad-files" in err
    assert run.main([*args, "--skip-bad-files"]) == 0  # one batch of all 7: the missing one is dropped
    summary = [r for r in read_nvlog(tmp_path / "o" / "nvlog.json") if r.get("step") == []][-1]["data"]
    assert summary["skipped_utterances"] == 1


def test_checkpoint_of_another_model_or_config_is_a_clear_error(tiny_corpus, tmp_path, capsys):
    wg = tmp_path / "wg"
    one_step = run_args(tiny_corpus, wg, "WaveGlow", 1, "-lr", "1e-3", "--max-steps-per-epoch", "1")
    assert run.main(one_step) == 0
    args = run_args(tiny_corpus, tmp_path / "t", "Tacotron2", 1, "-lr", "1e-3",
                    "--checkpoint-path", str(wg / "checkpoint_WaveGlow_last.pt"))
    assert run.main(args) == 1
    assert "is a WaveGlow checkpoint, not Tacotron2" in capsys.readouterr().err
    other = run_args(tiny_corpus, tmp_path / "wg2", "WaveGlow", 1, "-lr", "1e-3", "--checkpoint-path",
                     str(wg / "checkpoint_WaveGlow_last.pt"))
    other[other.index("--wn-channels") + 1] = "8"
    assert run.main(other) == 1
    err = capsys.readouterr().err
    assert "WN_config" in err and "'n_channels': 16" in err and "Traceback" not in err


def test_two_cpu_workers_train_through_multiproc(tiny_corpus, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, str(ROOT / "multiproc.py"), "--nproc", "2", str(ROOT / "run.py"),
           *run_args(tiny_corpus, out, "Tacotron2", 1, "-lr", "1e-3"), "-bs", "1",
           "--max-steps-per-epoch", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = read_nvlog(out / "nvlog.json")
    assert parameters(records)["world_size"] == 2
    assert len(metric_series(records, "train_loss", "iteration")) == 2
    assert (out / "checkpoint_Tacotron2_0.pt").exists()


def test_time_budget_stops_inside_a_long_epoch_and_checkpoints(tiny_corpus, tmp_path):
    args = run_args(tiny_corpus, tmp_path, "WaveGlow", 5, "-lr", "1e-3", "--time-budget", "0.0001")
    args[args.index("-bs") + 1] = "1"  # 6 iterations per epoch
    assert run.main(args) == 0
    records = read_nvlog(tmp_path / "nvlog.json")
    assert len(metric_series(records, "train_loss", "iteration")) == 1
    summary = [r for r in records if r.get("step") == []][-1]["data"]
    # stopped inside epoch 0: no epoch is complete, and the checkpoint says where the epoch stopped
    assert summary["epochs_done"] == 0 and summary["stopped_by"] == "time budget"
    position = torch.load(tmp_path / "checkpoint_WaveGlow_0.pt", weights_only=True)["position"]
    assert position["epoch"] == 0 and position["next_iteration"] == 1


def test_cpu_training_flushes_denormal_floats(tiny_corpus, tmp_path):
    """Denormal floats make CPU math slow late in a run (common/training/loop.py): training flushes them."""
    torch.set_flush_denormal(False)
    try:
        assert float(torch.tensor([1e-40]) * 1.0) != 0.0, "a denormal survives by default"
        assert run.main(run_args(tiny_corpus, tmp_path, "Tacotron2", 1, "-lr", "1e-3")) == 0
        assert float(torch.tensor([1e-40]) * 1.0) == 0.0
    finally:
        torch.set_flush_denormal(False)

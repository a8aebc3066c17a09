"""What a user of the reference relies on: `train.py`, `multiproc.py` from any folder, the run-log keys at the
reference's steps, and one-line errors."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from test_run import run_args

import run
from common.arg_parser import REQUIRED, parse_args
from common.log_reader import read_nvlog

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_MD = ROOT.parent / "shared" / "reference" / "REFERENCE.md"

# REFERENCE.md, "Run log": the keys the reference's training loop logs at each step kind (a copy, so the
# test runs where ../shared is absent; test_key_list_matches_reference_md checks it against the page)
REFERENCE_KEYS = {
    "iteration": {"train_loss", "train_items_per_sec", "train_iter_time", "glob_iter/iters_per_epoch"},
    "epoch": {"train_items_per_sec", "train_loss", "train_epoch_time", "val_loss", "val_items_per_sec"},
    "learning rate change": {"learning_rate changed"},
    "summary": {"run_time", "val_loss", "train_loss", "train_items_per_sec", "val_items_per_sec"},
    "metadata": {"run_time", "val_loss", "train_items_per_sec", "val_items_per_sec"},
}


def test_key_list_matches_reference_md():
    if not REFERENCE_MD.exists():
        pytest.skip("../shared/reference/REFERENCE.md is not here (outside the development checkout)")
    text = REFERENCE_MD.read_text(encoding="utf-8")
    section = text[text.index("Where each key appears"):text.index("Inference metrics")]
    lines = {"iteration": "- step [epoch, iteration]:", "epoch": "- step [epoch]:",
             "learning rate change": "- step [epoch, iteration] when", "summary": "- step [] at the end:",
             "metadata": "- METADATA lines for"}
    bullets = re.split(r"\n(?=- )", section)
    for kind, start in lines.items():
        (bullet,) = [b for b in bullets if b.startswith(start)]
        assert set(re.findall(r"`([^`]+)`", bullet)) == REFERENCE_KEYS[kind], kind


def test_run_log_has_the_reference_keys_at_the_reference_steps(tiny_corpus, tmp_path):
    argv = run_args(tiny_corpus, tmp_path, "WaveGlow", 2, "-lr", "1e-3", "--anneal-steps", "1",
                    "--max-steps-per-epoch", "2")
    assert run.main(argv) == 0
    records = read_nvlog(tmp_path / "nvlog.json")
    merged: dict[tuple, dict] = {}  # every record of a step, as a reader of the reference's logs sees it
    changes = []
    for record in records:
        if record["type"] != "LOG" or not isinstance(record["step"], list):
            continue
        data, step = record["data"], tuple(record["step"])
        if "learning_rate changed" in data:
            changes.append((list(step), data["learning_rate changed"]))
        merged.setdefault(step, {}).update(data)
    kinds = {2: "iteration", 1: "epoch", 0: "summary"}
    assert sorted(len(step) for step in merged) == [0] + [1] * 2 + [2] * 4
    for step, data in merged.items():
        kind = kinds[len(step)]
        assert REFERENCE_KEYS[kind] <= set(data), (step, REFERENCE_KEYS[kind] - set(data))
    iterations = [data for step, data in merged.items() if len(step) == 2]
    assert changes == [([1, 0], "0.001 -> 0.0001")]
    assert [d["glob_iter/iters_per_epoch"] for d in iterations] == ["1/2", "2/2", "3/2", "4/2"]
    metadata = {r["metric"] for r in records if r["type"] == "METADATA"}
    assert REFERENCE_KEYS["metadata"] <= metadata


def test_train_py_is_run_py_under_the_reference_name():
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), "-m", "Tacotron2", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: train.py -m Tacotron2")
    assert "--grad-accumulation" in proc.stdout and "--n-frames-per-step" in proc.stdout
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), "--epochs", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "run.py: error: the following arguments are required" in proc.stderr


def test_multiproc_finds_train_py_from_any_folder(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "multiproc.py"), "--nproc", "1", "train.py", "--help"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: train.py")
    proc = subprocess.run([sys.executable, str(ROOT / "multiproc.py"), "nothere.py"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"multiproc.py: error: training script nothere.py not found (looked in {tmp_path} and {ROOT})"]


def test_python_m_multiproc_train_py_pastes(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "multiproc", "train.py", "-m", "WaveGlow", "--help"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: train.py -m WaveGlow")


def test_tensorboard_missing_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    argv = ["-m", "WaveGlow", "-o", str(tmp_path / "out"), "--epochs", "1", "-lr", "1e-3", "-bs", "1",
            "--cpu", "--tensorboard-dir", str(tmp_path / "tb")]
    assert run.main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"run.py: error (rank 0): TensorBoard logging to {tmp_path / 'tb'} needs the "
                             "'tensorboard' package")


def script_command(script: Path) -> list[str]:
    """The `python -m multiproc train.py ...` command of a recipe script, as train.py's arguments."""
    text = script.read_text().replace("\\\n", " ")
    (line,) = [ln for ln in text.splitlines() if ln.startswith("python -m multiproc train.py")]
    return [tok for tok in shlex.split(line)[4:] if tok != "$@"]


@pytest.mark.parametrize("script, expected", [
    ("train_tacotron2.sh", {"model_name": "Tacotron2", "learning_rate": 1e-3, "epochs": 1501,
                            "batch_size": 48, "weight_decay": 1e-6, "grad_clip_thresh": 1.0,
                            "anneal_steps": [500, 1000, 1500], "anneal_factor": 0.1,
                            "cudnn_enabled": True, "amp": False, "load_mel_from_disk": True}),
    ("train_waveglow.sh", {"model_name": "WaveGlow", "learning_rate": 1e-4, "epochs": 1001, "batch_size": 4,
                           "segment_length": 8000, "weight_decay": 0.0,
                           "grad_clip_thresh": 3.4028234663852886e38, "cudnn_benchmark": True, "amp": False}),
])
def test_recipe_scripts_hold_the_reference_commands(script, expected):
    argv = script_command(ROOT / "scripts" / script)
    parser, _ = run.build_parser(argv)
    args = parse_args(parser, argv, REQUIRED)
    assert {key: getattr(args, key) for key in expected} == expected
    assert args.output == "./output/" and args.log_file == "nvlog.json"

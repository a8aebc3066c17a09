"""A model folder of a GAN's shape plugs into the registry: a toy generator/discriminator with two AdamW
optimizers, ExponentialLR per epoch and alternating steps trains, checkpoints and resumes bitwise through
`run.py` (tests/toy_gan.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from toy_gan import ToyGanRecipe

import run
from common.log_reader import metric_series, read_nvlog
from common.models import MODELS, register_model


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.setitem(MODELS, "ToyGAN", MODELS.get("ToyGAN"))  # removed again after the test
    register_model("ToyGAN", ToyGanRecipe)
    return "ToyGAN"


def toy_args(tmp_path: Path, out: Path, epochs: int, *extra: str) -> list[str]:
    train, val = tmp_path / "train.txt", tmp_path / "val.txt"
    train.write_text("".join(f"wavs/{i}.wav|line {i}\n" for i in range(12)))
    val.write_text("".join(f"wavs/v{i}.wav|line {i}\n" for i in range(4)))
    return ["-m", "ToyGAN", "-o", str(out), "-d", str(tmp_path), "--training-files", str(train),
            "--validation-files", str(val), "--epochs", str(epochs), "-bs", "4", "-lr", "1e-2", "--cpu",
            "--seed", "3", "--num-workers", "0", *extra]


def test_two_optimizer_model_trains_and_resumes_bitwise(toy_registered, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert run.main(toy_args(tmp_path, straight, 3)) == 0
    assert run.main(toy_args(tmp_path, resumed, 1)) == 0
    assert run.main(toy_args(tmp_path, resumed, 3, "--resume-from-last")) == 0
    a = torch.load(straight / "checkpoint_ToyGAN_last.pt", weights_only=True)
    b = torch.load(resumed / "checkpoint_ToyGAN_last.pt", weights_only=True)
    assert a["epoch"] == b["epoch"] == 2
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key
    # both optimizers and both schedulers are saved and resumed
    assert set(a["schedulers"]) == {"generator", "discriminator"}
    optimizers_a = {"generator": a["optimizer"], **a["optimizers"]}
    optimizers_b = {"generator": b["optimizer"], **b["optimizers"]}
    assert set(optimizers_a) == {"generator", "discriminator"}
    for name in optimizers_a:
        for key, state in optimizers_a[name]["state"].items():
            for field, value in state.items():
                assert torch.equal(value, optimizers_b[name]["state"][key][field]), (name, key, field)
        assert optimizers_a[name]["param_groups"][0]["lr"] == pytest.approx(1e-2 * 0.9 ** 3)
        assert optimizers_b[name]["param_groups"][0]["lr"] == optimizers_a[name]["param_groups"][0]["lr"]
    assert a["schedulers"] == b["schedulers"]
    # the generator learned (its L1 falls) and the alternating steps logged both losses
    records = read_nvlog(straight / "nvlog.json")
    l1 = [value for _, value in metric_series(records, "train_loss", "epoch")]
    assert l1[-1] < l1[0]
    assert metric_series(records, "train_generator", "iteration")
    assert metric_series(records, "train_discriminator", "iteration")
    first = torch.load(straight / "checkpoint_ToyGAN_0.pt", weights_only=True)
    assert not all(torch.equal(first["state_dict"][k], a["state_dict"][k]) for k in a["state_dict"])


def test_two_optimizer_model_refuses_gradient_accumulation(toy_registered, tmp_path, capsys):
    assert run.main(toy_args(tmp_path, tmp_path / "o", 1, "--grad-accumulation", "2")) == 1
    assert "--grad-accumulation 2" in capsys.readouterr().err

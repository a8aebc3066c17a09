"""`--grad-accumulation N`: N micro-batches of B give the update of one batch of N x B (WaveGlow: no
BatchNorm, no dropout, a per-item mean loss), including the short last group of an epoch and AMP's loss
scale."""

from __future__ import annotations

import pytest
import torch
from test_run import run_args

import run
from common.arg_parser import REQUIRED, parse_args
from common.log_reader import read_nvlog
from common.models import get_model_spec
from common.training import Trainer


def trainer_for(corpus, out, batch_size: int, accumulation: int, batches: int) -> Trainer:
    """A WaveGlow trainer over `batches` batches of one epoch, without clipping (it would hide a scale)."""
    argv = run_args(corpus, out, "WaveGlow", 1, "-lr", "1e-3", "-bs", str(batch_size),
                    "--grad-accumulation", str(accumulation), "--max-steps-per-epoch", str(batches),
                    "--grad-clip-thresh", "1e9", "--epochs-per-checkpoint", "1000")
    parser, name = run.build_parser(argv)
    return Trainer(parse_args(parser, argv, REQUIRED), get_model_spec(name))


def run_recording_grads(trainer: Trainer) -> list[list[torch.Tensor]]:
    """Run the trainer; the gradients handed to every optimizer step, in parameter order."""
    grads: list[list[torch.Tensor]] = []
    step = trainer.optimizer.step

    def recording_step(*args, **kwargs):
        grads.append([p.grad.clone() for p in trainer.model.parameters()])
        return step(*args, **kwargs)

    trainer.optimizer.step = recording_step
    trainer.run()
    return grads


def assert_close(a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-6)


@pytest.fixture(scope="module")
def one_batch_of_four(tiny_corpus, tmp_path_factory):
    """Gradients and weights of one step on a batch of 4 (the reference result)."""
    trainer = trainer_for(tiny_corpus, tmp_path_factory.mktemp("bs4"), 4, 1, 1)
    grads = run_recording_grads(trainer)
    return grads, [p.detach().clone() for p in trainer.model.parameters()]


@pytest.mark.parametrize("accumulation", [2, 3])  # 3: the epoch ends after 2 batches, a short last group
def test_two_batches_of_two_equal_one_batch_of_four(tiny_corpus, tmp_path, one_batch_of_four, accumulation):
    expected_grads, expected_weights = one_batch_of_four
    trainer = trainer_for(tiny_corpus, tmp_path, 2, accumulation, 2)
    grads = run_recording_grads(trainer)
    assert len(grads) == len(expected_grads) == 1  # one optimizer step for two micro-batches
    assert_close(grads[0], expected_grads[0])
    assert_close([p.detach() for p in trainer.model.parameters()], expected_weights)
    iterations = [r["data"] for r in read_nvlog(tmp_path / "nvlog.json")
                  if r["type"] == "LOG" and isinstance(r["step"], list) and len(r["step"]) == 2]
    assert [r["glob_iter/iters_per_epoch"] for r in iterations] == ["0/1", "1/1"]
    assert ["grad_norm" in r for r in iterations] == [False, True]


def test_loss_scale_is_removed_before_averaging(tiny_corpus, tmp_path, one_batch_of_four):
    expected_grads, _ = one_batch_of_four
    trainer = trainer_for(tiny_corpus, tmp_path, 2, 2, 2)
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)  # as --amp on CUDA, on the CPU
    grads = run_recording_grads(trainer)
    assert len(grads) == 1
    assert_close(grads[0], expected_grads[0])


def test_without_accumulation_every_batch_steps(tiny_corpus, tmp_path):
    trainer = trainer_for(tiny_corpus, tmp_path, 2, 1, 3)
    assert len(run_recording_grads(trainer)) == 3
    assert trainer.global_step == 3


def test_grad_accumulation_must_be_positive(capsys):
    with pytest.raises(SystemExit):
        run.main(["-m", "WaveGlow", "-o", "x", "--epochs", "1", "-lr", "1", "-bs", "1",
                  "--grad-accumulation", "0"])
    assert "--grad-accumulation: expected a positive integer, got 0" in capsys.readouterr().err


@pytest.mark.slow
def test_two_workers_accumulating_match_one_process_on_the_whole_batch(tiny_corpus, tmp_path):
    """DDP: gradients stay local until the group's last batch, then one all-reduce (2 ranks x 2 batches of 1
    = one batch of 4)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    common = ["-lr", "1e-3", "--grad-clip-thresh", "1e9", "--max-steps-per-epoch"]
    ddp = run_args(tiny_corpus, tmp_path / "ddp", "WaveGlow", 1, *common, "2", "-bs", "1",
                   "--grad-accumulation", "2")
    proc = subprocess.run([sys.executable, str(root / "multiproc.py"), "--nproc", "2", str(root / "run.py"),
                           *ddp], capture_output=True, text=True, timeout=300, cwd=root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert run.main(run_args(tiny_corpus, tmp_path / "one", "WaveGlow", 1, *common, "1", "-bs", "4")) == 0
    got = torch.load(tmp_path / "ddp" / "checkpoint_WaveGlow_last.pt", weights_only=True)["state_dict"]
    expected = torch.load(tmp_path / "one" / "checkpoint_WaveGlow_last.pt", weights_only=True)["state_dict"]
    got = {key.removeprefix("module."): value for key, value in got.items()}
    assert got.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-4, atol=1e-6, msg=key)

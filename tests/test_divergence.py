"""Divergence (common/divergence.py): non-finite steps are skipped, a run of them stops the run with one
line, validation reports NaN instead of crashing, and no checkpoint (nor `_last`) holds a diverged model."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from test_run import run_args

import run
from common.divergence import BufferSnapshot, DivergenceError, DivergenceGuard, nonfinite_names
from common.log_reader import metric_series, read_nvlog


def guard_for(tmp_path: Path, max_skipped: int = 3) -> DivergenceGuard:
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    optimizer = torch.optim.Adam(model.parameters())
    return DivergenceGuard(max_skipped, model, optimizer, tmp_path / "checkpoint_M_last.pt")


def test_skips_in_a_row_stop_at_the_limit_and_an_applied_step_resets_the_count(tmp_path):
    guard = guard_for(tmp_path)
    assert guard.step_ok(1.0, None, "a") and guard.step_ok(1.0, 2.0, "a")
    assert not guard.step_ok(math.nan, None, "e0 i1")
    assert not guard.step_ok(1.0, math.inf, "e0 i2")
    guard.passed()
    assert (guard.streak, guard.total) == (0, 2)
    assert not guard.step_ok(math.inf, None, "x") and not guard.step_ok(math.nan, None, "y")
    with pytest.raises(DivergenceError) as info:
        guard.step_ok(1.0, math.nan, "epoch 4 iteration 7")
    assert str(info.value) == (
        "training diverged: 3 steps in a row were skipped (--max-skipped-steps 3), the last for a non-finite "
        "gradient norm at epoch 4 iteration 7; the weights are finite but the loss is not: lower "
        f"--learning-rate; {tmp_path} holds no earlier checkpoint")
    assert guard.total == 5


def test_non_finite_tensors_are_named_and_block_a_checkpoint(tmp_path):
    guard = guard_for(tmp_path)
    target = tmp_path / "checkpoint_M_2.pt"
    target.write_bytes(b"")
    guard.last_link.symlink_to(target.name)
    guard.check_savable("checkpoint_M_3.pt", 4, 0)  # finite: no error
    guard.check_savable("checkpoint_M_3.pt", None, 0)  # no validation since the last step
    guard.check_savable("checkpoint_M_3.pt", 3, 1)  # one NaN batch of four: a bad item, not divergence
    guard.step_ok(math.nan, None, "epoch 3 iteration 2")
    guard.check_savable("checkpoint_M_3.pt", 4, 0)  # validated after the skip: finite
    with pytest.raises(DivergenceError, match=r"not writing checkpoint_M_3.pt: the last 1 step\(s\) were "
                                              r"skipped as non-finite; "):
        guard.check_savable("checkpoint_M_3.pt", None, 0)  # mid-epoch, right after a skipped step
    guard.passed()
    with pytest.raises(DivergenceError, match=r"^training diverged: not writing checkpoint_M_3.pt: the "
                       r"validation loss is non-finite on every batch \(2\); checkpoint_M_last.pt still "
                       r"points at checkpoint_M_2.pt, the last finite model$"):
        guard.check_savable("checkpoint_M_3.pt", 0, 2)
    with torch.no_grad():
        guard.model[1].running_var[0] = math.inf
        guard.model[0].weight[1, 1] = math.nan
    assert nonfinite_names(guard.model.state_dict().items()) == ["0.weight", "1.running_var"]
    with pytest.raises(DivergenceError, match="not writing checkpoint_M_3.pt: non-finite 0.weight, "
                                              "1.running_var; "):
        guard.check_savable("checkpoint_M_3.pt", 4, 0)
    assert "non-finite weights: 0.weight, 1.running_var" in guard.model_state()
    fresh = guard_for(tmp_path)
    fresh.model(torch.ones(3, 2)).sum().backward()
    fresh.optimizer.step()
    fresh.optimizer.state[fresh.model[0].bias]["exp_avg_sq"][0] = math.nan
    with pytest.raises(DivergenceError, match=r"non-finite optimizer\.1\.exp_avg_sq"):
        fresh.check_savable("checkpoint_M_3.pt", 4, 0)


def test_a_skipped_step_puts_back_the_batchnorm_statistics():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2)).train()
    model(torch.randn(4, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    snapshot = BufferSnapshot(model)
    model(torch.tensor([[math.nan, 1.0], [2.0, 3.0]]))
    assert nonfinite_names(model.state_dict().items()) == ["1.running_mean", "1.running_var"]
    snapshot.restore()
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # num_batches_tracked included


def trainer_for(corpus: Path, out: Path, model: str, *extra: str):
    from common.models import get_model_spec
    from common.training import Trainer

    argv = run_args(corpus, out, model, 1, "-lr", "1e-3", *extra)
    parser, name = run.build_parser(argv)
    from common.arg_parser import REQUIRED, parse_args

    return Trainer(parse_args(parser, argv, REQUIRED), get_model_spec(name))


def one_step(trainer, x, y, where: str) -> tuple[float, float | None]:
    """A whole optimizer step of one batch: (loss, gradient norm or None when the step was skipped)."""
    loss, applied = trainer.train_step(x, y, where=where)
    return loss, trainer.optimizer_step(int(applied), True, where)


def test_a_non_finite_gradient_skips_the_step_without_touching_weights_or_optimizer(tiny_corpus, tmp_path,
                                                                                    request):
    trainer = trainer_for(tiny_corpus, tmp_path, "WaveGlow")
    request.addfinalizer(trainer.close)  # the run lock and the SIGTERM handler
    x, y, _ = trainer.to_device(next(iter(trainer.train_loader)))
    param = next(trainer.model.parameters())
    handle = param.register_hook(lambda grad: grad * math.nan)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    loss, grad_norm = one_step(trainer, x, y, "epoch 0 iteration 0")
    assert math.isfinite(loss) and grad_norm is None
    assert all(torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())
    assert not trainer.optimizer.state and trainer.global_step == 0 and trainer.guard.streak == 1
    handle.remove()
    loss, grad_norm = one_step(trainer, x, y, "epoch 0 iteration 1")
    assert grad_norm is not None and math.isfinite(grad_norm)
    assert trainer.global_step == 1 and trainer.guard.streak == 0 and trainer.guard.total == 1
    assert not torch.equal(before["upsample.weight"], trainer.model.state_dict()["upsample.weight"])


@pytest.mark.parametrize("model", ["Tacotron2", "WaveGlow"])
def test_divergence_stops_after_n_skips_reports_nan_validation_and_keeps_last_finite(tiny_corpus, tmp_path,
                                                                                     model, capsys):
    assert run.main(run_args(tiny_corpus, tmp_path, model, 1, "-lr", "1e-3")) == 0
    # resumed at lr 1e30: epoch 1's first step is finite and ruins the weights; the second is skipped;
    # validation after epoch 1 is NaN (reported, no checkpoint due); epoch 2's two skips reach the limit
    argv = run_args(tiny_corpus, tmp_path, model, 4, "-lr", "1e30", "--resume-from-last",
                    "--max-skipped-steps", "3")
    capsys.readouterr()
    assert run.main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "warning: validation: 1 of 1 batches gave a non-finite loss (val_loss is nan)\n" in err
    assert err.endswith(
        "run.py: error (rank 0): training diverged: 3 steps in a row were skipped (--max-skipped-steps 3), "
        "the last for a non-finite loss at epoch 2 iteration 1; the weights are finite but the loss is not: "
        f"lower --learning-rate; checkpoint_{model}_last.pt still points at checkpoint_{model}_0.pt, the "
        "last finite model\n")
    records = read_nvlog(tmp_path / "nvlog.json")
    assert [v for _, v in metric_series(records, "val_nonfinite_batches", "epoch")] == [1]
    assert math.isnan(metric_series(records, "val_loss", "epoch")[-1][1])
    skipped = [step for step, _ in metric_series(records, "skipped_nonfinite_loss", "iteration")]
    assert skipped == [(1, 1), (2, 0)]  # the third skip stops the run before it is logged
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == [f"checkpoint_{model}_0.pt",
                                                            f"checkpoint_{model}_last.pt"]
    last = torch.load(tmp_path / f"checkpoint_{model}_last.pt", weights_only=True)
    assert last["epoch"] == 0
    assert nonfinite_names(last["state_dict"].items()) == []


def test_a_checkpoint_of_a_diverged_model_is_refused(tiny_corpus, tmp_path, capsys):
    """WaveGlow used to finish with exit 0 and move `_last` onto the diverged model."""
    assert run.main(run_args(tiny_corpus, tmp_path, "WaveGlow", 1, "-lr", "1e-3")) == 0
    argv = run_args(tiny_corpus, tmp_path, "WaveGlow", 3, "-lr", "1e30", "--resume-from-last",
                    "--epochs-per-checkpoint", "1")
    capsys.readouterr()
    assert run.main(argv) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        "run.py: error (rank 0): training diverged: not writing checkpoint_WaveGlow_1.pt: the validation "
        "loss is non-finite on every batch (1); checkpoint_WaveGlow_last.pt still points at "
        "checkpoint_WaveGlow_0.pt, the last finite model")
    assert not (tmp_path / "checkpoint_WaveGlow_1.pt").exists()
    assert (tmp_path / "checkpoint_WaveGlow_last.pt").resolve().name == "checkpoint_WaveGlow_0.pt"

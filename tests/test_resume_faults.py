"""Fault injection: training killed again and again (SIGKILL and SIGTERM, during steps and during checkpoint
writes), resumed each time, ends bitwise where an uninterrupted run ends.

Every model in `common.models.MODELS` is covered through its `tiny_flags`, so a model added to the registry
is tested here without further work. Each run is a fresh process (tests/fault_runner.py injects the fault).
"""

from __future__ import annotations

import random
import subprocess
import sys

import pytest
from test_run import ROOT, final_state, run_args
from test_run_safety import assert_same_training_state

import run
from common.models import MODELS, get_model_spec

RUNNER = ROOT / "tests" / "fault_runner.py"
FAULTS = ("kill@step", "term@step", "kill@save", "term@save")


def fault_args(corpus, out, model: str) -> list[str]:
    """2 epochs of 6 one-utterance steps, a checkpoint every 2 steps and every epoch, one loader worker."""
    return run_args(corpus, out, model, 2, "-lr", "1e-3", "-bs", "1", "--num-workers", "1", "--cpu-threads",
                    "1", "--checkpoint-interval-steps", "2", "--epochs-per-checkpoint", "1",
                    "--resume-from-last")


def train(corpus, out, model: str, fault: str) -> subprocess.CompletedProcess:
    """One training process with `fault` injected (tests/fault_runner.py)."""
    return subprocess.run([sys.executable, str(RUNNER), fault, *fault_args(corpus, out, model)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(MODELS))
def test_killed_and_resumed_training_ends_bitwise_like_an_uninterrupted_run(tiny_corpus, tmp_path, model):
    assert get_model_spec(model).tiny_flags, f"{model}: give its ModelSpec tiny_flags for this test"
    # uninterrupted, in this process (whose earlier tests warmed up any lazily optimised code)
    assert run.main(fault_args(tiny_corpus, tmp_path / "straight", model)) == 0
    rng = random.Random(f"faults-{model}")
    plan = [f"{kind}:{rng.randint(1, 3) if kind.endswith('step') else rng.randint(1, 2)}"
            for kind in rng.sample(FAULTS, len(FAULTS))]
    out = tmp_path / "faulty"
    orphan = False
    for fault in [*plan, "none"]:
        proc = train(tiny_corpus, out, model, fault)
        expected = -9 if fault.startswith("kill") else 0
        assert proc.returncode == expected, (plan, fault, proc.stderr[-2000:])
        if orphan:  # the run after a write cut off half-way removes its temporary file first
            assert "removed 1 orphan temporary checkpoint file" in proc.stdout, (plan, fault)
        if fault.startswith("term"):
            assert "SIGTERM: stopped in epoch" in proc.stdout, (plan, fault)
        orphan = fault.startswith("kill@save")
        if orphan:
            assert list(out.glob("checkpoint_*.tmp")), "a write was cut off half-way"
    assert not list(out.glob("*.tmp"))
    a, b = final_state(tmp_path / "straight", model), final_state(out, model)
    assert (a["epoch"], b["epoch"]) == (1, 1) and "position" not in b
    assert_same_training_state(a, b)

"""One writer per output folder, no silent overwrites, exact mid-epoch resume (issue 17, failures 1-4, 11).

Each test reproduces one failure of the fault-injection audit with `run.py` on the tiny offline corpus.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from test_run import ROOT, final_state, run_args

import run
from common.log_reader import metric_series, read_nvlog
from common.run_lock import RunLock

HOLD_LOCK = ("import sys, time; from common.run_lock import RunLock; lock = RunLock(sys.argv[1]).acquire(); "
             "print('held', flush=True); time.sleep(120)")


def assert_same_training_state(a: dict, b: dict) -> None:
    """Weights and optimizer moments bitwise equal, and the same optimizer step count."""
    assert a["iteration"] == b["iteration"]
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    for key, state in a["optimizer"]["state"].items():
        for name, value in state.items():
            assert torch.equal(value, b["optimizer"]["state"][key][name]), (key, name)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hold_lock(folder: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(folder)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_failure1_second_run_into_a_locked_folder_stops_naming_the_holder(tiny_corpus, tmp_path, capsys):
    out = tmp_path / "o"
    holder = hold_lock(out)
    try:
        args = run_args(tiny_corpus, out, "WaveGlow", 1, "-lr", "1e-3", "--max-steps-per-epoch", "1")
        assert run.main(args) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"run.py: error (rank 0): {out} is in use by another training run (PID {holder.pid}, "
                       f"lock {out / 'run.lock'}); wait for it to finish, stop it, or choose another "
                       "-o/--output"]
        assert sorted(p.name for p in out.iterdir()) == ["run.lock"]  # no log, no checkpoint written
    finally:
        holder.kill()
        holder.wait()
    # the holder died with the lock (kill -9): its lock file is taken over, and the run says so
    assert run.main(args) == 0
    taken = f"took over {out / 'run.lock'} from PID {holder.pid}, which died holding it"
    assert taken in capsys.readouterr().out
    assert (out / "run.lock").read_text() == ""  # released cleanly at the end
    with RunLock(out) as lock:  # and free again
        assert lock.previous_pid is None


def test_failure2_rerun_without_resume_flag_stops_and_overwrite_starts_again(tiny_corpus, tmp_path, capsys):
    out = tmp_path / "o"
    args = run_args(tiny_corpus, out, "WaveGlow", 1, "-lr", "1e-3", "--max-steps-per-epoch", "1")
    assert run.main(args) == 0
    before = digest(out / "checkpoint_WaveGlow_0.pt")
    capsys.readouterr()
    assert run.main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"run.py: error (rank 0): -o {out} already holds WaveGlow checkpoints "
                   "(checkpoint_WaveGlow_0.pt, checkpoint_WaveGlow_last.pt); pass --resume-from-last to "
                   "continue that run or --overwrite to start again"]
    assert digest(out / "checkpoint_WaveGlow_0.pt") == before
    assert os.readlink(out / "checkpoint_WaveGlow_last.pt") == "checkpoint_WaveGlow_0.pt"
    assert run.main([*args, "--overwrite", "--resume-from-last"]) == 1
    assert "--overwrite starts afresh; it cannot be combined" in capsys.readouterr().err
    assert run.main([*args, "--overwrite"]) == 0
    assert f"--overwrite: deleted 2 WaveGlow checkpoint file(s) of the earlier run in {out}" in \
        capsys.readouterr().out
    assert digest(out / "checkpoint_WaveGlow_0.pt") == before  # the same seed trains the same weights


def test_failure2_dangling_or_unreadable_last_falls_back_to_newest_readable(tiny_corpus, tmp_path, capsys):
    out = tmp_path / "o"
    args = run_args(tiny_corpus, out, "WaveGlow", 3, "-lr", "1e-3", "--max-steps-per-epoch", "1",
                    "--epochs-per-checkpoint", "1")
    assert run.main([*args[:args.index("--epochs") + 1], "2", *args[args.index("--epochs") + 2:]]) == 0
    (out / "checkpoint_WaveGlow_1.pt").unlink()  # `_last` now dangles
    capsys.readouterr()
    assert run.main([*args, "--resume-from-last"]) == 0
    captured = capsys.readouterr()
    assert (f"warning: {out / 'checkpoint_WaveGlow_last.pt'} points at a missing file; resuming from "
            f"{out / 'checkpoint_WaveGlow_0.pt'}, the newest readable checkpoint") in captured.err
    assert "continuing at epoch 1" in captured.out
    assert final_state(out, "WaveGlow")["epoch"] == 2
    (out / "checkpoint_WaveGlow_2.pt").write_bytes(b"not a checkpoint")  # `_last` unreadable
    assert run.main([*args, "--resume-from-last"]) == 0
    assert f"resuming from {out / 'checkpoint_WaveGlow_1.pt'}" in capsys.readouterr().err
    for path in out.glob("checkpoint_WaveGlow_*.pt"):
        if not path.is_symlink():
            path.write_bytes(b"")
    assert run.main([*args, "--resume-from-last"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"run.py: error (rank 0): --resume-from-last: no readable WaveGlow checkpoint in "
                          f"{out} (")
    assert err.count("\n") == 1


def test_failure3_time_budget_stop_mid_epoch_continues_that_epoch_bitwise(tiny_corpus, tmp_path, capsys):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    base = ("-lr", "1e-3", "-bs", "1")  # 6 iterations per epoch
    assert run.main(run_args(tiny_corpus, straight, "Tacotron2", 1, *base)) == 0
    assert run.main(run_args(tiny_corpus, stopped, "Tacotron2", 1, *base, "--time-budget", "0.0001")) == 0
    position = final_state(stopped, "Tacotron2")["position"]
    assert (position["epoch"], position["next_iteration"]) == (0, 1)
    resume = run_args(tiny_corpus, stopped, "Tacotron2", 1, *base, "--resume-from-last")
    # the rest of the epoch is only well defined with the same batches: other flags are refused
    assert run.main([*resume, "-bs", "2"]) == 1
    assert "stopped inside epoch 0 at --batch-size 1; resume with that, not 2," in capsys.readouterr().err
    assert run.main([*resume, "--seed", "6"]) == 1
    assert "this run orders that epoch differently" in capsys.readouterr().err
    assert run.main(resume) == 0
    steps = [step for step, _ in metric_series(read_nvlog(stopped / "nvlog.json"), "train_loss", "iteration")]
    assert steps == [(0, i) for i in range(6)]  # the rest of epoch 0, not a skipped tail
    assert_same_training_state(final_state(straight, "Tacotron2"), final_state(stopped, "Tacotron2"))


def test_failure4_waveglow_gate_gradient_does_not_change_after_first_call():
    from waveglow.model import gated_activation

    x0 = torch.randn(2, 16, 300, generator=torch.Generator().manual_seed(3))
    grads = []
    for _ in range(3):  # the scripted gate's backward changed after the first call on CPU
        x = x0.clone().requires_grad_()
        (gated_activation(x, 8) ** 2).sum().backward()
        grads.append(x.grad)
    assert torch.equal(grads[0], grads[1]) and torch.equal(grads[0], grads[2])


@pytest.mark.slow
def test_failure4_waveglow_resume_is_bitwise_across_processes(tiny_corpus, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    common = ("-lr", "1e-3", "--cpu-threads", "1")  # bitwise needs the same thread count everywhere
    assert run.main(run_args(tiny_corpus, straight, "WaveGlow", 2, *common)) == 0  # in this process
    for epochs, extra in ((1, ()), (2, ("--resume-from-last",))):  # each half in a fresh process
        cmd = [sys.executable, str(ROOT / "run.py"),
               *run_args(tiny_corpus, resumed, "WaveGlow", epochs, *common, *extra)]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert_same_training_state(final_state(straight, "WaveGlow"), final_state(resumed, "WaveGlow"))


def test_failure11_orphan_temporary_checkpoints_are_removed_at_start(tiny_corpus, tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    orphans = [out / "checkpoint_WaveGlow_3.pt.k2j4x9.tmp", out / "checkpoint_WaveGlow_last.pt.tmp"]
    for path in orphans:
        path.write_bytes(b"x" * 500_000)
    (out / "notes.tmp").write_text("not ours")
    args = run_args(tiny_corpus, out, "WaveGlow", 1, "-lr", "1e-3", "--max-steps-per-epoch", "1")
    assert run.main(args) == 0
    assert f"removed 2 orphan temporary checkpoint file(s) (1.0 MB) in {out}" in capsys.readouterr().out
    assert not any(path.exists() for path in orphans)
    assert (out / "notes.tmp").read_text() == "not ours"
    # a resume at another CPU thread count cannot be bitwise, and says so (nothing is left to train here)
    try:
        assert run.main([*args, "--resume-from-last", "--cpu-threads", "2"]) == 0
    finally:
        torch.set_num_threads(1)
    assert (f"warning: {out / 'checkpoint_WaveGlow_last.pt'} was trained at --cpu-threads 1, this run at 2: "
            "the resume will not be bitwise exact") in capsys.readouterr().err


def test_checkpoint_interval_steps_bound_lost_work_and_keep_one_mid_epoch_file(tiny_corpus, tmp_path, capsys):
    out = tmp_path / "o"
    args = run_args(tiny_corpus, out, "WaveGlow", 3, "-lr", "1e-3", "-bs", "1",
                    "--epochs-per-checkpoint", "5", "--checkpoint-interval-steps", "4")
    assert run.main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    saves = [line.split("/")[-1] for line in lines if line.startswith("saved ")]
    assert saves == ["checkpoint_WaveGlow_0.pt (epoch 0, iteration 4)", "checkpoint_WaveGlow_0.pt",
                     "checkpoint_WaveGlow_1.pt (epoch 1, iteration 4)",
                     "checkpoint_WaveGlow_2.pt (epoch 2, iteration 2)", "checkpoint_WaveGlow_2.pt"]
    # epoch 1's mid-epoch file was replaced by epoch 2's; epochs 0 and 2 are complete-epoch checkpoints
    assert sorted(p.name for p in out.glob("checkpoint_*")) == [
        "checkpoint_WaveGlow_0.pt", "checkpoint_WaveGlow_2.pt", "checkpoint_WaveGlow_last.pt"]
    assert "position" not in final_state(out, "WaveGlow")


def test_sigterm_saves_at_the_next_step_and_exits_cleanly(tiny_corpus, tmp_path):
    out = tmp_path / "o"
    cmd = [sys.executable, str(ROOT / "run.py"), *run_args(tiny_corpus, out, "WaveGlow", 50, "-lr", "1e-3",
                                                           "-bs", "1")]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (
            (out / "nvlog.json").exists() and metric_series(read_nvlog(out / "nvlog.json"), "train_loss",
                                                            "iteration")):
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr[-2000:]
    position = final_state(out, "WaveGlow")["position"]
    n_steps = len(metric_series(read_nvlog(out / "nvlog.json"), "train_loss", "iteration"))
    assert n_steps < 50 * 6 and position["epoch"] * 6 + position["next_iteration"] == n_steps
    assert f"SIGTERM: stopped in epoch {position['epoch']} after iteration" in stdout
    assert (out / "run.lock").read_text() == ""


def test_failure2_missing_last_link_falls_back_and_says_so(tmp_path, capsys):
    from argparse import Namespace

    from common.resume_state import choose_resume

    torch.save({"state_dict": {}, "epoch": 4}, tmp_path / "checkpoint_WaveGlow_4.pt")
    torch.save({"state_dict": {}, "epoch": 3}, tmp_path / "checkpoint_WaveGlow_3.pt")
    args = Namespace(output=str(tmp_path), resume_from_last=True, checkpoint_path="", overwrite=False)
    path, checkpoint = choose_resume(args, "WaveGlow")
    assert (path.name, checkpoint["epoch"]) == ("checkpoint_WaveGlow_4.pt", 4)
    assert capsys.readouterr().err == (f"warning: {tmp_path / 'checkpoint_WaveGlow_last.pt'} does not exist; "
                                       f"resuming from {path}, the newest readable checkpoint\n")
    assert choose_resume(Namespace(**{**vars(args), "output": str(tmp_path / "empty")}), "WaveGlow") == \
        (None, None)  # nothing to resume: a fresh start, as the reference does


def test_a_forked_child_of_a_training_process_still_dies_on_sigterm():
    """Data-loader and pool workers inherit the SIGTERM handler: in them it must terminate as by default
    (multiprocessing.Pool.terminate sends SIGTERM and waits; a caught signal hung it)."""
    from common.training import StopRequest

    stop = StopRequest()
    stop.install()
    try:
        pid = os.fork()
        if pid == 0:  # the child: wait to be terminated
            time.sleep(30)
            os._exit(0)
        time.sleep(0.2)
        started = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM
        assert time.monotonic() - started < 10
        assert stop.signal_name is None  # the parent's flag is untouched
    finally:
        stop.restore()

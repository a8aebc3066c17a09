"""Elastic and multi-node training (common/elastic.py): torchrun restarts resume, rendezvous keys per
restart, bounded waits, the launcher's rank in errors, one line for a lost peer, a 2-node run on 127.0.0.1."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from test_run import run_args

import run
from common import elastic
from common.log_reader import metric_series, read_nvlog

ROOT = Path(__file__).resolve().parents[1]
GLOO_RESET = ("[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:537] Read error "
              "[127.0.0.1]:9122: Connection reset by peer. This is typically caused by a remote worker "
              "hanging or bugs in the application. Check the logs of the remote worker before reporting an "
              "error.")


def free_port() -> int:
    from multiproc import free_port as pick

    return pick()


def torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--monitor-interval", "0.2", *args]


def worker_pids(parent: int) -> dict[int, int]:
    """{RANK: pid} of the torchrun workers under ``parent`` (read from their environment)."""
    found = {}
    for task in Path(f"/proc/{parent}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                env = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            ranks = [item.split(b"=", 1)[1] for item in env if item.startswith(b"RANK=")]
            if ranks:
                found[int(ranks[0])] = int(child)
    return found


def test_restart_count_and_launcher_rank_come_from_the_environment(monkeypatch):
    args = argparse.Namespace(rank=0, world_size=1)
    monkeypatch.delenv("TORCHELASTIC_RESTART_COUNT", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    assert elastic.restart_count() == 0
    assert elastic.launcher_rank(argparse.Namespace(rank=2)) == 2  # multiproc.py's --rank
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "2")
    monkeypatch.setenv("RANK", "3")
    assert elastic.restart_count() == 2
    assert elastic.launcher_rank(args) == 3  # torchrun leaves --rank at 0


def test_errors_name_the_launchers_rank(monkeypatch, tmp_path, capsys):
    from common.data import DatasetError

    def failing_train(args, spec):
        raise DatasetError("f.txt:3: broken")

    monkeypatch.setattr("common.training.train", failing_train)
    monkeypatch.setenv("RANK", "1")
    argv = ["-m", "WaveGlow", "-o", str(tmp_path), "--epochs", "1", "-lr", "1", "-bs", "1"]
    assert run.main(argv) == 1
    assert capsys.readouterr().err == "run.py: error (rank 1): f.txt:3: broken\n"


def test_a_lost_peers_gloo_error_becomes_one_line(monkeypatch, tmp_path, capsys):
    def lost_peer(args, spec):
        raise RuntimeError(GLOO_RESET)

    monkeypatch.setattr("common.training.train", lost_peer)
    monkeypatch.setenv("RANK", "0")
    argv = ["-m", "WaveGlow", "-o", str(tmp_path), "--epochs", "1", "-lr", "1", "-bs", "1"]
    assert run.main(argv) == 1
    assert capsys.readouterr().err == (
        "run.py: error (rank 0): lost contact with another rank (Read error [127.0.0.1]:9122: Connection "
        "reset by peer); the first rank to fail reports the cause\n")
    assert elastic.peer_error(RuntimeError("shape mismatch")) is None  # other errors keep their traceback


@pytest.mark.parametrize("peer", ["exits", "hangs"])
def test_a_lost_peer_ends_the_wait_within_the_timeout_and_is_one_line(tmp_path, peer):
    """Two processes in a gloo group joined with a 4-second --dist-timeout; one exits or hangs; the
    other's next collective fails within the timeout, with an error that `peer_error` reduces."""
    script = tmp_path / "peer.py"
    script.write_text(textwrap.dedent(f"""
        import argparse, os, sys, time, torch, torch.distributed as dist
        sys.path.insert(0, {str(ROOT)!r})
        from common.elastic import join_process_group, peer_error
        rank = int(sys.argv[1])
        args = argparse.Namespace(dist_url="tcp://127.0.0.1:{free_port()}")
        join_process_group(args, "gloo", rank, 2, timeout_s=4)
        dist.all_reduce(torch.ones(1))
        if rank == 1:
            time.sleep(60) if {peer == "hangs"} else os._exit(0)
        start = time.monotonic()
        try:
            for _ in range(200):
                dist.all_reduce(torch.ones(1))
        except RuntimeError as err:
            print(round(time.monotonic() - start, 1), peer_error(err))
    """))
    procs = [subprocess.Popen([sys.executable, str(script), str(rank)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for rank in (0, 1)]
    try:
        stdout, stderr = procs[0].communicate(timeout=60)
    finally:
        procs[1].kill()
        procs[1].wait()
    seconds, message = stdout.split(" ", 1)
    assert float(seconds) < (3 if peer == "exits" else 8), stdout
    assert message.startswith("lost contact with another rank (") and message.count("\n") == 1, message
    assert ".cc:" not in message
    assert message.endswith("); the first rank to fail reports the cause\n")


def test_rendezvous_keys_are_fresh_per_restart(monkeypatch):
    """A previous attempt's keys in the same store (torchrun keeps its store across restarts) must not be
    read by the next attempt: a restarted group still forms, in one process with a fake second rank's
    keys left behind under the old prefix."""
    port = free_port()
    store = torch.distributed.TCPStore("127.0.0.1", port, 1, is_master=True, multi_tenant=True,
                                       timeout=datetime.timedelta(seconds=10))
    old = torch.distributed.PrefixStore("tts/run/restart0/attempt0", store)
    old.set("stale", "dead rank's address")
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "run")
    seen = []
    real = torch.distributed.init_process_group

    def recording(backend, store, **kw):
        seen.append(store)
        return real(backend, store=store, **kw)

    monkeypatch.setattr(torch.distributed, "init_process_group", recording)
    args = argparse.Namespace(dist_url=f"tcp://127.0.0.1:{port}")
    elastic.join_process_group(args, "gloo", 0, 1, timeout_s=10)
    try:
        assert not seen[0].check(["stale"])  # the new prefix does not see the old attempt's keys
        assert old.check(["stale"])
        value = torch.ones(1)
        torch.distributed.all_reduce(value)
        assert float(value) == 1
    finally:
        torch.distributed.destroy_process_group()


def test_gloo_connection_failures_are_retried_a_bounded_number_of_times(monkeypatch, capsys):
    calls = []

    def flaky(backend, store, rank, world_size, timeout):
        calls.append(timeout)
        raise RuntimeError("Gloo connectFullMesh failed with [pair.cc:152] timed out connecting: "
                           "SO_ERROR: Connection refused, remote=[127.0.0.1]:9122")

    monkeypatch.setattr(torch.distributed, "init_process_group", flaky)
    monkeypatch.setattr(torch.distributed, "TCPStore", lambda *a, **kw: torch.distributed.HashStore())
    args = argparse.Namespace(dist_url="tcp://127.0.0.1:1")
    with pytest.raises(RuntimeError, match="connectFullMesh"):
        elastic.join_process_group(args, "gloo", 1, 2, timeout_s=7)
    assert calls == [datetime.timedelta(seconds=7)] * elastic.CONNECT_ATTEMPTS
    err = capsys.readouterr().err
    assert err.count("warning (rank 1): joining the process group failed") == elastic.CONNECT_ATTEMPTS - 1
    assert "attempt 3 of 3" in err

    def missing_peer(backend, store, rank, world_size, timeout):
        calls.append(timeout)
        raise torch.distributed.DistStoreError("Timed out after 7 seconds waiting for clients. 1/2 clients")

    calls.clear()
    monkeypatch.setattr(torch.distributed, "init_process_group", missing_peer)
    with pytest.raises(torch.distributed.DistStoreError):
        elastic.join_process_group(args, "gloo", 1, 2, timeout_s=7)
    assert len(calls) == 1  # a peer that never came is not retried: it would only multiply the wait


def test_dist_timeout_and_max_skipped_steps_flags(tmp_path, capsys):
    from common.arg_parser import parse_args, training_parser

    args = parse_args(training_parser(), ["-o", "x"])
    assert (args.dist_timeout, args.max_skipped_steps) == (60.0, 20)
    config = tmp_path / "c.json"
    config.write_text('{"dist_timeout": 0}')
    with pytest.raises(SystemExit):
        parse_args(training_parser(), ["--config-file", str(config)])
    assert "--dist-timeout must be a number of at least 1, got 0" in capsys.readouterr().err


def test_a_restarted_worker_resumes_from_the_output_folder(monkeypatch, tmp_path):
    args = argparse.Namespace(output=str(tmp_path), resume_from_last=False, checkpoint_path="given.pt")
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    assert "no checkpoint" in elastic.resume_after_restart(args, "WaveGlow")
    assert (args.resume_from_last, args.checkpoint_path) == (False, "given.pt")  # nothing of ours yet
    (tmp_path / "checkpoint_WaveGlow_3.pt").write_bytes(b"")
    assert elastic.resume_after_restart(args, "WaveGlow") == (
        f"torchrun restart 1: resuming from the last checkpoint in {tmp_path}")
    assert (args.resume_from_last, args.checkpoint_path) == (True, "")
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "0")
    fresh = argparse.Namespace(output=str(tmp_path), resume_from_last=False, checkpoint_path="")
    assert elastic.resume_after_restart(fresh, "WaveGlow") is None and not fresh.resume_from_last


@pytest.mark.slow
def test_a_killed_worker_under_max_restarts_resumes_and_finishes(tiny_corpus, tmp_path):
    out = tmp_path / "elastic"
    args = run_args(tiny_corpus, out, "WaveGlow", 4, "-lr", "1e-3", "--epochs-per-checkpoint", "1",
                    "--cpu-threads", "1", "--dist-timeout", "20")
    args[args.index("-bs") + 1] = "1"  # 3 steps per epoch and rank
    cmd = torchrun("--standalone", "--nproc-per-node", "2", "--max-restarts", "1", str(ROOT / "run.py"),
                   *args)
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    try:
        while not (out / "checkpoint_WaveGlow_1.pt").exists():
            assert proc.poll() is None and time.monotonic() - start < 240, proc.communicate()[1][-3000:]
            time.sleep(0.1)
        killed_at = time.monotonic()
        os.kill(worker_pids(proc.pid)[1], signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr[-3000:]
    assert time.monotonic() - killed_at < 120
    assert "torchrun restart 1: resuming from the last checkpoint" in stdout
    resumed = [line for line in stdout.splitlines() if line.startswith("resumed from")]
    assert len(resumed) == 1 and "checkpoint_WaveGlow_last.pt" in resumed[0]
    resumed_epoch = int(resumed[0].split("(epoch ")[1].split(")")[0])
    assert resumed_epoch >= 1
    records = read_nvlog(out / "nvlog.json")
    epochs = [step[0] for step, _ in metric_series(records, "val_loss", "epoch")]
    # the first attempt's epochs, then the resumed ones from the checkpoint's next epoch: nothing from 0
    assert epochs[-(3 - resumed_epoch):] == list(range(resumed_epoch + 1, 4))
    assert epochs.count(0) == 1
    final = torch.load(out / "checkpoint_WaveGlow_last.pt", weights_only=True)
    assert final["epoch"] == 3


@pytest.mark.slow
def test_two_nodes_on_loopback_match_one_process_on_the_first_step(tiny_corpus, tmp_path):
    """Two torchrun invocations (--nnodes 2, one worker each, gloo on 127.0.0.1) against one process with
    their two batches in one: the same first-step loss and gradient norm, and the same weights after it.
    WaveGlow has no dropout or BatchNorm, and its segments depend only on (seed, epoch, index)."""
    def args(out: Path, batch: str) -> list[str]:
        argv = run_args(tiny_corpus, out, "WaveGlow", 1, "-lr", "1e-3", "--max-steps-per-epoch", "1",
                        "--cpu-threads", "1", "--dist-timeout", "30")
        argv[argv.index("-bs") + 1] = batch
        return argv

    port = str(free_port())
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo")
    nodes = [subprocess.Popen(torchrun("--nnodes", "2", "--node-rank", str(node), "--nproc-per-node", "1",
                                       "--master-addr", "127.0.0.1", "--master-port", port,
                                       str(ROOT / "run.py"), *args(tmp_path / "two", "1")),
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for node in (0, 1)]
    assert run.main(args(tmp_path / "one", "2")) == 0
    for node in nodes:
        _, stderr = node.communicate(timeout=180)
        assert node.returncode == 0, stderr[-3000:]
    logs = {name: read_nvlog(tmp_path / name / "nvlog.json") for name in ("one", "two")}
    assert [r["data"]["world_size"] for r in logs["two"] if r.get("step") == "PARAMETER"] == [2]
    for metric in ("train_loss", "grad_norm"):
        (step_one, one), = metric_series(logs["one"], metric, "iteration")
        (step_two, two), = metric_series(logs["two"], metric, "iteration")
        assert step_one == step_two == (0, 0)
        assert two == pytest.approx(one, rel=1e-5), metric
    weights = {name: torch.load(tmp_path / name / "checkpoint_WaveGlow_0.pt", weights_only=True)["state_dict"]
               for name in ("one", "two")}
    two = {key.removeprefix("module."): value for key, value in weights["two"].items()}
    assert two.keys() == weights["one"].keys()
    for key, value in weights["one"].items():
        torch.testing.assert_close(two[key], value, rtol=1e-4, atol=1e-7, msg=key)
    first = torch.load(tmp_path / "one" / "checkpoint_WaveGlow_0.pt", weights_only=True)
    moved = sum(int(state["exp_avg"].abs().sum() > 0) for state in first["optimizer"]["state"].values())
    assert moved > 0  # the step changed something


@pytest.mark.slow
def test_a_bad_file_on_rank_1_under_torchrun_is_named_by_rank_1_and_rank_0_says_one_line(tiny_corpus,
                                                                                          tmp_path):
    """Failure 12 of issue 17: the error said rank 0 (args.rank) and came with the other rank's Gloo
    traceback. Rank 1's first utterance is missing here, so only rank 1 fails."""
    from common.data import ShardedSampler
    from common.filelist import read_filelist, write_filelist

    entries = read_filelist(tiny_corpus / "short_train.txt")
    first_of_rank_1 = ShardedSampler(len(entries), 1, rank=1, world_size=2, seed=5).indices()[0]
    entries[first_of_rank_1] = dataclasses.replace(entries[first_of_rank_1], audio_path="wavs/missing.wav")
    filelist = tmp_path / "train.txt"
    write_filelist(filelist, entries, multi_speaker=False)
    args = run_args(tiny_corpus, tmp_path / "out", "WaveGlow", 1, "-lr", "1e-3", "--training-files",
                    str(filelist), "--cpu-threads", "1", "--dist-timeout", "20")
    args[args.index("-bs") + 1] = "1"
    cmd = torchrun("--standalone", "--nproc-per-node", "2", str(ROOT / "run.py"), *args)
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode != 0
    ours = [line for line in proc.stderr.splitlines() if line.startswith("run.py: error")]
    assert ours[0].startswith(f"run.py: error (rank 1): {filelist}:{first_of_rank_1 + 1}: "), ours
    assert "missing.wav" in ours[0]
    # rank 0 says one line, or nothing when torchrun stops it first; never a Gloo traceback of ours
    assert all(line.startswith("run.py: error (rank 0): lost contact with another rank (")
               for line in ours[1:])
    assert "pair.cc" not in proc.stderr and f'File "{ROOT / "common"}' not in proc.stderr

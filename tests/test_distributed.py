"""Multi-process training: rank resolution, DDP gradient parity, and the multiproc.py launcher."""

import argparse
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from common.distributed import resolve_ranks

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(n_symbols=40, symbols_embedding_dim=16, encoder_embedding_dim=16, encoder_n_convolutions=1,
            attention_rnn_dim=24, decoder_rnn_dim=24, prenet_dim=8, attention_dim=8,
            attention_location_n_filters=4, attention_location_kernel_size=3, postnet_embedding_dim=8,
            postnet_n_convolutions=2, n_mel_channels=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def namespace(**kw) -> argparse.Namespace:
    base = dict(rank=0, world_size=1, dist_url="tcp://127.0.0.1:1", dist_backend=None, cpu=True)
    return argparse.Namespace(**{**base, **kw})


def test_torchrun_environment_wins_over_flags(monkeypatch):
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_ranks(namespace(rank=0, world_size=1)) == (3, 4, 1)
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.delenv("LOCAL_RANK")
    assert resolve_ranks(namespace(rank=1, world_size=2)) == (1, 2, 1)
    with pytest.raises(ValueError, match="--rank 2"):
        resolve_ranks(namespace(rank=2, world_size=2))


def fixed_batch():
    """Four utterances of equal length, so per-rank mean losses average to the full-batch mean."""
    g = torch.Generator().manual_seed(7)
    text = torch.randint(1, TINY["n_symbols"], (4, 9), generator=g)
    mel = torch.randn(4, TINY["n_mel_channels"], 12, generator=g)
    gate = torch.zeros(4, 12)
    gate[:, -1] = 1
    return text, mel, gate


def grads_of(model, text, mel, gate):
    from tacotron2.loss_function import Tacotron2Loss

    n = text.size(0)
    x = (text, torch.full((n,), text.size(1)), mel, mel.size(2), torch.full((n,), mel.size(2)))
    loss = Tacotron2Loss()(model(x), (mel, gate))
    loss.backward()


def tiny_model():
    from tacotron2.model import Tacotron2

    torch.manual_seed(0)
    model = Tacotron2(**TINY).eval()  # eval: BatchNorm running stats and no dropout, so ranks agree
    model.decoder.prenet.p_dropout = 0.0  # the prenet's dropout is always on otherwise
    return model


def ddp_worker(rank: int, world: int, port: int, out_dir: str) -> None:
    from torch.nn.parallel import DistributedDataParallel

    from common.distributed import cleanup, init_distributed

    init_distributed(namespace(rank=rank, world_size=world, dist_url=f"tcp://127.0.0.1:{port}"))
    model = DistributedDataParallel(tiny_model())
    text, mel, gate = fixed_batch()
    part = slice(rank * 2, rank * 2 + 2)
    grads_of(model, text[part], mel[part], gate[part])
    torch.save({k: p.grad for k, p in model.module.named_parameters()}, Path(out_dir) / f"grads{rank}.pt")
    cleanup()


def test_ddp_two_cpu_workers_match_one_worker_on_the_whole_batch(tmp_path):
    mp.spawn(ddp_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    single = tiny_model()
    grads_of(single, *fixed_batch())
    expected = {k: p.grad for k, p in single.named_parameters()}
    for rank in range(2):
        got = torch.load(tmp_path / f"grads{rank}.pt", weights_only=True)
        assert got.keys() == expected.keys()
        for key in expected:
            torch.testing.assert_close(got[key], expected[key], rtol=1e-4, atol=1e-6, msg=key)
    assert any(float(g.abs().sum()) > 0 for g in expected.values())


def test_multiproc_stops_everything_when_one_worker_dies(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(
        "import sys, time\n"
        "rank = int(sys.argv[sys.argv.index('--rank') + 1])\n"
        "sys.exit(3) if rank == 1 else time.sleep(120)\n")
    start = time.monotonic()
    proc = subprocess.run([sys.executable, str(ROOT / "multiproc.py"), "--nproc", "2", str(script)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "worker 1 exited with code 3" in proc.stderr
    assert time.monotonic() - start < 15


def test_multiproc_passes_rank_and_world_size_and_silences_other_ranks(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(
        "import os, sys\n"
        "a = sys.argv\n"
        "print('rank', a[a.index('--rank') + 1], 'of', a[a.index('--world-size') + 1],"
        " 'local', os.environ['LOCAL_RANK'], 'url', '--dist-url' in a)\n")
    proc = subprocess.run([sys.executable, str(ROOT / "multiproc.py"), "--nproc", "3", str(script)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[0] == "rank 0 of 3 local 0 url True"
    assert proc.stdout.count("rank") == 1


def test_workers_start_under_torchrun(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(
        "import argparse, sys, torch, torch.distributed as dist\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from common.distributed import init_distributed, reduce_sum, cleanup\n"
        "args = argparse.Namespace(rank=0, world_size=1, dist_url='unused', dist_backend=None, cpu=True)\n"
        "info = init_distributed(args)\n"
        "total = reduce_sum(info.rank + 1, info)\n"
        # one file per rank: two processes printing to one pipe can interleave their lines
        f"open({str(tmp_path)!r} + f'/rank{{info.rank}}.txt', 'w')"
        ".write(f'rank {info.rank}/{info.world_size} local {info.local_rank} sum {total:g}')\n"
        "cleanup()\n")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           str(script)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = sorted(path.read_text() for path in tmp_path.glob("rank*.txt"))
    assert lines == ["rank 0/2 local 0 sum 3", "rank 1/2 local 1 sum 3"]

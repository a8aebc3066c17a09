#!/usr/bin/env python3
"""Launch one training process per GPU (or `--nproc` CPU processes): `python multiproc.py run.py -m ...`.

Each worker gets `--world-size N --rank i` (and LOCAL_RANK/RANK/WORLD_SIZE in its environment); the output
of ranks >= 1 is silenced (their errors still show). If any worker fails, the others are stopped and the
launcher exits 1 within seconds; Ctrl-C stops them all. torchrun works too: `torchrun --nproc-per-node N
run.py ...`.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port on localhost that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def default_nproc() -> int:
    """The number of visible GPUs, or 1 without CUDA."""
    try:
        # deferred: torch takes seconds to import; the launcher only needs it to count GPUs
        import torch

        return max(torch.cuda.device_count(), 1)
    except ImportError:
        return 1


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="multiproc.py", description=__doc__.splitlines()[0],
        usage="multiproc.py [--nproc N] SCRIPT [SCRIPT ARGS ...]")
    parser.add_argument("--nproc", type=int, default=None,
                        help="number of worker processes (default: visible GPU count, 1 without GPU)")
    parser.add_argument("--poll", type=float, default=0.2, help=argparse.SUPPRESS)
    parser.add_argument("script", help="the training script, e.g. train.py or run.py (found next to this "
                                       "launcher when it is not in the current folder)")
    parser.add_argument("script_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.nproc is not None and args.nproc < 1:
        parser.error("--nproc must be at least 1")
    return args, args.script_args


def resolve_script(script: str) -> str:
    """The training script's path: as given when it exists, else next to this launcher (so
    `python /path/to/multiproc.py train.py ...` works from any folder); a missing script is an error."""
    if Path(script).is_file():
        return script
    beside = Path(__file__).resolve().parent / script
    if beside.is_file():
        return str(beside)
    raise FileNotFoundError(f"multiproc.py: error: training script {script} not found (looked in "
                            f"{Path.cwd()} and {beside.parent})")


def worker_commands(script: str, script_args: list[str], nproc: int) -> list[tuple[list[str], dict]]:
    """The command line and environment of every rank."""
    extra = [] if "--dist-url" in script_args else ["--dist-url", f"tcp://127.0.0.1:{free_port()}"]
    commands = []
    for rank in range(nproc):
        env = dict(os.environ, LOCAL_RANK=str(rank))
        env.pop("RANK", None)
        env.pop("WORLD_SIZE", None)
        cmd = [sys.executable, script, *script_args, "--world-size", str(nproc), "--rank", str(rank), *extra]
        commands.append((cmd, env))
    return commands


def stop_all(workers: list[subprocess.Popen], grace_s: float = 5.0) -> None:
    """Terminate every running worker, then kill what is left after a grace period."""
    for proc in workers:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + grace_s
    for proc in workers:
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str] | None = None) -> int:
    args, script_args = parse(sys.argv[1:] if argv is None else argv)
    nproc = args.nproc or default_nproc()
    try:
        script = resolve_script(args.script)
    except FileNotFoundError as err:
        print(err, file=sys.stderr)
        return 2
    workers = []
    for rank, (cmd, env) in enumerate(worker_commands(script, script_args, nproc)):
        stdout = None if rank == 0 else subprocess.DEVNULL
        workers.append(subprocess.Popen(cmd, env=env, stdout=stdout))
    try:
        while True:
            codes = [proc.poll() for proc in workers]
            failed = [(rank, code) for rank, code in enumerate(codes) if code not in (None, 0)]
            if failed:
                rank, code = failed[0]
                print(f"multiproc.py: worker {rank} exited with code {code}; stopping the others",
                      file=sys.stderr)
                stop_all(workers)
                return 1
            if all(code == 0 for code in codes):
                return 0
            time.sleep(args.poll)
    except KeyboardInterrupt:
        print("multiproc.py: interrupted; stopping all workers", file=sys.stderr)
        for proc in workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        stop_all(workers)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""Surviving restarts and lost peers: torchrun restarts, the process-group rendezvous, peer errors.

- A worker restarted by torchrun (`--max-restarts`, TORCHELASTIC_RESTART_COUNT > 0) resumes from its
  output folder's last checkpoint, as if `--resume-from-last` had been given.
- The rendezvous keys live under a prefix per restart and per attempt: torchrun keeps its TCP store across
  restarts, and without the prefix a restarted rank reads the dead previous rank's address and fails to
  connect (Gloo "connectFullMesh failed"). A failed Gloo connection is retried, a bounded number of times.
- Every wait on another rank is bounded by `--dist-timeout`, so a lost peer ends the job within it.
- When a peer dies, the other ranks' errors are reduced to one line (the dying rank reports the cause).
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import sys
from pathlib import Path

import torch.distributed as dist

CONNECT_ATTEMPTS = 3  # Gloo connection attempts at start-up (each bounded by --dist-timeout)


def restart_count() -> int:
    """How often torchrun has restarted this worker group (0 outside torchrun)."""
    try:
        return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    except ValueError:
        return 0


def launcher_rank(args: argparse.Namespace) -> int:
    """The rank the launcher gave this process: torchrun's RANK, else `--rank` (multiproc.py's)."""
    value = os.environ.get("RANK")
    if value is not None and value.strip().isdigit():
        return int(value)
    return int(getattr(args, "rank", 0) or 0)


def resume_after_restart(args: argparse.Namespace, model_name: str) -> str | None:
    """After a torchrun restart, resume from the output folder's last checkpoint: sets
    `--resume-from-last` (and drops `--checkpoint-path`, which the folder's checkpoints supersede) when the
    folder holds one. Returns a line saying what happens, or None on a first start."""
    count = restart_count()
    if count == 0:
        return None
    output = Path(args.output)
    if any(output.glob(f"checkpoint_{model_name}_*.pt")):
        args.resume_from_last = True
        args.checkpoint_path = ""
        return f"torchrun restart {count}: resuming from the last checkpoint in {output}"
    return f"torchrun restart {count}: no checkpoint in {output} yet, so training starts again"


def store_address(args: argparse.Namespace) -> tuple[str, int, bool] | None:
    """(host, port, whether the launcher hosts the store) of the rendezvous store: torchrun's (or any
    launcher's) MASTER_ADDR/MASTER_PORT, else a `tcp://host:port` --dist-url; None for another URL."""
    if "MASTER_ADDR" in os.environ and "RANK" in os.environ:
        agent = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
        return os.environ["MASTER_ADDR"], int(os.environ.get("MASTER_PORT", "29500")), agent
    match = re.fullmatch(r"tcp://\[?([^\]/]+?)\]?:(\d+)/?", args.dist_url or "")
    return (match.group(1), int(match.group(2)), False) if match else None


def connect_flake(err: BaseException) -> bool:
    """A Gloo connection failure at start-up (worth another attempt), not a peer that never came."""
    text = str(err).lower()
    return not isinstance(err, dist.DistStoreError) and ("connectfullmesh" in text or "connect" in text
                                                         and ("refused" in text or "reset" in text))


def join_process_group(args: argparse.Namespace, backend: str, rank: int, world: int,
                       timeout_s: float) -> None:
    """init_process_group through a store prefixed per restart and attempt; Gloo connection failures are
    retried up to CONNECT_ATTEMPTS times in all."""
    timeout = datetime.timedelta(seconds=timeout_s)
    address = store_address(args)
    if address is None:  # env:// or file:// by hand: torch's own rendezvous, one attempt
        dist.init_process_group(backend, init_method=args.dist_url, rank=rank, world_size=world,
                                timeout=timeout)
        return
    host, port, launcher_hosts = address
    store = dist.TCPStore(host, port, world, is_master=rank == 0 and not launcher_hosts, timeout=timeout,
                          multi_tenant=True)
    run_id = os.environ.get("TORCHELASTIC_RUN_ID", "run")
    for attempt in range(CONNECT_ATTEMPTS):
        prefixed = dist.PrefixStore(f"tts/{run_id}/restart{restart_count()}/attempt{attempt}", store)
        try:
            dist.init_process_group(backend, store=prefixed, rank=rank, world_size=world, timeout=timeout)
            return
        except RuntimeError as err:
            if attempt + 1 == CONNECT_ATTEMPTS or not connect_flake(err):
                raise
            print(f"warning (rank {rank}): joining the process group failed ({first_sentence(err)}); "
                  f"attempt {attempt + 2} of {CONNECT_ATTEMPTS}", file=sys.stderr)


def first_sentence(err: BaseException, limit: int = 200) -> str:
    """An error's first sentence without Gloo's `[file.cc:123]` source tags, on one line."""
    text = re.sub(r"\[[^\]\s]*\.(?:cc|cpp|h|hpp):\d+\]\s*", "", str(err)).strip()
    text = " ".join(text.split())
    sentence = re.split(r"(?<=[a-z0-9)])\.\s", text, maxsplit=1)[0]
    return sentence if len(sentence) <= limit else sentence[: limit - 3] + "..."


def peer_error(err: BaseException) -> str | None:
    """One line for an error that means another rank is gone (its own error says why), else None."""
    if not (isinstance(err, dist.DistError) or isinstance(err, RuntimeError) and "gloo" in str(err).lower()):
        return None
    return f"lost contact with another rank ({first_sentence(err)}); the first rank to fail reports the cause"

"""Checkpoints: atomic writes, safe loads, and the RNG states that make a resume bitwise exact.

Layout (as the reference): `epoch`, `config` (model constructor keywords), `state_dict` (`module.` prefixes
when saved under DDP), `optimizer`, `scaler` (AMP), plus `model_name`, `iteration`, `rng` (one entry per
rank: CPU, CUDA where it exists, Python, NumPy) and `sampler` (seed and next epoch).
Everything is stored as tensors, numbers, strings, lists and dicts, so `torch.load(weights_only=True)`
reads it.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common.io_errors import naming


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model being built."""


def checkpoint_name(model_name: str, epoch: int | str) -> str:
    """`checkpoint_<Model>_<epoch>.pt` (or `_last.pt`)."""
    return f"checkpoint_{model_name}_{epoch}.pt"


def rng_state() -> dict[str, Any]:
    """This process's random number generator states, in a weights_only-loadable form."""
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python": [version, list(internal), gauss],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(float, np_state[2:])],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` captured (CUDA only where both sides have it)."""
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), cached))
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def atomic_save(obj: Any, path: str | Path) -> None:
    """torch.save to a temporary file in the same folder, then rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):  # e.g. a full disk: name the checkpoint in the one-line error
            raise naming(err, path) from err
        raise


def update_last_link(target: Path) -> Path:
    """Point `checkpoint_<Model>_last.pt` at `target` atomically (a symlink; a copy where links fail)."""
    last = target.parent / (target.name.rsplit("_", 1)[0] + "_last.pt")
    tmp = last.with_name(last.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        tmp.symlink_to(target.name)
    except OSError:
        atomic_save(torch.load(target, map_location="cpu", weights_only=True), tmp)
    os.replace(tmp, last)
    return last


def save_checkpoint(output_dir: str | Path, model_name: str, epoch: int, state: dict[str, Any]) -> Path:
    """Write `checkpoint_<Model>_<epoch>.pt` atomically and move the `_last` link to it."""
    path = Path(output_dir) / checkpoint_name(model_name, epoch)
    atomic_save({"model_name": model_name, "epoch": epoch, **state}, path)
    update_last_link(path)
    return path


def load_untrusted(path: str | Path, what: str) -> Any:
    """torch.load a `.pt` file as untrusted input (weights_only, on the CPU). Any failure (an empty,
    truncated, corrupt or foreign file) is a CheckpointError naming `what` and the file, with a reason that
    is never blank."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise CheckpointError(f"cannot load {what} {path}: the file is empty (0 bytes)")
        return torch.load(path, map_location="cpu", weights_only=True)
    except CheckpointError:
        raise
    except Exception as err:  # noqa: BLE001 - any unpickling failure means the same to the user
        raise CheckpointError(f"cannot load {what} {path}: {load_failure_reason(err)}") from None


def load_failure_reason(err: BaseException) -> str:
    """One non-blank line saying why torch.load failed (torch's weights-only refusals are long and advise
    `weights_only=False`, which untrusted files must never get; only their cause is kept)."""
    text = str(err)
    marker = "WeightsUnpickler error:"
    if marker in text:
        cause = next((line.strip() for line in text.split(marker, 1)[1].splitlines() if line.strip()), "")
        return f"refused by the weights-only loader (not plain tensors and containers): {cause}".rstrip(": ")
    first = next((line.strip() for line in text.splitlines() if line.strip()), "").split(". ")[0]
    if isinstance(err, EOFError):
        return f"the file ends early (truncated){': ' + first if first else ''}"
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint as untrusted input (weights_only); clear errors for missing or foreign files."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    checkpoint = load_untrusted(path, "checkpoint")
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path} is not a model checkpoint (no 'state_dict')")
    return checkpoint


def strip_module_prefix(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove the `module.` prefix that DDP adds to every key."""
    return {key.removeprefix("module."): value for key, value in state_dict.items()}


def short_list(names: list[str], limit: int) -> str:
    """`a, b, c (+N more)`: the first ``limit`` names, for a one-line message."""
    return ", ".join(names[:limit]) + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


def load_model_state(model: torch.nn.Module, state_dict: dict[str, torch.Tensor], source: str = "") -> None:
    """Strict load that names missing, unexpected and mis-shaped keys instead of a wall of text."""
    state_dict = strip_module_prefix(state_dict)
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    mismatched = [f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
                  for k in own if k in state_dict and state_dict[k].shape != own[k].shape]
    if missing or unexpected or mismatched:
        parts = []
        for title, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched)):
            if keys:
                parts.append(f"{title}: {short_list(keys, 6)}")
        where = f"{source}: " if source else ""
        raise CheckpointError(f"{where}checkpoint does not fit the model; " + "; ".join(parts))
    model.load_state_dict(state_dict, strict=True)

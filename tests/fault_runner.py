"""Run `run.py` with one injected fault: `python tests/fault_runner.py FAULT RUN_ARGS...`.

FAULT is `none`, or `<kill|term>@<step|save>:K`: send this process SIGKILL or SIGTERM just before its K-th
training step, or in the middle of its K-th checkpoint write (SIGKILL after half the bytes are written,
leaving an orphan temporary file; SIGTERM as the write starts, which then completes). The process signals
itself, so the fault lands at an exact point and the test is reproducible.
"""

from __future__ import annotations

import io
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

import run  # noqa: E402
from common import checkpoint, training  # noqa: E402

SIGNALS = {"kill": signal.SIGKILL, "term": signal.SIGTERM}


def _signalled(method, due, signum: int):
    """``method`` that first signals this process when ``due()`` says so."""

    def step(self, x, y, *args, **kwargs):
        if due():
            os.kill(os.getpid(), signum)
        return method(self, x, y, *args, **kwargs)

    return step


def inject(fault: str) -> None:
    """Patch the training step or the checkpoint writer to signal this process at the chosen point."""
    if fault == "none":
        return
    action, rest = fault.split("@")
    where, count = rest.split(":")
    signum, target = SIGNALS[action], int(count)
    calls = {"n": 0}

    def due() -> bool:
        calls["n"] += 1
        return calls["n"] == target

    if where == "step":
        # the trainer's standard step, or a recipe's own (a model with several optimizers: recipe_step)
        for name in ("train_step", "recipe_step"):
            setattr(training.Trainer, name, _signalled(getattr(training.Trainer, name), due, signum))
    elif where == "save":
        save = torch.save

        def partial_save(obj, handle, *args, **kwargs):
            if not due():
                return save(obj, handle, *args, **kwargs)
            if signum == signal.SIGKILL:
                buffer = io.BytesIO()
                save(obj, buffer, *args, **kwargs)
                handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
                handle.flush()
            os.kill(os.getpid(), signum)
            return save(obj, handle, *args, **kwargs)

        checkpoint.torch.save = partial_save
    else:
        raise SystemExit(f"fault_runner: unknown fault {fault!r}")


if __name__ == "__main__":
    inject(sys.argv[1])
    sys.exit(run.main(sys.argv[2:]))

"""Divergence checks for the training loop: non-finite losses, gradients, weights and validation.

A step whose loss or gradient norm is not finite is skipped: no optimizer step, and the BatchNorm running
statistics its forward pass changed are put back. Every rank decides alike, from values reduced over
ranks. After `--max-skipped-steps` skips in a row the run stops with a `DivergenceError`. A checkpoint is
never written from a model whose weights or optimizer moments are non-finite, or whose validation loss is
non-finite on every batch, so `checkpoint_<Model>_last.pt` always points at a finite model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from common.checkpoint import short_list


class DivergenceError(RuntimeError):
    """The model diverged; `run.py` reports it in one line and exits 1."""


def nonfinite_names(named: Iterable[tuple[str, torch.Tensor]]) -> list[str]:
    """Names of the floating-point tensors that hold a NaN or an infinity (one device sync in all)."""
    tensors = [(name, t.detach()) for name, t in named
               if isinstance(t, torch.Tensor) and t.is_floating_point() and t.numel()]
    if not tensors:
        return []
    finite = torch.stack([torch.isfinite(t).all().to(tensors[0][1].device) for _, t in tensors]).cpu()
    return [name for (name, _), ok in zip(tensors, finite.tolist()) if not ok]


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> list[tuple[str, torch.Tensor]]:
    """The optimizer's per-parameter state tensors (e.g. Adam's moments), named `optimizer.<i>.<key>`."""
    named = []
    for index, state in enumerate(optimizer.state.values()):
        named += [(f"optimizer.{index}.{key}", value) for key, value in state.items()]
    return named


class BufferSnapshot:
    """The model's buffers (BatchNorm running statistics) before a forward pass, to put back when the
    step is skipped: a non-finite forward pass in training mode would otherwise poison them for good."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.pairs = [(buf, buf.detach().clone()) for buf in model.buffers()]

    def restore(self) -> None:
        with torch.no_grad():
            for buf, saved in self.pairs:
                buf.copy_(saved)


class DivergenceGuard:
    """Counts skipped (non-finite) steps and refuses to checkpoint a diverged model.

    ``last_link`` is the run's `checkpoint_<Model>_last.pt`; error messages say where it points.
    """

    def __init__(self, max_skipped: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 last_link: Path) -> None:
        self.max_skipped = max(int(max_skipped), 1)
        self.model, self.optimizer, self.last_link = model, optimizer, last_link
        self.streak = 0  # skipped steps in a row
        self.total = 0

    def step_ok(self, loss: float, grad_norm: float | None, where: str,
                undo: Callable[[], None] | None = None) -> bool:
        """Whether a step with this (reduced) loss and gradient norm may be applied (``grad_norm`` None:
        not computed yet). Otherwise calls ``undo`` (e.g. `BufferSnapshot.restore`), counts a skip, and
        raises DivergenceError at the limit."""
        if math.isfinite(loss) and (grad_norm is None or math.isfinite(grad_norm)):
            return True
        if undo is not None:
            undo()
        self.streak += 1
        self.total += 1
        if self.streak >= self.max_skipped:
            what = "loss" if not math.isfinite(loss) else "gradient norm"
            raise DivergenceError(
                f"training diverged: {self.streak} steps in a row were skipped (--max-skipped-steps "
                f"{self.max_skipped}), the last for a non-finite {what} at {where}; {self.model_state()}")
        return False

    def passed(self) -> None:
        """A step was applied: the run of skips is over."""
        self.streak = 0

    def model_state(self) -> str:
        """What is non-finite, a hint, and the checkpoint `_last` still points at."""
        bad = nonfinite_names(self.model.state_dict().items())
        if bad:
            state = f"non-finite weights: {short_list(bad, 4)}"
        else:
            state = "the weights are finite but the loss is not: lower --learning-rate"
        return f"{state}; {self.last_checkpoint()}"

    def last_checkpoint(self) -> str:
        """`<last link> -> <target>` (a finite model), or that there is none yet."""
        if self.last_link.is_symlink() or self.last_link.exists():
            target = self.last_link.resolve()
            if target.exists():
                return f"{self.last_link.name} still points at {target.name}, the last finite model"
        return f"{self.last_link.parent} holds no earlier checkpoint"

    def check_savable(self, name: str, val_finite_batches: int | None, val_nonfinite_batches: int) -> None:
        """Raise DivergenceError instead of writing checkpoint ``name`` from a non-finite model: non-finite
        weights, buffers or optimizer state, a validation loss that is non-finite on every batch, or,
        without a validation since the last step (``val_finite_batches`` None, e.g. a mid-epoch
        checkpoint), a last step skipped because these weights gave a non-finite loss or gradient."""
        bad = nonfinite_names(list(self.model.state_dict().items()) + optimizer_tensors(self.optimizer))
        if bad:
            reason = f"non-finite {short_list(bad, 4)}"
        elif val_finite_batches == 0 and val_nonfinite_batches > 0:
            reason = f"the validation loss is non-finite on every batch ({val_nonfinite_batches})"
        elif val_finite_batches is None and self.streak:
            reason = f"the last {self.streak} step(s) were skipped as non-finite"
        else:
            return
        raise DivergenceError(f"training diverged: not writing {name}: {reason}; {self.last_checkpoint()}")

"""Frozen modules (`--freeze`) and bitwise frozen rows (`FrozenRows`); part of common.training.finetune."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from common.training.finetune.transfer import (
    FinetuneError,
    matching_pattern,
)

# ------------------------------------------------------------------------------------------------- freezing

def module_names(model: nn.Module, depth: int = 2) -> list[str]:
    """Named submodules up to ``depth`` levels (``block``, ``block.inner``): what --freeze takes."""
    return [name for name, _ in model.named_modules() if name and name.count(".") < depth]


def _hold_in_eval(module: nn.Module, _inputs: tuple) -> None:
    """Forward pre-hook: a frozen BatchNorm normalises with, and keeps, its running statistics."""
    module.train(False)


def freeze_modules(model: nn.Module, names: Sequence[str]) -> list[str]:
    """Set ``requires_grad=False`` on every parameter under the module prefixes ``names``; returns them.

    BatchNorm layers under those prefixes are held in inference mode (their running statistics stay as
    they are). An unknown name is a FinetuneError listing the valid top- and second-level names.
    """
    params = dict(model.named_parameters())
    modules = dict(model.named_modules())
    unknown = [n for n in names if n not in modules and n not in params]
    if unknown:
        raise FinetuneError(
            f"--freeze {' '.join(unknown)}: no such module; choose from {', '.join(module_names(model))}"
        )
    frozen = [name for name in params if matching_pattern(name, names)]
    for name in frozen:
        params[name].requires_grad_(False)
    for name, module in modules.items():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and matching_pattern(name, names):
            module.register_forward_pre_hook(_hold_in_eval)
    return frozen


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters the optimizer should hold: those with ``requires_grad``."""
    return [p for p in model.parameters() if p.requires_grad]


class FrozenRows:
    """Keeps selected rows of one parameter bitwise constant while the rest of it trains.

    Zeroing the gradient alone is not enough: Adam adds ``weight_decay * param`` to the gradient inside
    ``step()``, and its moments move the rows anyway. So the gradient of the rows is zeroed (they do not
    count towards gradient clipping) and, after every optimizer step, the rows are written back from a
    copy taken right before the first step (after any checkpoint was loaded into the model).
    """

    def __init__(self, param: nn.Parameter, rows: int | Sequence[int], name: str = "parameter") -> None:
        self.param, self.name = param, name
        index = list(range(rows)) if isinstance(rows, int) else [int(r) for r in rows]
        if any(not 0 <= r < param.shape[0] for r in index):
            raise FinetuneError(f"{name}: frozen rows must lie in [0, {param.shape[0]}), got {index[:5]}...")
        self.index = torch.tensor(index, dtype=torch.long, device=param.device)
        self.saved: Tensor | None = None
        self._handles: list[Any] = []

    def __len__(self) -> int:
        return int(self.index.numel())

    def capture(self) -> None:
        """Remember the rows' current values (done automatically before the first optimizer step)."""
        self.saved = self.param.detach().index_select(0, self.index).clone()

    def restore(self) -> None:
        """Write the remembered values back (bitwise)."""
        if self.saved is not None:
            with torch.no_grad():
                self.param.index_copy_(0, self.index, self.saved)

    def _zero_grad(self, grad: Tensor) -> Tensor:
        return grad.index_fill(0, self.index.to(grad.device), 0)

    def _before_step(self, *_args: Any) -> None:
        if self.saved is None:
            self.capture()

    def _after_step(self, *_args: Any) -> None:
        self.restore()

    def attach(self, optimizer: torch.optim.Optimizer) -> FrozenRows:
        """Hook into the parameter's gradient and ``optimizer``'s steps."""
        if not any(p is self.param for group in optimizer.param_groups for p in group["params"]):
            raise FinetuneError(f"{self.name} is not trained by the optimizer: nothing to keep frozen")
        self._handles += [self.param.register_hook(self._zero_grad),
                          optimizer.register_step_pre_hook(self._before_step),
                          optimizer.register_step_post_hook(self._after_step)]
        return self

    def detach(self) -> None:
        """Remove the hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles = []



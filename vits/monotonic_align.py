"""Monotonic alignment search (MAS, Glow-TTS / VITS): the most likely monotonic path of text tokens
over spectrogram frames.

``maximum_path(value, mask)`` takes ``value`` (B, T_frames, T_text) - the log-likelihood of each frame
under each token's prior - and ``mask`` (B, T_frames, T_text) marking the valid cells, and returns the
0/1 path of the same shape: every frame is given exactly one token, the first frame the first token, the
last frame the last token, and the token index rises by 0 or 1 from one frame to the next. Of all such
paths it picks the one with the largest sum of ``value``. On equal sums the path stays on a token rather
than moving on.

Two implementations, same result: a numba kernel (``backend="numba"``, compiled on first use, parallel over
the batch) and a vectorised torch dynamic program (``backend="torch"``, a Python loop over frames with the
batch and tokens vectorised; it runs on any device). ``backend="auto"`` picks numba for CPU tensors when
numba imports, torch otherwise. The training path needs no gradient through the search.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["maximum_path", "maximum_path_numba", "maximum_path_torch", "numba_available", "warm_up"]

_NUMBA_KERNEL = None


def numba_available() -> bool:
    """Whether numba imports (it ships with librosa)."""
    try:
        # deferred: numba, slow to import
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def _numba_kernel():
    """Compile (once) and return the numba batch kernel."""
    global _NUMBA_KERNEL
    if _NUMBA_KERNEL is not None:
        return _NUMBA_KERNEL
    # deferred: numba, slow to import
    import numba

    @numba.njit(cache=False, nogil=True)
    def one(path, value, t_y, t_x):  # pragma: no cover - compiled
        # forward: value[y, x] becomes the best sum of a path ending at (y, x)
        neg_inf = -np.inf
        for y in range(t_y):
            lo = max(0, t_x + y - t_y)
            hi = min(t_x, y + 1)
            for x in range(lo, hi):
                if y == 0:
                    continue  # (0, 0) keeps its own value
                stay = value[y - 1, x] if x < y else neg_inf
                move = value[y - 1, x - 1] if x > 0 else neg_inf
                value[y, x] += move if move > stay else stay
        # backtrack from the last token at the last frame
        index = t_x - 1
        for y in range(t_y - 1, -1, -1):
            path[y, index] = 1
            if index != 0 and (index == y or value[y - 1, index] < value[y - 1, index - 1]):
                index -= 1

    @numba.njit(parallel=True, cache=False, nogil=True)
    def batch(paths, values, t_ys, t_xs):  # pragma: no cover - compiled
        for b in numba.prange(paths.shape[0]):
            one(paths[b], values[b], t_ys[b], t_xs[b])

    _NUMBA_KERNEL = batch
    return batch


def _lengths(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Frame and token counts per item of a (B, T_frames, T_text) mask."""
    t_y = mask[:, :, 0].sum(1).long()
    t_x = mask[:, 0, :].sum(1).long()
    return t_y, t_x


def _check(value: torch.Tensor, mask: torch.Tensor) -> None:
    if value.dim() != 3 or value.shape != mask.shape:
        raise ValueError(f"maximum_path: value and mask must both be (B, T_frames, T_text), got "
                         f"{tuple(value.shape)} and {tuple(mask.shape)}")


@torch.no_grad()
def maximum_path_numba(value: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MAS with the numba kernel (on the CPU; the result goes back to ``value``'s device and dtype)."""
    _check(value, mask)
    kernel = _numba_kernel()
    t_y, t_x = _lengths(mask)
    values = (value * mask).detach().to("cpu", torch.float32).numpy().copy()
    paths = np.zeros(values.shape, dtype=np.int32)
    kernel(paths, values, t_y.cpu().numpy().astype(np.int32), t_x.cpu().numpy().astype(np.int32))
    return torch.from_numpy(paths).to(device=value.device, dtype=value.dtype)


@torch.no_grad()
def maximum_path_torch(value: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MAS as a vectorised torch dynamic program (any device)."""
    _check(value, mask)
    b, t_frames, t_text = value.shape
    t_y, t_x = _lengths(mask)
    value = (value * mask).float()
    neg_inf = torch.tensor(float("-inf"), device=value.device)
    token = torch.arange(t_text, device=value.device)
    # moved[:, y, x]: the best path into (y, x) came from token x - 1 at frame y - 1
    moved = torch.zeros(b, t_frames, t_text, dtype=torch.bool, device=value.device)
    acc = torch.where(token == 0, value[:, 0, :], neg_inf)
    for y in range(1, t_frames):
        stay = torch.where(token < y, acc, neg_inf)
        move = torch.cat([neg_inf.expand(b, 1), acc[:, :-1]], dim=1)
        moved[:, y] = move > stay
        acc = torch.maximum(stay, move) + value[:, y, :]
    path = torch.zeros(b, t_frames, t_text, dtype=value.dtype, device=value.device)
    batch = torch.arange(b, device=value.device)
    index = (t_x - 1).clamp(min=0)
    for y in range(t_frames - 1, -1, -1):
        active = y < t_y
        path[batch[active], y, index[active]] = 1.0
        step = moved[batch, y, index] & active
        index = index - step.long()
    return path


def maximum_path(value: torch.Tensor, mask: torch.Tensor, backend: str = "auto") -> torch.Tensor:
    """The most likely monotonic alignment path; see the module docstring. ``backend``: auto|numba|torch."""
    if backend == "auto":
        backend = "numba" if value.device.type == "cpu" and numba_available() else "torch"
    if backend == "numba":
        return maximum_path_numba(value, mask)
    if backend == "torch":
        return maximum_path_torch(value, mask)
    raise ValueError(f"maximum_path: backend must be auto, numba or torch, got {backend!r}")


def warm_up() -> None:
    """Compile and run the numba kernel once, now (nothing without numba).

    Training calls this before its first step: the kernel's first compile and parallel launch, in the
    middle of a step, changed the floating-point results of the torch operations around it in that
    process (measured: a process's first run differed in the last bits from every later run with the same
    seed). Warmed up before training, every process - a fresh run or a resumed one - computes the same
    bits."""
    if numba_available():
        maximum_path_numba(torch.zeros(1, 2, 2), torch.ones(1, 2, 2))

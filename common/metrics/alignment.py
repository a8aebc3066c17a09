"""Diagnostics of an attention alignment A (decoder steps x encoder steps, each row a distribution).

With ``A`` cropped to ``A[:output_length, :input_length]`` (padding ignored; rows are not renormalised),
T = output_length, N = input_length and ``p_t = argmax_n A[t, n]`` (first index on ties):

* ``attention_focus = (1 / T) * sum_t max_n A[t, n]``: 1 for a hard alignment, 1 / N for uniform attention.
* ``monotonicity = #{t in 1..T-1 : p_t >= p_(t-1)} / (T - 1)``: the share of decoder steps whose attention
  peak does not move backwards (1 when T = 1). A diagonal gives 1, a reversed diagonal 0.
* ``coverage = #{distinct p_t} / N``: the share of encoder positions that are the attention peak of at
  least one decoder step. Skipped or never-attended input symbols lower it.

Alignment files (``.npy`` or ``.pt``) hold a 2-D array (decoder steps x encoder steps), a 3-D array with a
batch dimension of 1, or (``.pt`` only) a dict with the matrix under ``"alignment"`` and optional integer
``"input_length"`` and ``"output_length"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from common.metrics.errors import EvaluationError

__all__ = [
    "SCORE_NAMES",
    "alignment_scores",
    "attention_focus",
    "batch_alignment_scores",
    "coverage",
    "load_alignment",
    "monotonicity",
]

SCORE_NAMES = ("attention_focus", "monotonicity", "coverage")


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor; avoids importing torch for numpy callers
        value = value.detach().float().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def _length(name: str, value: Any, limit: int) -> int:
    if value is None:
        return limit
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 1 <= int(value) <= limit:
        raise EvaluationError(f"{name} must be an integer in [1, {limit}], got {value!r}")
    return int(value)


def _cropped(alignment: Any, input_length: Any = None, output_length: Any = None) -> np.ndarray:
    """The alignment as a float64 matrix cropped to its real (unpadded) decoder and encoder steps."""
    matrix = _to_numpy(alignment)
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise EvaluationError(
            f"an alignment must be a non-empty 2-D matrix (decoder steps x encoder steps), got shape "
            f"{matrix.shape}"
        )
    rows = _length("output_length", output_length, matrix.shape[0])
    cols = _length("input_length", input_length, matrix.shape[1])
    matrix = matrix[:rows, :cols]
    if not np.all(np.isfinite(matrix)):
        raise EvaluationError("alignment contains NaN or infinite weights")
    if np.any(matrix < 0):
        raise EvaluationError(f"alignment weights must be non-negative, got minimum {matrix.min():.6g}")
    return matrix


def _focus(matrix: np.ndarray) -> float:
    return float(np.mean(np.max(matrix, axis=1)))


def _monotonicity(peaks: np.ndarray) -> float:
    return float(np.mean(np.diff(peaks) >= 0)) if peaks.size > 1 else 1.0


def _coverage(peaks: np.ndarray, encoder_steps: int) -> float:
    return float(np.unique(peaks).size / encoder_steps)


def attention_focus(alignment: Any, input_length: Any = None, output_length: Any = None) -> float:
    """Mean over decoder steps of the largest attention weight."""
    return _focus(_cropped(alignment, input_length, output_length))


def monotonicity(alignment: Any, input_length: Any = None, output_length: Any = None) -> float:
    """Share of decoder-step transitions whose attention peak stays or moves forward."""
    return _monotonicity(np.argmax(_cropped(alignment, input_length, output_length), axis=1))


def coverage(alignment: Any, input_length: Any = None, output_length: Any = None) -> float:
    """Share of encoder positions that are the attention peak of at least one decoder step."""
    matrix = _cropped(alignment, input_length, output_length)
    return _coverage(np.argmax(matrix, axis=1), matrix.shape[1])


def alignment_scores(
    alignment: Any, input_length: Any = None, output_length: Any = None
) -> dict[str, float | int]:
    """All three scores plus the lengths used: keys ``SCORE_NAMES`` + ``input_length``, ``output_length``."""
    matrix = _cropped(alignment, input_length, output_length)
    peaks = np.argmax(matrix, axis=1)
    return {
        "attention_focus": _focus(matrix),
        "monotonicity": _monotonicity(peaks),
        "coverage": _coverage(peaks, matrix.shape[1]),
        "input_length": int(matrix.shape[1]),
        "output_length": int(matrix.shape[0]),
    }


def batch_alignment_scores(
    alignments: Any, input_lengths: Any = None, output_lengths: Any = None
) -> dict[str, float]:
    """Scores of a batch (B, decoder steps, encoder steps), each averaged over the B items.

    ``input_lengths`` / ``output_lengths`` are per-item lengths (sequences or 1-D tensors) or None for
    unpadded items. Meant for validation logging: ``{name: mean over the batch}`` for ``SCORE_NAMES``.
    """
    batch = _to_numpy(alignments)
    if batch.ndim != 3 or batch.shape[0] == 0:
        raise EvaluationError(f"a batch of alignments must have shape (B, T_out, T_in), got {batch.shape}")
    lengths = []
    for name, values in (("input_lengths", input_lengths), ("output_lengths", output_lengths)):
        if values is None:
            lengths.append([None] * batch.shape[0])
            continue
        flat = [int(v) for v in _to_numpy(values).reshape(-1)]
        if len(flat) != batch.shape[0]:
            raise EvaluationError(f"{name} has {len(flat)} entries for a batch of {batch.shape[0]}")
        lengths.append(flat)
    per_item = [alignment_scores(batch[b], lengths[0][b], lengths[1][b]) for b in range(batch.shape[0])]
    return {name: float(np.mean([s[name] for s in per_item])) for name in SCORE_NAMES}


def load_alignment(path: str | Path) -> tuple[np.ndarray, int | None, int | None]:
    """Read an alignment file: ``(matrix, input_length or None, output_length or None)``.

    Formats are listed in the module docstring; every problem raises :class:`EvaluationError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise EvaluationError(f"{path}: alignment file not found")
    input_length = output_length = None
    try:
        if path.suffix == ".npy":
            content: Any = np.load(path, allow_pickle=False)
        elif path.suffix == ".pt":
            # deferred: torch takes seconds to import; the file-level CLI does not need it
            import torch

            content = torch.load(path, map_location="cpu", weights_only=True)
        else:
            raise EvaluationError(f"{path}: unknown alignment format {path.suffix!r} (expected .npy or .pt)")
    except EvaluationError:
        raise
    except Exception as exc:  # numpy and torch raise many types for corrupt files
        raise EvaluationError(f"{path}: cannot read alignment ({exc})") from exc
    if isinstance(content, dict):
        if "alignment" not in content:
            keys = sorted(map(str, content))
            raise EvaluationError(f"{path}: dict has no 'alignment' entry (keys: {keys})")
        input_length = content.get("input_length")
        output_length = content.get("output_length")
        content = content["alignment"]
    if not (hasattr(content, "detach") or isinstance(content, np.ndarray)):
        raise EvaluationError(f"{path}: expected an array or tensor, got {type(content).__name__}")
    matrix = _to_numpy(content)
    if matrix.ndim == 3 and matrix.shape[0] == 1:
        matrix = matrix[0]
    if matrix.ndim != 2:
        raise EvaluationError(
            f"{path}: alignment must be 2-D (decoder steps x encoder steps) or (1, T_out, T_in), "
            f"got shape {matrix.shape}"
        )
    try:
        if input_length is not None:
            input_length = _length("input_length", input_length, matrix.shape[1])
        if output_length is not None:
            output_length = _length("output_length", output_length, matrix.shape[0])
    except EvaluationError as err:
        raise EvaluationError(f"{path}: {err}") from err
    return matrix, input_length, output_length

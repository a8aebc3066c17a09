"""Dynamic time warping over a precomputed local cost matrix, in vectorised numpy.

Step pattern (``symmetric1``): a path runs from cell (0, 0) to (N-1, M-1) and each step moves to
(i+1, j), (i, j+1) or (i+1, j+1); every visited cell adds its local cost once, whatever the step. The
accumulated cost is ``D[i, j] = C[i, j] + min(D[i-1, j], D[i, j-1], D[i-1, j-1])`` with ``D[0, 0] = C[0, 0]``.

Cells on one anti-diagonal (i + j = k) depend only on the two previous anti-diagonals, so the table is
filled one anti-diagonal at a time with strided slices of the flattened arrays: N + M - 1 numpy steps
instead of N * M Python steps, and each cell is computed with exactly the same floating-point operations
as the textbook double loop (the results are bitwise equal).
"""

from __future__ import annotations

import numpy as np

from common.metrics.errors import EvaluationError

__all__ = ["accumulated_cost", "dtw"]


def _check_cost(cost: np.ndarray) -> np.ndarray:
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2 or cost.shape[0] == 0 or cost.shape[1] == 0:
        raise EvaluationError(f"DTW needs a non-empty 2-D cost matrix, got shape {cost.shape}")
    if not np.all(np.isfinite(cost)):
        raise EvaluationError("DTW cost matrix contains NaN or infinite values")
    return cost


def accumulated_cost(cost: np.ndarray) -> np.ndarray:
    """The accumulated cost table ``D`` (same shape as ``cost``) of the symmetric1 step pattern."""
    cost = _check_cost(cost)
    n, m = cost.shape
    # D is stored with one extra row and column of +inf (D[0, 0] = 0) so that borders need no special case.
    acc = np.full((n + 1) * (m + 1), np.inf)
    acc[0] = 0.0
    flat_cost = cost.ravel()
    width = m + 1
    for k in range(n + m - 1):
        i0 = max(0, k - m + 1)
        i1 = min(k, n - 1)
        count = i1 - i0 + 1
        # Cell (i, j = k - i) of D sits at flat index (i + 1) * width + (j + 1); along an anti-diagonal the
        # index grows by width - 1 = m per row, and the cost index i * m + j grows by m - 1.
        start = (i0 + 1) * width + (k - i0 + 1)
        cells = slice(start, start + (count - 1) * m + 1, m)
        up = acc[start - width : start - width + (count - 1) * m + 1 : m]
        left = acc[start - 1 : start - 1 + (count - 1) * m + 1 : m]
        diag = acc[start - width - 1 : start - width - 1 + (count - 1) * m + 1 : m]
        c_start = i0 * m + (k - i0)
        local = flat_cost[c_start : c_start + (count - 1) * (m - 1) + 1 : m - 1] if m > 1 else flat_cost[
            c_start : c_start + count
        ]
        acc[cells] = local + np.minimum(np.minimum(up, left), diag)
    return acc.reshape(n + 1, m + 1)[1:, 1:]


def dtw(cost: np.ndarray) -> tuple[float, np.ndarray]:
    """Minimum total cost of a monotone path through ``cost`` (N x M) and the path itself.

    Returns ``(total, path)``: ``total`` is the sum of ``cost`` over the path's cells and ``path`` is an
    int array of shape (L, 2) of (i, j) pairs from (0, 0) to (N-1, M-1), max(N, M) <= L <= N + M - 1.
    Ties while tracing back prefer the diagonal step, then (i-1, j), then (i, j-1).
    """
    acc = accumulated_cost(cost)
    n, m = acc.shape
    i, j = n - 1, m - 1
    steps = [(i, j)]
    while i > 0 or j > 0:
        if i == 0:
            j -= 1
        elif j == 0:
            i -= 1
        else:
            diag, up, left = acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1]
            if diag <= up and diag <= left:
                i, j = i - 1, j - 1
            elif up <= left:
                i -= 1
            else:
                j -= 1
        steps.append((i, j))
    path = np.array(steps[::-1], dtype=np.int64)
    return float(acc[-1, -1]), path

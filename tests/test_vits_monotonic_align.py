"""Monotonic alignment search: numba and torch versions against a brute-force search of every path."""

from __future__ import annotations

import itertools

import pytest
import torch

from vits.monotonic_align import maximum_path, maximum_path_numba, maximum_path_torch, numba_available


def brute_force_path(value: torch.Tensor, t_y: int, t_x: int) -> torch.Tensor:
    """Enumerate every monotonic path of (t_y frames, t_x tokens) and return the best as a 0/1 matrix."""
    best, best_path = None, None
    for moves in itertools.combinations(range(1, t_y), t_x - 1):
        path = torch.zeros(value.shape)
        index = 0
        total = 0.0
        for y in range(t_y):
            if y in moves:
                index += 1
            path[y, index] = 1
            total += float(value[y, index])
        if best is None or total > best:
            best, best_path = total, path
    return best_path


def _random_batch(seed: int, batch: int = 5, max_y: int = 8, max_x: int = 5):
    gen = torch.Generator().manual_seed(seed)
    t_x = torch.randint(1, max_x + 1, (batch,), generator=gen)
    t_y = torch.stack([torch.randint(int(x), max_y + 1, (1,), generator=gen)[0] for x in t_x])
    value = torch.randn(batch, max_y, max_x, generator=gen)
    mask = torch.zeros(batch, max_y, max_x)
    for b in range(batch):
        mask[b, : t_y[b], : t_x[b]] = 1
    return value, mask, t_y, t_x


BACKENDS = ["torch"] + (["numba"] if numba_available() else [])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", range(6))
def test_mas_equals_brute_force(backend: str, seed: int) -> None:
    value, mask, t_y, t_x = _random_batch(seed)
    path = maximum_path(value, mask, backend=backend)
    for b in range(value.shape[0]):
        expected = brute_force_path(value[b], int(t_y[b]), int(t_x[b]))
        assert torch.equal(path[b], expected), (b, path[b], expected)
    # every valid frame has exactly one token, nothing outside the mask
    assert torch.equal(path.sum(2), mask[:, :, 0])
    assert float((path * (1 - mask)).sum()) == 0.0


@pytest.mark.skipif(not numba_available(), reason="numba is not installed")
def test_numba_and_torch_agree_on_larger_inputs() -> None:
    gen = torch.Generator().manual_seed(0)
    value = torch.randn(3, 120, 30, generator=gen)
    mask = torch.zeros_like(value)
    for b, (ty, tx) in enumerate([(120, 30), (77, 20), (30, 30)]):
        mask[b, :ty, :tx] = 1
    a, b_ = maximum_path_numba(value, mask), maximum_path_torch(value, mask)
    assert torch.equal(a, b_)
    # a diagonal path when frames == tokens
    assert torch.equal(a[2, :30], torch.eye(30)) and float(a[2, 30:].sum()) == 0.0


def test_bad_shapes_are_named() -> None:
    with pytest.raises(ValueError, match="maximum_path"):
        maximum_path(torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="backend"):
        maximum_path(torch.zeros(1, 2, 2), torch.ones(1, 2, 2), backend="cuda-magic")

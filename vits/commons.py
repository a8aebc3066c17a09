"""Small tensor helpers shared by the VITS modules: masks, duration paths, segment slicing, weight norm."""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def get_padding(kernel_size: int, dilation: int = 1) -> int:
    """'same' padding of an odd kernel with the given dilation."""
    return (kernel_size * dilation - dilation) // 2


def init_weights(module: nn.Module, mean: float = 0.0, std: float = 0.01) -> None:
    """HiFi-GAN's initialisation: normal(mean, std) weights for every conv layer."""
    if "Conv" in type(module).__name__:
        module.weight.data.normal_(mean, std)


def weight_norm(module: nn.Module) -> nn.Module:
    """Weight norm with Piper's state_dict names (``weight_g``, ``weight_v``).

    ``torch.nn.utils.weight_norm`` is deprecated in favour of the parametrization, but the parametrization
    names its tensors ``parametrizations.weight.original0/1``, which Piper checkpoints do not have.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return nn.utils.weight_norm(module)


def remove_weight_norm(module: nn.Module) -> None:
    """Fold the weight norm of every submodule that has one (for inference and export)."""
    for sub in module.modules():
        if hasattr(sub, "weight_g") and hasattr(sub, "weight_v"):
            nn.utils.remove_weight_norm(sub)


def sequence_mask(lengths: Tensor, max_length: int | Tensor | None = None) -> Tensor:
    """Boolean (B, T) mask, True for the first ``lengths[b]`` steps."""
    if max_length is None:
        max_length = lengths.max()
    steps = torch.arange(max_length, dtype=lengths.dtype, device=lengths.device)
    return steps.unsqueeze(0) < lengths.unsqueeze(1)


def generate_path(duration: Tensor, mask: Tensor) -> Tensor:
    """Hard alignment (B, 1, T_frames, T_text) from integer durations (B, 1, T_text) under ``mask``."""
    b, _, t_y, t_x = mask.shape
    cum = torch.cumsum(duration, -1).view(b * t_x)
    path = sequence_mask(cum, t_y).to(mask.dtype).view(b, t_x, t_y)
    path = path - F.pad(path, [0, 0, 1, 0, 0, 0])[:, :-1]
    return path.unsqueeze(1).transpose(2, 3) * mask


def slice_segments(x: Tensor, ids_start: Tensor, segment_size: int) -> Tensor:
    """The windows x[b, :, ids_start[b] : ids_start[b] + segment_size] stacked (B, C, segment_size); zeros
    past the end of ``x`` (an utterance shorter than one segment)."""
    needed = int(ids_start.max()) + segment_size if ids_start.numel() else segment_size
    if x.size(2) < needed:
        x = F.pad(x, [0, needed - x.size(2)])
    index = ids_start.view(-1, 1, 1) + torch.arange(segment_size, device=x.device).view(1, 1, -1)
    return torch.gather(x, 2, index.expand(x.size(0), x.size(1), segment_size))


def rand_slice_segments(x: Tensor, lengths: Tensor, segment_size: int) -> tuple[Tensor, Tensor]:
    """A random window of ``segment_size`` steps inside each item's valid length, and where it starts."""
    if x.size(2) < segment_size:
        x = F.pad(x, [0, segment_size - x.size(2)])
    max_start = (lengths - segment_size + 1).clamp(min=1)
    ids_start = (torch.rand(x.size(0), device=x.device) * max_start).long()
    return slice_segments(x, ids_start, segment_size), ids_start

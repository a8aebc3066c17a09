"""When Tacotron 2 inference stops: the max-decoder-steps warning and the attention stop (shared by the
reference decoder loop in tacotron2/model.py and the fast one in tacotron2/fast_decoder.py)."""

from __future__ import annotations

import warnings

import torch
from torch import Tensor


class MaxDecoderStepsWarning(UserWarning):
    """Inference reached max_decoder_steps before the gate stopped some items of the batch."""


def warn_unfinished(unfinished: list[int], max_decoder_steps: int, stacklevel: int = 2) -> None:
    """Warn (MaxDecoderStepsWarning) that these batch items hit max_decoder_steps; nothing if none did."""
    if unfinished:
        warnings.warn(
            f"Tacotron 2 reached max_decoder_steps={max_decoder_steps} before the gate stopped "
            f"batch item(s) {unfinished}; their mels are truncated "
            "(raise --max-decoder-steps or check the input text)",
            MaxDecoderStepsWarning,
            stacklevel=stacklevel + 1,
        )


# Inference ends an item once its attention peak has sat on the last input symbol for this many mel frames,
# even if the gate has not fired (0 turns it off: the reference's gate-only rule). A decoder attribute set at
# synthesis (`--attention-stop-frames`), not a constructor keyword: checkpoint configs stay the reference's.
ATTENTION_STOP_FRAMES = 20


def attention_stop_steps(frames: int, n_frames_per_step: int) -> int:
    """Decoder steps of `frames` mel frames (rounded up); 0 when the attention stop is off."""
    return -(-max(0, int(frames)) // n_frames_per_step)


def attention_dwell(weights: Tensor, last_index: Tensor, dwell: Tensor) -> Tensor:
    """Steps each item's attention peak has stayed on its last real input symbol (reset elsewhere)."""
    at_end = weights.argmax(dim=1) >= last_index
    return torch.where(at_end, dwell + 1, torch.zeros_like(dwell))

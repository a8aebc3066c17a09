"""Tacotron 2's typed batches: what `batch_to_device` hands the model (`Inputs`) and the loss (`Targets`).

They are NamedTuples, so the model and the loss, which also take plain tuples (the reference's layout),
read them by position as before, and new code reads them by name. A conditioned (multi-speaker) batch
adds the speaker and language ids: `ConditionedInputs` and `ConditionedTargets`.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor


class Inputs(NamedTuple):
    """The model input of a plain batch (the reference's five items)."""

    text: Tensor  # (B, T_in) symbol ids, zero-padded
    input_lengths: Tensor  # (B,)
    mels: Tensor  # (B, n_mel, T_out) teacher-forcing targets, padded to a multiple of r
    max_len: int  # T_out
    output_lengths: Tensor  # (B,) mel frames


class ConditionedInputs(NamedTuple):
    """The model input of a multi-speaker/multilingual batch."""

    text: Tensor
    input_lengths: Tensor
    mels: Tensor
    max_len: int
    output_lengths: Tensor
    speaker_ids: Tensor  # (B,)
    language_ids: Tensor  # (B,)


class Targets(NamedTuple):
    """The loss targets of a plain batch."""

    mels: Tensor
    gates: Tensor  # (B, T_out) stop-gate targets
    output_lengths: Tensor
    input_lengths: Tensor


class ConditionedTargets(NamedTuple):
    """The loss targets of a conditioned batch (the speakers, for the adversarial classifier)."""

    mels: Tensor
    gates: Tensor
    output_lengths: Tensor
    input_lengths: Tensor
    speaker_ids: Tensor

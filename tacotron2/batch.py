"""Tacotron 2's typed batches: what the collate makes (`TextMelBatch`), what `batch_to_device` hands the
model (`Inputs`) and the loss (`Targets`), and what the model's training pass returns (`Outputs`).

They are NamedTuples, so the model and the loss, which also take plain tuples (the reference's layout),
can read them by position as before (the reference's code indexes `y_pred[0]` ... `y_pred[3]`), and the
suite's code reads them by name. A conditioned (multi-speaker) batch adds the speaker and language ids:
`ConditionedInputs` and `ConditionedTargets`; a model with the adversarial speaker classifier returns
`ClassifiedOutputs` (its logits as a fifth item).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from torch import Tensor

from common.data import CollatedBatch


@dataclass
class TextMelBatch(CollatedBatch):
    """A padded batch as `TextMelCollate` makes it (CPU tensors; None when no item of the batch was usable),
    with the items it left out (`CollatedBatch`)."""

    text_padded: Tensor | None = None  # (B, T_in) symbol ids, zero-padded
    input_lengths: Tensor | None = None  # (B,)
    mel_padded: Tensor | None = None  # (B, n_mel, T_out), T_out a multiple of r
    gate_padded: Tensor | None = None  # (B, T_out) stop-gate targets
    output_lengths: Tensor | None = None  # (B,) mel frames
    speaker_ids: Tensor | None = None  # (B,) multi-speaker/multilingual items only
    language_ids: Tensor | None = None  # (B,)


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


class Outputs(NamedTuple):
    """The teacher-forced pass's results (`Tacotron2.forward`), in the reference's order."""

    mel: Tensor  # (B, n_mel, T_out) decoder output
    mel_postnet: Tensor  # (B, n_mel, T_out) decoder output plus the postnet's residual
    gate: Tensor  # (B, T_out // r) stop-gate logits
    alignments: Tensor  # (B, T_out // r, T_in) attention weights per decoder step


class ClassifiedOutputs(NamedTuple):
    """`Outputs` plus the adversarial speaker classifier's logits (`MultilingualTacotron2.forward`)."""

    mel: Tensor
    mel_postnet: Tensor
    gate: Tensor
    alignments: Tensor
    speaker_logits: Tensor  # (B, T_in, n_speakers)


class ConditionedTargets(NamedTuple):
    """The loss targets of a conditioned batch (the speakers, for the adversarial classifier)."""

    mels: Tensor
    gates: Tensor
    output_lengths: Tensor
    input_lengths: Tensor
    speaker_ids: Tensor


def as_outputs(model_output: Sequence[Tensor]) -> Outputs | ClassifiedOutputs:
    """The model's results by name: typed ones as they are; a plain sequence (the reference's list) of four
    items as `Outputs`, of five as `ClassifiedOutputs`."""
    if isinstance(model_output, Outputs | ClassifiedOutputs):
        return model_output
    items = tuple(model_output)
    if len(items) == 5:
        return ClassifiedOutputs(*items)
    if len(items) != 4:
        raise ValueError(f"model outputs: expected (mel, mel_postnet, gate, alignments[, speaker_logits]), "
                         f"got {len(items)} items")
    return Outputs(*items)


def as_targets(targets: Sequence[Tensor]) -> Targets | ConditionedTargets:
    """The loss targets by name: typed ones as they are; a plain sequence of four items as `Targets`, of
    five as `ConditionedTargets`."""
    if isinstance(targets, Targets | ConditionedTargets):
        return targets
    items = tuple(targets)
    if len(items) == 5:
        return ConditionedTargets(*items)
    if len(items) != 4:
        raise ValueError("loss targets: expected (mels, gates, output_lengths, input_lengths[, "
                         f"speaker_ids]), got {len(items)} items")
    return Targets(*items)

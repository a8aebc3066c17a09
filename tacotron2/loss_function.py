"""Tacotron 2 loss: MSE on the mel before and after the postnet plus BCE-with-logits on the stop gate."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from tacotron2.layers import lengths_to_mask


class Tacotron2LossError(ValueError):
    """Model outputs and targets given to Tacotron2Loss do not fit together."""


class Tacotron2Loss(nn.Module):
    """loss = MSE(mel, target) + MSE(mel_postnet, target) + BCEWithLogits(gate, gate_target per step).

    The gate target comes at frame resolution (1 from the last real frame on); with r frames per decoder
    step it is subsampled to the last frame of each group, `gate_target[:, r-1::r]`. With lengths, every
    term is a mean over real frames (mel terms) / real decoder steps (gate) only; without, padded frames
    count, as in the reference. Lengths are the `output_lengths` argument, or, when built with
    `mask_padding=True`, a third element of `targets` (mel, gate, output_lengths) when present.
    After each call `last_parts` holds the three terms as floats for logging.
    """

    def __init__(self, mask_padding: bool = False) -> None:
        super().__init__()
        self.mask_padding = mask_padding
        self._parts: dict[str, Tensor] = {}

    @property
    def last_parts(self) -> dict[str, float]:
        """The terms of the last call: {"mel", "postnet", "gate"} as Python floats."""
        return {name: float(value) for name, value in self._parts.items()}

    def components(self) -> tuple[float, float, float]:
        """(mel, postnet, gate) terms of the last call."""
        parts = self.last_parts
        return parts["mel"], parts["postnet"], parts["gate"]

    def forward(self, model_output: Sequence[Tensor], targets: Sequence[Tensor],
                output_lengths: Tensor | None = None) -> Tensor:
        """model_output = [mel, mel_postnet, gate (B, steps), ...]; targets = (mel (B, n_mel, T_out),
        gate (B, T_out)[, output_lengths]); optional output_lengths (B,) for masked means.
        Returns the scalar loss."""
        mel_out, mel_postnet, gate_out = model_output[0], model_output[1], model_output[2]
        mel_target, gate_target = targets[0].detach(), targets[1].detach()
        if output_lengths is None and self.mask_padding and len(targets) > 2:
            output_lengths = targets[2]
        if mel_out.shape != mel_target.shape or mel_postnet.shape != mel_target.shape:
            raise Tacotron2LossError(
                f"mel outputs {tuple(mel_out.shape)} / {tuple(mel_postnet.shape)} do not match the mel "
                f"target {tuple(mel_target.shape)}"
            )
        batch, n_mel, t_out = mel_target.shape
        steps = gate_out.size(-1)
        if gate_target.shape != (batch, t_out) or steps == 0 or t_out % steps:
            raise Tacotron2LossError(
                f"gate target {tuple(gate_target.shape)} must be (batch, T_out)=({batch}, {t_out}) and T_out "
                f"a multiple of the {steps} gate outputs (one per decoder step)"
            )
        r = t_out // steps
        gate_out = gate_out.reshape(batch, steps).float()
        gate_target = gate_target[:, r - 1::r].float()

        if output_lengths is None:
            mel_loss = F.mse_loss(mel_out.float(), mel_target.float())
            postnet_loss = F.mse_loss(mel_postnet.float(), mel_target.float())
            gate_loss = F.binary_cross_entropy_with_logits(gate_out, gate_target)
        else:
            frame_mask = lengths_to_mask(output_lengths.to(mel_target.device), t_out)
            frame_weight = frame_mask.unsqueeze(1).float()
            n_values = frame_weight.sum() * n_mel
            mel_loss = ((mel_out.float() - mel_target.float()) ** 2 * frame_weight).sum() / n_values
            postnet_loss = ((mel_postnet.float() - mel_target.float()) ** 2 * frame_weight).sum() / n_values
            step_weight = frame_mask[:, ::r].float()  # a step is real when its first frame is
            gate_terms = F.binary_cross_entropy_with_logits(gate_out, gate_target, reduction="none")
            gate_loss = (gate_terms * step_weight).sum() / step_weight.sum()

        self._parts = {"mel": mel_loss.detach(), "postnet": postnet_loss.detach(), "gate": gate_loss.detach()}
        return mel_loss + postnet_loss + gate_loss


def gate_target_from_lengths(output_lengths: Tensor, max_len: int) -> Tensor:
    """Frame-resolution gate target (B, max_len): 1.0 from each item's last real frame on, else 0.0."""
    positions = torch.arange(max_len, device=output_lengths.device).unsqueeze(0)
    return (positions >= (output_lengths.unsqueeze(1) - 1)).float()

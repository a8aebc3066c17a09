"""Tacotron 2 loss: MSE on the mel before and after the postnet plus BCE-with-logits on the stop gate."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from tacotron2.batch import ClassifiedOutputs, ConditionedTargets, as_outputs, as_targets
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


def guided_attention_weights(input_lengths: Tensor, step_lengths: Tensor, max_in: int, max_steps: int,
                             sigma: float) -> Tensor:
    """Penalty (B, max_steps, max_in) for attention far from the diagonal: 1 - exp(-(n/N - t/T)^2 / 2g^2).

    N and T are each item's decoder steps and input length; padded positions get weight 0.
    """
    device = input_lengths.device
    n = torch.arange(max_steps, device=device).view(1, -1, 1).float()
    t = torch.arange(max_in, device=device).view(1, 1, -1).float()
    big_n = step_lengths.view(-1, 1, 1).float().clamp(min=1)
    big_t = input_lengths.view(-1, 1, 1).float().clamp(min=1)
    weights = 1.0 - torch.exp(-((n / big_n - t / big_t) ** 2) / (2.0 * sigma ** 2))
    valid = (n < big_n) & (t < big_t)
    return weights * valid


class Tacotron2Criterion(nn.Module):
    """What `run.py -m Tacotron2` minimises: Tacotron2Loss, plus an optional guided attention term.

    The guided attention term (after Tachibana et al., 2017) is the expected diagonal-prior penalty under
    each real decoder step's attention, averaged over steps (so in [0, 1] whatever the input length); it
    pulls attention towards a monotonic diagonal, which makes small models align in far fewer steps. Its
    weight decays by `guided_attention_decay` per optimizer step (1.0 keeps it constant); weight 0 (the
    default) gives exactly the reference loss.
    `targets` = (mel, gate, output_lengths, input_lengths), as tacotron2.data_function.batch_to_device builds.
    """

    def __init__(self, mask_padding: bool = False, guided_attention_weight: float = 0.0,
                 guided_attention_sigma: float = 0.2, guided_attention_decay: float = 1.0) -> None:
        super().__init__()
        self.loss = Tacotron2Loss(mask_padding)
        self.weight, self.sigma = guided_attention_weight, guided_attention_sigma
        self.decay = guided_attention_decay
        self.step = 0
        self._guided: Tensor | None = None

    def set_step(self, step: int) -> None:
        """The optimizer step the next call belongs to (drives the weight decay; restored on resume)."""
        self.step = step

    @property
    def current_weight(self) -> float:
        return self.weight * self.decay ** self.step

    @property
    def last_parts(self) -> dict[str, float]:
        parts = self.loss.last_parts
        if self._guided is not None:
            parts["guided_attention"] = float(self._guided)
        return parts

    def forward(self, model_output: Sequence[Tensor], targets: Sequence[Tensor]) -> Tensor:
        """The reference loss plus the guided attention term; `model_output` and `targets` typed
        (tacotron2/batch.py) or plain sequences in their order."""
        y = as_targets(targets)
        mel, output_lengths, input_lengths = y.mels, y.output_lengths, y.input_lengths
        total = self.loss(model_output, (mel, y.gates), output_lengths if self.loss.mask_padding else None)
        weight = self.current_weight
        if weight <= 0.0:
            self._guided = None
            return total
        alignments = as_outputs(model_output).alignments.float()
        steps, max_in = alignments.shape[1], alignments.shape[2]
        r = mel.size(2) // steps
        step_lengths = torch.div(output_lengths + r - 1, r, rounding_mode="floor")
        penalty = guided_attention_weights(input_lengths, step_lengths, max_in, steps, self.sigma)
        # expected penalty under each decoder step's attention, averaged over real steps: in [0, 1],
        # independent of the input length
        guided = (alignments * penalty).sum() / step_lengths.sum().clamp(min=1)
        self._guided = guided.detach()
        return total + weight * guided


class SpeakerAdversarialCriterion(Tacotron2Criterion):
    """Tacotron2Criterion plus `weight * CE(speaker logits, speaker)` of the adversarial speaker classifier.

    The classifier's logits are the fifth model output (B, T_in, n_speakers), one prediction per encoder
    position; the cross-entropy and the accuracy are means over real (unpadded) positions. The classifier
    minimises this term; the gradient reversal layer in front of it makes the encoder maximise it.
    `targets` = (mel, gate, output_lengths, input_lengths, speaker_ids). `last_metrics` holds the speaker
    accuracy of the last call (logged as train_speaker_accuracy).
    """

    def __init__(self, mask_padding: bool = False, guided_attention_weight: float = 0.0,
                 guided_attention_sigma: float = 0.2, guided_attention_decay: float = 1.0,
                 speaker_classifier_weight: float = 0.0) -> None:
        super().__init__(mask_padding, guided_attention_weight, guided_attention_sigma,
                         guided_attention_decay)
        self.speaker_classifier_weight = speaker_classifier_weight
        self._classifier: Tensor | None = None
        self._accuracy: Tensor | None = None

    @property
    def last_parts(self) -> dict[str, float]:
        parts = super().last_parts
        if self._classifier is not None:
            parts["speaker_classifier"] = float(self._classifier)
        return parts

    @property
    def last_metrics(self) -> dict[str, float]:
        """{"speaker_accuracy": ...} of the last call (empty without a classifier output)."""
        return {} if self._accuracy is None else {"speaker_accuracy": float(self._accuracy)}

    def forward(self, model_output: Sequence[Tensor], targets: Sequence[Tensor]) -> Tensor:
        total = super().forward(model_output, targets)
        outputs, y = as_outputs(model_output), as_targets(targets)
        if not isinstance(outputs, ClassifiedOutputs) or not isinstance(y, ConditionedTargets):
            self._classifier = self._accuracy = None
            return total
        cross_entropy, accuracy = speaker_classification(outputs.speaker_logits, y.speaker_ids,
                                                         y.input_lengths)
        self._classifier, self._accuracy = cross_entropy.detach(), accuracy
        if self.speaker_classifier_weight <= 0.0:
            return total
        return total + self.speaker_classifier_weight * cross_entropy


def speaker_classification(logits: Tensor, speaker_ids: Tensor,
                           input_lengths: Tensor) -> tuple[Tensor, Tensor]:
    """Cross-entropy and accuracy of per-position speaker logits (B, T_in, S) over real positions."""
    mask = lengths_to_mask(input_lengths.to(logits.device), logits.size(1))
    targets = speaker_ids.to(logits.device).unsqueeze(1).expand(-1, logits.size(1))
    real_logits, real_targets = logits[mask].float(), targets[mask]
    cross_entropy = F.cross_entropy(real_logits, real_targets)
    accuracy = (real_logits.argmax(dim=1) == real_targets).float().mean().detach()
    return cross_entropy, accuracy

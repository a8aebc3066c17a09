"""The adversarial speaker classifier of a multi-speaker Tacotron 2, behind a gradient reversal layer
(Nekvinda and Dušek, 2020)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from tacotron2.layers import LinearNorm

__all__ = ["GRADIENT_CLIP", "SpeakerClassifier", "reverse_gradient"]

GRADIENT_CLIP = 0.25  # the reversal layer clips the classifier's gradient to +-0.25 (Nekvinda and Dusek)


class _ReverseGradient(torch.autograd.Function):
    """Identity forward; backward: clip the incoming gradient to [-clip, clip], then multiply by -scale."""

    @staticmethod
    def forward(ctx, x: Tensor, scale: float, clip: float) -> Tensor:  # type: ignore[override]
        ctx.scale, ctx.clip = scale, clip
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        return grad.clamp(-ctx.clip, ctx.clip) * -ctx.scale, None, None


def reverse_gradient(x: Tensor, scale: float = 1.0, clip: float = GRADIENT_CLIP) -> Tensor:
    """`x` unchanged; its gradient becomes `-scale * clamp(grad, -clip, clip)`."""
    return _ReverseGradient.apply(x, float(scale), float(clip))


class SpeakerClassifier(nn.Module):
    """Per-position speaker classifier on encoder outputs, behind a gradient reversal layer.

    Linear(D, hidden) + ReLU + Linear(hidden, n_speakers). Minimising its cross-entropy trains the
    classifier; the reversed gradient trains the encoder to make speakers indistinguishable.
    """

    def __init__(self, input_dim: int, hidden_dim: int, n_speakers: int, reversal_lambda: float = 1.0,
                 clip: float = GRADIENT_CLIP) -> None:
        super().__init__()
        self.reversal_lambda, self.clip = reversal_lambda, clip
        self.hidden = LinearNorm(input_dim, hidden_dim, w_init_gain="relu")
        self.output = LinearNorm(hidden_dim, n_speakers)

    def forward(self, encoder_outputs: Tensor) -> Tensor:
        """(B, T_in, D) -> speaker logits (B, T_in, n_speakers)."""
        x = reverse_gradient(encoder_outputs, self.reversal_lambda, self.clip)
        return self.output(F.relu(self.hidden(x)))

"""WaveGlow's training loss: the negative log-likelihood of the audio under the flow, per sample."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class WaveGlowLoss(nn.Module):
    """NLL of a spherical Gaussian prior N(0, sigma^2) pushed through the flow, averaged over samples.

    loss = [sum z^2 / (2 sigma^2) - sum log_s - sum log_det_W] / (B * n_group * T / n_group). The constant
    log(sigma * sqrt(2 pi)) per sample is left out (as in the reference), so negative values are normal.
    Computed in float32 (or wider) even when the model output is half precision.
    """

    def __init__(self, sigma: float = 1.0) -> None:
        super().__init__()
        if sigma <= 0:
            raise ValueError(f"--sigma must be positive, got {sigma}")
        self.sigma = float(sigma)

    def forward(
        self,
        model_output: tuple[Tensor, Sequence[Tensor], Sequence[Tensor]],
        clean_audio: Tensor | None = None,
    ) -> Tensor:
        """Loss of WaveGlow.forward's (z, log_s_list, log_det_W_list); ``clean_audio`` is not needed."""
        z, log_s_list, log_det_w_list = model_output
        dtype = torch.promote_types(z.dtype, torch.float32)
        z = z.to(dtype)
        log_s_total = sum(log_s.to(dtype).sum() for log_s in log_s_list)
        log_det_w_total = sum(log_det_w.to(dtype).sum() for log_det_w in log_det_w_list)
        nll = torch.sum(z * z) / (2 * self.sigma**2) - log_s_total - log_det_w_total
        return nll / z.numel()

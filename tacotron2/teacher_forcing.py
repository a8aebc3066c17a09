"""Teacher forcing below 1 (scheduled sampling): the ratio's schedule over training steps and the decoder
that applies it."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from tacotron2.model import Decoder
from tacotron2.multilingual_errors import MultilingualConfigError

__all__ = ["TEACHER_FORCING_SCHEDULES", "ScheduledDecoder", "teacher_forcing_ratio"]

TEACHER_FORCING_SCHEDULES = ("constant", "linear", "cosine")


def teacher_forcing_ratio(step: int, schedule: str = "constant", start_step: int = 0, end_step: int = 0,
                          final_ratio: float = 1.0) -> float:
    """The share of decoder inputs taken from the ground truth at optimizer step `step`.

    constant: `final_ratio` at every step. linear / cosine: 1.0 up to `start_step`, then a linear or
    half-cosine decay to `final_ratio` at `end_step`, and `final_ratio` after (with end <= start the ratio
    drops to `final_ratio` at `start_step`).
    """
    if schedule not in TEACHER_FORCING_SCHEDULES:
        raise MultilingualConfigError(
            f"--teacher-forcing {schedule!r}: choose one of {', '.join(TEACHER_FORCING_SCHEDULES)}"
        )
    if not 0.0 <= final_ratio <= 1.0:
        raise MultilingualConfigError(f"--teacher-forcing-final-ratio must be in [0, 1], got {final_ratio}")
    if schedule == "constant":
        return float(final_ratio)
    if step < start_step:
        return 1.0
    if step >= end_step:
        return float(final_ratio)
    progress = (step - start_step) / (end_step - start_step)
    if schedule == "linear":
        fraction = 1.0 - progress
    else:
        fraction = 0.5 * (1.0 + math.cos(math.pi * progress))
    return float(final_ratio + (1.0 - final_ratio) * fraction)


class ScheduledDecoder(Decoder):
    """The reference decoder with a teacher-forcing ratio for training-mode forward passes.

    `teacher_forcing_ratio` 1.0 (or eval mode) runs the reference teacher-forced pass unchanged. Below 1,
    the input of step s > 0 is, per item, the ground-truth last frame of group s - 1 with probability
    `ratio` and otherwise the model's own last predicted frame of step s - 1 (detached); the choices are
    drawn from a generator seeded with `teacher_forcing_seed`, so they are reproducible.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.teacher_forcing_ratio = 1.0
        self.teacher_forcing_seed = 0

    def forward(self, memory: Tensor, decoder_inputs: Tensor,
                memory_lengths: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        if not self.training or self.teacher_forcing_ratio >= 1.0:
            return super().forward(memory, decoder_inputs, memory_lengths)
        r = self.n_frames_per_step
        batch = memory.size(0)
        group_ends = decoder_inputs.transpose(1, 2)[:, r - 1::r]
        steps = group_ends.size(1)
        generator = torch.Generator().manual_seed(int(self.teacher_forcing_seed))
        use_truth = (torch.rand(batch, steps, generator=generator) < self.teacher_forcing_ratio)
        use_truth = use_truth.to(memory.device).unsqueeze(2)
        memory_mask = self._memory_mask(memory, memory_lengths)
        processed_memory = self.attention_layer.memory_layer(memory)
        state = self.initial_state(memory)
        previous = memory.new_zeros(batch, self.n_mel_channels).to(group_ends.dtype)
        frames, gates, alignments = [], [], []
        for step in range(steps):
            if step > 0:
                own = frames[-1][:, -self.n_mel_channels:].detach().to(group_ends.dtype)
                previous = torch.where(use_truth[:, step], group_ends[:, step - 1], own)
            out, gate, state = self.decode(self.prenet(previous), state, memory, processed_memory,
                                           memory_mask)
            frames.append(out)
            gates.append(gate)
            alignments.append(state.attention_weights)
        return self._frames_to_mel(frames), torch.cat(gates, dim=1), torch.stack(alignments, dim=1)

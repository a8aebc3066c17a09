"""Tacotron 2's validation metrics: alignment diagnostics of each teacher-forced batch and the speaker
classifier's accuracy (`batch_val_metrics`), and the mel cepstral distortion of free-running synthesis
(`validation_mcd`, with `--val-mcd-utterances`)."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch
from torch import Tensor

from common.data import BadItem, NotedItem
from common.metrics.alignment import batch_alignment_scores
from common.metrics.mcd import mcd
from tacotron2.batch import ClassifiedOutputs, ConditionedInputs, Inputs, as_outputs
from tacotron2.loss_function import speaker_classification
from tacotron2.model import Tacotron2
from tacotron2.stopping import MaxDecoderStepsWarning


def batch_val_metrics(x: Inputs | ConditionedInputs, y_pred: Any) -> dict[str, float]:
    """Alignment diagnostics of the teacher-forced attention (padding excluded), and the adversarial speaker
    classifier's accuracy when the model has one. `y_pred`: the model's outputs (mel, postnet mel, gate,
    alignments[, speaker logits])."""
    outputs = as_outputs(y_pred)
    alignments = outputs.alignments
    r = x.mels.size(2) // alignments.size(1)
    steps = torch.div(x.output_lengths + r - 1, r, rounding_mode="floor")
    scores = batch_alignment_scores(alignments.float().cpu(), x.input_lengths.cpu(), steps.cpu())
    metrics = {f"val_{name}": value for name, value in scores.items()}
    if isinstance(outputs, ClassifiedOutputs) and isinstance(x, ConditionedInputs):
        metrics["val_speaker_accuracy"] = float(speaker_classification(outputs.speaker_logits, x.speaker_ids,
                                                                       x.input_lengths)[1])
    return metrics


# ------------------------------------------------------------------------------------------- validation

MEL_CEPSTRUM_ORDER = 24


def mel_cepstra(log_mel: Tensor | np.ndarray, order: int = MEL_CEPSTRUM_ORDER) -> np.ndarray:
    """(n_mel, frames) natural-log mel magnitudes -> (frames, order + 1) mel cepstra.

    The cepstrum is the DCT-II of each frame's log-mel vector L(m), m = 0..N-1, scaled so that
    `L(m) = sum_k c_k cos(pi k (m + 1/2) / N)`: c_0 = mean(L), c_k = (2/N) sum_m L(m) cos(pi k (m + 1/2) / N).
    With this scaling `mean_m dL(m)^2 = dc_0^2 + 1/2 sum_k>0 dc_k^2`, the same relation as between the
    causal cepstra of common.metrics.mcd and their log spectra, so `common.metrics.mcd` (DTW, c0
    excluded, 10 sqrt(2) / ln 10 dB per unit distance) applied to these gives the RMS difference in dB of
    the two mel spectra's shapes (levels excluded, cepstra truncated at `order`).
    """
    mel = torch.as_tensor(log_mel).detach().to("cpu", torch.float64).numpy()
    n_mel = mel.shape[0]
    order = min(order, n_mel - 1)
    k = np.arange(order + 1)[:, None]
    m = np.arange(n_mel)[None, :]
    basis = np.cos(np.pi * k * (m + 0.5) / n_mel)
    scale = np.full((order + 1, 1), 2.0 / n_mel)
    scale[0] = 1.0 / n_mel
    return ((basis * scale) @ mel).T


def validation_mcd(model: Tacotron2, dataset: Any, n_utterances: int, device: torch.device | str = "cpu",
                   rank: int = 0, world_size: int = 1, seed: int = 0,
                   max_length_ratio: float = 2.0) -> tuple[float, int]:
    """Sum and count of the mel MCD (dB) of free-running synthesis against the target mels.

    Uses this rank's share (index % world_size == rank) of the first `n_utterances` items of `dataset`
    (items (text ids, mel[, speaker id, language id]); unloadable ones are skipped). Decoding stops at
    the gate or at `max_length_ratio` times the target length, so an untrained gate cannot stall
    validation. The MCD is `common.metrics.mcd` on `mel_cepstra` of the predicted and target mels:
    computed from the mels directly (no vocoder, no Griffin-Lim), DTW-aligned, c0 excluded. The random
    streams (prenet dropout) are forked and seeded with `seed`, so training randomness is untouched and
    the value is reproducible.
    """
    total, count = 0.0, 0
    decoder = model.decoder
    saved_steps = decoder.max_decoder_steps
    was_training = model.training
    devices = [torch.device(device)] if torch.device(device).type == "cuda" else []
    model.eval()
    try:
        with torch.random.fork_rng(devices=devices), warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore", MaxDecoderStepsWarning)
            torch.manual_seed(seed)
            for index in range(rank, min(n_utterances, len(dataset)), world_size):
                item = dataset[index]
                if isinstance(item, BadItem):
                    continue
                if isinstance(item, NotedItem):  # a very long utterance; training warns about it
                    item = item.item
                text, target = item[0], item[1]
                ids = {}
                if len(item) == 4:
                    ids = {"speaker_ids": torch.tensor([item[2]], device=device),
                           "language_ids": torch.tensor([item[3]], device=device)}
                steps = math.ceil(max_length_ratio * target.size(1) / model.n_frames_per_step)
                decoder.max_decoder_steps = max(1, min(saved_steps, steps))
                mel, lengths, _ = model.infer(text.unsqueeze(0).to(device), None, **ids)
                predicted = mel[0, :, : int(lengths[0])]
                value, _ = mcd(mel_cepstra(target), mel_cepstra(predicted))
                total += value
                count += 1
    finally:
        decoder.max_decoder_steps = saved_steps
        model.train(was_training)
    return total, count

"""The training criterion: reference loss at weight 0, and the guided attention term."""

import math

import pytest
import torch

from tacotron2.loss_function import Tacotron2Criterion, Tacotron2Loss, guided_attention_weights


def outputs_and_targets(steps=4, t_in=5, r=2):
    g = torch.Generator().manual_seed(0)
    mel = torch.randn(2, 3, steps * r, generator=g)
    gate = torch.zeros(2, steps * r)
    gate[0, -1] = gate[1, 5:] = 1
    out = [torch.randn(2, 3, steps * r, generator=g), torch.randn(2, 3, steps * r, generator=g),
           torch.randn(2, steps, generator=g), torch.softmax(torch.randn(2, steps, t_in, generator=g), -1)]
    return out, (mel, gate, torch.tensor([steps * r, 6]), torch.tensor([t_in, 3]))


def test_weight_zero_is_exactly_the_reference_loss():
    out, y = outputs_and_targets()
    assert torch.equal(Tacotron2Criterion()(out, y), Tacotron2Loss()(out, y[:2]))
    masked = Tacotron2Criterion(mask_padding=True)(out, y)
    assert torch.equal(masked, Tacotron2Loss()(out, y[:2], y[2]))


def test_guided_weights_are_zero_on_the_diagonal_and_in_padding():
    w = guided_attention_weights(torch.tensor([4, 2]), torch.tensor([4, 3]), 4, 5, sigma=0.2)
    assert w.shape == (2, 5, 4)
    assert torch.all(w[0].diagonal() == 0)
    assert w[0, 0, 3] == pytest.approx(1 - math.exp(-(0.75 ** 2) / 0.08))
    assert torch.all(w[0, 4:] == 0) and torch.all(w[1, 3:] == 0) and torch.all(w[1, :, 2:] == 0)


def test_guided_term_prefers_diagonal_alignments_and_decays():
    out, y = outputs_and_targets(steps=5, t_in=5, r=1)
    y = (y[0][..., :5], y[1][..., :5], torch.tensor([5, 5]), torch.tensor([5, 5]))
    out = [o[..., :5] if i < 2 else o for i, o in enumerate(out)]
    out[2] = out[2][:, :5]
    criterion = Tacotron2Criterion(guided_attention_weight=1.0, guided_attention_decay=0.5)
    eye = torch.eye(5).expand(2, 5, 5)
    anti = eye.flip(-1)
    base = Tacotron2Loss()(out, y[:2])
    diagonal = criterion(out[:3] + [eye], y)
    assert float(diagonal) == pytest.approx(float(base)) and criterion.last_parts["guided_attention"] == 0
    reversed_ = criterion(out[:3] + [anti], y)
    assert float(reversed_) > float(base) + 0.1
    criterion.set_step(2)
    assert criterion.current_weight == 0.25
    assert float(criterion(out[:3] + [anti], y)) - float(base) == pytest.approx(
        0.25 * (float(reversed_) - float(base)), rel=1e-5)

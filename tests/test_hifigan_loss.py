"""HiFi-GAN losses (hifigan/loss_function.py) on small fixed inputs against values worked out by hand."""

from __future__ import annotations

import pytest
import torch

from common.stft import MelSTFT
from hifigan.loss_function import (
    MelLoss,
    discriminator_loss,
    discriminator_total,
    feature_loss,
    generator_loss,
    generator_total,
    mel_l1,
)

T = torch.tensor


def test_feature_loss_is_twice_the_sum_of_mean_absolute_differences() -> None:
    fmap_r = [[T([1.0, 2.0]), T([[0.0, 0.0], [1.0, 1.0]])], [T([3.0])]]
    fmap_g = [[T([0.0, 4.0]), T([[1.0, 0.0], [1.0, -1.0]])], [T([1.0])]]
    # means: (1 + 2) / 2 = 1.5; (1 + 0 + 0 + 2) / 4 = 0.75; 2 -> sum 4.25, x 2
    assert feature_loss(fmap_r, fmap_g).item() == pytest.approx(8.5)
    assert feature_loss(fmap_r, fmap_r).item() == 0.0


def test_lsgan_discriminator_and_generator_losses() -> None:
    real = [T([1.0, 0.0]), T([0.5])]
    fake = [T([0.0, 2.0]), T([-1.0])]
    total, r_losses, g_losses = discriminator_loss(real, fake)
    # real: mean(0, 1) = 0.5, 0.25; generated: mean(0, 4) = 2, 1
    assert [r.item() for r in r_losses] == [0.5, 0.25]
    assert [g.item() for g in g_losses] == [2.0, 1.0]
    assert total.item() == pytest.approx(3.75)
    total, parts = generator_loss(fake)
    # mean((1 - 0)^2, (1 - 2)^2) = 1; (1 + 1)^2 = 4
    assert [p.item() for p in parts] == [1.0, 4.0] and total.item() == 5.0


def test_totals_add_the_parts_with_the_reference_weights() -> None:
    mpd = ([T([1.0])], [T([0.0, 2.0])], [[T([1.0, 2.0])]], [[T([0.0, 4.0])]])  # fm 2*1.5, gen 1, disc 0+2
    msd = ([T([0.5])], [T([-1.0])], [[T([3.0])]], [[T([1.0])]])  # fm 2*2, gen 4, disc 0.25+1
    total, parts = generator_total(T(45.0), mpd, msd)
    assert {k: v.item() for k, v in parts.items()} == {
        "loss_mel": 45.0, "loss_fm_mpd": 3.0, "loss_fm_msd": 4.0, "loss_gen_mpd": 1.0, "loss_gen_msd": 4.0}
    assert total.item() == 57.0
    total, parts = discriminator_total(mpd, msd)
    assert parts["loss_disc_mpd"].item() == 2.0 and parts["loss_disc_msd"].item() == 1.25
    assert total.item() == 3.25


def test_mel_l1_and_mel_loss_weight_45_full_band() -> None:
    assert mel_l1(T([[0.0, 1.0]]), T([[2.0, 1.0]])).item() == 1.0
    with pytest.raises(ValueError, match="shapes differ"):
        mel_l1(T([[0.0]]), T([[0.0, 1.0]]))
    torch.manual_seed(0)
    y = torch.rand(2, 1, 2048) * 1.8 - 0.9
    y_hat = (torch.rand(2, 1, 2048) * 1.8 - 0.9).requires_grad_()
    loss_fn = MelLoss()
    assert loss_fn.stft.mel_fmax == 11025.0  # no mel_fmax_loss: the full band
    full_band = MelSTFT(mel_fmax=None)
    mel, mel_hat = full_band.mel_spectrogram(y[:, 0]), full_band.mel_spectrogram(y_hat[:, 0].detach())
    want = 45 * (mel - mel_hat).abs().mean()
    loss = loss_fn(y, y_hat)
    torch.testing.assert_close(loss.detach(), want)
    loss.backward()
    assert y_hat.grad is not None and y_hat.grad.abs().sum() > 0
    assert loss_fn(y, y).item() == 0.0
    assert MelLoss(mel_fmax_loss=8000.0)(y, y_hat).item() != pytest.approx(loss.item())


def test_mismatched_inputs_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="1 real vs 2 generated"):
        discriminator_loss([T([1.0])], [T([1.0]), T([0.0])])
    with pytest.raises(ValueError, match="no discriminator outputs"):
        generator_loss([])

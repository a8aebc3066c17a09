"""VITS generator and discriminator: Piper's layout per preset, invertible flows, training and inference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import vits.model as vits_model
from vits.discriminator import MultiPeriodDiscriminator
from vits.flows import ConvFlow, ResidualCouplingBlock, rational_quadratic_spline
from vits.model import QUALITY_PRESETS, SynthesizerTrn, parameter_count, preset_keywords

# a copy of the reference's piper_vits_layout.json (Piper's names, shapes and parameter counts)
LAYOUT = Path(__file__).parent / "data" / "piper_vits_layout.json"


@pytest.fixture(scope="module")
def layout() -> dict:
    return json.loads(LAYOUT.read_text())


def _shapes(module: torch.nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in module.state_dict().items()}


@pytest.mark.parametrize("quality", ["x-low", "medium", "high"])
def test_preset_matches_piper_layout(layout: dict, quality: str) -> None:
    ref = layout["presets"][quality]
    assert preset_keywords(quality) == ref["generator_keywords"]
    model = SynthesizerTrn(**preset_keywords(quality))
    shapes = _shapes(model)
    assert list(shapes) == list(ref["state_dict"])  # names, in order
    assert shapes == ref["state_dict"]
    assert parameter_count(model) == ref["parameters"]
    without_posterior = parameter_count(model) - parameter_count(model.enc_q)
    assert without_posterior == ref["parameters_without_posterior_encoder"]

    multi = SynthesizerTrn(**preset_keywords(quality, n_speakers=4))
    multi_shapes = _shapes(multi)
    assert parameter_count(multi) == ref["parameters_4_speakers"]
    extra = {k: v for k, v in multi_shapes.items() if k not in shapes}
    assert extra == ref["state_dict_4_speakers_extra"]
    assert all(multi_shapes[k] == v for k, v in shapes.items())


def test_discriminator_matches_piper_layout(layout: dict) -> None:
    disc = MultiPeriodDiscriminator()
    assert _shapes(disc) == layout["discriminator"]["state_dict"]
    assert list(_shapes(disc)) == list(layout["discriminator"]["state_dict"])
    assert parameter_count(disc) == layout["discriminator"]["parameters"] == 46_747_132
    y = torch.randn(2, 1, 4000)
    y_d_rs, y_d_gs, fmap_rs, fmap_gs = disc(y, y * 0.5)
    assert len(y_d_rs) == len(y_d_gs) == len(fmap_rs) == 6
    assert [len(f) for f in fmap_rs] == [7] + [6] * 5


def test_presets_reject_unknown_quality() -> None:
    with pytest.raises(ValueError, match="--quality"):
        preset_keywords("ultra")
    with pytest.raises(TypeError, match="unknown keyword"):
        SynthesizerTrn(**QUALITY_PRESETS["x-low"], not_a_keyword=1)


def test_residual_coupling_flow_inverts() -> None:
    torch.manual_seed(0)
    flow = ResidualCouplingBlock(8, 16, 5, 1, 4, gin_channels=4)
    for p in flow.parameters():  # the output convs start at zero (identity): give them weight
        p.data.normal_(0.0, 0.1)
    x = torch.randn(2, 8, 30)
    mask = torch.ones(2, 1, 30)
    mask[1, :, 21:] = 0
    g = torch.randn(2, 4, 1)
    with torch.no_grad():
        y = flow(x * mask, mask, g=g)
        back = flow(y, mask, g=g, reverse=True)
    assert float((y - x * mask).abs().max()) > 0.05  # not the identity
    torch.testing.assert_close(back, x * mask, atol=1e-5, rtol=1e-5)


def test_spline_flow_inverts_with_matching_log_determinant() -> None:
    torch.manual_seed(1)
    conv_flow = ConvFlow(2, 16, 3, n_layers=3)
    for p in conv_flow.parameters():
        p.data.normal_(0.0, 0.3)
    x = torch.randn(3, 2, 12) * 3
    mask = torch.ones(3, 1, 12)
    g = torch.randn(3, 16, 12)
    with torch.no_grad():
        y, logdet = conv_flow(x, mask, g=g)
        back = conv_flow(y, mask, g=g, reverse=True)
    assert float((y - x).abs().max()) > 0.05
    torch.testing.assert_close(back, x, atol=1e-4, rtol=1e-4)
    # log|dy/dx| of the elementwise spline equals the numerical derivative
    u = torch.randn(50) * 2
    w, h, d = torch.randn(50, 10), torch.randn(50, 10), torch.randn(50, 9)
    out, lad = rational_quadratic_spline(u, w, h, d)
    eps = 1e-3
    ahead = rational_quadratic_spline(u + eps, w, h, d)[0]
    behind = rational_quadratic_spline(u - eps, w, h, d)[0]
    num = (ahead - behind) / (2 * eps)
    torch.testing.assert_close(lad.exp(), num, atol=2e-2, rtol=2e-2)
    inv, inv_lad = rational_quadratic_spline(out, w, h, d, inverse=True)
    torch.testing.assert_close(inv, u, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(inv_lad, -lad, atol=1e-4, rtol=1e-4)
    # outside the tail bound the spline is the identity
    far = torch.tensor([-7.0, 6.0])
    torch.testing.assert_close(rational_quadratic_spline(far, w[:2], h[:2], d[:2])[0], far)
    assert logdet.shape == (3,)


@pytest.fixture(scope="module")
def tiny_multi() -> SynthesizerTrn:
    torch.manual_seed(0)
    return SynthesizerTrn(**preset_keywords("x-low", n_speakers=2))


def test_forward_aligns_with_mas(tiny_multi: SynthesizerTrn, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = vits_model.maximum_path

    def recording(value, mask, *args, **kwargs):
        path = real(value, mask, *args, **kwargs)
        calls.append((value, mask, path))
        return path

    monkeypatch.setattr(vits_model, "maximum_path", recording)
    torch.manual_seed(0)
    x = torch.randint(1, 256, (2, 12))
    x_lengths = torch.tensor([12, 9])
    y = torch.randn(2, 513, 40)
    y_lengths = torch.tensor([40, 33])
    out = tiny_multi.train()(x, x_lengths, y, y_lengths, sid=torch.tensor([0, 1]))
    assert len(calls) == 1
    assert torch.equal(out.attn.squeeze(1), calls[0][2])
    assert calls[0][0].shape == (2, 40, 12)
    # every valid frame belongs to one token; durations add up to the frame counts
    assert torch.equal(out.attn.sum(2).sum(2).squeeze(1), y_lengths.float())
    assert torch.equal(out.attn.sum(3).squeeze(1), out.y_mask.squeeze(1))
    assert out.audio.shape == (2, 1, 32 * 256)
    assert out.duration_loss.shape == (2,) and torch.isfinite(out.duration_loss).all()
    assert out.z.shape == out.z_p.shape == out.m_p.shape == (2, 96, 40)


def test_infer_shapes_and_zero_noise_is_deterministic(tiny_multi: SynthesizerTrn) -> None:
    model = tiny_multi.eval()
    x = torch.randint(1, 256, (1, 15))
    lengths = torch.tensor([15])
    with torch.no_grad():
        a = model.infer(x, lengths, sid=torch.tensor([1]), noise_scale=0.0, noise_scale_w=0.0)
        b = model.infer(x, lengths, sid=torch.tensor([1]), noise_scale=0.0, noise_scale_w=0.0)
        other = model.infer(x, lengths, sid=torch.tensor([0]), noise_scale=0.0, noise_scale_w=0.0)
        slow = model.infer(x, lengths, sid=torch.tensor([1]), noise_scale=0.0, noise_scale_w=0.0,
                           length_scale=2.0)
    audio = a[0]
    assert audio.dim() == 3 and audio.shape[:2] == (1, 1)
    frames = int(a.y_mask.sum())
    assert audio.shape[2] == frames * 256
    assert a.attn.shape == (1, 1, frames, 15)
    assert torch.equal(audio, b.audio)
    assert not torch.equal(audio, other.audio)  # the speaker matters
    assert slow.audio.shape[2] > audio.shape[2]
    assert float(audio.abs().max()) <= 1.0

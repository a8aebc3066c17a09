"""WaveGlow: checkpoint layout, exact invertibility, log-determinants, loss, data and denoiser."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from common.audio import save_wav
from common.data import BadItem, CollatedBatch, DatasetError, NotedItem
from common.stft import STFT, MelSTFT
from waveglow.data_function import MelAudioBatch, MelAudioCollate, MelAudioLoader, batch_to_device
from waveglow.denoiser import Denoiser
from waveglow.loss_function import WaveGlowLoss
from waveglow.model import (
    Invertible1x1Conv,
    WaveGlow,
    WaveGlowConfigError,
    WeightNormConv1d,
    remove_weightnorm,
)

LAYOUT = Path("/work/shared/reference/ngc_checkpoint_layout.json")

# Small enough for exact checks on CPU, but with two early outputs (8 -> 6 -> 4 channels) and dilations.
TINY = {
    "n_mel_channels": 3,
    "n_flows": 5,
    "n_group": 8,
    "n_early_every": 2,
    "n_early_size": 2,
    "WN_config": {"n_layers": 2, "kernel_size": 3, "n_channels": 8},
}


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny convolutions run several times faster on one thread (and do not fight other test processes)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_model(seed: int = 0, dtype: torch.dtype = torch.float64, end_std: float = 0.2, **overrides
               ) -> WaveGlow:
    """A tiny WaveGlow whose zero-initialised end layers are randomised, so every coupling does something."""
    torch.manual_seed(seed)
    model = WaveGlow(**{**TINY, **overrides}).to(dtype)
    with torch.no_grad():
        for wn in model.WN:
            wn.end.weight.normal_(0.0, end_std)
            wn.end.bias.normal_(0.0, end_std)
    return model.eval()


def build_on_meta(n_channels: int) -> WaveGlow:
    with torch.device("meta"):
        return WaveGlow(WN_config={"n_layers": 8, "kernel_size": 3, "n_channels": n_channels})


# --- checkpoint layout ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("n_channels", "n_params"), [(512, 268_294_760), (256, 87_879_272)])
def test_state_dict_matches_ngc_layout(n_channels: int, n_params: int) -> None:
    model = build_on_meta(n_channels)
    shapes = {name: list(t.shape) for name, t in model.state_dict().items()}
    assert len(shapes) == 938
    c = n_channels
    assert shapes["upsample.weight"] == [80, 80, 1024]
    assert shapes["WN.0.in_layers.0.weight_v"] == [2 * c, c, 3]
    assert shapes["WN.0.in_layers.0.weight_g"] == [2 * c, 1, 1]
    assert shapes["WN.0.res_skip_layers.7.weight_v"] == [c, c, 1]
    assert shapes["WN.0.cond_layers.7.weight_v"] == [2 * c, 640, 1]
    assert shapes["WN.0.start.weight_v"] == [c, 4, 1]
    assert shapes["WN.11.start.weight_v"] == [c, 2, 1]
    assert shapes["WN.0.end.weight"] == [8, c, 1]
    assert shapes["WN.11.end.bias"] == [4]
    assert [shapes[f"convinv.{k}.conv.weight"][0] for k in range(12)] == [8] * 4 + [6] * 4 + [4] * 4
    # REFERENCE.md: 268.3 M for 512 channels. For 256 it says 87.7 M, but the published layout sums to
    # 87.88 M; the layout is what checkpoints load into, so its exact count is asserted.
    count = sum(p.numel() for p in model.parameters())
    assert count == n_params
    if n_channels == 512:
        assert abs(count / 1e6 - 268.3) < 0.1
    if LAYOUT.exists():
        reference = json.loads(LAYOUT.read_text())[f"waveglow_wn{n_channels}"]
        assert list(shapes) == list(reference)  # same names in the same order
        assert shapes == reference
        assert sum(math.prod(s) for s in reference.values()) == n_params


def test_config_round_trip_and_bad_configs() -> None:
    model = WaveGlow(**TINY)
    assert WaveGlow(**model.config).config == model.config
    with pytest.raises(WaveGlowConfigError, match="n_group"):
        WaveGlow(n_group=7)
    with pytest.raises(WaveGlowConfigError, match="fewer than 2 channels"):
        WaveGlow(n_group=4, n_flows=12, n_early_every=4, n_early_size=2)
    with pytest.raises(WaveGlowConfigError, match="kernel_size"):
        WaveGlow(WN_config={"n_layers": 2, "kernel_size": 2, "n_channels": 8})
    with pytest.raises(WaveGlowConfigError, match="unknown WN_config"):
        WaveGlow(WN_config={"layers": 2})


# --- building blocks -----------------------------------------------------------------------------------


def test_invertible_conv_init_logdet_and_inverse_cache() -> None:
    torch.manual_seed(3)
    for c in (2, 4, 6, 8):
        w = Invertible1x1Conv(c).conv.weight.detach().squeeze(2).double()
        assert torch.allclose(w @ w.T, torch.eye(c, dtype=torch.float64), atol=1e-6)
        assert torch.linalg.det(w).item() == pytest.approx(1.0, abs=1e-6)

    conv = Invertible1x1Conv(5).double()
    with torch.no_grad():
        conv.conv.weight.add_(0.4 * torch.randn(5, 5, 1, dtype=torch.float64))  # logdet no longer 0
    w = conv.conv.weight.detach().squeeze(2)
    x = torch.randn(3, 5, 7, dtype=torch.float64)
    z, log_det = conv(x)
    assert torch.allclose(z, torch.einsum("ij,bjt->bit", w, x))
    assert log_det.item() == pytest.approx(3 * 7 * torch.logdet(w).item(), rel=1e-10)
    assert abs(log_det.item()) > 1.0
    with torch.no_grad():
        assert torch.allclose(conv.reverse(z), x, atol=1e-12)
        # The cached inverse must follow an in-place weight change (as an optimizer step makes).
        conv.conv.weight.mul_(2.0)
        assert torch.allclose(conv.reverse(2.0 * z), x, atol=1e-12)


def test_weight_norm_conv_matches_torch_parametrization() -> None:
    torch.manual_seed(0)
    ours = WeightNormConv1d(3, 5, kernel_size=3, dilation=2, padding=2)
    with torch.no_grad():
        ours.weight_g.mul_(torch.rand(5, 1, 1) + 0.5)  # g differs from ||v||
    reference = torch.nn.Conv1d(3, 5, 3, dilation=2, padding=2)
    reference = torch.nn.utils.parametrizations.weight_norm(reference)
    with torch.no_grad():
        reference.parametrizations.weight.original0.copy_(ours.weight_g)
        reference.parametrizations.weight.original1.copy_(ours.weight_v)
        reference.bias.copy_(ours.bias)
    x = torch.randn(2, 3, 11)
    assert torch.allclose(ours(x), reference(x), atol=1e-6)
    assert torch.allclose(ours.to_conv()(x), reference(x), atol=1e-6)
    assert [name for name, _ in ours.named_parameters()] == ["bias", "weight_g", "weight_v"]


# --- the flow --------------------------------------------------------------------------------------------


def test_forward_then_infer_reconstructs_audio() -> None:
    model = tiny_model()
    frames = 3
    mel = torch.randn(2, 3, frames, dtype=torch.float64)
    audio = 0.3 * torch.randn(2, frames * 256, dtype=torch.float64)
    with torch.no_grad():
        z, log_s_list, log_det_w_list = model((mel, audio))
        assert z.shape == (2, 8, frames * 32)
        assert len(log_s_list) == len(log_det_w_list) == 5
        assert max(log_s.abs().max().item() for log_s in log_s_list) > 0.05  # couplings are not trivial
        assert not torch.allclose(z.transpose(1, 2).reshape(2, -1), audio, atol=1e-2)
        reconstructed = model.infer(mel, z=z)
    assert reconstructed.shape == audio.shape
    assert torch.allclose(reconstructed, audio, atol=1e-10)


def test_log_determinants_equal_autograd_jacobian() -> None:
    """sum(log_s) + sum(log_det_W) is log|det dz/daudio| of the whole flow (the real check)."""
    model = tiny_model(seed=1, end_std=0.3).requires_grad_(False)  # gradients w.r.t. the audio only
    mel = torch.randn(1, 3, 1, dtype=torch.float64)
    audio = 0.5 * torch.randn(1, 64, dtype=torch.float64)  # forward keeps the first 64 upsampled steps

    def flow(x: torch.Tensor) -> torch.Tensor:
        return model((mel, x.unsqueeze(0)))[0].reshape(-1)

    jacobian = torch.autograd.functional.jacobian(flow, audio[0], vectorize=True)
    expected = torch.linalg.slogdet(jacobian)[1].item()
    with torch.no_grad():
        _, log_s_list, log_det_w_list = model((mel, audio))
    total = sum(t.sum() for t in log_s_list) + sum(log_det_w_list)
    assert abs(expected) > 1.0  # non-trivial volume change
    assert total.item() == pytest.approx(expected, abs=1e-8)


def test_infer_shapes_dtype_and_sigma_zero() -> None:
    model = tiny_model(dtype=torch.float32)
    mel = torch.randn(1, 3, 4)  # batch 1: oneDNN builds a slow-to-create kernel per shape for batch > 1
    with torch.no_grad():
        audio = model.infer(mel, sigma=0.7)
        assert audio.shape == (1, 4 * 256) and audio.dtype == torch.float32
        assert torch.isfinite(audio).all()
        silent = model.infer(mel, sigma=0.0)
        assert torch.equal(silent, model.infer(mel, z=torch.zeros(1, 8, 128)))
        assert not torch.equal(silent, audio)
        # Under CPU autocast (the training loop's --amp on CPU) the flow runs in bfloat16 and stays close.
        with torch.autocast("cpu", dtype=torch.bfloat16):
            z, log_s_list, log_det_w_list = model((mel, audio))
            loss = WaveGlowLoss()((z, log_s_list, log_det_w_list))
        z32 = model((mel, audio))[0]
    assert torch.isfinite(loss) and loss.dtype == torch.float32
    assert torch.allclose(z.float(), z32, atol=0.1 * z32.abs().max().item())
    with pytest.raises(ValueError, match="z must have shape"):
        model.infer(mel, z=torch.zeros(1, 8, 100))
    with pytest.raises(ValueError, match="multiple of n_group"):
        model((mel, torch.zeros(1, 1001)))


def test_remove_weightnorm_keeps_output() -> None:
    model = tiny_model(dtype=torch.float32)
    mel = torch.randn(1, 3, 5)
    z = torch.randn(1, 8, 5 * 32)
    with torch.no_grad():
        before = model.infer(mel, z=z)
        assert remove_weightnorm(model) is model
        after = model.infer(mel, z=z)
    names = list(model.state_dict())
    assert not any("weight_g" in n or "weight_v" in n for n in names)
    assert "WN.0.in_layers.1.weight" in names and "WN.0.cond_layers.0.weight" in names
    assert before.abs().max() > 0.1
    assert torch.allclose(before, after, atol=1e-5)


# --- loss ------------------------------------------------------------------------------------------------


def test_loss_hand_computed() -> None:
    z = torch.full((1, 2, 3), 2.0)  # sum z^2 = 24
    log_s_list = [torch.full((1, 1, 3), 0.25), torch.full((1, 1, 3), 0.25)]  # sum 1.5
    log_det_w_list = [torch.tensor(0.2), torch.tensor(0.3)]  # sum 0.5
    loss = WaveGlowLoss(sigma=2.0)((z, log_s_list, log_det_w_list))
    assert loss.item() == pytest.approx((24 / 8 - 1.5 - 0.5) / 6)
    with pytest.raises(ValueError, match="sigma"):
        WaveGlowLoss(sigma=0.0)


def _espeak_wavs(tmp_path: Path, n: int) -> list[Path]:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    sentences = ["The quick brown fox jumps over the lazy dog.", "WaveGlow turns mels into sound."]
    paths = []
    for i in range(n):
        path = tmp_path / f"utt{i}.wav"
        subprocess.run(["espeak-ng", "-w", str(path), sentences[i % len(sentences)]], check=True)
        paths.append(path)
    return paths


def test_loss_falls_on_real_audio(tmp_path: Path) -> None:
    wavs = _espeak_wavs(tmp_path, 2)
    filelist = tmp_path / "list.txt"
    filelist.write_text("".join(f"{p.name}|text\n" for p in wavs))
    dataset = MelAudioLoader(tmp_path, filelist, segment_length=2048, n_mel_channels=8)
    (mel, audio), _, num_items = batch_to_device(MelAudioCollate()([dataset[0], dataset[1]]), "cpu")
    assert num_items == 2 * 2048

    torch.manual_seed(0)
    model = WaveGlow(n_mel_channels=8, n_flows=4, n_group=8, n_early_every=2, n_early_size=2,
                     WN_config={"n_layers": 2, "kernel_size": 3, "n_channels": 16})
    criterion = WaveGlowLoss(sigma=1.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = criterion(model((mel, audio)), audio)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    # Fresh model: every coupling is the identity and W is a rotation, so z is a rotated copy of the audio.
    assert losses[0] == pytest.approx((audio**2).sum().item() / 2 / audio.numel(), rel=1e-4, abs=1e-7)
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0] - 0.5, losses


# --- data ------------------------------------------------------------------------------------------------


@pytest.fixture
def wav_dataset(tmp_path: Path) -> tuple[Path, Path, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    long = (0.4 * torch.rand(9000, generator=generator) - 0.2).clamp(-1, 1)
    short = 0.3 * torch.sin(torch.arange(1000) * 0.05)
    save_wav(tmp_path / "long.wav", long, 22050)
    save_wav(tmp_path / "short.wav", short, 22050)
    filelist = tmp_path / "files.txt"
    filelist.write_text("long.wav|a long one\nshort.wav|a short one\nmissing.wav|gone\n")
    # What the loader should read back: the int16-quantised signals.
    return tmp_path, filelist, torch.round(long * 32768) / 32768, torch.round(short * 32768) / 32768


def test_loader_segments_are_windows_and_reproducible(wav_dataset) -> None:
    root, filelist, long, _ = wav_dataset
    first = MelAudioLoader(root, filelist, segment_length=4000, seed=7)
    second = MelAudioLoader(root, filelist, segment_length=4000, seed=7)
    first.set_epoch(3)
    second.set_epoch(3)
    second.load_item(1)  # loading order must not matter
    mel, audio = first.load_item(0)
    assert audio.shape == (4000,) and mel.shape == (80, 4000 // 256 + 1)
    assert torch.equal(second.load_item(0)[1], audio)
    # The segment is a window of the file and its mel is MelSTFT's mel of exactly that window.
    windows = long.unfold(0, 4000, 1)
    assert torch.isclose(windows, audio, atol=1e-7).all(dim=1).any()
    assert torch.allclose(mel, MelSTFT().mel_spectrogram(audio.unsqueeze(0))[0])
    first.set_epoch(4)
    assert not torch.equal(first.load_item(0)[1], audio)
    first.set_epoch(3)
    assert torch.equal(first.load_item(0)[1], audio)
    other_seed = MelAudioLoader(root, filelist, segment_length=4000, seed=8)
    other_seed.set_epoch(3)
    assert not torch.equal(other_seed.load_item(0)[1], audio)


def test_loader_pads_short_files_and_reports_bad_ones(wav_dataset) -> None:
    root, filelist, _, short = wav_dataset
    dataset = MelAudioLoader(root, filelist, segment_length=4000)
    mel, audio = dataset.load_item(1)
    assert torch.allclose(audio[:1000], short, atol=1e-7)
    assert torch.equal(audio[1000:], torch.zeros(3000))
    assert mel.shape == (80, 16)

    bad = dataset[2]
    assert isinstance(bad, BadItem) and f"{filelist}:3" in bad.message
    with pytest.raises(DatasetError, match=f"{filelist}:3"):
        dataset.load_item(2)
    batch = MelAudioCollate()([dataset[0], dataset[1], dataset[2]])
    with pytest.raises(DatasetError, match="missing.wav"):
        batch_to_device(batch, "cpu")
    (mel_b, audio_b), target, num_items = batch_to_device(batch, "cpu", skip_bad=True)
    assert mel_b.shape == (2, 80, 16) and audio_b.shape == (2, 4000)
    assert target is audio_b and num_items == 8000
    # torch's default collate gives [mel, audio] and works too.
    default = torch.utils.data.default_collate([dataset[0], dataset[1]])
    assert torch.equal(batch_to_device(default, "cpu")[1], audio_b)


# --- denoiser --------------------------------------------------------------------------------------------


def test_denoiser() -> None:
    model = tiny_model(dtype=torch.float32, n_mel_channels=4)
    denoiser = Denoiser(model)
    with torch.no_grad():
        bias_audio = model.infer(torch.zeros(1, 4, 88), sigma=0.0)
    stft = STFT(1024, 256, 1024)
    assert denoiser.bias_spec.shape == (1, 513, 1)
    assert torch.allclose(denoiser.bias_spec, stft.transform(bias_audio)[0][:, :, :1], atol=1e-6)
    assert denoiser.bias_spec.max() > 0

    audio = 0.1 * torch.randn(2, 6000, generator=torch.Generator().manual_seed(0))
    round_trip = stft.inverse(*stft.transform(audio), length=6000)
    assert torch.allclose(denoiser(audio, strength=0.0), round_trip, atol=1e-6)
    scale = (stft.transform(audio)[0].mean() / denoiser.bias_spec.mean()).item()
    denoised = denoiser(audio, strength=0.5 * scale)
    assert torch.isfinite(denoised).all()
    assert (denoised**2).sum() < 0.8 * (audio**2).sum()
    assert denoiser(audio[0], strength=1e9 * scale).abs().max() < 1e-6  # all magnitude removed
    assert not torch.allclose(Denoiser(model, mode="normal").bias_spec, denoiser.bias_spec)
    with pytest.raises(ValueError, match="mode"):
        Denoiser(model, mode="ones")
    # A bfloat16 model: the bias is measured in the model's dtype, the spectral work runs in float32.
    low = Denoiser(model.to(torch.bfloat16))
    assert low.bias_spec.dtype == torch.float32
    tolerance = 0.05 * denoiser.bias_spec.max().item()
    assert torch.allclose(low.bias_spec, denoiser.bias_spec, rtol=0.1, atol=tolerance)
    out = low(audio.to(torch.bfloat16), strength=0.5 * scale)
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()


def test_collate_makes_a_typed_batch() -> None:
    gen = torch.Generator().manual_seed(0)
    items = [(torch.randn(8, 5, generator=gen), torch.randn(1024, generator=gen)), BadItem("l.txt:1", "gone"),
             NotedItem((torch.randn(8, 5, generator=gen), torch.randn(1024, generator=gen)), "note")]
    batch = MelAudioCollate()(items)
    assert isinstance(batch, MelAudioBatch) and isinstance(batch, CollatedBatch)
    assert (batch.size, batch.bad, batch.notes) == (2, [items[1]], ["note"])
    assert torch.equal(batch.mel[1], items[2].item[0]) and batch.audio.shape == (2, 1024)
    (mel, audio), target, samples = batch_to_device(batch, "cpu", skip_bad=True)
    assert mel is batch.mel and target is audio is batch.audio and samples == 2048
    empty = MelAudioCollate()([items[1]])
    assert empty.mel is None and batch_to_device(empty, "cpu", skip_bad=True) is None

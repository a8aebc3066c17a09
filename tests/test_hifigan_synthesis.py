"""HiFi-GAN in synthesis: the vocoder wrapper (fast path = eager), its denoiser, `inference.py --hifigan`
end to end with a tiny Tacotron 2, and the `nvidia_hifigan` hub entry from a local checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from test_inference import T2, _one_thread, ngc, tiny_tacotron2  # noqa: F401 - _one_thread: autouse fixture

import inference
from common.checkpoint import CheckpointError
from common.log_reader import read_nvlog, summary
from common.synthesis import Synthesizer, load_hifigan
from hifigan.model import Generator, preset, save_generator
from hifigan.vocoder import HiFiGANVocoder
from waveglow.denoiser import Denoiser

REPO = str(Path(__file__).resolve().parent.parent)
TINY = {**preset("V3"), "upsample_initial_channel": 16, "n_mel_channels": 8}  # hop 8 x 8 x 4 = 256


def tiny_generator(seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    return Generator(**TINY)


@pytest.fixture(scope="module")
def hifigan_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generator in the NGC generator-file layout (with `module.` prefixes)."""
    path = tmp_path_factory.mktemp("hifigan") / "hifigan_gen_checkpoint_3.pt"
    generator = tiny_generator()
    torch.save({"generator": {"module." + k: v for k, v in generator.state_dict().items()},
                "config": generator.config, "train_state": {"epoch": 3}}, path)
    return path


def test_vocoder_matches_the_generator_fast_and_eager():
    generator = tiny_generator().eval()
    mel = torch.randn(2, 8, 13, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        expected = generator(mel).squeeze(1)
    fast, eager = HiFiGANVocoder(generator), HiFiGANVocoder(generator, fast=False)
    audio = fast.infer(mel, sigma=0.7)  # sigma is ignored
    assert audio.shape == (2, 13 * 256)
    torch.testing.assert_close(audio, expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(eager.infer(mel), expected, rtol=1e-5, atol=1e-6)
    assert fast._fast is not None and eager._fast is None
    # the wrapped generator is a copy with weight norm folded: the caller's keeps its own
    assert any(k.endswith("weight_v") for k in generator.state_dict())
    assert not any(k.endswith("weight_v") for k in fast.state_dict())
    assert fast.to(torch.float64)._fast is None  # cast: the fast path is prepared again


def test_denoiser_removes_the_vocoders_bias_spectrum():
    vocoder = HiFiGANVocoder(tiny_generator())
    denoiser = Denoiser(vocoder)
    bias_audio = vocoder.infer(torch.zeros(1, 8, 88))
    magnitude, _ = denoiser.stft.transform(bias_audio)
    torch.testing.assert_close(denoiser.bias_spec, magnitude[:, :, :1])
    plain = denoiser(bias_audio, strength=0.0)
    torch.testing.assert_close(plain, bias_audio, rtol=1e-4, atol=1e-5)  # an STFT round trip
    cleaned = denoiser(bias_audio, strength=1.0)
    assert cleaned.pow(2).mean() < 0.5 * bias_audio.pow(2).mean()


def test_synthesizer_with_hifigan_gives_mel_length_times_hop(hifigan_ckpt):
    vocoder = load_hifigan(hifigan_ckpt)
    synth = Synthesizer(tiny_tacotron2(gate_bias=-100.0, max_decoder_steps=6), vocoder,
                        denoising_strength=0.0, trim_to_gate=False)
    result = synth.synthesize(["Hello there.", "A second phrase."])
    assert [u.audio.numel() for u in result.utterances] == [6 * 256, 6 * 256]
    assert result.times.waveglow > 0  # the vocoder stage's time


def test_cli_hifigan_writes_wavs_and_logs_its_own_metrics(tmp_path, capsys, hifigan_ckpt):
    t2 = tmp_path / "t2.pt"
    torch.save(ngc(tiny_tacotron2(gate_bias=-100.0), T2), t2)
    text = tmp_path / "in.txt"
    text.write_text("Hello world.\nSecond line.\n", encoding="utf-8")
    out = tmp_path / "out"
    rc = inference.main(["-i", str(text), "-o", str(out), "--tacotron2", str(t2), "--hifigan",
                         str(hifigan_ckpt), "--cpu", "--max-decoder-steps", "5",
                         "--decoder-no-early-stopping"])
    stderr = capsys.readouterr().err
    assert rc == 0, stderr
    for i in range(2):
        data, rate = sf.read(str(out / f"audio_{i}.wav"), dtype="int16")
        assert rate == 22050 and len(data) == 5 * 256
        assert np.abs(data).max() >= 32767  # peak-normalised, not silent
    records = read_nvlog(out / "nvlog.json")
    s = summary(records)
    assert s["hifigan_items_per_sec"] == pytest.approx(2 * 5 * 256 / s["hifigan_latency"])
    assert s["denoiser_latency"] > 0 and "waveglow_latency" not in s
    params = next(r["data"] for r in records if r.get("step") == "PARAMETER")
    assert params["model_name"] == "Tacotron2_HiFiGAN"


def test_cli_hifigan_errors_are_one_line(tmp_path, capsys, hifigan_ckpt):
    text = tmp_path / "in.txt"
    text.write_text("Hello.\n", encoding="utf-8")
    t2 = tmp_path / "t2.pt"
    torch.save(ngc(tiny_tacotron2(gate_bias=-100.0), T2), t2)
    base = ["-i", str(text), "-o", str(tmp_path / "o"), "--tacotron2", str(t2), "--cpu"]
    assert inference.main([*base, "--hifigan", str(hifigan_ckpt), "--waveglow", str(hifigan_ckpt)]) == 1
    assert "choose one vocoder" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    torch.save({"generator": {"conv_pre.weight_v": torch.zeros(1)}, "config": TINY}, bad)
    assert inference.main([*base, "--hifigan", str(bad)]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "missing" in err and "Traceback" not in err


def test_hub_entry_loads_a_local_checkpoint_and_builds_random_models(tmp_path, hifigan_ckpt):
    import hubconf

    vocoder = torch.hub.load(REPO, "nvidia_hifigan", checkpoint=str(hifigan_ckpt), source="local",
                             verbose=False)
    assert isinstance(vocoder, HiFiGANVocoder)
    mel = torch.randn(1, 8, 7, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = tiny_generator().eval()(mel).squeeze(1)
    torch.testing.assert_close(vocoder.infer(mel), expected, rtol=1e-4, atol=1e-5)
    # a file without a config takes the preset's
    bare = tmp_path / "bare.pt"
    torch.save({"generator": Generator(**preset("V2")).state_dict()}, bare)
    with pytest.raises(CheckpointError, match="no generator 'config'"):
        hubconf.nvidia_hifigan(checkpoint=str(bare))
    assert hubconf.nvidia_hifigan(checkpoint=str(bare), preset="V2").config["upsample_initial_channel"] == 128
    random = hubconf.nvidia_hifigan(pretrained=False, preset="V3", upsample_initial_channel=32)
    assert isinstance(random, Generator) and random.config["upsample_initial_channel"] == 32
    with pytest.raises(ValueError, match="exactly one of checkpoint=PATH or url=URL"):
        hubconf.nvidia_hifigan()
    saved = save_generator(tmp_path / "ours.pt", tiny_generator(2))
    assert hubconf.nvidia_hifigan(checkpoint=str(saved), fast=False)._fast is None

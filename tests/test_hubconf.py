"""hubconf.py through torch.hub (source="local"): local checkpoints, random models, text utilities.

Loading from a URL needs the network and is not tested here.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from common.checkpoint import CheckpointError
from common.text import text_to_sequence
from tacotron2.model import Tacotron2
from waveglow.model import WaveGlow, remove_weightnorm

REPO = str(Path(__file__).resolve().parent.parent)
T2 = dict(n_mel_channels=8, symbols_embedding_dim=16, encoder_kernel_size=3, encoder_n_convolutions=1,
          encoder_embedding_dim=16, attention_rnn_dim=16, attention_dim=8, attention_location_n_filters=4,
          attention_location_kernel_size=3, decoder_rnn_dim=16, prenet_dim=8, max_decoder_steps=5,
          postnet_embedding_dim=16, postnet_kernel_size=3, postnet_n_convolutions=2)
WG = dict(n_mel_channels=8, n_flows=3, n_group=8, n_early_every=2, n_early_size=2,
          WN_config={"n_layers": 2, "kernel_size": 3, "n_channels": 8})


def hub(entry: str, *args, **kwargs):
    return torch.hub.load(REPO, entry, *args, source="local", verbose=False, **kwargs)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_entry_points_are_the_public_callables():
    """torch.hub lists a hubconf's public callables as its entry points (hub.list is GitHub-only)."""
    import hubconf

    public = {name for name in dir(hubconf) if callable(getattr(hubconf, name)) and not name.startswith("_")}
    assert public == {"nvidia_tacotron2", "nvidia_waveglow", "nvidia_hifigan", "nvidia_tts_utils", "vits"}
    assert hubconf.dependencies[0] == "torch"


def test_random_models_take_constructor_arguments():
    tacotron2 = hub("nvidia_tacotron2", pretrained=False, **T2)
    assert isinstance(tacotron2, Tacotron2)
    assert tuple(tacotron2.embedding.weight.shape) == (148, 16)
    waveglow = hub("nvidia_waveglow", pretrained=False, **WG)
    assert isinstance(waveglow, WaveGlow) and waveglow.config == WG
    assert any(k.endswith("weight_v") for k in waveglow.state_dict())  # trainable: weight norm kept


def test_pretrained_from_local_checkpoints_and_synthesis(tmp_path, monkeypatch):
    torch.manual_seed(0)
    t2 = Tacotron2(**T2).eval()
    wg = WaveGlow(**WG)
    with torch.no_grad():
        for wn in wg.WN:
            wn.end.weight.normal_(0.0, 0.1)
    torch.save({"model_name": "Tacotron2", "epoch": 1, "config": T2,
                "state_dict": {"module." + k: v for k, v in t2.state_dict().items()}}, tmp_path / "t2.pt")
    torch.save({"state_dict": wg.state_dict()}, tmp_path / "wg.pt")  # NGC-like, no config

    tacotron2 = hub("nvidia_tacotron2", checkpoint=str(tmp_path / "t2.pt"), max_decoder_steps=3)
    assert not tacotron2.training and tacotron2.decoder.max_decoder_steps == 3
    assert all(torch.equal(v, t2.state_dict()[k]) for k, v in tacotron2.state_dict().items())
    waveglow = hub("nvidia_waveglow", checkpoint=str(tmp_path / "wg.pt"))
    assert waveglow.config == WG and not waveglow.training
    assert not any(k.endswith("weight_v") for k in waveglow.state_dict())

    utils = hub("nvidia_tts_utils")
    texts = ["Hello world.", "Hi"]
    ids, lengths = utils.prepare_input_sequence(texts, cpu=True)
    expected = [text_to_sequence(t, ["english_cleaners"]) for t in texts]
    assert lengths.tolist() == [len(e) for e in expected] and ids.device.type == "cpu"
    assert ids.shape == (2, len(expected[0])) and ids.dtype == torch.long
    assert ids[0].tolist() == expected[0]
    assert ids[1].tolist() == expected[1] + [0] * (len(expected[0]) - len(expected[1]))

    mel, mel_lengths, _ = tacotron2.infer(ids, lengths)
    reference = remove_weightnorm(copy.deepcopy(wg)).eval()
    # oneDNN spends seconds planning a batched ConvTranspose1d for each new shape on CPU: skip it here
    monkeypatch.setattr(torch.backends.mkldnn, "enabled", False)
    with torch.no_grad():
        torch.manual_seed(1)
        audio = waveglow.infer(mel, sigma=0.6)
        torch.manual_seed(1)
        assert torch.allclose(audio, reference.infer(mel, sigma=0.6), atol=1e-6)
    items = utils.audio_to_numpy(audio, mel_lengths)
    assert [len(a) for a in items] == [int(n) * 256 for n in mel_lengths]


def test_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="needs exactly one of checkpoint=PATH or url=URL"):
        hub("nvidia_tacotron2")
    with pytest.raises(ValueError, match="needs exactly one of"):
        hub("nvidia_waveglow", checkpoint="a.pt", url="https://example.invalid/b.pt")
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        hub("nvidia_waveglow", checkpoint=str(tmp_path / "missing.pt"))
    with pytest.raises(ValueError, match="model_math"):
        hub("nvidia_tacotron2", pretrained=False, model_math="int8", **T2)
    with pytest.raises(ValueError, match="text 1 .* has no symbol"):
        hub("nvidia_tts_utils").prepare_input_sequence(["fine", "#*~"], cpu=True)

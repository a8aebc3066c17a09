"""VITS synthesis from our checkpoints: `inference.py --vits CKPT` (text -> espeak-ng phonemes -> ids ->
audio, scales, speakers), the `vits` hub entry, and the Piper voice export of a `run.py -m VITS`
checkpoint."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import inference
from common.audio import load_wav
from common.export.cli import main as export_main
from vits.model import preset_keywords
from vits.text import default_phoneme_id_map, text_to_ids
from vits.train_step import VitsTrainModel

REPO = str(Path(__file__).resolve().parent.parent)
ZERO_NOISE = ["--noise-scale", "0", "--noise-w", "0"]

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def _checkpoint(path: Path, speakers: dict[str, int] | None = None) -> Path:
    """A checkpoint as `run.py -m VITS` writes it (tiny random generator, Piper's names)."""
    torch.manual_seed(0)
    n_speakers = max(1, len(speakers or {}))
    config = {**preset_keywords("x-low", n_speakers=n_speakers), "inter_channels": 16, "hidden_channels": 16,
              "filter_channels": 32, "n_layers": 1, "upsample_initial_channel": 32, "segment_size": 8,
              "gin_channels": 8 if n_speakers > 1 else 0, "discriminator_width": 0.0625,
              "phoneme_id_map": default_phoneme_id_map(), "speaker_id_map": speakers or {},
              "espeak_voice": "en-us", "language": "en", "sample_rate": 22050}
    model = VitsTrainModel(config)
    torch.save({"model_name": "VITS", "epoch": 0, "config": config, "state_dict": model.state_dict()}, path)
    return path


def test_inference_vits_writes_speech_lengths_follow_the_length_scale(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path / "vits.pt", {"alice": 0, "bob": 1})
    phrases = tmp_path / "in.txt"
    phrases.write_text("Hello there, how are you?|bob\nA second line.\n")
    out = tmp_path / "out"
    argv = ["-i", str(phrases), "-o", str(out), "--vits", str(ckpt), "--cpu", *ZERO_NOISE]
    assert inference.main(argv) == 0
    first = load_wav(out / "audio_0.wav", 22050)
    assert first.numel() > 256 and first.abs().max() > 0
    assert inference.main([*argv, "--length-scale", "2", "--suffix", "_slow"]) == 0
    slow = load_wav(out / "audio_0_slow.wav", 22050)
    assert 1.7 < slow.numel() / first.numel() < 2.3  # every phoneme lasts about twice as long
    # the same ids through the hub entry and straight through the generator give the same audio
    voice = torch.hub.load(REPO, "vits", checkpoint=str(ckpt), source="local", verbose=False)
    ids = text_to_ids("A second line.", "en", default_phoneme_id_map(), missing="skip")
    assert voice.ids("A second line.") == ids
    hub_audio = voice.synthesize("A second line.", speaker="bob", noise_scale=0.0, noise_w=0.0)
    direct = voice.model.infer(torch.tensor([ids]), torch.tensor([len(ids)]), sid=torch.tensor([1]),
                               noise_scale=0.0, noise_scale_w=0.0).audio[0, 0]
    assert torch.equal(hub_audio, direct)
    other = voice.synthesize("A second line.", speaker="alice", noise_scale=0.0, noise_w=0.0)
    assert not torch.equal(hub_audio, other)


def test_inference_vits_names_bad_speakers_and_flags(tmp_path: Path, capsys) -> None:
    ckpt = _checkpoint(tmp_path / "vits.pt", {"alice": 0, "bob": 1})
    phrases = tmp_path / "in.txt"
    phrases.write_text("Fine.\nWho speaks?|carol\n")
    argv = ["-i", str(phrases), "-o", str(tmp_path / "o"), "--vits", str(ckpt), "--cpu"]
    assert inference.main(argv) == 1
    assert "line 2" in capsys.readouterr().err
    assert inference.main([*argv, "--length-scale", "0"]) == 1
    assert "--length-scale" in capsys.readouterr().err
    assert inference.main([*argv, "--tacotron2", str(ckpt)]) == 1
    assert "not both" in capsys.readouterr().err


def test_export_of_a_run_checkpoint_keeps_its_voice(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path / "voice.pt")
    assert export_main(["piper", "--vits", str(ckpt), "-o", str(tmp_path / "voice")]) == 0
    config = json.loads((tmp_path / "voice" / "voice.onnx.json").read_text())
    assert config["phoneme_id_map"] == default_phoneme_id_map()
    assert config["espeak"]["voice"] == "en-us" and config["num_speakers"] == 1

"""Piper voice export: the voice loads in piper-onnx (a Piper runtime written by others) and, at zero
noise, its audio equals our PyTorch inference on the same phoneme ids."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from common.export.cli import main as export_main
from common.export.piper import export_piper_voice
from vits.checkpoint import to_lightning_state_dict
from vits.model import SynthesizerTrn, preset_keywords
from vits.text import default_phoneme_id_map, phonemes_to_ids

piper_onnx = pytest.importorskip("piper_onnx")

IPA = "həlˈoʊ wˈɜːld, ðɪs ɪz ɐ tˈɛst."
ZERO_NOISE = {"noise_scale": 0.0, "noise_w": 0.0}


def _torch_audio(model: SynthesizerTrn, ids: list[int], sid: int | None = None) -> np.ndarray:
    with torch.no_grad():
        out = model.eval().infer(torch.tensor([ids]), torch.tensor([len(ids)]),
                                 sid=None if sid is None else torch.tensor([sid]),
                                 noise_scale=0.0, noise_scale_w=0.0)
    return out.audio[0, 0].numpy()


@pytest.mark.slow
def test_single_speaker_voice_matches_pytorch_in_piper_onnx(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = SynthesizerTrn(**preset_keywords("x-low")).eval()
    id_map = default_phoneme_id_map()
    onnx_path, json_path = export_piper_voice(model, tmp_path, "en_US-test-x_low", id_map, scales=ZERO_NOISE,
                                              quality="x_low")
    config = json.loads(json_path.read_text())
    assert config["audio"]["sample_rate"] == 22050 and config["espeak"]["voice"] == "en-us"
    assert config["phoneme_type"] == "espeak" and config["num_speakers"] == 1 and config["num_symbols"] == 256
    assert config["phoneme_id_map"]["_"] == [0] and config["phoneme_id_map"]["$"] == [2]

    voice = piper_onnx.Piper(str(onnx_path), str(json_path))
    assert voice.sess_inputs_names == ["input", "input_lengths", "scales"]
    audio, rate = voice.create(IPA, is_phonemes=True)
    expected = _torch_audio(model, phonemes_to_ids(IPA, id_map))
    assert rate == 22050
    assert audio.shape == expected.shape and audio.size > 0
    np.testing.assert_allclose(audio, expected, atol=1e-5, rtol=0)
    # length_scale reaches the graph
    slower, _ = voice.create(IPA, is_phonemes=True, length_scale=2.0)
    assert slower.size > 1.5 * audio.size
    # text through the runtime's own espeak-ng phonemizer
    spoken, _ = voice.create("Hello world.")
    assert spoken.size > 256 and np.isfinite(spoken).all()


@pytest.mark.slow
def test_multi_speaker_voice_via_the_cli_from_a_piper_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = SynthesizerTrn(**preset_keywords("x-low", n_speakers=3)).eval()
    ckpt = tmp_path / "multi.ckpt"
    torch.save({"state_dict": to_lightning_state_dict(model)}, ckpt)
    piper_config = tmp_path / "config.json"
    id_map = default_phoneme_id_map()
    piper_config.write_text(json.dumps({"audio": {"sample_rate": 22050}, "espeak": {"voice": "en-us"},
                                        "phoneme_id_map": id_map,
                                        "speaker_id_map": {"ann": 0, "bob": 1, "cy": 2}}))
    out = tmp_path / "voice"
    assert export_main(["piper", "--vits", str(ckpt), "-o", str(out), "--name", "multi",
                        "--config", str(piper_config)]) == 0
    config = json.loads((out / "multi.onnx.json").read_text())
    assert config["num_speakers"] == 3 and config["speaker_id_map"]["bob"] == 1
    config["inference"].update(ZERO_NOISE)  # piper-onnx takes 0 from the config (an argument 0 means default)
    (out / "multi.onnx.json").write_text(json.dumps(config))
    voice = piper_onnx.Piper(str(out / "multi.onnx"), str(out / "multi.onnx.json"))
    assert "sid" in voice.sess_inputs_names
    ids = phonemes_to_ids(IPA, id_map)
    for name, sid in (("ann", 0), ("cy", 2)):
        audio, _ = voice.create(IPA, speaker_id=name, is_phonemes=True)
        np.testing.assert_allclose(audio, _torch_audio(model, ids, sid), atol=1e-5, rtol=0)


def test_export_cli_names_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert export_main(["piper", "--vits", str(tmp_path / "nope.ckpt"), "-o", str(tmp_path)]) == 2
    assert "nope.ckpt: no such checkpoint" in capsys.readouterr().err
    bad = tmp_path / "bad.ckpt"
    torch.save({"state_dict": {"model_g.enc_p.emb.weight": torch.zeros(3, 3)}}, bad)
    assert export_main(["piper", "--vits", str(bad), "-o", str(tmp_path)]) == 2
    assert "bad.ckpt" in capsys.readouterr().err

"""HiFi-GAN exports (common/export/hifigan.py): TorchScript and ONNX outputs against the eager generator."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from common.export import export_hifigan_checkpoint, load_torchscript, save_torchscript
from common.export import main as export_main
from common.export.base import ExportError
from common.export.hifigan import HiFiGANInference, OnnxHiFiGAN, export_hifigan_onnx, script_hifigan
from hifigan.model import Generator, save_generator

CONFIGS = {
    "1": {"upsample_rates": [4, 2], "upsample_kernel_sizes": [8, 4], "upsample_initial_channel": 16,
          "resblock": "1", "resblock_kernel_sizes": [3, 5], "resblock_dilation_sizes": [[1, 3], [1, 2]]},
    "2": {"upsample_rates": [4, 2], "upsample_kernel_sizes": [8, 4], "upsample_initial_channel": 16,
          "resblock": "2", "resblock_kernel_sizes": [3, 5, 7],
          "resblock_dilation_sizes": [[1, 2], [2, 6], [3, 12]]},
}


def generator(resblock: str) -> Generator:
    torch.manual_seed(int(resblock))
    return Generator(**CONFIGS[resblock]).eval()


def eager_audio(model: Generator, mel: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(mel).squeeze(1)


@pytest.mark.parametrize("resblock", ["1", "2"])
def test_torchscript_matches_eager_and_round_trips(tmp_path: Path, resblock: str) -> None:
    model = generator(resblock)
    mel = torch.randn(2, 80, 7)
    want = eager_audio(model, mel)
    scripted = script_hifigan(model)
    torch.testing.assert_close(scripted(mel), want, rtol=1e-5, atol=1e-6)
    loaded = load_torchscript(save_torchscript(scripted, tmp_path / "hifigan.pt"))
    other = torch.randn(1, 80, 11)  # another batch size and length than the scripted call
    got = loaded(other)
    torch.testing.assert_close(got, eager_audio(model, other), rtol=1e-5, atol=1e-6)
    assert got.shape == (1, 11 * 8)
    # the caller's generator keeps its weight norm
    assert "conv_pre.weight_g" in model.state_dict()


@pytest.mark.parametrize("resblock", ["1", "2"])
def test_onnx_matches_eager_with_dynamic_batch_and_frames(tmp_path: Path, resblock: str) -> None:
    model = generator(resblock)
    path = export_hifigan_onnx(model, tmp_path / "hifigan.onnx")
    runner = OnnxHiFiGAN(path)
    assert runner.meta == {"n_mel_channels": 80, "hop_length": 8}
    for batch, frames in [(1, 3), (3, 10)]:
        mel = torch.randn(batch, 80, frames)
        got = torch.from_numpy(runner.infer(mel))
        torch.testing.assert_close(got, eager_audio(model, mel), rtol=1e-4, atol=1e-5)
    with pytest.raises(ExportError, match=r"hifigan.onnx: mel must have shape \(batch, 80"):
        runner.infer(torch.zeros(1, 20, 4))


def test_export_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="expected a HiFi-GAN Generator"):
        HiFiGANInference(torch.nn.Conv1d(1, 1, 1))
    with pytest.raises(ExportError, match="not found"):
        OnnxHiFiGAN(tmp_path / "missing.onnx")
    scripted = script_hifigan(generator("1"))
    with pytest.raises(Exception, match=r"expects mels of shape \(batch, 80, frames\), got \[1, 3, 4\]"):
        scripted(torch.zeros(1, 3, 4))


@pytest.mark.parametrize("fmt, name", [("torchscript", "hifigan_torchscript.pt"), ("onnx", "hifigan.onnx")])
def test_cli_exports_a_checkpoint_and_checks_it_against_eager(tmp_path: Path, capsys, fmt: str,
                                                              name: str) -> None:
    model = generator("1")
    ckpt = tmp_path / "hifigan_gen_checkpoint_1.pt"
    torch.save({"generator": {"module." + k: v for k, v in model.state_dict().items()},
                "config": model.config}, ckpt)
    out = tmp_path / "out"
    assert export_main([fmt, "--hifigan", str(ckpt), "-o", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == str(out / name)
    assert float(lines[1].split()[-1]) < 1e-4 and lines[1].startswith("checked against eager")
    mel = torch.randn(2, 80, 9, generator=torch.Generator().manual_seed(3))
    exported = (load_torchscript(out / name)(mel) if fmt == "torchscript"
                else torch.from_numpy(OnnxHiFiGAN(out / name).infer(mel)))
    torch.testing.assert_close(exported, eager_audio(model, mel), rtol=1e-4, atol=1e-5)


def test_cli_hifigan_errors(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.pt"
    torch.save({"generator": {}}, bad)
    assert export_main(["onnx", "--hifigan", str(bad), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "no generator 'config'" in err
    path, difference = export_hifigan_checkpoint("torchscript", tmp_path / "o2",
                                                 save_generator(tmp_path / "g.pt", generator("2")))
    assert path.is_file() and difference < 1e-4

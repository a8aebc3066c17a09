"""HiFi-GAN fast CPU inference (hifigan/fast_infer.py) against the eager generator, and its benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from hifigan import benchmark
from hifigan.fast_infer import FastGenerator, fft_conv1d
from hifigan.model import Generator, preset

SMALL = {"upsample_rates": [4, 4], "upsample_kernel_sizes": [8, 8], "upsample_initial_channel": 32,
         "resblock_kernel_sizes": [3, 7, 11], "resblock_dilation_sizes": [[1, 3, 5]] * 3}


@pytest.mark.parametrize("kernel", [7, 11])
@pytest.mark.parametrize("dilation", [1, 3, 5])
@pytest.mark.parametrize("length", [1, 40, 257])
def test_fft_conv_equals_conv1d(kernel: int, dilation: int, length: int) -> None:
    torch.manual_seed(kernel + dilation + length)
    x = torch.randn(2, 5, length, dtype=torch.float64)
    w = torch.randn(4, 5, kernel, dtype=torch.float64)
    b = torch.randn(4, dtype=torch.float64)
    freq = torch.fft.rfft(w, n=16).conj().permute(2, 0, 1).contiguous()
    got = fft_conv1d(x, freq, b, kernel, dilation, 16)
    want = F.conv1d(x, w, b, padding=(kernel - 1) // 2 * dilation, dilation=dilation)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("resblock", ["1", "2"])
@pytest.mark.parametrize("weight_norm", [True, False])
def test_fast_generator_matches_eager_float64(resblock: str, weight_norm: bool) -> None:
    """Convolutions with kernel x channels >= 40 take the FFT path, the rest the direct one."""
    torch.manual_seed(0)
    config = dict(SMALL, resblock=resblock)
    if resblock == "2":
        config["resblock_dilation_sizes"] = [[1, 2], [2, 6], [3, 12]]
    eager = Generator(**config).double().eval()
    if not weight_norm:
        eager.remove_weight_norm()
    fast = FastGenerator(eager, n_fft=32, fft_min_work=40)
    convs = [c for stage in fast.blocks for block in stage for pair in block for c in pair if c is not None]
    assert 0 < sum(c.freq is not None for c in convs) < len(convs)
    mel = torch.randn(2, 80, 9, dtype=torch.float64)
    with torch.no_grad():
        want = eager(mel)
    got = fast(mel)
    assert got.shape == want.shape == (2, 1, 9 * 16)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-11)


@pytest.mark.parametrize("name", ["V1", "V2", "V3"])
def test_fast_generator_matches_eager_float32_presets(name: str) -> None:
    torch.manual_seed(1)
    eager = Generator(**preset(name)).eval()
    fast = FastGenerator(eager)
    mel = torch.randn(1, 80, 12)
    with torch.no_grad():
        want = eager(mel)
    got = fast(mel)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=1e-4, atol=2e-5)
    assert want.abs().max() > 1e-3  # not trivially zero


def test_fast_generator_rejects_bad_input() -> None:
    fast = FastGenerator(Generator(**SMALL))
    with pytest.raises(ValueError, match=r"\(batch, 80, frames\)"):
        fast(torch.zeros(1, 40, 5))
    with pytest.raises(TypeError, match="Generator"):
        FastGenerator(torch.nn.Conv1d(1, 1, 1))


def test_benchmark_prints_both_implementations_and_ratio(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    assert benchmark.main(["--presets", "v2", "--frames", "4", "--warmup", "0", "--repeats", "1",
                           "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "HiFi-GAN V2 | eager" in text and "HiFi-GAN V2 | fast " in text
    assert "fast / eager throughput" in text
    result = json.loads(out.read_text())["results"]["V2"]
    ratio = result["eager_latency_s"] / result["fast_latency_s"]
    assert result["speedup_fast_over_eager"] == pytest.approx(ratio)
    assert result["max_rel_error"] < 1e-4

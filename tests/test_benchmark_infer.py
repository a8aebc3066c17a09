"""common/benchmarks/infer.py: statistics, phrase selection, and a tiny end-to-end run (nvlog + CSV)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from common.benchmarks import infer as bench
from common.log_reader import metric_series, read_nvlog, summary

PHRASES = Path(__file__).resolve().parent.parent / "phrases"


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_latency_stats_hand_computed():
    stats = bench.latency_stats([4.0, 1.0, 3.0, 2.0])
    assert stats["latency_mean"] == 2.5
    assert stats["latency_std"] == pytest.approx(math.sqrt(1.25))  # population: mean of squared deviations
    # linear interpolation between order statistics: position q/100 * (n - 1)
    assert stats["latency_p50"] == pytest.approx(2.5)
    assert stats["latency_p90"] == pytest.approx(3.7)
    assert stats["latency_p95"] == pytest.approx(3.85)
    assert stats["latency_p99"] == pytest.approx(3.97)
    assert (stats["latency_min"], stats["latency_max"]) == (1.0, 4.0)


def test_benchmark_phrases_pick_and_repeat_lines():
    def lines(name: str) -> list[str]:
        return [x.strip() for x in (PHRASES / name).read_text().splitlines() if x.strip()]

    assert bench.benchmark_phrases(1, 128) == lines("phrase_1_128.txt")
    assert bench.benchmark_phrases(4, 64) == lines("phrase_4_64.txt")
    eight = lines("phrase_8_256.txt")
    assert bench.benchmark_phrases(3, 256) == eight[:3]
    ten = bench.benchmark_phrases(10, 256)
    assert ten == eight + eight[:2]  # batch sizes without a file cycle through phrase_8_<L>
    with pytest.raises(bench.BenchmarkError, match=r"--input-length 100: .*available lengths: 64, 128, 256"):
        bench.benchmark_phrases(1, 100)


def test_tiny_run_logs_consistent_numbers_and_appends_csv(tmp_path, capsys):
    csv_path = tmp_path / "results.csv"
    steps, iterations, batch = 6, 4, 2
    argv = ["--tacotron2-config", "small", "--waveglow-config", "small", "--cpu",
            "--decoder-steps", str(steps), "--iterations", str(iterations), "--warmup", "1",
            "--batch-size", str(batch),
            "--csv", str(csv_path), "-o", str(tmp_path), "--log-file", "bench.json"]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    assert "RTF" in out and "the usual RTF" in out

    records = read_nvlog(tmp_path / "bench.json")
    s = summary(records)
    per_iteration = [v for _, v in metric_series(records, "latency", kind="iteration")]
    assert len(per_iteration) == iterations
    assert s["latency_mean"] == pytest.approx(np.mean(per_iteration))
    assert s["latency_std"] == pytest.approx(np.std(per_iteration))
    assert s["latency_p50"] == pytest.approx(np.median(per_iteration))
    assert s["latency_min"] <= s["latency_p50"] <= s["latency_p90"] <= s["latency_p95"] <= s["latency_p99"] \
        <= s["latency_max"]
    assert s["latency_min"] <= s["latency_mean"] <= s["latency_max"]
    # fixed decoder length: every item is `steps` frames, i.e. steps * 256 samples
    assert s["mels_generated"] == batch * steps
    assert s["audio_samples"] == batch * steps * 256
    assert s["audio_seconds"] == pytest.approx(batch * steps * 256 / 22050)
    assert s["throughput_samples_per_sec"] == pytest.approx(s["audio_samples"] / s["latency_mean"])
    assert s["rtf"] == pytest.approx(s["audio_seconds"] / s["latency_mean"])
    assert s["rtf"] * s["rtf_wall_per_audio"] == pytest.approx(1.0)
    assert s["tacotron2_latency"] + s["waveglow_latency"] + s["denoiser_latency"] <= s["latency_mean"]
    assert s["decoder_steps"] == steps and s["wn_channels"] == 16 and s["device"] == "CPU x1"

    # a second run (batch 1) appends one line; the header is written once
    assert bench.main(argv[:-6] + ["--batch-size", "1", "--csv", str(csv_path), "-o", str(tmp_path)]) == 0
    with open(csv_path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(bench.CSV_FIELDS) and len(rows) == 3
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["batch_size"] == str(batch) and rows[2][rows[0].index("batch_size")] == "1"
    for name in ("latency_mean", "latency_p99", "throughput_samples_per_sec", "rtf", "rtf_wall_per_audio"):
        assert float(first[name]) == pytest.approx(s[name], rel=1e-5)  # 6 significant digits


def test_errors_are_one_line(tmp_path, capsys):
    assert bench.main(["--input-length", "100", "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("benchmark_infer: error: --input-length 100") and len(err.splitlines()) == 1
    if not torch.cuda.is_available():
        assert bench.main(["--precision", "fp16", "-o", str(tmp_path)]) == 1
        assert "--precision fp16 needs a CUDA GPU" in capsys.readouterr().err
    bad = tmp_path / "other.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(bench.BenchmarkError, match="header does not match"):
        bench.append_csv(bad, {})


def test_hifigan_takes_waveglows_place(tmp_path, capsys):
    argv = ["--tacotron2-config", "small", "--hifigan-preset", "V3", "--cpu", "--threads", "1",
            "--decoder-steps", "5", "--iterations", "2", "--warmup", "0", "-o", str(tmp_path)]
    assert bench.main(argv) == 0
    s = summary(read_nvlog(tmp_path / "nvlog_infer.json"))
    assert s["waveglow"] == "random-hifigan-V3" and s["wn_channels"] == 0
    assert s["audio_samples"] == 5 * 256 and s["waveglow_latency"] > 0
    assert bench.main([*argv, "--hifigan", "x.pt"]) == 1
    assert "choose one vocoder" in capsys.readouterr().err

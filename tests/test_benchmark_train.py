"""The throughput benchmark: consistent numbers in its nvlog, for each model and mode."""

import pytest

from common import benchmark_train
from common.log_reader import read_nvlog, summary

TINY = {
    "Tacotron2": ["--symbols-embedding-dim", "16", "--encoder-embedding-dim", "16",
                  "--encoder-n-convolutions", "1", "--attention-rnn-dim", "16", "--decoder-rnn-dim", "16",
                  "--prenet-dim", "8", "--postnet-embedding-dim", "8", "--postnet-n-convolutions", "2",
                  "--text-length", "12", "--mel-length", "20", "--n-frames-per-step", "2"],
    "WaveGlow": ["--flows", "2", "--early-every", "1", "--wn-layers", "2", "--wn-channels", "8",
                 "--segment-length", "1024", "--mel-length", "8"],
}


CASES = [("Tacotron2", "train"), ("WaveGlow", "train"), ("WaveGlow", "infer")]


@pytest.mark.parametrize("model, mode", CASES)
def test_benchmark_reports_median_throughput(tmp_path, capsys, model, mode):
    argv = ["-m", model, "--mode", mode, "-o", str(tmp_path), "--cpu", "--batch-size", "2", "--warmup", "1",
            "--repeats", "3", *TINY[model]]
    assert benchmark_train.main(argv) == 0
    result = summary(read_nvlog(tmp_path / "nvlog_benchmark.json"))
    rate, median = result[f"{mode}_items_per_sec"], result[f"{mode}_step_time_median"]
    expected_items = {"Tacotron2": 2 * 20, "WaveGlow": 2 * (1024 if mode == "train" else 8 * 256)}[model]
    assert result["items_per_step"] == expected_items
    assert rate == pytest.approx(expected_items / median)
    assert result[f"{mode}_step_time_min"] <= median <= result[f"{mode}_step_time_max"]
    assert f"{rate:,.1f}" in capsys.readouterr().out


def test_benchmark_rejects_bad_arguments(tmp_path, capsys):
    assert benchmark_train.main(["-m", "Nope"]) == 2
    assert "choose one of" in capsys.readouterr().err
    assert benchmark_train.main(["-m", "Tacotron2", "-o", str(tmp_path), "--repeats", "0"]) == 2

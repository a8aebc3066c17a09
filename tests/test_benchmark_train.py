"""The throughput benchmark: consistent numbers in its nvlog, for each model and mode."""

import pytest
import torch

from common.benchmarks import train as benchmark_train
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
    assert benchmark_train.main(["-m", "Tacotron2", "-o", str(tmp_path), "--speaker-embedding-dim", "4",
                                 "--n-speakers", "0"]) == 2
    assert "--n-speakers and --n-languages must be >= 1" in capsys.readouterr().err


CONDITIONED = ["--speaker-embedding-dim", "4", "--language-embedding-dim", "3", "--n-speakers", "3",
               "--n-languages", "2"]


@pytest.mark.parametrize("mode", ["train", "infer"])
@pytest.mark.parametrize("extra", [[], ["--encoder-type", "separate", "--speaker-classifier-weight", "0.1"]])
def test_conditioning_flags_benchmark_a_multilingual_model_without_filelists(tmp_path, capsys, mode, extra):
    """Conditioning flags build the multi-speaker model with synthetic speakers and languages (no
    --training-files needed) and feed it speaker and language ids, for both implementations."""
    argv = ["-m", "Tacotron2", "--mode", mode, "-o", str(tmp_path), "--cpu", "--batch-size", "2",
            "--warmup", "0", "--repeats", "1", "--compare-impl",
            "--training-files", str(tmp_path / "none.txt"),
            *TINY["Tacotron2"], *CONDITIONED, *extra]
    args = benchmark_train.build_parser("Tacotron2").parse_args(argv[2:])
    spec = benchmark_train.get_model_spec("Tacotron2")
    config = benchmark_train.benchmark_config(spec, args)
    assert config["speakers"] == ["speaker0", "speaker1", "speaker2"]
    assert config["languages"] == ["language0", "language1"] and config["n_symbols"] == 148
    model = benchmark_train.build_model(spec, config)
    assert type(model).__name__ == "MultilingualTacotron2" and len(model.speakers) == 3
    generator = torch.Generator().manual_seed(0)
    x, y, _ = benchmark_train.synthetic_batch(spec, args, torch.device("cpu"), generator)
    assert len(x) == 7 and torch.equal(y[-1], x[5])
    assert x[5].max() < 3 and x[6].max() < 2
    assert benchmark_train.main(argv) == 0
    result = summary(read_nvlog(tmp_path / "nvlog_benchmark.json"))
    assert result["speedup_fast_over_eager"] > 0
    assert "fast / eager throughput" in capsys.readouterr().out

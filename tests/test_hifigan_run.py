"""`run.py -m HiFiGAN` on the offline corpus: resume is bitwise (both optimizers, both schedulers, the
discriminators), the losses fall and carry the reference's names, bad flags and gradient accumulation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from test_run import ROOT, final_state, run_args

import run
from common.arg_parser import parse_args
from common.log_reader import metric_series, read_nvlog
from hifigan.model import Generator, load_generator

MODEL = "HiFiGAN"


def hifigan_args(corpus: Path, out: Path, epochs: int, *extra: str) -> list[str]:
    return run_args(corpus, out, MODEL, epochs, "-lr", "2e-3", "--lr-decay", "0.9", *extra)


def test_resume_is_bitwise_for_both_players(tiny_corpus, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert run.main(hifigan_args(tiny_corpus, straight, 2)) == 0
    assert run.main(hifigan_args(tiny_corpus, resumed, 1)) == 0
    assert run.main(hifigan_args(tiny_corpus, resumed, 2, "--resume-from-last")) == 0
    a, b = final_state(straight, MODEL), final_state(resumed, MODEL)
    assert a["epoch"] == b["epoch"] == 1
    assert {k.split(".")[0] for k in a["state_dict"]} == {"gen", "mpd", "msd"}
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key
    optimizers_a = {"generator": a["optimizer"], **a["optimizers"]}
    optimizers_b = {"generator": b["optimizer"], **b["optimizers"]}
    assert set(optimizers_a) == {"generator", "discriminator"}
    for name in optimizers_a:
        assert optimizers_a[name]["state"], name
        for key, state in optimizers_a[name]["state"].items():
            for field, value in state.items():
                assert torch.equal(value, optimizers_b[name]["state"][key][field]), (name, key, field)
        assert optimizers_a[name]["param_groups"][0]["lr"] == pytest.approx(2e-3 * 0.9**2)
        assert optimizers_a[name]["param_groups"][0]["betas"] == (0.8, 0.99)
    assert a["schedulers"] == b["schedulers"]
    assert set(a["schedulers"]) == {"generator", "discriminator"}
    first = torch.load(straight / f"checkpoint_{MODEL}_0.pt", weights_only=True)
    changed = [k for k in a["state_dict"] if not torch.equal(first["state_dict"][k], a["state_dict"][k])]
    assert any(k.startswith("mpd.") for k in changed) and any(k.startswith("gen.") for k in changed)
    # the run's checkpoint is a vocoder checkpoint too
    generator = load_generator(straight / f"checkpoint_{MODEL}_last.pt")
    assert isinstance(generator, Generator)
    assert torch.equal(generator.conv_pre.weight_v, a["state_dict"]["gen.conv_pre.weight_v"])


@pytest.mark.slow
def test_loss_falls_on_the_offline_corpus_with_the_reference_metric_names(tiny_corpus, tmp_path):
    epochs = 8
    args = run_args(tiny_corpus, tmp_path, MODEL, epochs, "-lr", "5e-3", "--lr-decay", "0.999")
    assert run.main(args) == 0
    records = read_nvlog(tmp_path / "nvlog.json")
    for name in ("loss_gen", "loss_discrim", "loss_mel", "train_items_per_sec", "train_loss_fm_mpd",
                 "train_grad_norm_gen"):
        assert metric_series(records, name, "iteration"), name
    mel = [value for _, value in metric_series(records, "loss_mel", "iteration")]
    train = [value for _, value in metric_series(records, "train_loss", "iteration")]
    assert mel == pytest.approx(train)  # train_loss is the unweighted mel L1
    per_epoch = [value for _, value in metric_series(records, "train_loss", "epoch")]
    assert per_epoch[-1] < 0.7 * per_epoch[0], per_epoch
    val = [value for _, value in metric_series(records, "val_loss", "epoch")]
    assert len(val) == epochs and val[-1] < 0.8 * val[0], val


def test_gradient_accumulation_splits_the_batch(tiny_corpus, tmp_path, capsys):
    assert run.main(hifigan_args(tiny_corpus, tmp_path / "bad", 1, "--grad-accumulation", "2")) == 1
    assert "--grad-accumulation 2 must divide -bs/--batch-size 3" in capsys.readouterr().err
    out = tmp_path / "acc"
    args = hifigan_args(tiny_corpus, out, 1, "--grad-accumulation", "3", "--max-steps-per-epoch", "1")
    assert run.main(args) == 0
    # one optimizer step per batch of 3, averaged over 3 micro-batches of 1
    whole = tmp_path / "whole"
    assert run.main(hifigan_args(tiny_corpus, whole, 1, "--max-steps-per-epoch", "1")) == 0
    a, b = final_state(out, MODEL), final_state(whole, MODEL)
    steps = [s["step"] for s in a["optimizer"]["state"].values()]
    assert steps and all(float(s) == 1 for s in steps)
    # the same data, split differently: close but not the same (the losses are means over other sets)
    key = "gen.conv_post.weight_v"
    assert not torch.equal(a["state_dict"][key], b["state_dict"][key])
    assert torch.allclose(a["state_dict"][key], b["state_dict"][key], atol=1e-2)


def test_bad_flags_are_one_line(tiny_corpus, tmp_path, capsys):
    assert run.main(hifigan_args(tiny_corpus, tmp_path / "o", 1, "--segment-size", "1000")) == 1
    err = capsys.readouterr().err
    assert "--segment-size 1000 must be a multiple of --hop-length 256" in err and "Traceback" not in err
    assert run.main(hifigan_args(tiny_corpus, tmp_path / "o2", 1, "--fine-tuning")) == 1
    assert "--fine-tuning needs --input-mels-dir" in capsys.readouterr().err


def test_cpu_recipe_config_parses():
    path = ROOT / "scripts" / "configs" / "hifigan_cpu.json"
    assert json.loads(path.read_text())["model_name"] == MODEL
    argv = ["--config-file", str(path), "-o", "x", "--training-files", "t", "--validation-files", "v"]
    parser, name = run.build_parser(argv)
    assert name == MODEL
    args = parse_args(parser, argv)
    assert (args.segment_size, args.hifigan_preset, args.discriminator_width) == (8192, "V2", 0.25)
    assert args.adam_betas == [0.8, 0.99] and args.grad_clip_thresh == 1000.0

"""`run.py -m VITS` end to end on the offline corpus: the loss falls, a resumed run ends bitwise where an
uninterrupted one ends (both networks, optimizers and schedulers), a Piper Lightning checkpoint loads
strictly and trains on, and bad flags are named in one line."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from test_run import final_state, run_args
from test_run_safety import assert_same_training_state

import run
from common.log_reader import metric_series, read_nvlog
from vits.attentions import MultiHeadAttention
from vits.checkpoint import to_lightning_state_dict
from vits.discriminator import MultiPeriodDiscriminator
from vits.model import SynthesizerTrn, parameter_count, preset_keywords


def test_relative_attention_gradient_is_deterministic() -> None:
    """The relative-position gather's backward (the source of the earlier non-bitwise resumes: advanced
    indexing adds repeated rows atomically, in a varying order) gives the same bits every time."""
    torch.manual_seed(0)
    attention = MultiHeadAttention(32, 32, 2, window_size=4)
    x = torch.randn(2, 32, 120)
    mask = torch.ones(2, 1, 120, 120)
    grads = []
    for _ in range(8):
        attention.zero_grad()
        attention(x, x, mask).square().sum().backward()
        grads.append(attention.emb_rel_k.grad.clone())
    assert all(torch.equal(grads[0], g) for g in grads[1:])
    assert grads[0].abs().sum() > 0


@pytest.mark.slow
def test_vits_resumes_bitwise_through_run(tiny_corpus, tmp_path) -> None:
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    common = ["-lr", "1e-3", "--num-workers", "1"]
    assert run.main(run_args(tiny_corpus, straight, "VITS", 2, *common)) == 0
    assert run.main(run_args(tiny_corpus, resumed, "VITS", 1, *common)) == 0
    assert run.main(run_args(tiny_corpus, resumed, "VITS", 2, *common, "--resume-from-last")) == 0
    a, b = final_state(straight, "VITS"), final_state(resumed, "VITS")
    assert a["epoch"] == b["epoch"] == 1
    assert {k.split(".")[0] for k in a["state_dict"]} == {"model_g", "model_d"}  # Piper's Lightning names
    assert set(a["schedulers"]) == {"generator", "discriminator"}
    assert set(a["optimizers"]) == {"discriminator"}  # the generator's is the checkpoint's "optimizer"
    assert_same_training_state(a, b)
    for key, state in a["optimizers"]["discriminator"]["state"].items():
        for field, value in state.items():
            assert torch.equal(value, b["optimizers"]["discriminator"]["state"][key][field]), (key, field)
    assert a["schedulers"] == b["schedulers"]
    assert a["schedulers"]["generator"]["_last_lr"] == [pytest.approx(1e-3 * 0.999875 ** 2)]


@pytest.mark.slow
def test_vits_loss_falls_on_the_offline_corpus(tiny_corpus, tmp_path) -> None:
    epochs = 6
    assert run.main(run_args(tiny_corpus, tmp_path, "VITS", epochs, "-lr", "2e-3")) == 0
    records = read_nvlog(tmp_path / "nvlog.json")
    per_epoch = [value for _, value in metric_series(records, "train_loss", "epoch")]
    assert len(per_epoch) == epochs
    assert per_epoch[-1] < 0.7 * per_epoch[0], per_epoch
    val = [value for _, value in metric_series(records, "val_loss", "epoch")]
    assert val[-1] < val[0], val
    for part in ("train_loss_d", "train_loss_g_adversarial", "train_loss_g_duration"):
        assert metric_series(records, part, "iteration"), part
    config = final_state(tmp_path, "VITS")["config"]
    assert config["phoneme_id_map"]["^"] == [1] and config["espeak_voice"] == "en-us"


def _piper_checkpoint(path: Path, seed: int = 1) -> dict[str, torch.Tensor]:
    """A Lightning checkpoint of Piper's x-low layout (random weights), as Piper's trainer writes it."""
    torch.manual_seed(seed)
    net_g, net_d = SynthesizerTrn(**preset_keywords("x-low")), MultiPeriodDiscriminator()
    state = to_lightning_state_dict(net_g, net_d)
    torch.save({"epoch": 12, "global_step": 3400, "pytorch-lightning_version": "1.7.7", "state_dict": state,
                "hyper_parameters": {"num_symbols": 256, "num_speakers": 1}}, path)
    return state


@pytest.mark.slow
def test_piper_lightning_checkpoint_loads_strictly_and_trains_on(tiny_corpus, tmp_path, capsys) -> None:
    ckpt = tmp_path / "epoch=12-step=3400.ckpt"
    state = _piper_checkpoint(ckpt)
    out = tmp_path / "finetuned"
    # --quality medium is overruled by the checkpoint's own preset (x-low)
    args = ["-m", "VITS", "-o", str(out), "-d", str(tiny_corpus), "--training-files",
            str(tiny_corpus / "short_train.txt"), "--validation-files", str(tiny_corpus / "short_val.txt"),
            "--epochs", "1", "-bs", "3", "--cpu", "--seed", "5", "--num-workers", "0", "-lr", "1e-9",
            "--max-steps-per-epoch", "1", "--segment-size", "2048", "--quality", "medium",
            "--piper-checkpoint", str(ckpt)]
    assert run.main(args) == 0
    trained = final_state(out, "VITS")
    assert trained["config"]["hidden_channels"] == 96 and trained["config"]["n_speakers"] == 1
    assert trained["state_dict"].keys() == state.keys()
    # one AdamW step at lr 1e-9 moves no weight by more than ~1e-8: training went on from Piper's weights
    drift = max(float((trained["state_dict"][k] - v).abs().max()) for k, v in state.items())
    assert 0 < drift < 1e-6
    assert parameter_count(MultiPeriodDiscriminator()) == sum(
        v.numel() for k, v in trained["state_dict"].items() if k.startswith("model_d."))
    # a key the layout lacks: no preset fits, named in one line
    state["model_g.extra.weight"] = torch.zeros(1)
    bad = tmp_path / "bad.ckpt"
    torch.save({"state_dict": state}, bad)
    capsys.readouterr()
    assert run.main([*args[:2], "-o", str(tmp_path / "bad"), *args[4:-1], str(bad)]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "Traceback" not in err


def test_bad_vits_flags_are_named(tiny_corpus, tmp_path, capsys) -> None:
    for flags, named in ((["--segment-size", "1000"], "--segment-size 1000"),
                         (["--hop-length", "200"], "--hop-length 200"),
                         (["--discriminator-width", "2"], "--discriminator-width")):
        assert run.main(run_args(tiny_corpus, tmp_path / named[2:8], "VITS", 1, "-lr", "1e-3", *flags)) == 1
        err = capsys.readouterr().err
        assert named in err and "Traceback" not in err, err


@pytest.mark.slow
def test_vits_trains_under_amp_on_cpu(tiny_corpus, tmp_path) -> None:
    """--amp (bfloat16 autocast on the CPU): the GAN step runs and its losses stay finite."""
    assert run.main(run_args(tiny_corpus, tmp_path, "VITS", 1, "-lr", "1e-3", "--amp")) == 0
    records = read_nvlog(tmp_path / "nvlog.json")
    for name in ("train_loss", "train_loss_d", "train_loss_g_total"):
        values = [value for _, value in metric_series(records, name, "iteration")]
        assert values and all(math.isfinite(v) for v in values), (name, values)

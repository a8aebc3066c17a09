"""Training infrastructure that needs no model: flags, config files, LR schedule, sampler, checkpoints."""

import json
import os
import random

import numpy as np
import pytest
import torch

from common.arg_parser import REQUIRED, parse_args, training_parser
from common.checkpoint import (
    CheckpointError,
    atomic_save,
    load_checkpoint,
    load_model_state,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from common.data import ShardedSampler
from common.training import learning_rate_at
from tacotron2.arg_parser import tacotron2_parser
from waveglow.arg_parser import waveglow_parser

BASE = ["-o", "out", "-m", "Tacotron2", "--epochs", "3", "-lr", "1e-3", "-bs", "4"]


def parser():
    return tacotron2_parser(training_parser(), add_help=True)


def test_reference_defaults():
    args = parse_args(parser(), BASE, REQUIRED)
    assert args.dataset_path == "./" and args.log_file == "nvlog.json" and args.anneal_factor == 0.1
    assert args.epochs_per_checkpoint == 50 and args.weight_decay == 1e-6 and args.grad_clip_thresh == 1.0
    assert args.training_files == "filelists/ljs_audio_text_train_filelist.txt"
    assert args.text_cleaners == ["english_cleaners"]
    stft = (args.sampling_rate, args.filter_length, args.hop_length, args.win_length)
    assert stft == (22050, 1024, 256, 1024)
    assert (args.mel_fmin, args.mel_fmax, args.max_wav_value) == (0.0, 8000.0, 32768.0)
    assert args.dist_url == "tcp://localhost:23456" and args.world_size == 1 and args.rank == 0
    assert args.n_symbols == 148 and args.max_decoder_steps == 2000 and args.gate_threshold == 0.5
    assert args.attention_location_kernel_size == 31 and args.mask_padding is False
    wg = parse_args(waveglow_parser(training_parser(), True), BASE, REQUIRED)
    assert (wg.flows, wg.groups, wg.early_every, wg.early_size, wg.segment_length) == (12, 8, 4, 2, 4000)
    assert (wg.wn_channels, wg.wn_layers, wg.wn_kernel_size, wg.sigma) == (512, 8, 3, 1.0)


def test_parsers_can_be_built_twice():
    assert parser().parse_args(BASE).epochs == parser().parse_args(BASE).epochs == 3


def test_mask_padding_is_a_real_switch():
    assert parse_args(parser(), BASE + ["--mask-padding"], REQUIRED).mask_padding is True
    with pytest.raises(SystemExit):
        parse_args(parser(), BASE + ["--mask-padding", "False"], REQUIRED)


def test_missing_required_flag_names_it(capsys):
    with pytest.raises(SystemExit):
        parse_args(parser(), ["-o", "x", "-m", "Tacotron2", "--epochs", "1", "-bs", "2"], REQUIRED)
    assert "-lr/--learning-rate" in capsys.readouterr().err


def test_config_file_sets_flags_and_command_line_wins(tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"learning-rate": 0.5, "batch_size": 7, "decoder_rnn_dim": 64,
                                  "output": "o", "model_name": "Tacotron2", "epochs": 2}))
    args = parse_args(parser(), ["--config-file", str(config), "-bs", "3"], REQUIRED)
    assert (args.learning_rate, args.batch_size, args.decoder_rnn_dim, args.epochs) == (0.5, 3, 64, 2)


@pytest.mark.parametrize("content, message", [
    ('{"not_a_flag": 1}', "unknown flag"), ("{oops", "invalid JSON at line 1"), ("[1, 2]", "JSON object")])
def test_bad_config_file_is_named(tmp_path, capsys, content, message):
    config = tmp_path / "c.json"
    config.write_text(content)
    with pytest.raises(SystemExit):
        parse_args(parser(), BASE + ["--config-file", str(config)], REQUIRED)
    err = capsys.readouterr().err
    assert message in err and "c.json" in err


@pytest.mark.parametrize("epoch, factor, expected", [
    (0, 0.1, 1.0), (499, 0.1, 1.0), (500, 0.1, 0.1), (1000, 0.1, 0.01), (1500, 0.1, 0.001),
    (499, 0.3, 1.0), (500, 0.3, 0.3), (1000, 0.3, 0.1), (1500, 0.3, 0.03)])
def test_learning_rate_annealing_matches_reference_rule(epoch, factor, expected):
    assert learning_rate_at(epoch, 1.0, [500, 1000, 1500], factor) == pytest.approx(expected)


def test_sharded_sampler_is_a_partition_and_depends_only_on_seed_and_epoch():
    shards = [ShardedSampler(10, 2, rank, 2, seed=3) for rank in range(2)]
    for s in shards:
        s.set_epoch(5)
    a, b = shards[0].indices(), shards[1].indices()
    assert len(a) == len(b) == 4 and not set(a) & set(b)
    again = ShardedSampler(10, 2, 0, 2, seed=3)
    again.set_epoch(5)
    assert again.indices() == a
    again.set_epoch(6)
    assert again.indices() != a
    assert ShardedSampler(5, 2, 0, 1, shuffle=False, drop_last=False).indices() == [0, 1, 2, 3, 4]
    assert len(ShardedSampler(3, 4)) == 0


def test_rng_state_round_trip_through_weights_only_checkpoint(tmp_path):
    torch.manual_seed(1), random.seed(1), np.random.seed(1)
    atomic_save({"state_dict": {}, "rng": [rng_state()]}, tmp_path / "c.pt")
    expected = (torch.rand(3), random.random(), np.random.rand())
    set_rng_state(load_checkpoint(tmp_path / "c.pt")["rng"][0])
    assert torch.equal(torch.rand(3), expected[0])
    assert random.random() == expected[1] and np.random.rand() == expected[2]


def test_save_checkpoint_moves_last_link_and_leaves_no_temp_files(tmp_path):
    model = torch.nn.Linear(2, 2)
    for epoch in (0, 1):
        save_checkpoint(tmp_path, "Tacotron2", epoch, {"state_dict": model.state_dict(), "config": {}})
    last = tmp_path / "checkpoint_Tacotron2_last.pt"
    assert load_checkpoint(last)["epoch"] == 1
    assert sorted(os.listdir(tmp_path)) == ["checkpoint_Tacotron2_0.pt", "checkpoint_Tacotron2_1.pt",
                                            "checkpoint_Tacotron2_last.pt"]


def test_atomic_save_failure_keeps_previous_file(tmp_path):
    path = tmp_path / "c.pt"
    atomic_save({"state_dict": {"a": torch.ones(1)}}, path)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_save({"state_dict": Unpicklable()}, path)
    assert torch.equal(load_checkpoint(path)["state_dict"]["a"], torch.ones(1))
    assert os.listdir(tmp_path) == ["c.pt"]


def test_bad_checkpoints_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot load"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="no 'state_dict'"):
        load_checkpoint(tmp_path / "other.pt")


def test_load_model_state_strips_module_prefix_and_names_mismatches():
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    state = {"module." + k: v + 1 for k, v in model.state_dict().items()}
    load_model_state(model, state)
    assert torch.equal(model[0].bias, state["module.0.bias"])
    bad = dict(model.state_dict())
    bad["0.weight"] = torch.zeros(5, 2)
    bad.pop("1.bias")
    bad["extra"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=r"missing: 1\.bias.*unexpected: extra.*0\.weight: checkpoint"):
        load_model_state(model, bad, "ck.pt")

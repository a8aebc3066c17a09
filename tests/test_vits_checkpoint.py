"""Piper Lightning checkpoints: strict loading of a checkpoint built from the layout, training from it,
the single- to multi-speaker conversion, and clear errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch

from vits.checkpoint import (
    PiperCheckpointError,
    infer_generator_keywords,
    is_speaker_key,
    load_piper_checkpoint,
    resume_from_single_speaker,
    to_lightning_state_dict,
)
from vits.data_function import VitsBatch
from vits.discriminator import MultiPeriodDiscriminator
from vits.model import SynthesizerTrn, preset_keywords
from vits.train_step import VitsTrainer

LAYOUT = Path(__file__).parent / "data" / "piper_vits_layout.json"


def _lightning_checkpoint_from_layout(path: Path, quality: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A Piper-format Lightning checkpoint whose tensors have exactly the layout JSON's names and shapes."""
    layout = json.loads(LAYOUT.read_text())
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for prefix, shapes in (("model_g.", layout["presets"][quality]["state_dict"]),
                           ("model_d.", layout["discriminator"]["state_dict"])):
        for name, shape in shapes.items():
            state[prefix + name] = torch.randn(shape, generator=gen) * 0.02
    for name in list(state):
        if name.endswith("weight_g"):  # a sane weight norm: g = ||v||
            v = state[name[:-1] + "v"]
            state[name] = torch.linalg.vector_norm(v, dim=tuple(range(1, v.dim())), keepdim=True)
    torch.save({"epoch": 12, "global_step": 3400, "pytorch-lightning_version": "1.7.7", "state_dict": state,
                "hyper_parameters": {"num_symbols": 256, "num_speakers": 1, "sample_rate": 22050,
                                     "dataset": [Path("/data/dataset.jsonl")],
                                     "args": argparse.Namespace(a=1)},
                "optimizer_states": [], "lr_schedulers": []}, path)
    return state


@pytest.mark.slow
def test_piper_checkpoint_loads_strictly_and_trains(tmp_path: Path) -> None:
    path = tmp_path / "epoch=12-step=3400.ckpt"
    state = _lightning_checkpoint_from_layout(path, "x-low")
    net_d = MultiPeriodDiscriminator()
    net_g, _, checkpoint = load_piper_checkpoint(path, net_d=net_d)
    assert net_g.keywords == preset_keywords("x-low")  # inferred from the weights
    assert checkpoint["global_step"] == 3400
    for name, value in net_g.state_dict().items():
        assert torch.equal(value, state["model_g." + name]), name
    for name, value in net_d.state_dict().items():
        assert torch.equal(value, state["model_d." + name]), name
    assert to_lightning_state_dict(net_g, net_d).keys() == state.keys()

    # one fine-tuning step from it
    torch.manual_seed(0)
    frames = 36
    batch = VitsBatch(torch.randint(4, 100, (1, 21)), torch.tensor([21]), torch.rand(1, 513, frames) * 2,
                      torch.tensor([frames]), torch.rand(1, 1, frames * 256) * 0.2 - 0.1,
                      torch.tensor([frames * 256]), torch.tensor([0]))
    before = net_g.enc_p.emb.weight.detach().clone()
    losses = VitsTrainer(net_g, net_d).step(batch)
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert not torch.equal(before, net_g.enc_p.emb.weight)


def test_single_to_multi_speaker_keeps_exactly_the_right_keys() -> None:
    torch.manual_seed(0)
    single = SynthesizerTrn(**preset_keywords("x-low"))
    multi = SynthesizerTrn(**preset_keywords("x-low", n_speakers=4))
    multi_before = {k: v.clone() for k, v in multi.state_dict().items()}
    disc_state = {k: v + 1 for k, v in MultiPeriodDiscriminator().state_dict().items()}
    net_d = MultiPeriodDiscriminator()
    copied = resume_from_single_speaker(single.state_dict(), multi, disc_state, net_d)
    assert sorted(copied) == sorted(single.state_dict())
    after = multi.state_dict()
    for key, value in single.state_dict().items():
        assert torch.equal(after[key], value), key
    kept = set(after) - set(single.state_dict())
    assert kept == {k for k in after if is_speaker_key(k)} | {"emb_g.weight"}
    for key in kept:  # the multi-speaker model's own initialisation
        assert torch.equal(after[key], multi_before[key]), key
    for key, value in net_d.state_dict().items():
        assert torch.equal(value, disc_state[key])

    # speaker-conditioning keys in the source are dropped, by Piper's rule
    source = {k: v for k, v in SynthesizerTrn(**preset_keywords("x-low", n_speakers=4)).state_dict().items()
              if k != "emb_g.weight"}
    copied = resume_from_single_speaker(source, multi)
    dropped = set(source) - set(copied)
    assert dropped == {k for k in source if k.startswith(("dec.cond", "dp.cond")) or "enc.cond_layer" in k}
    assert len(dropped) == 2 + 2 + 3 + 4 * 3


def test_bad_checkpoints_are_named(tmp_path: Path) -> None:
    with pytest.raises(PiperCheckpointError, match="no such checkpoint"):
        load_piper_checkpoint(tmp_path / "missing.ckpt")
    bad = tmp_path / "not_piper.ckpt"
    torch.save({"model": {}}, bad)
    with pytest.raises(PiperCheckpointError, match="not_piper.ckpt.*state_dict"):
        load_piper_checkpoint(bad)
    obj = tmp_path / "object.ckpt"
    torch.save({"state_dict": {}, "callback": torch.optim.SGD}, obj)
    with pytest.raises(PiperCheckpointError, match="object.ckpt.*weights_only"):
        load_piper_checkpoint(obj)
    wrong = tmp_path / "wrong.ckpt"
    state = {"model_g." + k: v for k, v in SynthesizerTrn(**preset_keywords("x-low")).state_dict().items()}
    state.pop("model_g.dec.conv_post.weight")
    torch.save({"state_dict": state}, wrong)
    with pytest.raises(PiperCheckpointError, match="wrong.ckpt.*none of Piper's presets"):
        load_piper_checkpoint(wrong)
    with pytest.raises(PiperCheckpointError, match="wrong.ckpt.*missing dec.conv_post.weight"):
        load_piper_checkpoint(wrong, net_g=SynthesizerTrn(**preset_keywords("x-low")))
    multi = {k: v for k, v in SynthesizerTrn(**preset_keywords("x-low", n_speakers=3)).state_dict().items()}
    assert infer_generator_keywords(multi)["n_speakers"] == 3

"""HiFi-GAN generator and discriminators (hifigan/model.py): the NGC state_dict layout of every preset,
strict loading of reference-format checkpoints, output shapes, weight-norm removal and the residual blocks
against hand-written computations.

The layout file is a copy of ../shared/reference/hifigan_checkpoint_layout.json (names, shapes and
parameter counts of the reference, per configuration).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from hifigan.model import (
    DEFAULT_CONFIG,
    PRESETS,
    Generator,
    HiFiGANCheckpointError,
    HiFiGANConfigError,
    MultiPeriodDiscriminator,
    MultiScaleDiscriminator,
    ResBlock1,
    ResBlock2,
    load_generator,
    parameter_count,
    preset,
    remove_weight_norm,
    save_generator,
)

LAYOUT = json.loads((Path(__file__).parent / "data" / "hifigan_checkpoint_layout.json").read_text())
LAYOUT_NAMES = {"dle_default": DEFAULT_CONFIG, "v1": PRESETS["V1"], "v2": PRESETS["V2"], "v3": PRESETS["V3"]}
TINY = {"upsample_rates": [4, 2], "upsample_kernel_sizes": [8, 4], "upsample_initial_channel": 16,
        "resblock": "1", "resblock_kernel_sizes": [3, 5], "resblock_dilation_sizes": [[1, 3], [1, 2]],
        "n_mel_channels": 6}


def shapes(module: torch.nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in module.state_dict().items()}


@pytest.mark.parametrize("name", list(LAYOUT_NAMES))
def test_preset_state_dict_equals_reference_layout(name: str) -> None:
    entry = LAYOUT["configs"][name]
    assert LAYOUT_NAMES[name] == entry["config"]
    generator = Generator(**entry["config"])
    got = shapes(generator)
    assert list(got) == list(entry["generator_state_dict"])  # names, in the reference's order
    assert got == entry["generator_state_dict"]
    assert parameter_count(generator) == entry["generator_parameters"]


def test_preset_parameter_counts_from_reference_md() -> None:
    counts = {name: parameter_count(Generator(**preset(name))) for name in ("V1", "v2", "V3")}
    assert counts == {"V1": 13_936_130, "v2": 928_514, "V3": 1_464_322}


def test_discriminator_layouts_and_parameter_counts() -> None:
    mpd = MultiPeriodDiscriminator(LAYOUT["mpd_periods"])
    assert shapes(mpd) == LAYOUT["mpd_state_dict"] and list(shapes(mpd)) == list(LAYOUT["mpd_state_dict"])
    assert parameter_count(mpd) == LAYOUT["mpd_parameters"] == 41_105_770
    msd = MultiScaleDiscriminator()
    assert shapes(msd) == LAYOUT["msd_state_dict"] and list(shapes(msd)) == list(LAYOUT["msd_state_dict"])
    assert parameter_count(msd) == LAYOUT["msd_parameters"] == 29_618_821


@pytest.mark.parametrize("name", ["V1", "V2", "V3"])
def test_output_length_is_frames_times_hop(name: str) -> None:
    torch.manual_seed(0)
    generator = Generator(**preset(name)).eval()
    assert generator.hop_length == 256
    with torch.no_grad():
        audio = generator(torch.randn(2, 80, 7))
    assert audio.shape == (2, 1, 7 * 256)
    assert audio.abs().max() <= 1.0 and audio.std() > 0


def reference_format(generator: Generator, prefix: str) -> dict:
    """A generator checkpoint as the reference writes it (NGC): generator, gen_ema, config, train_*."""
    state = {prefix + k: v.clone() for k, v in generator.state_dict().items()}
    return {"generator": state, "gen_ema": None, "config": generator.config | {"unused_key": 1},
            "train_setup": {"epoch": 3}, "train_state": {"iters": 10}}


@pytest.mark.parametrize("prefix", ["", "module."])
def test_reference_format_checkpoint_loads_strictly(tmp_path: Path, prefix: str) -> None:
    torch.manual_seed(1)
    generator = Generator(**TINY).eval()
    checkpoint = reference_format(generator, prefix)
    del checkpoint["gen_ema"]  # None is fine for weights_only too, but keep the file minimal
    torch.save(checkpoint, tmp_path / "hifigan_gen_checkpoint_3.pt")
    loaded = load_generator(tmp_path / "hifigan_gen_checkpoint_3.pt").eval()
    assert loaded.config == generator.config
    mel = torch.randn(1, 6, 5)
    with torch.no_grad():
        torch.testing.assert_close(loaded(mel), generator(mel), rtol=0, atol=0)
    for key, value in generator.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_save_generator_round_trip_and_config_fallback(tmp_path: Path) -> None:
    torch.manual_seed(2)
    generator = Generator(**TINY)
    path = save_generator(tmp_path / "g.pt", generator, epoch=4)
    assert torch.load(path, weights_only=True)["epoch"] == 4
    assert load_generator(path).config == generator.config
    torch.save({"generator": generator.state_dict()}, tmp_path / "noconfig.pt")
    with pytest.raises(HiFiGANCheckpointError, match="noconfig.pt has no generator 'config'"):
        load_generator(tmp_path / "noconfig.pt")
    assert load_generator(tmp_path / "noconfig.pt", config=TINY).config == generator.config


def test_mismatched_checkpoint_names_the_file_and_keys(tmp_path: Path) -> None:
    generator = Generator(**TINY)
    state = generator.state_dict()
    state["extra.weight"] = torch.zeros(1)
    del state["conv_post.bias"]
    state["conv_pre.bias"] = torch.zeros(3)
    torch.save({"generator": state, "config": generator.config}, tmp_path / "bad.pt")
    with pytest.raises(HiFiGANCheckpointError) as err:
        load_generator(tmp_path / "bad.pt")
    message = str(err.value)
    assert "bad.pt" in message and "\n" not in message
    assert "missing (1): conv_post.bias" in message
    assert "unexpected (1): extra.weight" in message
    assert "conv_pre.bias (3,) vs (16,)" in message


def test_unreadable_checkpoints_give_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    torch.save([1, 2], tmp_path / "list.pt")
    torch.save({"weights": {}}, tmp_path / "foreign.pt")
    for name, pattern in [("missing.pt", "not found"), ("empty.pt", "empty"), ("junk.pt", "cannot load"),
                          ("list.pt", "not a HiFi-GAN checkpoint"), ("foreign.pt", "no 'generator'")]:
        with pytest.raises(HiFiGANCheckpointError, match=pattern) as err:
            load_generator(tmp_path / name)
        assert name in str(err.value) and "\n" not in str(err.value)


def test_bad_config_names_the_key() -> None:
    cases = [({"upsample_rates": [8, 8]}, "upsample_rates"), ({"resblock": "3"}, "resblock"),
             ({"resblock_kernel_sizes": [3, 4, 5]}, "odd"),
             ({"upsample_kernel_sizes": [15, 16, 4, 4]}, "even"),
             ({"resblock_dilation_sizes": [[1]]}, "resblock_dilation_sizes"),
             ({"sampling_rate": 1}, "unknown"),
             ({"upsample_initial_channel": 8}, "upsample_initial_channel")]
    for overrides, pattern in cases:
        with pytest.raises(HiFiGANConfigError, match=pattern):
            Generator(**overrides)
    with pytest.raises(HiFiGANConfigError, match="V1, V2, V3"):
        preset("V4")
    with pytest.raises(ValueError, match=r"\(batch, 6, frames\)"):
        Generator(**TINY)(torch.zeros(1, 80, 4))


def test_remove_weight_norm_keeps_the_function_and_gives_plain_convs() -> None:
    torch.manual_seed(3)
    generator = Generator(**{**TINY, "resblock": "2"}).double().eval()
    mel = torch.randn(2, 6, 9, dtype=torch.float64)
    with torch.no_grad():
        want = generator(mel)
        remove_weight_norm(generator)
        got = generator(mel)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    keys = list(generator.state_dict())
    assert not any("weight_g" in k or "weight_v" in k for k in keys)
    assert "ups.0.weight" in keys and "resblocks.1.0.convs.1.weight" in keys
    assert type(generator.ups[0]) is torch.nn.ConvTranspose1d and type(generator.conv_pre) is torch.nn.Conv1d


def effective(conv: torch.nn.Module) -> torch.Tensor:
    return conv.weight_g * conv.weight_v / conv.weight_v.flatten(1).norm(dim=1).view(-1, 1, 1)


def test_resblocks_against_hand_written_computation() -> None:
    torch.manual_seed(4)
    x = torch.randn(1, 4, 20, dtype=torch.float64)
    block1 = ResBlock1(4, 3, (1, 3)).double()
    want = x
    for c1, c2, d in zip(block1.convs1, block1.convs2, (1, 3)):
        h = F.conv1d(F.leaky_relu(want, 0.1), effective(c1), c1.bias, padding=d, dilation=d)
        want = F.conv1d(F.leaky_relu(h, 0.1), effective(c2), c2.bias, padding=1) + want
    torch.testing.assert_close(block1(x), want)
    block2 = ResBlock2(4, 5, (2, 6)).double()  # V3's block: slope 0.1 (the reference leaves it unset)
    want = x
    for c, d in zip(block2.convs, (2, 6)):
        want = F.conv1d(F.leaky_relu(want, 0.1), effective(c), c.bias, padding=2 * d, dilation=d) + want
    torch.testing.assert_close(block2(x), want)


def test_generator_forward_against_hand_written_computation() -> None:
    """conv_pre, per stage lrelu(0.1) + transposed conv + mean of the blocks, lrelu(0.01), conv_post, tanh."""
    torch.manual_seed(5)
    g = Generator(**TINY).double()
    mel = torch.randn(1, 6, 3, dtype=torch.float64)
    x = F.conv1d(mel, effective(g.conv_pre), g.conv_pre.bias, padding=3)
    for up, blocks, (u, k) in zip(g.ups, g.resblocks, [(4, 8), (2, 4)]):
        x = F.conv_transpose1d(F.leaky_relu(x, 0.1), effective(up), up.bias, stride=u, padding=(k - u) // 2)
        x = (blocks[0](x) + blocks[1](x)) / 2
    want = torch.tanh(F.conv1d(F.leaky_relu(x, 0.01), effective(g.conv_post), g.conv_post.bias, padding=3))
    torch.testing.assert_close(g(mel), want)
    assert want.shape == (1, 1, 24)


def test_discriminator_outputs_and_feature_maps() -> None:
    torch.manual_seed(6)
    mpd = MultiPeriodDiscriminator((2, 3))
    y, y_hat = torch.rand(2, 1, 301) * 2 - 1, torch.rand(2, 1, 301) * 2 - 1  # 301: reflect-padded per period
    real, fake, fmap_r, fmap_g = mpd(y, y_hat)
    assert len(real) == len(fake) == 2 and [len(f) for f in fmap_r] == [6, 6]
    assert real[0].shape[0] == 2 and not torch.equal(real[0], fake[0])
    assert fmap_r[1][0].shape[-1] == 3  # folded by the period
    msd = MultiScaleDiscriminator()
    real, fake, fmap_r, fmap_g = msd(y, y_hat)
    assert len(real) == 3 and [len(f) for f in fmap_g] == [8, 8, 8]
    assert [r.shape[1] for r in real] == [5, 3, 2]  # 301 samples, then pooled twice (4, stride 2, pad 2)
    with pytest.raises(ValueError, match="same shape"):
        mpd(y, y_hat[..., :300])

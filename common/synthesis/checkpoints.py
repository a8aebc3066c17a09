"""Checkpoints -> models: ours and the NGC layout, configs recovered from weight shapes (common.synthesis)."""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from common.checkpoint import CheckpointError, load_checkpoint, load_model_state, strip_module_prefix
from hifigan.model import HiFiGANCheckpointError
from hifigan.vocoder import HiFiGANVocoder, load_vocoder
from tacotron2.model import Tacotron2
from tacotron2.multilingual import (
    EXTENSION_DEFAULTS,
    build_tacotron2,
)
from waveglow.model import WaveGlow, remove_weightnorm

MEL_SILENCE = math.log(1e-5)  # the log-mel floor: what a silent frame looks like to WaveGlow
MODEL_TITLES = {"Tacotron2": "Tacotron 2", "WaveGlow": "WaveGlow"}
MODEL_FLAGS = {"Tacotron2": "--tacotron2", "WaveGlow": "--waveglow"}


class SynthesisError(ValueError):
    """Input text the models cannot synthesise (names the source and line), or an unusable setting."""



# --------------------------------------------------------------------------------------------- checkpoints

def checkpoint_kind(checkpoint: Mapping[str, Any]) -> str | None:
    """"Tacotron2", "WaveGlow" or None: from ``model_name`` when present, else from the state_dict keys."""
    name = checkpoint.get("model_name")
    if name in MODEL_TITLES:
        return name
    keys = {k.removeprefix("module.") for k in checkpoint.get("state_dict", {})}
    if "embedding.weight" in keys and any(k.startswith("decoder.") for k in keys):
        return "Tacotron2"
    if "upsample.weight" in keys and any(k.startswith("WN.") for k in keys):
        return "WaveGlow"
    return None


def _check_kind(checkpoint: Mapping[str, Any], expected: str, source: str) -> None:
    kind = checkpoint_kind(checkpoint)
    if kind == expected:
        return
    want = MODEL_TITLES[expected]
    if kind is None:
        raise CheckpointError(f"{source}: not a {want} checkpoint (its state_dict has neither Tacotron 2 nor "
                              "WaveGlow parameter names)")
    raise CheckpointError(
        f"{source} is a {MODEL_TITLES[kind]} checkpoint, but a {want} checkpoint was expected "
        f"(pass it to {MODEL_FLAGS[kind]} instead of {MODEL_FLAGS[expected]})"
    )


def _constructor_defaults(cls: type) -> dict[str, Any]:
    params = inspect.signature(cls.__init__).parameters
    return {name: p.default for name, p in params.items() if name != "self"}


def _count(state_dict: Mapping[str, Tensor], pattern: str) -> int:
    """Number of consecutive indices i (from 0) for which ``pattern.format(i)`` is a key."""
    n = 0
    while pattern.format(n) in state_dict:
        n += 1
    return n


def detect_tacotron2_config(state_dict: Mapping[str, Tensor], source: str = "state_dict") -> dict[str, Any]:
    """Tacotron 2 constructor keywords recovered from parameter shapes (non-shape settings at defaults)."""
    sd = strip_module_prefix(dict(state_dict))
    try:
        n_symbols, embedding_dim = sd["embedding.weight"].shape
        n_enc = _count(sd, "encoder.convolutions.{}.0.conv.weight")
        enc_kernel = sd["encoder.convolutions.0.0.conv.weight"].shape[2] if n_enc else 5
        prenet_dim, n_mel = sd["decoder.prenet.layers.0.linear_layer.weight"].shape
        location = sd["decoder.attention_layer.location_layer.location_conv.conv.weight"]
        n_filters, loc_kernel = location.shape[0], location.shape[2]
        projection = sd["decoder.linear_projection.linear_layer.weight"].shape[0]
        postnet = sd["postnet.convolutions.0.0.conv.weight"]
        config = {
            "n_mel_channels": int(n_mel),
            "n_symbols": int(n_symbols),
            "symbols_embedding_dim": int(embedding_dim),
            "encoder_kernel_size": int(enc_kernel),
            "encoder_n_convolutions": n_enc,
            "encoder_embedding_dim": int(sd["encoder.lstm.weight_hh_l0"].shape[1]) * 2,
            "attention_rnn_dim": int(sd["decoder.attention_rnn.weight_hh"].shape[1]),
            "attention_dim": int(sd["decoder.attention_layer.query_layer.linear_layer.weight"].shape[0]),
            "attention_location_n_filters": int(n_filters),
            "attention_location_kernel_size": int(loc_kernel),
            "n_frames_per_step": int(projection) // int(n_mel),
            "decoder_rnn_dim": int(sd["decoder.decoder_rnn.weight_hh"].shape[1]),
            "prenet_dim": int(prenet_dim),
            "postnet_embedding_dim": int(postnet.shape[0]),
            "postnet_kernel_size": int(postnet.shape[2]),
            "postnet_n_convolutions": _count(sd, "postnet.convolutions.{}.0.conv.weight"),
        }
    except (KeyError, ValueError, IndexError) as err:
        raise CheckpointError(f"{source}: cannot recover the Tacotron 2 configuration from the weights "
                              f"(missing or odd parameter {err})") from None
    return {**_constructor_defaults(Tacotron2), **config}


def _wn_weight(sd: Mapping[str, Tensor], name: str) -> Tensor:
    """A WN conv weight: ``weight_v`` of a weight-norm checkpoint or ``weight`` once it was folded."""
    return sd[f"{name}.weight_v"] if f"{name}.weight_v" in sd else sd[f"{name}.weight"]


def detect_waveglow_config(state_dict: Mapping[str, Tensor], source: str = "state_dict") -> dict[str, Any]:
    """WaveGlow constructor keywords recovered from parameter shapes.

    WN channels C and kernel k from ``WN.0.in_layers.0`` ([2C, C, k]); flows from the number of ``WN.K``
    blocks; layers from ``WN.0.in_layers.*``; groups from ``convinv.0`` (n_group x n_group); early outputs
    from where the ``convinv`` sizes shrink.
    """
    sd = strip_module_prefix(dict(state_dict))
    try:
        n_mel = int(sd["upsample.weight"].shape[0])
        n_flows = _count(sd, "WN.{}.start.bias")
        n_layers = _count(sd, "WN.0.in_layers.{}.bias")
        in_weight = _wn_weight(sd, "WN.0.in_layers.0")
        n_channels, kernel_size = int(in_weight.shape[1]), int(in_weight.shape[2])
        sizes = [int(sd[f"convinv.{k}.conv.weight"].shape[0]) for k in range(n_flows)]
        cond_in = int(_wn_weight(sd, "WN.0.cond_layers.0").shape[1])
    except (KeyError, ValueError, IndexError) as err:
        raise CheckpointError(f"{source}: cannot recover the WaveGlow configuration from the weights "
                              f"(missing or odd parameter {err})") from None
    if n_flows == 0 or n_layers == 0:
        raise CheckpointError(f"{source}: no WN blocks found (expected keys WN.0.start.*, WN.0.in_layers.*)")
    n_group = sizes[0]
    drops = [k for k in range(1, n_flows) if sizes[k] < sizes[k - 1]]
    early_every, early_size = (drops[0], sizes[drops[0] - 1] - sizes[drops[0]]) if drops else (4, 0)
    if cond_in != n_mel * n_group:
        raise CheckpointError(f"{source}: WN conditioning input has {cond_in} channels, expected "
                              f"n_mel_channels * n_group = {n_mel} * {n_group}")
    return {
        "n_mel_channels": n_mel,
        "n_flows": n_flows,
        "n_group": n_group,
        "n_early_every": early_every,
        "n_early_size": early_size,
        "WN_config": {"n_layers": n_layers, "kernel_size": kernel_size, "n_channels": n_channels},
    }


def _merge_config(model: str, config: dict[str, Any], overrides: Mapping[str, Any] | None,
                  allowed: Iterable[str], source: str) -> dict[str, Any]:
    allowed = set(allowed)
    unknown = sorted(set(overrides or {}) - allowed)
    if unknown:
        raise ValueError(f"unknown {MODEL_TITLES[model]} setting(s) {unknown}; known: {sorted(allowed)}")
    merged = {k: v for k, v in config.items() if k in allowed}
    dropped = sorted(set(config) - allowed)
    if dropped:
        warnings.warn(f"{source}: ignoring config keys the {MODEL_TITLES[model]} model does not take: "
                      f"{dropped}", stacklevel=3)
    return {**merged, **dict(overrides or {})}


def tacotron2_from_checkpoint(checkpoint: Mapping[str, Any], source: str = "checkpoint",
                              device: str | torch.device = "cpu",
                              overrides: Mapping[str, Any] | None = None) -> Tacotron2:
    """Build a Tacotron 2 from a loaded checkpoint dict (either layout), in eval mode on ``device``.

    ``overrides`` replaces config entries: inference settings such as ``max_decoder_steps``,
    ``gate_threshold`` and ``decoder_no_early_stopping``; a shape setting that disagrees with the weights
    gives a CheckpointError naming the parameters.
    """
    _check_kind(checkpoint, "Tacotron2", source)
    state_dict = strip_module_prefix(checkpoint["state_dict"])
    config = checkpoint.get("config")
    if not isinstance(config, Mapping) or not config:
        config = detect_tacotron2_config(state_dict, source)
    defaults = _constructor_defaults(Tacotron2)
    if any(key in config for key in EXTENSION_DEFAULTS):  # multi-speaker/multilingual (or own symbols)
        defaults = {**defaults, **EXTENSION_DEFAULTS}
    config = {**defaults, **_merge_config("Tacotron2", dict(config), overrides, defaults, source)}
    try:
        model = build_tacotron2(**config)
    except ValueError as err:
        raise CheckpointError(f"{source}: cannot build Tacotron 2 from its config: {err}") from None
    load_model_state(model, state_dict, source)
    return model.to(device).eval()


def waveglow_from_checkpoint(checkpoint: Mapping[str, Any], source: str = "checkpoint",
                             device: str | torch.device = "cpu",
                             overrides: Mapping[str, Any] | None = None) -> WaveGlow:
    """Build a WaveGlow from a loaded checkpoint dict (either layout): weight norm removed, eval mode.

    The config comes from the checkpoint, or from the weight shapes when it is absent (published NGC
    WaveGlow checkpoints may lack it). ``overrides`` replaces constructor entries (``WN_config`` is merged
    key by key). Checkpoints whose weight norm was already folded (plain ``weight``) load too.
    """
    _check_kind(checkpoint, "WaveGlow", source)
    state_dict = strip_module_prefix(checkpoint["state_dict"])
    config = checkpoint.get("config")
    if not isinstance(config, Mapping) or not config:
        config = detect_waveglow_config(state_dict, source)
    overrides = dict(overrides or {})
    wn_override = overrides.pop("WN_config", None) or {}
    config = _merge_config("WaveGlow", dict(config), overrides, _constructor_defaults(WaveGlow), source)
    config["WN_config"] = {**dict(config.get("WN_config") or {}), **dict(wn_override)}
    try:
        model = WaveGlow(**config)
    except ValueError as err:
        raise CheckpointError(f"{source}: cannot build WaveGlow from its config: {err}") from None
    folded = "WN.0.start.weight" in state_dict and "WN.0.start.weight_v" not in state_dict
    if folded:
        remove_weightnorm(model)
    load_model_state(model, state_dict, source)
    if not folded:
        remove_weightnorm(model)
    return model.to(device).eval()


def load_tacotron2(path: str | Path, device: str | torch.device = "cpu",
                   overrides: Mapping[str, Any] | None = None) -> Tacotron2:
    """Tacotron 2 from a checkpoint file (ours or NGC layout), eval mode; see tacotron2_from_checkpoint."""
    return tacotron2_from_checkpoint(load_checkpoint(path), str(path), device, overrides)


def load_waveglow(path: str | Path, device: str | torch.device = "cpu",
                  overrides: Mapping[str, Any] | None = None) -> WaveGlow:
    """WaveGlow from a checkpoint file (ours or NGC layout), weight norm removed, eval mode."""
    return waveglow_from_checkpoint(load_checkpoint(path), str(path), device, overrides)


def load_hifigan(path: str | Path, device: str | torch.device = "cpu", fast: bool = True) -> HiFiGANVocoder:
    """A HiFi-GAN vocoder from a generator checkpoint (NGC layout, ours, or a `run.py -m HiFiGAN` one),
    weight norm removed, eval mode; a bad file is a `CheckpointError` naming it."""
    try:
        return load_vocoder(path, fast=fast).to(device)
    except HiFiGANCheckpointError as err:
        raise CheckpointError(str(err)) from None

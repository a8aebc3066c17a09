"""The errors of the multi-speaker, multilingual Tacotron 2 (tacotron2/multilingual.py and its parts)."""

from __future__ import annotations

from tacotron2.model import Tacotron2ConfigError, Tacotron2InputError

__all__ = ["MultilingualConfigError", "MultilingualInputError"]


class MultilingualConfigError(Tacotron2ConfigError):
    """A multi-speaker/multilingual constructor argument (a `--flag`) has an unusable value."""


class MultilingualInputError(Tacotron2InputError):
    """Speaker or language ids that do not fit the model (missing, wrong shape, out of range)."""

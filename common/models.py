"""The model registry: `-m NAME` -> the model folder's recipe (common/training/recipe.py).

`run.py`, the benchmarks and inference all go through `get_model_spec`. Adding a model means adding its
folder with a `recipe.py` and one line in `MODELS`; a test (or a plug-in) may also `register_model`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from common.training.recipe import ModelRecipe, build_model, init_bn_uniform

__all__ = ["MODELS", "ModelRecipe", "ModelSpec", "build_model", "get_model_spec", "init_bn_uniform",
           "register_model"]

ModelSpec = ModelRecipe  # the registry's earlier name for the interface

# name -> "module:class" of its recipe, imported when the model is asked for
MODELS: dict[str, str | Callable[[], ModelRecipe]] = {
    "Tacotron2": "tacotron2.recipe:Tacotron2Recipe",
    "WaveGlow": "waveglow.recipe:WaveGlowRecipe",
    "HiFiGAN": "hifigan.recipe:HiFiGANRecipe",
    "VITS": "vits.recipe:VitsRecipe",
}


def register_model(name: str, recipe: str | Callable[[], ModelRecipe]) -> None:
    """Add a model: its recipe's "module:class" path, or a callable that returns the recipe."""
    MODELS[name] = recipe


def get_model_spec(name: str) -> ModelRecipe:
    """The recipe of a registered model; a clear error for anything else."""
    if name not in MODELS:
        raise ValueError(f"-m/--model-name {name!r}: choose one of {', '.join(MODELS)}")
    entry = MODELS[name]
    if isinstance(entry, str):
        module, _, cls = entry.partition(":")
        entry = getattr(importlib.import_module(module), cls)
    return entry()

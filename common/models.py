"""The one place that maps a model name to its parser, model, data, loss and item unit.

`run.py`, the benchmarks and inference all go through `get_model_spec`, so adding a model means adding one
`ModelSpec` here.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ModelSpec:
    """How to parse, build, feed and score one model."""

    name: str
    items: str                                   # what throughput counts: "mels" or "samples"
    parser: Callable[[argparse.ArgumentParser, bool], argparse.ArgumentParser]
    model_config: Callable[[argparse.Namespace], dict]
    model_class: Callable[..., torch.nn.Module]
    criterion: Callable[[argparse.Namespace], Callable]
    dataset: Callable[[argparse.Namespace, str], torch.utils.data.Dataset]
    collate: Callable[[argparse.Namespace, bool], Callable | None]
    batch_to_device: Callable
    batch_size_of: Callable[[tuple], int]
    val_metrics: Callable[[tuple, list], dict[str, float]] | None = None  # extra validation metrics per batch


def init_bn_uniform(model: torch.nn.Module) -> None:
    """BatchNorm weights drawn from U(0, 1), as the reference does unless disabled by flag."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.affine:
            torch.nn.init.uniform_(module.weight)


def build_model(spec: ModelSpec, config: dict, uniform_bn: bool = True) -> torch.nn.Module:
    """Construct the model from its config (a checkpoint's `config` works as is)."""
    model = spec.model_class(**config)
    if uniform_bn:
        init_bn_uniform(model)
    return model


def _tacotron2() -> ModelSpec:
    from tacotron2 import data_function
    from tacotron2.arg_parser import model_config, tacotron2_parser
    from tacotron2.loss_function import Tacotron2Criterion
    from tacotron2.model import Tacotron2

    def criterion(args: argparse.Namespace) -> Tacotron2Criterion:
        return Tacotron2Criterion(args.mask_padding, getattr(args, "guided_attention_weight", 0.0),
                                  getattr(args, "guided_attention_sigma", 0.2),
                                  getattr(args, "guided_attention_decay", 1.0))

    def val_metrics(x: tuple, y_pred: list) -> dict[str, float]:
        """Alignment diagnostics of the teacher-forced attention (padding excluded)."""
        from common.evaluation import batch_alignment_scores

        alignments = y_pred[3]
        r = x[2].size(2) // alignments.size(1)
        steps = torch.div(x[4] + r - 1, r, rounding_mode="floor")
        scores = batch_alignment_scores(alignments.float().cpu(), x[1].cpu(), steps.cpu())
        return {f"val_{name}": value for name, value in scores.items()}

    return ModelSpec(
        name="Tacotron2", items="mels", parser=tacotron2_parser, model_config=model_config,
        model_class=Tacotron2, criterion=criterion, dataset=data_function.get_dataset,
        collate=data_function.get_collate_fn, batch_to_device=data_function.batch_to_device,
        batch_size_of=lambda x: x[0].size(0), val_metrics=val_metrics,
    )


def _waveglow() -> ModelSpec:
    from waveglow import data_function
    from waveglow.arg_parser import model_config, waveglow_parser
    from waveglow.loss_function import WaveGlowLoss
    from waveglow.model import WaveGlow

    return ModelSpec(
        name="WaveGlow", items="samples", parser=waveglow_parser, model_config=model_config,
        model_class=WaveGlow, criterion=lambda args: WaveGlowLoss(args.sigma),
        dataset=data_function.get_dataset, collate=data_function.get_collate_fn,
        batch_to_device=data_function.batch_to_device, batch_size_of=lambda x: x[1].size(0),
    )


MODELS = {"Tacotron2": _tacotron2, "WaveGlow": _waveglow}


def get_model_spec(name: str) -> ModelSpec:
    """The spec of `Tacotron2` or `WaveGlow`; a clear error for anything else."""
    if name not in MODELS:
        raise ValueError(f"-m/--model-name {name!r}: choose one of {', '.join(MODELS)}")
    return MODELS[name]()

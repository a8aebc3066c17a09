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
    # (args, filelist, model config or None, training=True): the config carries a checkpoint's symbol/speaker
    # tables; training=False builds a validation set (no --max-mel-length skips)
    dataset: Callable[..., torch.utils.data.Dataset]
    collate: Callable[[argparse.Namespace, bool], Callable | None]
    batch_to_device: Callable
    batch_size_of: Callable[[tuple], int]
    val_metrics: Callable[[tuple, list], dict[str, float]] | None = None  # extra validation metrics per batch
    # called before every optimizer step with (model, args, global_step, rank); returns metrics to log
    step_hook: Callable[[torch.nn.Module, argparse.Namespace, int, int], dict[str, float]] | None = None
    # free-running validation: (model, val dataset, args, device, rank, world_size) -> {name: (sum, count)}
    free_running_metrics: Callable[..., dict[str, tuple[float, int]]] | None = None
    # runtime options that are not constructor keywords (e.g. --decoder-impl): (model, args) -> None
    configure: Callable[[torch.nn.Module, argparse.Namespace], None] | None = None
    # `run.py` flags of a tiny configuration that trains in seconds on CPU: the end-to-end tests use them,
    # and tests/test_resume_faults.py runs its fault injection on every model in MODELS with them
    tiny_flags: tuple[str, ...] = ()


def init_bn_uniform(model: torch.nn.Module) -> None:
    """BatchNorm weights drawn from U(0, 1), as the reference does unless disabled by flag."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.affine:
            torch.nn.init.uniform_(module.weight)


def build_model(spec: ModelSpec, config: dict, uniform_bn: bool = True,
                args: argparse.Namespace | None = None) -> torch.nn.Module:
    """Construct the model from its config (a checkpoint's `config` works as is); with `args`, also apply
    the runtime options (`spec.configure`, e.g. --decoder-impl), which the config does not hold."""
    model = spec.model_class(**config)
    if uniform_bn:
        init_bn_uniform(model)
    if args is not None and spec.configure is not None:
        spec.configure(model, args)
    return model


StepHook = Callable[[torch.nn.Module, argparse.Namespace, int, int], dict[str, float]]


def _configure_before_steps(configure: Callable[[torch.nn.Module, argparse.Namespace], None],
                            hook: StepHook | None) -> StepHook:
    """A step hook that first applies the runtime options: the Trainer builds the model without the
    parsed flags, and its step hook runs before every forward pass (an attribute write, no cost)."""

    def step_hook(model: torch.nn.Module, args: argparse.Namespace, step: int, rank: int) -> dict[str, float]:
        configure(model, args)
        return hook(model, args, step, rank) if hook is not None else {}

    return step_hook


def _tacotron2_configure(model: torch.nn.Module, args: argparse.Namespace) -> None:
    """--decoder-impl: eager (the reference step loop) or fast (tacotron2/fast_decoder.py)."""
    from tacotron2.fast_decoder import set_decoder_impl

    impl = getattr(args, "decoder_impl", None)
    if impl is not None:
        set_decoder_impl(model, impl)


def _tacotron2() -> ModelSpec:
    """Tacotron 2, plain or multi-speaker/multilingual.

    The model class follows the config: `tacotron2.multilingual.build_tacotron2` builds the reference
    `Tacotron2` for the reference keywords and `MultilingualTacotron2` when the config holds any of its
    extra keys (speakers, languages, symbols, embedding sizes, encoder type, classifier), which
    `tacotron2.arg_parser.model_config` adds for conditioned flags. The same rule rebuilds a model from a
    checkpoint's config.
    """
    from tacotron2 import data_function
    from tacotron2.arg_parser import model_config, tacotron2_parser
    from tacotron2.loss_function import (
        SpeakerAdversarialCriterion,
        Tacotron2Criterion,
        speaker_classification,
    )
    from tacotron2.multilingual import build_tacotron2, teacher_forcing_ratio, validation_mcd

    def criterion(args: argparse.Namespace) -> Tacotron2Criterion:
        guided = (getattr(args, "guided_attention_weight", 0.0), getattr(args, "guided_attention_sigma", 0.2),
                  getattr(args, "guided_attention_decay", 1.0))
        weight = getattr(args, "speaker_classifier_weight", 0.0)
        if weight > 0:
            return SpeakerAdversarialCriterion(args.mask_padding, *guided, speaker_classifier_weight=weight)
        return Tacotron2Criterion(args.mask_padding, *guided)

    def step_hook(model: torch.nn.Module, args: argparse.Namespace, step: int, rank: int) -> dict[str, float]:
        """Set this step's teacher-forcing ratio (seeded per step and rank, so resumed runs match)."""
        if not hasattr(model, "set_teacher_forcing"):
            return {}
        ratio = teacher_forcing_ratio(step, getattr(args, "teacher_forcing", "constant"),
                                      getattr(args, "teacher_forcing_start_step", 0),
                                      getattr(args, "teacher_forcing_end_step", 0),
                                      getattr(args, "teacher_forcing_final_ratio", 1.0))
        model.set_teacher_forcing(ratio, seed=((args.seed or 0) * 1000003 + step) * 1024 + rank)
        return {"teacher_forcing_ratio": ratio}

    def free_running_metrics(model: torch.nn.Module, dataset, args: argparse.Namespace, device: torch.device,
                             rank: int, world_size: int) -> dict[str, tuple[float, int]]:
        """val_mcd over this rank's share of the first --val-mcd-utterances validation utterances."""
        n = getattr(args, "val_mcd_utterances", 0)
        return {"val_mcd": validation_mcd(model, dataset, n, device, rank, world_size, seed=args.seed or 0)}

    def val_metrics(x: tuple, y_pred: list) -> dict[str, float]:
        """Alignment diagnostics of the teacher-forced attention (padding excluded)."""
        from common.evaluation import batch_alignment_scores

        alignments = y_pred[3]
        r = x[2].size(2) // alignments.size(1)
        steps = torch.div(x[4] + r - 1, r, rounding_mode="floor")
        scores = batch_alignment_scores(alignments.float().cpu(), x[1].cpu(), steps.cpu())
        metrics = {f"val_{name}": value for name, value in scores.items()}
        if len(y_pred) > 4 and len(x) > 5:  # the adversarial speaker classifier's logits
            metrics["val_speaker_accuracy"] = float(speaker_classification(y_pred[4], x[5], x[1])[1])
        return metrics

    return ModelSpec(
        name="Tacotron2", items="mels", parser=tacotron2_parser, model_config=model_config,
        model_class=build_tacotron2, criterion=criterion, dataset=data_function.get_dataset,
        collate=data_function.get_collate_fn, batch_to_device=data_function.batch_to_device,
        batch_size_of=lambda x: x[0].size(0), val_metrics=val_metrics,
        step_hook=_configure_before_steps(_tacotron2_configure, step_hook),
        free_running_metrics=free_running_metrics, configure=_tacotron2_configure,
        tiny_flags=(
            "--symbols-embedding-dim", "32", "--encoder-embedding-dim", "32", "--encoder-n-convolutions", "1",
            "--attention-rnn-dim", "64", "--decoder-rnn-dim", "64", "--prenet-dim", "32",
            "--attention-dim", "16", "--attention-location-n-filters", "4",
            "--attention-location-kernel-size", "5", "--postnet-embedding-dim", "32",
            "--postnet-n-convolutions", "2", "--n-frames-per-step", "3",
        ),
    )


def _waveglow() -> ModelSpec:
    from waveglow import data_function
    from waveglow.arg_parser import model_config, waveglow_parser
    from waveglow.loss_function import WaveGlowLoss
    from waveglow.model import WaveGlow

    return ModelSpec(
        name="WaveGlow", items="samples", parser=waveglow_parser, model_config=model_config,
        model_class=WaveGlow, criterion=lambda args: WaveGlowLoss(args.sigma),
        dataset=lambda args, filelist, config=None, training=True: data_function.get_dataset(args, filelist),
        collate=data_function.get_collate_fn,
        batch_to_device=data_function.batch_to_device, batch_size_of=lambda x: x[1].size(0),
        tiny_flags=("--flows", "4", "--groups", "8", "--early-every", "2", "--early-size", "2",
                    "--wn-layers", "2", "--wn-channels", "16", "--segment-length", "2048"),
    )


MODELS = {"Tacotron2": _tacotron2, "WaveGlow": _waveglow}


def get_model_spec(name: str) -> ModelSpec:
    """The spec of `Tacotron2` or `WaveGlow`; a clear error for anything else."""
    if name not in MODELS:
        raise ValueError(f"-m/--model-name {name!r}: choose one of {', '.join(MODELS)}")
    return MODELS[name]()

"""What the trainer asks of a model: the `ModelRecipe` interface, which every model folder implements once.

`run.py` and the trainer (common/training/loop.py) know a model only through its recipe; the registry
(common/models.py) maps `-m NAME` to a recipe class. Adding a model is adding a folder with a
`recipe.py` and one line in that registry.

The methods, in the order a training run calls them:

1. `add_arguments(parent, add_help)`: the full parser (the general flags of `parent` plus the model's).
2. `model_config(args)`: the constructor keywords, saved as the checkpoint's `config`.
3. `build(config)`: the module (a checkpoint's `config` rebuilds it); `configure(model, args)` applies the
   runtime options that are not constructor keywords (e.g. which decoder loop to run).
4. `finetune_rules()`: which parameters hold symbol and speaker rows, and the merges that carry a
   checkpoint of another shape into the model (`--warm-start`, common/training/finetune/).
5. `optimizers(model, parameters, args)`: named optimizers; `schedulers(optimizers, args)`: named learning
   rate schedulers, stepped once per epoch (without any, the trainer applies `--anneal-steps`).
6. `dataset(args, filelist, config, training)`, `collate(args, training)`, `sampler(...)`,
   `batch_to_device(batch, device, skip_bad)` -> (x, y, items) and `batch_size_of(x)`.
7. `criterion(args)`: the loss; `step_hook(model, args, step, rank)` runs before every training step,
   `criterion_step` tells the loss its step, `loss_parts` / `loss_metrics` give what to log of it;
   `rejected_items(dataset)` and `start_epoch(dataset, epoch)` are the dataset's hooks.
8. `train_step(step)`: `None` (the default) lets the trainer run the standard step: one forward, one loss,
   gradient accumulation, clipping, one optimizer. A model with several optimizers (a GAN vocoder, say)
   returns its losses from its own step instead (see `TrainStep`): e.g. a discriminator update with the
   "discriminator" optimizer, then a generator update with the "generator" optimizer, each with its own
   `GradScaler` under `--amp`.
9. `val_metrics(x, y_pred)` per validation batch and `free_running_metrics(...)` once per validation.

Checkpoints hold the state of every optimizer, scheduler and gradient scaler: a model with one optimizer
named "main" is saved as before (`optimizer`, `scaler`), so older checkpoints load; other names go under
`optimizers`, `schedulers` and `scalers`, keyed by name.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from common.distributed import DistInfo, reduce_mean

MAIN = "main"  # the name of a model's only optimizer (saved under the checkpoint's `optimizer` key)

Merges = tuple[dict[str, Any], dict[str, str]]


@dataclass(frozen=True)
class FineTuneRules:
    """A model's answers to fine-tuning (common/training/finetune/).

    symbol_embedding: the parameter whose rows are the input symbols (grown by `--extend-vocabulary`, its
    original rows kept frozen), or None for a model without text input. speaker_embedding: the parameter
    whose rows are speakers (existing speakers' rows kept frozen when speakers are added). merges:
    (model, checkpoint config) -> (merges, aliases) for `transfer_weights`, carrying a checkpoint of
    another conditioning (more speakers, a language embedding) into the model.
    """

    symbol_embedding: str | None = None
    speaker_embedding: str | None = None
    merges: Callable[[nn.Module, Mapping[str, Any]], Merges] | None = None


@dataclass
class TrainStep:
    """One training batch handed to a recipe's own `train_step`, with everything it may touch.

    `model` is the module (not DDP-wrapped: call `sync_gradients` before each optimizer step), `optimizers`,
    `schedulers` and `scalers` are the named ones of the run (one GradScaler per optimizer, disabled
    without `--amp` on CUDA). `autocast()` is the run's mixed-precision context. The step returns
    {"loss": value, ...}: the trainer logs each as `train_<name>` ("loss" as `train_loss`), averaged over
    ranks; a non-finite "loss" counts as a skipped step.
    """

    model: nn.Module
    x: Any
    y: Any
    optimizers: dict[str, torch.optim.Optimizer]
    schedulers: dict[str, Any]
    scalers: dict[str, torch.amp.GradScaler]
    args: argparse.Namespace
    global_step: int
    info: DistInfo
    autocast: Callable[[], contextlib.AbstractContextManager]
    metrics: dict[str, float] = field(default_factory=dict)

    def sync_gradients(self, module: nn.Module) -> None:
        """Average the gradients of `module`'s parameters over the ranks (nothing in a single process)."""
        if not self.info.distributed:
            return
        for param in module.parameters():
            if param.grad is not None:
                torch.distributed.all_reduce(param.grad)
                param.grad.div_(self.info.world_size)

    def mean(self, value: torch.Tensor | float) -> float:
        """A loss averaged over the ranks, as a float."""
        if isinstance(value, torch.Tensor):
            value = value.detach()
        return reduce_mean(value, self.info)


def init_bn_uniform(model: nn.Module) -> None:
    """BatchNorm weights drawn from U(0, 1), as the reference does unless disabled by flag."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:
            nn.init.uniform_(module.weight)


class ModelRecipe:
    """How to parse, build, feed, optimise and score one model (see the module docstring for the order).

    Subclasses set `name` (`-m NAME`, saved in checkpoints), `items` (what throughput counts: "mels",
    "samples", ...) and `tiny_flags` (`run.py` flags of a configuration that trains in seconds on CPU:
    the end-to-end tests, e.g. tests/test_resume_faults.py, run every registered model with them), and
    implement the methods that raise NotImplementedError here.
    """

    name: str = ""
    items: str = "items"
    tiny_flags: tuple[str, ...] = ()
    # an own `train_step` that applies --grad-accumulation itself (splitting each batch into micro-batches);
    # without it, a recipe with its own step refuses --grad-accumulation above 1
    accumulates_gradients: bool = False

    # --------------------------------------------------------------------------------- flags and model

    def add_arguments(self, parent: argparse.ArgumentParser,
                      add_help: bool = False) -> argparse.ArgumentParser:
        """A new parser with `parent`'s flags plus the model's."""
        raise NotImplementedError

    def parser(self, parent: argparse.ArgumentParser, add_help: bool = False) -> argparse.ArgumentParser:
        """The same as `add_arguments` (the name the registry has always used)."""
        return self.add_arguments(parent, add_help)

    def model_config(self, args: argparse.Namespace) -> dict:
        """The constructor keywords from parsed flags (saved as the checkpoint's `config`)."""
        raise NotImplementedError

    def build(self, config: Mapping[str, Any]) -> nn.Module:
        """The model of a config (a checkpoint's `config` works as is)."""
        raise NotImplementedError

    def model_class(self, **config: Any) -> nn.Module:
        """`build` with keywords."""
        return self.build(config)

    def configure(self, model: nn.Module, args: argparse.Namespace) -> None:
        """Apply runtime options that are not constructor keywords; nothing by default."""

    def finetune_rules(self) -> FineTuneRules:
        """Which parameters hold symbols and speakers, and the conditioning merges; none by default."""
        return FineTuneRules()

    # ------------------------------------------------------------------------------------ optimisation

    def optimizers(self, model: nn.Module, parameters: list[nn.Parameter],
                   args: argparse.Namespace) -> dict[str, torch.optim.Optimizer]:
        """Named optimizers over the trainable `parameters`: by default one Adam named "main" with
        `--learning-rate` and `--weight-decay` (a GAN returns e.g. {"generator": AdamW, "discriminator":
        AdamW}, each over its own sub-module's trainable parameters)."""
        return {MAIN: torch.optim.Adam(parameters, lr=args.learning_rate, weight_decay=args.weight_decay)}

    def schedulers(self, optimizers: Mapping[str, torch.optim.Optimizer],
                   args: argparse.Namespace) -> dict[str, Any]:
        """Named learning-rate schedulers, stepped once at the end of every epoch (e.g. ExponentialLR per
        optimizer). None by default: the trainer then sets the rate from `--anneal-steps` each epoch."""
        return {}

    def train_step(self, step: TrainStep) -> dict[str, float] | None:
        """A training step of the recipe's own (forward, losses, backward and every optimizer step), returning
        its losses; None (the default) runs the trainer's standard single-optimizer step."""
        return None

    def has_own_train_step(self) -> bool:
        """Whether `train_step` is overridden (then --grad-accumulation must be 1 unless
        `accumulates_gradients`)."""
        return type(self).train_step is not ModelRecipe.train_step

    # ------------------------------------------------------------------------------------------- data

    def dataset(self, args: argparse.Namespace, filelist: str, config: dict | None = None,
                training: bool = True) -> torch.utils.data.Dataset:
        """The dataset of a filelist; `config` (the model's) carries its symbol and speaker tables;
        `training` False builds a validation set."""
        raise NotImplementedError

    def collate(self, args: argparse.Namespace, training: bool = True) -> Callable | None:
        """The collate function (None: torch's default)."""
        return None

    def sampler(self, dataset: torch.utils.data.Dataset, args: argparse.Namespace, rank: int,
                world_size: int) -> torch.utils.data.Sampler | None:
        """A batch-composition sampler for training (e.g. language-balanced); None: the seeded shuffle."""
        return None

    def batch_to_device(self, batch: Any, device: torch.device, skip_bad: bool = False) -> tuple | None:
        """(x, y, number of items) on `device`, or None for a batch that is empty after skipping."""
        raise NotImplementedError

    def batch_size_of(self, x: Any) -> int:
        """Utterances in a batch's model input."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------- loss and metrics

    def criterion(self, args: argparse.Namespace) -> Callable:
        """The training loss: criterion(model output, y) -> scalar tensor."""
        raise NotImplementedError

    def step_hook(self, model: nn.Module, args: argparse.Namespace, step: int, rank: int) -> dict[str, float]:
        """Called before every training step; returns metrics to log; none by default (`configure` runs
        once, when `build_model` builds the model)."""
        return {}

    def rejected_items(self, dataset: torch.utils.data.Dataset) -> list:
        """The `BadItem`s the dataset left out when it was built (listed in skipped.txt); none by default."""
        return []

    def start_epoch(self, dataset: torch.utils.data.Dataset, epoch: int) -> None:
        """Called on the training set before every epoch (e.g. to draw that epoch's segments)."""

    def criterion_step(self, criterion: Callable, step: int) -> None:
        """Tell the criterion the optimizer step the next batch belongs to (e.g. a decaying loss weight)."""

    def loss_parts(self, criterion: Callable) -> dict[str, float]:
        """The terms of the last training loss, logged as `train_loss_<name>` (this rank's); none by
        default."""
        return {}

    def loss_metrics(self, criterion: Callable) -> dict[str, float]:
        """Other values of the last training loss (e.g. a classifier's accuracy), logged as `train_<name>`."""
        return {}

    def val_metrics(self, x: Any, y_pred: Any) -> dict[str, float]:
        """Extra validation metrics of one batch (averaged over items); none by default."""
        return {}

    def free_running_metrics(self, model: nn.Module, dataset: Any, args: argparse.Namespace,
                             device: torch.device, rank: int,
                             world_size: int) -> dict[str, tuple[float, int]]:
        """Metrics of free-running synthesis once per validation: {name: (sum, count)} of this rank."""
        return {}


def build_model(spec: ModelRecipe, config: Mapping[str, Any], uniform_bn: bool = True,
                args: argparse.Namespace | None = None) -> nn.Module:
    """Construct the model from its config; with `args`, also apply the runtime options (`configure`),
    which the config does not hold."""
    model = spec.build(dict(config))
    if uniform_bn:
        init_bn_uniform(model)
    if args is not None:
        spec.configure(model, args)
    return model


def trainable(modules: Iterable[nn.Module]) -> Iterator[nn.Parameter]:
    """The parameters with `requires_grad` of several modules (e.g. a generator's, for its optimizer)."""
    for module in modules:
        yield from (p for p in module.parameters() if p.requires_grad)

"""The trainer: the training loop (`loop`), the interface every model implements for it (`recipe`),
and fine-tuning (`finetune`). It names no model: a model reaches it through its
recipe, which `run.py` gets from the registry (common/models.py)."""

from common.training.loop import (
    StopRequest,
    Trainer,
    TrainingSetupError,
    autocast_context,
    check_config,
    check_optimizer_state,
    learning_rate_at,
    loader_seed,
    make_loader,
    seed_everything,
    set_loader_epoch,
    train,
)
from common.training.recipe import FineTuneRules, ModelRecipe, TrainStep, build_model

__all__ = ["FineTuneRules", "ModelRecipe", "StopRequest", "TrainStep", "Trainer", "TrainingSetupError",
           "autocast_context", "build_model", "check_config", "check_optimizer_state", "learning_rate_at",
           "loader_seed", "make_loader", "seed_everything", "set_loader_epoch", "train"]

"""The training loop behind `run.py`: one process (or one DDP rank) from first batch to last checkpoint.

Per epoch: anneal the learning rate, train on this rank's shard, validate, checkpoint. Everything that
decides the numbers (seeded shuffling per epoch, RNG states in checkpoints) is arranged so that N epochs in
one run and a run resumed from a checkpoint end with bitwise-identical weights on CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from common import logger as runlog
from common.checkpoint import (
    CheckpointError,
    checkpoint_name,
    load_checkpoint,
    load_model_state,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from common.data import CollatedBatch, DatasetError, ResumableSampler, ShardedSampler
from common.distributed import (
    DistInfo,
    barrier,
    broadcast_module,
    gather_objects,
    init_distributed,
    reduce_mean,
    reduce_sum,
)
from common.divergence import BufferSnapshot, DivergenceGuard
from common.elastic import resume_after_restart
from common.metrics.errors import EvaluationError
from common.resume_state import choose_resume, remove_orphan_temps
from common.run_lock import RunLock
from common.skip_report import SkipReport
from common.training.finetune import PLAN_KEY, FineTuning, trainable_parameters
from common.training.recipe import MAIN, ModelRecipe, TrainStep, build_model


def learning_rate_at(epoch: int, base_lr: float, anneal_steps: list[int] | None,
                     anneal_factor: float) -> float:
    """Reference step annealing, p = anneal epochs passed: 0.1 -> 0.1^p; 0.3 -> 0.1^(p//2) * 0.3^(p%2)."""
    p = sum(1 for step in anneal_steps or [] if epoch >= int(step))
    if anneal_factor == 0.3:
        return base_lr * (0.1 ** (p // 2)) * (0.3 if p % 2 else 1.0)
    return base_lr * (anneal_factor ** p)


def seed_everything(seed: int) -> None:
    """Seed torch, Python and NumPy."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def autocast_context(args: argparse.Namespace, device: torch.device):
    """fp16 autocast on CUDA, bf16 on CPU, nothing without --amp."""
    if not args.amp:
        return contextlib.nullcontext()
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype)


def make_loader(dataset, collate_fn, args: argparse.Namespace, info: DistInfo, training: bool,
                sampler: torch.utils.data.Sampler | None = None) -> tuple:
    """A DataLoader over this rank's shard, and its sampler (to set the epoch). `sampler`: the model's
    batch composition for training (e.g. language-balanced, `ModelRecipe.sampler`); None: a seeded
    shuffle (validation: in order)."""
    batch_size = args.batch_size
    if sampler is None:
        sampler = ShardedSampler(len(dataset), batch_size, info.rank, info.world_size, shuffle=training,
                                 seed=args.seed or 0, drop_last=training)
    if training and len(sampler) == 0:
        raise DatasetError(
            f"--training-files {args.training_files}: {len(dataset)} utterances are fewer than "
            f"--batch-size {batch_size} x world size {info.world_size}; lower the batch size"
        )
    sampler = ResumableSampler(sampler)
    # its own generator: worker seeds come from (seed, epoch) (set_loader_epoch), not the global stream
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=collate_fn,
                        num_workers=args.num_workers, pin_memory=info.device.type == "cuda",
                        drop_last=False, persistent_workers=False, generator=torch.Generator())
    return loader, sampler


def loader_seed(seed: int, epoch: int) -> int:
    """The data-loader seed of an epoch (its workers get this + worker id): a function of (seed, epoch)."""
    return (seed * 1000003 + epoch * 7919 + 17) % 2**63


def set_loader_epoch(loader: DataLoader, seed: int, epoch: int) -> int:
    """Reseed the loader's generator for `epoch` (so a mid-epoch resume gives workers the same seeds)."""
    value = loader_seed(seed, epoch)
    loader.generator.manual_seed(value)
    return value


def check_config(checkpoint: dict, config: dict, model_name: str, source: str) -> None:
    """A checkpoint of another model, or with other model flags, is an error that names the differences."""
    saved_name = checkpoint.get("model_name")
    if saved_name is not None and saved_name != model_name:
        raise CheckpointError(f"{source} is a {saved_name} checkpoint, not {model_name}")
    saved = checkpoint.get("config")
    if isinstance(saved, dict):
        diffs = [f"{k}: checkpoint {saved.get(k)!r} vs flags {config.get(k)!r}"
                 for k in sorted(set(saved) | set(config)) if saved.get(k) != config.get(k)]
        if diffs:
            raise CheckpointError(f"{source}: model config differs from the flags: " + "; ".join(diffs))


def check_optimizer_state(optimizer: torch.optim.Optimizer, state: dict, source: str) -> None:
    """An optimizer state that does not fit the trainable parameters (another --freeze list when the
    checkpoint was written) is an error naming the checkpoint, not a torch traceback or, worse, moments
    applied to the wrong parameters."""
    hint = "was it written with other --freeze flags? resume with those"
    saved_groups = state.get("param_groups") if isinstance(state, dict) else None
    if not isinstance(saved_groups, list):
        raise CheckpointError(f"{source}: its optimizer state has no parameter groups")
    saved_sizes = [len(group.get("params", [])) for group in saved_groups]
    sizes = [len(group["params"]) for group in optimizer.param_groups]
    if saved_sizes != sizes:
        raise CheckpointError(f"{source}: its optimizer trains {sum(saved_sizes)} parameter tensors, this "
                              f"run {sum(sizes)}; {hint}")
    per_param = state.get("state", {})
    for saved_group, group in zip(saved_groups, optimizer.param_groups, strict=True):
        for key, param in zip(saved_group["params"], group["params"], strict=True):
            for name, value in (per_param.get(key) or {}).items():
                if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != param.shape:
                    raise CheckpointError(f"{source}: its optimizer's {name} of shape {tuple(value.shape)} "
                                          f"does not fit a parameter of shape {tuple(param.shape)}; {hint}")


class TrainingSetupError(ValueError):
    """Flags that this model cannot train with (reported by `run.py` in one line)."""


class StopRequest:
    """SIGTERM (what schedulers send) sets a flag; the loop saves at the next step boundary and exits 0."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous = None
        self._pid = os.getpid()

    def install(self) -> None:
        """Catch SIGTERM (main thread only; elsewhere the default action stays)."""
        self._pid = os.getpid()
        try:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:
            self._previous = None

    def _handle(self, signum, frame) -> None:
        if os.getpid() != self._pid:
            # a forked child (a data-loader or pool worker) inherited the handler: terminate as by default,
            # or a parent waiting for it (multiprocessing.Pool.terminate) would wait for ever
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.signal_name = signal.Signals(signum).name

    def restore(self) -> None:
        """Put the previous SIGTERM handler back."""
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None


class Trainer:
    """Holds the model, optimizer and data of one run; `run()` trains to the last epoch."""

    def __init__(self, args: argparse.Namespace, spec: ModelRecipe) -> None:
        self.lock: RunLock | None = None
        self.stop = StopRequest()
        try:
            self._setup(args, spec)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the output folder's lock and the SIGTERM handler (also after a failed set-up)."""
        self.stop.restore()
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def _setup(self, args: argparse.Namespace, spec: ModelRecipe) -> None:
        self.args, self.spec = args, spec
        self.info = init_distributed(args)
        args.rank, args.world_size = self.info.rank, self.info.world_size  # torchrun's, for the run log
        restarted = resume_after_restart(args, spec.name)  # torchrun --max-restarts: continue, not restart
        if restarted and self.info.is_main:
            print(restarted)
        self.device = self.info.device
        if args.cpu_threads:
            torch.set_num_threads(args.cpu_threads)
        if self.device.type == "cpu":
            # late in a run, denormal floats (tiny weights, Adam moments, gradients) make CPU math up to a
            # third slower (the quickstart's epochs went from 20 s to 32 s); flushing them to zero is as fast
            # as the first epoch and changes nothing a loss can see
            torch.set_flush_denormal(True)
        if args.seed is not None:
            seed_everything(args.seed + self.info.rank)
        if self.device.type == "cuda":
            torch.backends.cudnn.enabled = args.cudnn_enabled
            torch.backends.cudnn.benchmark = args.cudnn_benchmark
            torch.backends.cuda.matmul.allow_tf32 = True  # TF32 on Ampere+, as the reference's TF32 recipes
        self.output = Path(args.output)
        self.stop.install()  # from here on, SIGTERM means: save at the next step boundary, exit cleanly
        if self.info.is_main:
            self.output.mkdir(parents=True, exist_ok=True)
            self.lock = RunLock(self.output).acquire()  # one writer per output folder
            if self.lock.previous_pid:
                print(f"took over {self.lock.path} from PID {self.lock.previous_pid}, which died holding it")
            removed, size = remove_orphan_temps(self.output)
            if removed:
                print(f"removed {removed} orphan temporary checkpoint file(s) ({size / 1e6:.1f} MB) in "
                      f"{self.output}")
            path, checkpoint = choose_resume(args, spec.name, announce=True)
        barrier(self.info)
        if not self.info.is_main:  # the main rank has decided (and, with --overwrite, cleared the folder)
            path, checkpoint = choose_resume(args, spec.name, announce=False)
        tb_dir = args.tensorboard_dir
        self.log = runlog.init_logger(self.output / args.log_file, rank=self.info.rank,
                                      tensorboard_dir=tb_dir)
        self.config = spec.model_config(args)
        # may grow the symbol table; a resumed checkpoint's fine-tuning record rules over the flags
        self.finetune = FineTuning.from_args(args, spec.name, self.config, checkpoint, str(path or ""),
                                             rules=spec.finetune_rules())
        self.model = build_model(spec, self.config, uniform_bn=not args.disable_uniform_initialize_bn_weight,
                                 args=args)
        self.model.to(self.device)
        self.finetune.prepare_model(self.model, resuming=path is not None,
                                    verbose=self.info.is_main)  # warm start, --freeze
        # named optimizers (one "main" Adam unless the model has several, e.g. a GAN's generator and
        # discriminator), their per-epoch schedulers and one gradient scaler each
        self.own_step = spec.has_own_train_step()
        if self.own_step and args.grad_accumulation != 1 and not spec.accumulates_gradients:
            raise TrainingSetupError(f"--grad-accumulation {args.grad_accumulation}: {spec.name} runs its "
                                     "own training step, which does not accumulate gradients; use 1")
        self.optimizers = spec.optimizers(self.model, trainable_parameters(self.model), args)
        self.optimizer = self.optimizers.get(MAIN) or next(iter(self.optimizers.values()))
        self.schedulers = spec.schedulers(self.optimizers, args)
        for optimizer in self.optimizers.values():
            self.finetune.attach(optimizer)  # original embedding rows stay bitwise frozen
        self.finetune.log_report(self.log)
        self.scalers = {name: torch.amp.GradScaler("cuda", enabled=args.amp and self.device.type == "cuda")
                        for name in self.optimizers}
        main = next(name for name, optimizer in self.optimizers.items() if optimizer is self.optimizer)
        self.scaler = self.scalers[main]
        self.criterion = spec.criterion(args)
        self.start_epoch = 0
        self.global_step = 0  # optimizer steps taken, across epochs and resumes
        self.position: dict | None = None  # where a mid-epoch checkpoint stopped (see save)
        self.interval_file: Path | None = None  # the last mid-epoch checkpoint file (replaced by the next)
        if path is not None:
            self.resume(path, checkpoint)
        del checkpoint
        self.ddp_model = self.model
        if self.info.distributed and not self.own_step:  # an own step averages gradients itself
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp_model = DistributedDataParallel(self.model, device_ids=device_ids)
        elif self.own_step:
            broadcast_module(self.model, self.info)  # every rank starts from rank 0's weights, as DDP's do
        # the model's config maps text to ids: its own (e.g. extended) symbol table and speakers, if any
        trainset = spec.dataset(args, args.training_files, self.config)
        valset = spec.dataset(args, args.validation_files, self.config, training=False)
        self.skips = SkipReport()  # utterances left out, named in skipped.txt beside the run log
        self.skips.add([*spec.rejected_items(trainset), *spec.rejected_items(valset)])
        self.notes_shown: set[str] = set()
        batches = spec.sampler(trainset, args, self.info.rank, self.info.world_size)
        self.train_loader, self.train_sampler = make_loader(trainset, spec.collate(args, True), args,
                                                            self.info, True, batches)
        self.val_loader, _ = make_loader(valset, spec.collate(args, False), args, self.info, False)
        self.guard = DivergenceGuard(args.max_skipped_steps, self.model, self.optimizer,
                                     self.output / checkpoint_name(spec.name, "last"))
        self.val_batches: tuple[int, int] | None = None  # (finite, non-finite) of the last validation
        self.group_buffers: BufferSnapshot | None = None  # buffers before this accumulation group

    def resume(self, path: Path, checkpoint: dict | None = None) -> None:
        """Load model, optimizer, scaler, epoch and this rank's RNG state (from ``checkpoint``, the contents
        of ``path``, when it was read already)."""
        if checkpoint is None:
            checkpoint = load_checkpoint(path)
        check_config(checkpoint, self.config, self.spec.name, str(path))
        load_model_state(self.model, checkpoint["state_dict"], str(path))
        if "optimizer" in checkpoint:
            check_optimizer_state(self.optimizer, checkpoint["optimizer"], str(path))
            self.optimizer.load_state_dict(checkpoint["optimizer"])
        if "scaler" in checkpoint and self.scaler.is_enabled():
            self.scaler.load_state_dict(checkpoint["scaler"])
        for name, state in (checkpoint.get("optimizers") or {}).items():  # a model's other optimizers
            if name in self.optimizers:
                check_optimizer_state(self.optimizers[name], state, f"{path} ({name})")
                self.optimizers[name].load_state_dict(state)
        for name, state in (checkpoint.get("scalers") or {}).items():
            if name in self.scalers and self.scalers[name].is_enabled():
                self.scalers[name].load_state_dict(state)
        for name, state in (checkpoint.get("schedulers") or {}).items():
            if name in self.schedulers:
                self.schedulers[name].load_state_dict(state)
        self.start_epoch = int(checkpoint["epoch"]) + 1
        self.global_step = int(checkpoint.get("iteration", 0))
        threads = checkpoint.get("cpu_threads")
        if self.device.type == "cpu" and threads is not None and threads != torch.get_num_threads():
            print(f"warning: {path} was trained at --cpu-threads {threads}, this run at "
                  f"{torch.get_num_threads()}: the resume will not be bitwise exact", file=sys.stderr)
        position = checkpoint.get("position")
        if isinstance(position, dict):  # a mid-epoch checkpoint: continue that epoch where it stopped
            self.position = position
            self.start_epoch = int(position["epoch"])
            if path.parent.resolve() == self.output.resolve():
                self.interval_file = path.resolve()
        states = checkpoint.get("rng") or []
        if len(states) == self.info.world_size:
            set_rng_state(states[self.info.rank])
        elif states:
            print(f"warning: {path} holds RNG states of {len(states)} ranks, this run has "
                  f"{self.info.world_size}: random streams start afresh", file=sys.stderr)
        if self.info.is_main:
            where = (f"epoch {self.start_epoch}, iteration {self.position['next_iteration']}" if self.position
                     else f"epoch {self.start_epoch}")
            print(f"resumed from {path} (epoch {checkpoint['epoch']}); continuing at {where}")

    def set_learning_rate(self, epoch: int) -> float:
        """Apply the annealing schedule (or keep the optimizer's rate with --use-saved-learning-rate); a
        change is logged as the reference does: `learning_rate changed` "old -> new" at [epoch, 0]."""
        old = self.optimizer.param_groups[0]["lr"]
        if self.schedulers:  # the model's schedulers set the rates (stepped at the end of every epoch)
            return old
        if self.args.use_saved_learning_rate and epoch == self.start_epoch and self.start_epoch > 0:
            return old
        lr = learning_rate_at(epoch, self.args.learning_rate, self.args.anneal_steps, self.args.anneal_factor)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if lr != old:
            self.log.log((epoch, 0), {"learning_rate changed": f"{old} -> {lr}"})
        return lr

    def to_device(self, batch):
        """Move a batch to the device; record skipped utterances and print new warnings about items; None
        for an empty batch."""
        converted = self.spec.batch_to_device(batch, self.device, self.args.skip_bad_files)
        if isinstance(batch, CollatedBatch):  # a typed batch (common/data.py)
            bad, notes = batch.bad, batch.notes
        elif isinstance(batch, dict):  # a collate that returns a dict with "bad" and "notes"
            bad, notes = batch.get("bad", []), batch.get("notes", [])
        else:
            bad, notes = [], []
        self.skips.add(bad)
        for note in notes:
            if note not in self.notes_shown:
                self.notes_shown.add(note)
                print(f"warning: {note}", file=sys.stderr)
        return converted

    def report_skips(self) -> dict[str, int]:
        """Merge every rank's skips; the main rank writes skipped.txt beside the run log and says so.
        Returns the run-log summary counts (all ranks must call this)."""
        report = SkipReport()
        for items in gather_objects(list(self.skips.items.values()), self.info):
            report.add(items)
        if self.info.is_main:
            path = report.write((self.output / self.args.log_file).parent)
            if path is not None:
                kinds = ", ".join(f"{n} {kind}" for kind, n in report.counts().items())
                print(f"skipped {len(report)} utterances ({kinds}): listed in {path}")
        return report.summary()

    def train_step(self, x, y, sync: bool = True, where: str = "") -> tuple[float, bool]:
        """Forward and backward of one (micro-)batch, gradients added to the parameters' ``.grad``.

        Returns (loss averaged over ranks, whether it was back-propagated). A non-finite loss is not: it
        counts as a skipped step (``where`` names it in the divergence error) and the model's buffers are
        put back. With ``sync`` False (an accumulation step that is not the group's last) DDP does not
        all-reduce yet.
        """
        self.val_batches = None  # the last validation no longer describes the weights
        self.spec.criterion_step(self.criterion, self.global_step)
        # per-step hooks: the model's (e.g. the teacher-forcing ratio) and the criterion's extra metrics
        self.step_metrics: dict[str, float] = {}
        self.step_metrics.update(self.spec.step_hook(self.model, self.args, self.global_step, self.info.rank))
        buffers = BufferSnapshot(self.model)  # put back if this micro-batch is skipped
        if self.group_buffers is None:
            self.group_buffers = buffers  # put back if the whole group's update is skipped
        no_sync = not sync and isinstance(self.ddp_model, DistributedDataParallel)
        with self.ddp_model.no_sync() if no_sync else contextlib.nullcontext():
            with autocast_context(self.args, self.device):
                y_pred = self.ddp_model(x)
                loss = self.criterion(y_pred, y)
            for name, value in self.spec.loss_metrics(self.criterion).items():
                self.step_metrics[f"train_{name}"] = value  # this rank's value
            # the loss is reduced over ranks, so every rank skips together
            loss_value = reduce_mean(loss.detach(), self.info)
            if not self.guard.step_ok(loss_value, None, where, undo=buffers.restore):
                return loss_value, False
            self.scaler.scale(loss).backward()
        return loss_value, True

    def recipe_step(self, x, y, where: str = "") -> tuple[float, bool]:
        """One batch through the recipe's own `train_step` (`ModelRecipe.train_step`): it runs its forward
        and backward passes and steps its optimizers. Returns ("loss" averaged over ranks, whether it was
        finite); the other losses are logged as `train_<name>`. A non-finite loss counts towards
        --max-skipped-steps."""
        self.val_batches = None
        self.step_metrics = dict(self.spec.step_hook(self.model, self.args, self.global_step, self.info.rank))
        step = TrainStep(model=self.model, x=x, y=y, optimizers=self.optimizers, schedulers=self.schedulers,
                         scalers=self.scalers, args=self.args, global_step=self.global_step, info=self.info,
                         autocast=lambda: autocast_context(self.args, self.device))
        losses = self.spec.train_step(step) or {}
        loss_value = reduce_mean(float(losses.get("loss", float("nan"))), self.info)
        for name, value in losses.items():
            if name != "loss":
                self.step_metrics[f"train_{name}"] = reduce_mean(float(value), self.info)
        self.step_metrics.update(step.metrics)
        if not self.guard.step_ok(loss_value, None, where):
            return loss_value, False
        self.guard.passed()
        self.global_step += 1
        return loss_value, True

    def optimizer_step(self, n_batches: int, synced: bool, where: str = "") -> float | None:
        """Apply the gradients of the last ``n_batches`` back-propagated (micro-)batches as one update of
        their mean (--grad-accumulation); returns the gradient norm, or None when there was nothing to
        apply or the (rank-averaged) gradient norm is non-finite (a skipped step: the buffers go back to
        the group's start). ``synced`` False: the last backward ran without DDP's all-reduce, so average
        here."""
        group_buffers, self.group_buffers = self.group_buffers, None
        if n_batches == 0:
            self.optimizer.zero_grad(set_to_none=True)
            return None
        params = [p for p in self.model.parameters() if p.grad is not None]
        if self.info.distributed and not synced:
            for param in params:
                torch.distributed.all_reduce(param.grad)
                param.grad.div_(self.info.world_size)
        self.scaler.unscale_(self.optimizer)
        if n_batches > 1:  # the sum of the micro-batches' mean losses -> the mean over all of them
            for param in params:
                param.grad.div_(n_batches)
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.args.grad_clip_thresh))
        # the micro-batches' losses were checked in train_step: only the gradient norm is left to check
        apply = self.guard.step_ok(0.0, grad_norm, where,
                                   undo=group_buffers.restore if group_buffers is not None else None)
        if apply or self.scaler.is_enabled():
            # an enabled GradScaler skips an overflowing step itself and must see it to lower its scale
            self.scaler.step(self.optimizer)
            self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        if not apply:
            return None
        self.guard.passed()
        self.global_step += 1
        return grad_norm

    def validate(self) -> tuple[float, float, dict[str, float]]:
        """Mean validation loss over all ranks' items, items per second, and the model's extra metrics.

        A batch with a non-finite loss (a diverged model) is counted, not scored: the loss is then NaN,
        `val_nonfinite_batches` is logged and a warning printed; the extra metrics cover the finite batches.
        """
        self.model.eval()
        total, count, items, finite, nonfinite = 0.0, 0, 0, 0, 0
        extra: dict[str, float] = {}
        start = time.perf_counter()
        with torch.no_grad():
            for batch in self.val_loader:
                converted = self.to_device(batch)
                if converted is None:
                    continue
                x, y, num_items = converted
                with autocast_context(self.args, self.device):
                    y_pred = self.model(x)
                    loss = float(self.criterion(y_pred, y))
                size = self.spec.batch_size_of(x)
                try:
                    if not math.isfinite(loss):
                        raise EvaluationError("non-finite loss")
                    metrics = self.spec.val_metrics(x, y_pred)
                except EvaluationError:  # e.g. NaN attention weights
                    nonfinite += 1
                    continue
                for name, value in metrics.items():
                    extra[name] = extra.get(name, 0.0) + value * size
                total += loss * size
                count += size
                items += num_items
                finite += 1
        elapsed = time.perf_counter() - start
        # one gather: the ranks may hold different metric names (a rank whose batches were all non-finite)
        gathered = gather_objects((total, count, items, finite, nonfinite, extra), self.info)
        total, count, items, finite, nonfinite = (sum(part[k] for part in gathered) for k in range(5))
        extra = {name: sum(part[5].get(name, 0.0) for part in gathered) / count
                 for name in sorted({name for part in gathered for name in part[5]})}
        self.val_batches = (finite, nonfinite)
        if count:
            # free-running synthesis of a few utterances (e.g. val_mcd): {name: (sum, count)} per rank
            free_running = self.spec.free_running_metrics(self.model, self.val_loader.dataset, self.args,
                                                          self.device, self.info.rank, self.info.world_size)
            for name, (value, n) in sorted(free_running.items()):
                value, n = reduce_sum(value, self.info), reduce_sum(n, self.info)
                if n:
                    extra[name] = value / n
        self.model.train()
        if nonfinite:
            extra["val_nonfinite_batches"] = nonfinite
            if self.info.is_main:
                print(f"warning: validation: {nonfinite} of {nonfinite + finite} batches gave a "
                      "non-finite loss (val_loss is nan)", file=sys.stderr)
        val_loss = total / count if count and not nonfinite else float("nan")
        return val_loss, items / max(elapsed, 1e-9), extra

    def save(self, epoch: int, position: dict | None = None) -> None:
        """Checkpoint with every rank's RNG state (all ranks must call this); a DivergenceError instead
        when the model is not finite (every rank sees the same weights and validation counts).

        `position` marks a mid-epoch checkpoint (`next_iteration`, the epoch's losses and items so far):
        this rank's sampler order and loader seed are added, and a resume continues the same epoch there.
        A mid-epoch checkpoint is written as `checkpoint_<Model>_<epoch>.pt` too, and the previous
        mid-epoch file (of an earlier epoch) is deleted once `_last` has moved on.
        """
        finite, nonfinite = self.val_batches or (None, 0)
        self.guard.check_savable(checkpoint_name(self.spec.name, epoch), finite, nonfinite)
        if position is not None:
            position = {"epoch": epoch, **position, "batch_size": self.args.batch_size,
                        "order": torch.tensor(self.train_sampler.indices(), dtype=torch.int64),
                        "loader_seed": loader_seed(self.args.seed or 0, epoch)}
        states = gather_objects((rng_state(), position), self.info)
        if self.info.is_main:
            state = {
                "config": self.config,
                "iteration": self.global_step,
                "state_dict": self.ddp_model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "rng": [rng for rng, _ in states],
                "sampler": {"seed": self.args.seed or 0, "next_epoch": epoch + 1},
                "world_size": self.info.world_size,
                "cpu_threads": torch.get_num_threads(),  # CPU results are bitwise only at the same count
                PLAN_KEY: self.finetune.record(),  # resumes follow it (common/training/finetune/)
            }
            if position is not None:
                state["position"] = {**position, "order": [pos["order"] for _, pos in states]}
                state["sampler"]["next_epoch"] = epoch
            if self.scaler.is_enabled():
                state["scaler"] = self.scaler.state_dict()
            others = [name for name, opt in self.optimizers.items() if opt is not self.optimizer]
            if others:  # a model with several optimizers: the others by name (common/training/recipe.py)
                state["optimizers"] = {name: self.optimizers[name].state_dict() for name in others}
                state["scalers"] = {name: self.scalers[name].state_dict() for name in others
                                    if self.scalers[name].is_enabled()}
            if self.schedulers:
                state["schedulers"] = {name: sch.state_dict() for name, sch in self.schedulers.items()}
            path = save_checkpoint(self.output, self.spec.name, epoch, state).resolve()
            if self.interval_file is not None and self.interval_file != path:
                self.interval_file.unlink(missing_ok=True)
            self.interval_file = path if position is not None else None
            where = f" (epoch {epoch}, iteration {position['next_iteration']})" if position else ""
            print(f"saved {path}{where}")
        barrier(self.info)

    def check_position(self, epoch: int) -> int:
        """The iteration a resumed epoch starts at, after checking that this run would order the epoch as the
        checkpoint's run did (same filelist, batch size, world size and seed)."""
        if self.position is None or epoch != int(self.position["epoch"]):
            return 0
        orders = self.position.get("order") or []
        saved = orders[self.info.rank] if len(orders) == self.info.world_size else None
        saved_batch = self.position.get("batch_size")
        if saved_batch != self.args.batch_size:
            raise CheckpointError(
                f"the checkpoint stopped inside epoch {epoch} at --batch-size {saved_batch}; resume with "
                f"that, not {self.args.batch_size}, or the rest of the epoch would be misplaced")
        if saved is None or saved.tolist() != self.train_sampler.indices():
            raise CheckpointError(
                f"the checkpoint stopped inside epoch {epoch}, but this run orders that epoch differently "
                "(another --training-files, --batch-size, --seed or world size?); resume with the same ones")
        return int(self.position["next_iteration"])

    def stop_requested(self, budget_s: float | None, run_start: float) -> str | None:
        """Why to stop at this step boundary (SIGTERM or the time budget; all ranks agree), or None."""
        signalled = float(self.stop.signal_name is not None)
        late = float(budget_s is not None and time.perf_counter() - run_start > budget_s)
        if self.info.distributed:  # one all-reduce for both: ranks < 1000
            total = reduce_sum(signalled + 1000.0 * late, self.info)
            signalled, late = float(total % 1000 > 0), float(total >= 1000)
        if signalled:
            return self.stop.signal_name or "SIGTERM"
        return "time budget" if late else None

    def log_start(self) -> None:
        self.log.log_parameters({"model_name": self.spec.name, **vars(self.args)})
        units = {"train_loss": None, "train_items_per_sec": f"{self.spec.items}/s", "train_iter_time": "s",
                 "train_epoch_time": "s", "train_epoch_items_per_sec": f"{self.spec.items}/s",
                 "val_loss": None, "val_items_per_sec": f"{self.spec.items}/s", "run_time": "s",
                 "learning_rate": None, "grad_norm": None}
        for metric, unit in units.items():
            self.log.metadata(metric, unit=unit, format=":.5f" if unit in (None, "s") else ":.1f")

    def run(self) -> dict:
        """Train from `start_epoch` (and a mid-epoch position) to `--epochs`; returns the run summary.

        At every step boundary the run checks for SIGTERM and the time budget: either saves a mid-epoch
        checkpoint and stops (a resume continues there). `--checkpoint-interval-steps N` also saves one
        every N iterations.
        """
        args, info = self.args, self.info
        self.log_start()
        run_start = time.perf_counter()
        budget_s = args.time_budget * 60 if args.time_budget else None
        interval = getattr(args, "checkpoint_interval_steps", 0) or 0
        previous_lr = None
        val_loss = train_loss = val_items_per_sec = float("nan")
        last_epoch = self.start_epoch - 1
        mean_items_per_sec = []
        stopped, since_save = None, 0
        for epoch in range(self.start_epoch, args.epochs):
            lr = self.set_learning_rate(epoch)  # logs "learning_rate changed" as the reference does
            if lr != previous_lr:
                self.log.log((epoch,), {"learning_rate": lr})
                previous_lr = lr
            self.train_sampler.set_epoch(epoch)
            set_loader_epoch(self.train_loader, args.seed or 0, epoch)
            dataset = self.train_loader.dataset
            self.spec.start_epoch(dataset, epoch)  # e.g. a dataset that draws its segments per epoch
            first = self.check_position(epoch)
            self.train_sampler.skip(first * args.batch_size)
            epoch_start = time.perf_counter()
            losses = list(self.position.get("losses", [])) if first else []
            epoch_items = float(self.position.get("items", 0)) if first else 0.0
            self.position = None
            n_iters = len(self.train_loader)
            if args.max_steps_per_epoch:
                n_iters = min(n_iters, args.max_steps_per_epoch)
            end_saves = epoch % args.epochs_per_checkpoint == 0 or epoch == args.epochs - 1
            show_bar = info.is_main and sys.stdout.isatty()  # logs get the per-iteration lines instead
            bar = tqdm(total=n_iters, initial=min(first, n_iters), desc=f"epoch {epoch}",
                       disable=not show_bar, leave=False, dynamic_ncols=True, mininterval=1.0,
                       file=sys.stdout)
            iter_start = time.perf_counter()
            accumulation = 1 if self.own_step else args.grad_accumulation  # an own step splits batches
            steps_per_epoch = math.ceil(n_iters / accumulation)
            pending, synced = 0, True  # back-propagated micro-batches waiting for the optimizer step
            self.optimizer.zero_grad(set_to_none=True)
            for i, batch in enumerate(self.train_loader, start=first):
                if i >= n_iters:
                    break
                where = f"epoch {epoch} iteration {i}"
                # the last micro-batch of an accumulation group (or of the epoch) steps the optimizer
                step_now = (i + 1) % accumulation == 0 or i == n_iters - 1
                converted = self.to_device(batch)
                if converted is None:
                    if step_now:
                        self.optimizer_step(pending, synced=False, where=where)
                        pending = 0
                else:
                    x, y, num_items = converted
                    if self.own_step:  # the model's own step (e.g. a GAN's discriminator, then generator)
                        loss_value, applied = self.recipe_step(x, y, where)
                    else:
                        loss_value, applied = self.train_step(x, y, sync=step_now, where=where)
                    pending += applied
                    synced = applied and step_now
                    grad_norm = None
                    if self.own_step:
                        pending, grad_skipped = 0, False
                    elif step_now:
                        grad_norm = self.optimizer_step(pending, synced, where)
                        grad_skipped = pending > 0 and grad_norm is None
                        pending = 0
                    if self.device.type == "cuda":
                        torch.cuda.synchronize()
                    iter_time = time.perf_counter() - iter_start
                    items = reduce_sum(num_items, info)
                    data = {"train_loss": loss_value, "train_items_per_sec": items / iter_time,
                            "train_iter_time": iter_time,
                            "glob_iter/iters_per_epoch": f"{self.global_step}/{steps_per_epoch}"}
                    if not applied:
                        data["skipped_nonfinite_loss"] = 1
                    elif step_now and grad_skipped:
                        data["skipped_nonfinite_grad"] = 1
                    else:
                        losses.append(loss_value)
                    if grad_norm is not None:
                        data["grad_norm"] = grad_norm
                    for part, value in self.spec.loss_parts(self.criterion).items():
                        data[f"train_loss_{part}"] = value  # this rank's terms (the total is averaged)
                    data.update(getattr(self, "step_metrics", {}))  # from train_step's per-step hooks
                    self.log.log((epoch, i), data)
                    epoch_items += items
                    bar.set_postfix(loss=f"{loss_value:.4f}")
                bar.update(1)
                since_save += 1
                if not step_now:  # stops and mid-epoch checkpoints fall between optimizer steps
                    iter_start = time.perf_counter()
                    continue
                stopped = self.stop_requested(budget_s, run_start)
                interval_due = interval and since_save >= interval and not (i + 1 == n_iters and end_saves)
                if stopped or interval_due:
                    self.save(epoch, {"next_iteration": i + 1, "losses": losses, "items": epoch_items})
                    since_save = 0
                if stopped:
                    break
                iter_start = time.perf_counter()
            if pending:  # a bad last batch ended the epoch inside an accumulation group
                self.optimizer_step(pending, synced=False, where=f"epoch {epoch}")
            bar.close()
            if not stopped:
                for scheduler in self.schedulers.values():  # the model's per-epoch schedules
                    scheduler.step()
            if stopped:
                if info.is_main:
                    print(f"{stopped}: stopped in epoch {epoch} after iteration {i}, checkpoint saved; "
                          "--resume-from-last continues from there")
                self.log.log((epoch,), {"stopped_at_iteration": i + 1})
                break
            epoch_time = time.perf_counter() - epoch_start
            train_loss = sum(losses) / len(losses) if losses else float("nan")
            val_loss, val_items_per_sec, val_extra = self.validate()
            mean_items_per_sec.append(epoch_items / epoch_time)
            # the reference's epoch keys, plus train_epoch_items_per_sec (the same value) for older readers
            self.log.log((epoch,), {"train_items_per_sec": epoch_items / epoch_time, "train_loss": train_loss,
                                    "train_epoch_time": epoch_time,
                                    "train_epoch_items_per_sec": epoch_items / epoch_time,
                                    "val_loss": val_loss, "val_items_per_sec": val_items_per_sec,
                                    **val_extra})
            last_epoch = epoch
            stopped = self.stop_requested(budget_s, run_start)
            if end_saves or stopped:
                self.save(epoch)
                since_save = 0
            if stopped:
                if info.is_main:
                    print(f"{stopped}: stopped after epoch {epoch}, checkpoint saved")
                break
        summary = {"run_time": time.perf_counter() - run_start, "train_loss": train_loss,
                   "val_loss": val_loss, "val_items_per_sec": val_items_per_sec,
                   "epochs_done": last_epoch + 1, **self.report_skips(),
                   "skipped_nonfinite_steps": self.guard.total}
        if stopped:
            summary["stopped_by"] = stopped
        summary["train_items_per_sec"] = (sum(mean_items_per_sec) / len(mean_items_per_sec)
                                          if mean_items_per_sec else float("nan"))
        self.log.log((), summary)
        self.log.flush()
        return summary


def train(args: argparse.Namespace, spec: ModelRecipe) -> dict:
    """Build a Trainer and run it (the output folder's lock is released however it ends)."""
    trainer = Trainer(args, spec)
    try:
        return trainer.run()
    finally:
        trainer.close()

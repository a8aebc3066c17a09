"""Fine-tuning: warm start from a checkpoint, frozen modules, and vocabulary extension with frozen rows.

``run.py --warm-start CKPT`` copies every checkpoint tensor whose name and shape fit the freshly built model
(our checkpoints and the NGC layout with ``module.`` prefixes) and reports what was loaded, what kept its
fresh initialisation (shape mismatch, absent from the checkpoint, or named by ``--ignore-layers``) and what
was ignored (in the checkpoint, not in the model). Unlike ``--checkpoint-path`` the optimizer and the epoch
start afresh. When a resume checkpoint exists, it wins, and the warm start at most provides its symbol
table (see Resuming below).

``--freeze encoder postnet`` takes module name prefixes: their parameters get ``requires_grad=False`` and
are left out of the optimizer; their BatchNorm layers run in inference mode, so the running statistics
stay as loaded too.

``--extend-vocabulary ko`` (and/or ``--symbols-from-data``) appends the new symbols to the checkpoint's
table (its config ``symbols``, or the 148-symbol NGC table). The embedding grows; its original rows are
copied and stay bitwise frozen through training (`FrozenRows`): their gradient is zeroed, so they do not
count towards gradient clipping, and after every optimizer step they are written back from a saved copy,
which also undoes Adam's weight decay (added to the gradient inside ``step()``). The extended table is
saved with the model (config ``symbols``), and the dataset and inference map text with it.

Speakers (a model with speaker and language tables; the parameter names and merges are its recipe's
`FineTuneRules`): warm-starting a conditioned model from a single-speaker checkpoint copies every compatible
weight; the decoder's inputs gain zero columns for the speaker/language vectors (`CopyBlocks`), so the
converted model starts out computing exactly what the checkpoint did; the speaker embedding is new. From a
multi-speaker checkpoint, the model's speakers are the checkpoint's (ids kept) plus those of the training
data; the existing speakers' embedding rows are copied by name and, when speakers are added, kept bitwise
frozen like the symbols.

Resuming (``--resume-from-last`` / ``--checkpoint-path``): every training checkpoint records its fine-tuning
plan under ``finetune`` (`FineTuning.record`: the flags as given, ``--warm-start``, ``--ignore-layers``,
``--freeze``, ``--extend-vocabulary``, ``--symbols-from-data``, and the frozen rows per parameter; plain
lists, strings and ints). A resume follows that record, not the flags: fine-tuning flags left out are
restored from it (one line says which), so frozen modules stay out of the optimizer and frozen rows stay
bitwise, and the warm-start checkpoint is not read again (the symbol table, speakers and languages come
from the resumed checkpoint's config). A fine-tuning flag that is given but differs from the record is a
one-line error naming the checkpoint and its flags: the optimizer state and the frozen rows only fit the
recorded plan; a new plan is a new run (``--warm-start`` that checkpoint). A run without fine-tuning flags
records an empty plan, so ``--freeze`` cannot be added on resume either. Checkpoints written before the
record existed resume as before, from the flags; an optimizer state that does not fit the trainable
parameters (other ``--freeze`` flags) is then a one-line error instead of a torch traceback.
"""

from __future__ import annotations

import abc
import argparse
import contextlib
import fnmatch
import shlex
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from common.checkpoint import CheckpointError, load_checkpoint, strip_module_prefix
from common.filelist import read_filelist
from common.text import UnsupportedLanguageError, clean_for_language, clean_text, extended_table
from common.text.symbols import SymbolTable, SymbolTableError
from common.training.recipe import FineTuneRules

__all__ = [
    "CopyBlocks",
    "CopyRows",
    "PLAN_KEY",
    "FineTuning",
    "FineTuneRules",
    "FinetuneError",
    "FrozenRows",
    "Merge",
    "TransferReport",
    "checkpoint_symbol_table",
    "extend_symbol_table",
    "freeze_modules",
    "matching_pattern",
    "merged_names",
    "module_names",
    "plan_flags",
    "trainable_parameters",
    "transfer_weights",
]

class FinetuneError(CheckpointError):
    """A fine-tuning flag or checkpoint that cannot be applied (names the flag or file)."""


# ------------------------------------------------------------------------------------------ weight transfer

def matching_pattern(name: str, patterns: Iterable[str]) -> str | None:
    """The first pattern that selects ``name``: fnmatch-style (``block.linear.*``), an exact name, or a
    module prefix (``block.inner`` selects ``block.inner.layers.0.weight``)."""
    for pattern in patterns:
        if fnmatch.fnmatchcase(name, pattern) or name.startswith(pattern.rstrip(".") + "."):
            return pattern
    return None


def _describe_rows(rows: Sequence[int]) -> str:
    """[0, 1, 2, 5] -> "0-2, 5"."""
    runs: list[list[int]] = []
    for r in rows:
        if runs and r == runs[-1][1] + 1:
            runs[-1][1] = r
        else:
            runs.append([r, r])
    return ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs)


@dataclass
class TransferReport:
    """What a warm start did with each tensor of the model and of the checkpoint."""

    source: str
    loaded: list[str] = field(default_factory=list)
    reinitialised: dict[str, str] = field(default_factory=dict)  # name -> why it kept its fresh values
    partial: dict[str, str] = field(default_factory=dict)  # name -> what came from the checkpoint
    renamed: dict[str, str] = field(default_factory=dict)  # name -> the checkpoint name it was loaded from
    ignored: list[str] = field(default_factory=list)  # in the checkpoint, not in the model
    frozen: list[str] = field(default_factory=list)  # parameters with requires_grad False
    frozen_modules: list[str] = field(default_factory=list)
    frozen_rows: dict[str, list[int]] = field(default_factory=dict)  # name -> rows kept bitwise
    symbols_added: list[str] = field(default_factory=list)
    n_symbols: int | None = None
    speakers_added: list[str] = field(default_factory=list)
    languages_added: list[str] = field(default_factory=list)
    skipped: bool = False  # a resume checkpoint replaced the warm start

    def as_log(self) -> dict[str, Any]:
        """The report as run-log parameters (``warm_start_*``, ``frozen_*``, ``vocabulary_*``)."""
        data: dict[str, Any] = {
            "warm_start": self.source,
            "warm_start_loaded": list(self.loaded),
            "warm_start_reinitialised": dict(self.reinitialised),
            "warm_start_partial": dict(self.partial),
            "warm_start_renamed": dict(self.renamed),
            "warm_start_ignored": list(self.ignored),
            "frozen_modules": list(self.frozen_modules),
            "frozen_parameters": list(self.frozen),
            "frozen_rows": {name: _describe_rows(rows) for name, rows in self.frozen_rows.items()},
        }
        if self.skipped:
            data["warm_start_skipped"] = "a resume checkpoint was loaded instead"
        if self.n_symbols is not None:
            data["vocabulary_n_symbols"] = self.n_symbols
            data["vocabulary_added"] = list(self.symbols_added)
        if self.speakers_added or self.languages_added:
            data["speakers_added"] = list(self.speakers_added)
            data["languages_added"] = list(self.languages_added)
        return data

    def lines(self) -> list[str]:
        """A human-readable report, one line per fact."""
        out = []
        if self.skipped:
            out.append(f"warm start: {self.source} not loaded: resuming from a checkpoint instead")
        elif self.source:
            out.append(f"warm start from {self.source}: {len(self.loaded)} loaded, "
                       f"{len(self.partial)} partly loaded, {len(self.reinitialised)} re-initialised, "
                       f"{len(self.ignored)} ignored")
            by_module: dict[str, int] = {}
            for name in self.loaded:
                top = name.split(".", 1)[0]
                by_module[top] = by_module.get(top, 0) + 1
            if by_module:
                out.append("  loaded: " + ", ".join(f"{top} ({n})" for top, n in by_module.items()))
            out += [f"  loaded {name} from {key}" for name, key in self.renamed.items()]
            out += [f"  partly loaded: {name}: {what}" for name, what in self.partial.items()]
            out += [f"  re-initialised: {name} ({why})" for name, why in self.reinitialised.items()]
            out += [f"  ignored (not in the model): {name}" for name in self.ignored]
        if self.n_symbols is not None:
            added = "".join(self.symbols_added) if all(len(s) == 1 for s in self.symbols_added) \
                else " ".join(self.symbols_added)
            out.append(f"  symbols: {self.n_symbols} ({len(self.symbols_added)} added: {added!r})")
        if self.speakers_added:
            out.append(f"  speakers added: {', '.join(self.speakers_added)}")
        if self.languages_added:
            out.append(f"  languages added: {', '.join(self.languages_added)}")
        if self.frozen_modules:
            out.append(f"  frozen modules: {', '.join(self.frozen_modules)} "
                       f"({len(self.frozen)} parameters, left out of the optimizer)")
        out += [f"  frozen rows: {name} rows {_describe_rows(rows)} (bitwise)"
                for name, rows in self.frozen_rows.items()]
        return out


class Merge(abc.ABC):
    """How to fill a model tensor from a checkpoint tensor of another shape (or another layout)."""

    @abc.abstractmethod
    def __call__(self, target: Tensor, value: Tensor) -> tuple[Tensor, str] | None:
        """(merged tensor, what was copied), or None when the shapes do not allow it."""


@dataclass(frozen=True)
class CopyRows(Merge):
    """Rows ``(model_row, checkpoint_row)`` are copied; the model's other rows keep their fresh values.

    For grown tables: symbols (ids kept, so row i -> row i) and speakers/languages (matched by name).
    """

    pairs: tuple[tuple[int, int], ...]
    what: str = "rows"

    def __call__(self, target: Tensor, value: Tensor) -> tuple[Tensor, str] | None:
        if value.dim() != target.dim() or value.dim() < 1 or value.shape[1:] != target.shape[1:]:
            return None
        if value.shape == target.shape and self.pairs == tuple((i, i) for i in range(target.shape[0])):
            return None  # nothing changed: an ordinary copy
        if any(not (0 <= d < target.shape[0] and 0 <= s < value.shape[0]) for d, s in self.pairs):
            return None
        merged = target.detach().clone()
        if self.pairs:
            dst = torch.tensor([d for d, _ in self.pairs], dtype=torch.long, device=merged.device)
            src = torch.tensor([s for _, s in self.pairs], dtype=torch.long, device=value.device)
            merged[dst] = value[src].to(merged.device, merged.dtype)
        identity = all(d == s for d, s in self.pairs)
        how = "" if identity else " (matched by name)"
        return merged, (f"{len(self.pairs)} of {target.shape[0]} {self.what} from the checkpoint's "
                        f"{value.shape[0]}{how}; the rest initialised")


@dataclass(frozen=True)
class CopyBlocks(Merge):
    """Along ``dim``, both tensors are runs of named blocks (``(name, size)``); a block with the same name
    and size on both sides is copied, every other model block is zero.

    For inputs that grow: the decoder's inputs when speaker/language vectors are appended to the encoder
    outputs (zero columns: the converted model computes exactly what the checkpoint did until it learns to
    use them), and the shared encoder's first convolution when a language embedding is appended to the
    symbol embedding.
    """

    dim: int
    model_blocks: tuple[tuple[str, int], ...]
    checkpoint_blocks: tuple[tuple[str, int], ...]

    @staticmethod
    def _offsets(blocks: tuple[tuple[str, int], ...], total: int) -> dict[str, tuple[int, int]] | None:
        """name -> (start, size); the first block named "rest" takes what the others leave."""
        fixed = sum(size for name, size in blocks if name != "rest")
        if fixed > total:
            return None
        offsets, start = {}, 0
        for name, size in blocks:
            size = total - fixed if name == "rest" else size
            offsets[name] = (start, size)
            start += size
        return offsets

    def __call__(self, target: Tensor, value: Tensor) -> tuple[Tensor, str] | None:
        d = self.dim
        if value.dim() != target.dim() or value.dim() <= d:
            return None
        if value.shape[:d] != target.shape[:d] or value.shape[d + 1:] != target.shape[d + 1:]:
            return None
        mine = self._offsets(self.model_blocks, target.shape[d])
        theirs = self._offsets(self.checkpoint_blocks, value.shape[d])
        if mine is None or theirs is None:
            return None
        merged = torch.zeros_like(target)
        copied, zeroed = [], []
        for name, (start, size) in mine.items():
            if size == 0:
                continue
            if name in theirs and theirs[name][1] == size:
                src = value.narrow(d, theirs[name][0], size)
                merged.narrow(d, start, size).copy_(src.to(merged.device, merged.dtype))
                copied.append(f"{name} {size}")
            else:
                zeroed.append(f"{name} {size}")
        if not copied:
            return None
        return merged, (f"dim {d}: copied {', '.join(copied)}"
                        + (f"; zero {', '.join(zeroed)}" if zeroed else ""))


def transfer_weights(
    model: nn.Module,
    state_dict: Mapping[str, Tensor],
    ignore: Sequence[str] = (),
    merges: Mapping[str, Merge] | None = None,
    aliases: Mapping[str, str] | None = None,
    source: str = "checkpoint",
) -> TransferReport:
    """Copy every tensor of ``state_dict`` whose name and shape fit ``model`` (``module.`` prefixes removed).

    ``ignore``: patterns (see `matching_pattern`) of model tensors that keep their fresh values; a pattern
    that selects nothing is an error (a typo would silently load everything). ``merges``: model tensors
    filled by a `Merge` (grown tables and inputs) instead of a same-shape copy. ``aliases``: model tensor ->
    checkpoint name to read it from (e.g. a per-language encoder from the single encoder of a plain
    checkpoint). Raises FinetuneError when nothing at all fits.
    """
    source_sd = strip_module_prefix(dict(state_dict))
    own = model.state_dict()
    unused = [p for p in ignore if not any(matching_pattern(name, [p]) for name in own)]
    if unused:
        raise FinetuneError(
            f"--ignore-layers {' '.join(unused)}: selects no parameter of the model; names look like "
            f"{', '.join(list(own)[:4])} (patterns: fnmatch-style, or a module prefix)"
        )
    report = TransferReport(source=source)
    new_values: dict[str, Tensor] = {}
    merges, aliases = merges or {}, aliases or {}
    used: set[str] = set()
    for name, target in own.items():
        pattern = matching_pattern(name, ignore)
        if pattern is not None:
            report.reinitialised[name] = f"--ignore-layers {pattern}"
            continue
        key = aliases.get(name, name)
        if key not in source_sd:
            report.reinitialised[name] = "not in the checkpoint"
            continue
        value = source_sd[key]
        if not isinstance(value, Tensor):
            raise FinetuneError(f"{source}: state_dict entry {key} is a {type(value).__name__}, "
                                "not a tensor")
        merged = merges[name](target, value) if name in merges else None
        if merged is not None:
            new_values[name], what = merged
            report.partial[name] = what + (f" (from {key})" if key != name else "")
        elif value.shape == target.shape:
            new_values[name] = value
            report.loaded.append(name)
            if key != name:
                report.renamed[name] = key
        else:
            report.reinitialised[name] = (f"shape: checkpoint {tuple(value.shape)} vs model "
                                          f"{tuple(target.shape)}")
            continue
        used.add(key)
    report.ignored = sorted(k for k in set(source_sd) - used if k not in own)
    if not new_values:
        mismatched = [f"{k} ({why})" for k, why in report.reinitialised.items() if why.startswith("shape")]
        hint = ("; shapes differ: " + ", ".join(mismatched[:3])) if mismatched else \
            f"; its keys look like {', '.join(list(source_sd)[:3])}"
        raise FinetuneError(f"{source}: no tensor fits the model by name and shape{hint} "
                            "(wrong model, or model flags that differ from the checkpoint's config?)")
    model.load_state_dict(new_values, strict=False)
    return report


# ------------------------------------------------------------------------------------------------- freezing

def module_names(model: nn.Module, depth: int = 2) -> list[str]:
    """Named submodules up to ``depth`` levels (``block``, ``block.inner``): what --freeze takes."""
    return [name for name, _ in model.named_modules() if name and name.count(".") < depth]


def _hold_in_eval(module: nn.Module, _inputs: tuple) -> None:
    """Forward pre-hook: a frozen BatchNorm normalises with, and keeps, its running statistics."""
    module.train(False)


def freeze_modules(model: nn.Module, names: Sequence[str]) -> list[str]:
    """Set ``requires_grad=False`` on every parameter under the module prefixes ``names``; returns them.

    BatchNorm layers under those prefixes are held in inference mode (their running statistics stay as
    they are). An unknown name is a FinetuneError listing the valid top- and second-level names.
    """
    params = dict(model.named_parameters())
    modules = dict(model.named_modules())
    unknown = [n for n in names if n not in modules and n not in params]
    if unknown:
        raise FinetuneError(
            f"--freeze {' '.join(unknown)}: no such module; choose from {', '.join(module_names(model))}"
        )
    frozen = [name for name in params if matching_pattern(name, names)]
    for name in frozen:
        params[name].requires_grad_(False)
    for name, module in modules.items():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and matching_pattern(name, names):
            module.register_forward_pre_hook(_hold_in_eval)
    return frozen


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters the optimizer should hold: those with ``requires_grad``."""
    return [p for p in model.parameters() if p.requires_grad]


class FrozenRows:
    """Keeps selected rows of one parameter bitwise constant while the rest of it trains.

    Zeroing the gradient alone is not enough: Adam adds ``weight_decay * param`` to the gradient inside
    ``step()``, and its moments move the rows anyway. So the gradient of the rows is zeroed (they do not
    count towards gradient clipping) and, after every optimizer step, the rows are written back from a
    copy taken right before the first step (after any checkpoint was loaded into the model).
    """

    def __init__(self, param: nn.Parameter, rows: int | Sequence[int], name: str = "parameter") -> None:
        self.param, self.name = param, name
        index = list(range(rows)) if isinstance(rows, int) else [int(r) for r in rows]
        if any(not 0 <= r < param.shape[0] for r in index):
            raise FinetuneError(f"{name}: frozen rows must lie in [0, {param.shape[0]}), got {index[:5]}...")
        self.index = torch.tensor(index, dtype=torch.long, device=param.device)
        self.saved: Tensor | None = None
        self._handles: list[Any] = []

    def __len__(self) -> int:
        return int(self.index.numel())

    def capture(self) -> None:
        """Remember the rows' current values (done automatically before the first optimizer step)."""
        self.saved = self.param.detach().index_select(0, self.index).clone()

    def restore(self) -> None:
        """Write the remembered values back (bitwise)."""
        if self.saved is not None:
            with torch.no_grad():
                self.param.index_copy_(0, self.index, self.saved)

    def _zero_grad(self, grad: Tensor) -> Tensor:
        return grad.index_fill(0, self.index.to(grad.device), 0)

    def _before_step(self, *_args: Any) -> None:
        if self.saved is None:
            self.capture()

    def _after_step(self, *_args: Any) -> None:
        self.restore()

    def attach(self, optimizer: torch.optim.Optimizer) -> FrozenRows:
        """Hook into the parameter's gradient and ``optimizer``'s steps."""
        if not any(p is self.param for group in optimizer.param_groups for p in group["params"]):
            raise FinetuneError(f"{self.name} is not trained by the optimizer: nothing to keep frozen")
        self._handles += [self.param.register_hook(self._zero_grad),
                          optimizer.register_step_pre_hook(self._before_step),
                          optimizer.register_step_post_hook(self._after_step)]
        return self

    def detach(self) -> None:
        """Remove the hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles = []


# ---------------------------------------------------------------------------------------------- vocabulary

def checkpoint_symbol_table(checkpoint: Mapping[str, Any], source: str = "checkpoint",
                            embedding: str | None = None) -> SymbolTable:
    """The symbol table a checkpoint was trained with: its config ``symbols``, else the 148 NGC symbols.

    The table must have one entry per row of the ``embedding`` parameter (the model's symbol embedding).
    """
    config = checkpoint.get("config")
    symbols = config.get("symbols") if isinstance(config, Mapping) else None
    try:
        table = SymbolTable(symbols) if symbols else SymbolTable.default()
    except SymbolTableError as err:
        raise FinetuneError(f"{source}: config 'symbols' is not a valid symbol table: {err}") from None
    weight = strip_module_prefix(dict(checkpoint.get("state_dict", {}))).get(embedding) if embedding else None
    if isinstance(weight, Tensor) and weight.shape[0] != len(table):
        what = "its config 'symbols'" if symbols else "the default table (no 'symbols' in its config)"
        raise FinetuneError(f"{source}: the embedding has {weight.shape[0]} rows but {what} has "
                            f"{len(table)} symbols; cannot tell which row is which symbol")
    return table


def _training_texts(filelist: str | Path, cleaners: Sequence[str]) -> Iterator[str]:
    """Cleaned transcripts of a filelist (per-line language cleaner where the line names a language)."""
    for entry in read_filelist(filelist):
        if entry.language is not None:
            try:
                yield clean_for_language(entry.text, entry.language)
                continue
            except (KeyError, ValueError):
                pass  # a language without a front end here: fall back to the run's cleaners
        yield clean_text(entry.text, list(cleaners))


def extend_symbol_table(base: SymbolTable, languages: Sequence[str] = (), filelist: str | Path | None = None,
                        cleaners: Sequence[str] = ("english_cleaners",)) -> SymbolTable:
    """``base`` with the symbols of ``languages`` appended, then every other character the cleaned
    transcripts of ``filelist`` contain; base ids never move."""
    table = base
    if languages:
        try:
            table = extended_table(table, list(languages))
        except (UnsupportedLanguageError, KeyError) as err:
            raise FinetuneError(f"--extend-vocabulary {' '.join(languages)}: {err}") from None
    if filelist is not None:
        chars: set[str] = set()
        for text in _training_texts(filelist, cleaners):
            chars.update(text)
        table = table.extend(sorted(chars - set(table)))
    return table


# ------------------------------------------------------------------------------ speakers and languages

def merged_names(existing: Sequence[str] | None, wanted: Sequence[str] | None) -> list[str]:
    """The checkpoint's names in their order (ids kept), then the new ones in the order given."""
    names = list(existing or [])
    return names + [n for n in (wanted or []) if n not in names]



# ----------------------------------------------------------------------------------------- orchestration

PLAN_KEY = "finetune"  # where a training checkpoint records its fine-tuning plan (`FineTuning.record`)
_PLAN_FLAGS = (("warm_start", "--warm-start"), ("extend_vocabulary", "--extend-vocabulary"),
               ("symbols_from_data", "--symbols-from-data"), ("ignore_layers", "--ignore-layers"),
               ("freeze", "--freeze"))
_NAME_LISTS = ("ignore_layers", "freeze", "extend_vocabulary", "symbols_added", "speakers_added",
               "languages_added")


def _flag(args: argparse.Namespace, name: str, default: Any = None) -> Any:
    value = getattr(args, name, default)
    return default if value is None else value


def _given_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The fine-tuning flags of this run, keyed as in the record."""
    return {"warm_start": _flag(args, "warm_start") or None,
            "ignore_layers": list(_flag(args, "ignore_layers", [])),
            "freeze": list(_flag(args, "freeze", [])),
            "extend_vocabulary": list(_flag(args, "extend_vocabulary", [])),
            "symbols_from_data": bool(_flag(args, "symbols_from_data", False))}


def _same_flag(key: str, given: Any, recorded: Any) -> bool:
    """Module and layer patterns are sets; the languages' order decides the symbol ids."""
    if key in ("freeze", "ignore_layers"):
        return set(given) == set(recorded)
    return bool(given == recorded)


def plan_flags(plan: Mapping[str, Any], keys: Iterable[str] | None = None) -> str:
    """The command-line flags of a fine-tuning record (only those of ``keys``, if given), shell-quoted:
    ``--warm-start en.pt --freeze encoder postnet``; empty when the record has none."""
    wanted = None if keys is None else set(keys)
    tokens: list[str] = []
    for key, flag in _PLAN_FLAGS:
        value = plan.get(key)
        if not value or (wanted is not None and key not in wanted):
            continue
        tokens.append(flag)
        if isinstance(value, str):
            tokens.append(value)
        elif isinstance(value, list):
            tokens += [str(v) for v in value]
    return shlex.join(tokens)


def _read_plan(record: Any, source: str) -> dict[str, Any]:
    """A checkpoint's fine-tuning record, type-checked; a malformed one is an error naming the checkpoint."""
    def malformed(what: str) -> FinetuneError:
        return FinetuneError(f"{source}: malformed fine-tuning record ('{PLAN_KEY}'): {what}")

    if not isinstance(record, Mapping):
        raise malformed(f"a {type(record).__name__}, not a dict")
    warm_start = record.get("warm_start")
    if warm_start is not None and not isinstance(warm_start, str):
        raise malformed("warm_start is not a string")
    plan: dict[str, Any] = {"warm_start": warm_start or None,
                            "symbols_from_data": bool(record.get("symbols_from_data", False))}
    for key in _NAME_LISTS:
        value = record.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise malformed(f"{key} is not a list of strings")
        plan[key] = list(value)
    rows = record.get("frozen_rows", {})
    if not isinstance(rows, Mapping) or not all(
            isinstance(name, str) and isinstance(index, list)
            and all(isinstance(r, int) and not isinstance(r, bool) for r in index)
            for name, index in rows.items()):
        raise malformed("frozen_rows is not a dict of parameter name -> list of row numbers")
    plan["frozen_rows"] = {name: list(index) for name, index in rows.items()}
    n_symbols = record.get("n_symbols")
    plan["n_symbols"] = n_symbols if isinstance(n_symbols, int) and not isinstance(n_symbols, bool) else None
    return plan


@dataclass
class FineTuning:
    """The fine-tuning part of one training run, driven by its flags (see the module docstring).

    Use: ``ft = FineTuning.from_args(args, name, config)`` before building the model (it may change the
    config's symbols, speakers and languages), ``ft.prepare_model(model, resuming)`` after, build the
    optimizer over `trainable_parameters`, then ``ft.attach(optimizer)`` and ``ft.log_report(log)``.
    """

    source: str | None = None
    checkpoint: dict | None = None
    ignore: list[str] = field(default_factory=list)
    freeze: list[str] = field(default_factory=list)
    base_table: SymbolTable | None = None
    table: SymbolTable | None = None
    report: TransferReport | None = None
    frozen_rows: list[FrozenRows] = field(default_factory=list)
    extend_vocabulary: list[str] = field(default_factory=list)
    symbols_from_data: bool = False
    restored: dict[str, Any] | None = None  # the record of the checkpoint being resumed, which rules
    resumed_from: str | None = None
    notice: str | None = None  # which flags were restored from the record (printed by prepare_model)
    rules: FineTuneRules = field(default_factory=FineTuneRules)  # the model's tables (its recipe's)

    @property
    def active(self) -> bool:
        return self.source is not None or bool(self.freeze)

    @property
    def checkpoint_config(self) -> dict:
        config = (self.checkpoint or {}).get("config")
        return dict(config) if isinstance(config, Mapping) else {}

    @classmethod
    def from_args(cls, args: argparse.Namespace, model_name: str, config: dict,
                  resume: Mapping[str, Any] | None = None, resume_source: str = "checkpoint",
                  rules: FineTuneRules | None = None) -> FineTuning:
        """Read the flags and the warm-start checkpoint; update ``config`` where the model inherits from it:
        the symbol table (the checkpoint's, extended as asked) and, for a conditioned model, the speakers
        and languages (the checkpoint's first, ids kept, then those of the training data).

        ``resume``: the checkpoint this run resumes (read from ``resume_source``); when it records a
        fine-tuning plan, that plan rules (see `resumed`). ``rules``: the model's
        (`ModelRecipe.finetune_rules`): which parameters hold symbols and speakers, how to convert
        conditioning."""
        rules = rules or FineTuneRules()
        if resume is not None and PLAN_KEY in resume:
            return cls.resumed(args, model_name, config, resume, resume_source, rules)
        given = _given_flags(args)
        source, ignore, freeze = given["warm_start"], given["ignore_layers"], given["freeze"]
        languages, from_data = given["extend_vocabulary"], given["symbols_from_data"]
        if source is None:
            needing = [flag for flag, on in (("--ignore-layers", ignore), ("--extend-vocabulary", languages),
                                             ("--symbols-from-data", from_data)) if on]
            if needing:
                raise FinetuneError(f"{', '.join(needing)} need(s) --warm-start CHECKPOINT")
            return cls(freeze=freeze, rules=rules)
        checkpoint = load_checkpoint(source)
        saved_name = checkpoint.get("model_name")
        if saved_name is not None and saved_name != model_name:
            raise FinetuneError(f"--warm-start {source} is a {saved_name} checkpoint, not {model_name}")
        plan = cls(source=str(source), checkpoint=checkpoint, ignore=ignore, freeze=freeze,
                   extend_vocabulary=languages, symbols_from_data=from_data, rules=rules)
        if "n_symbols" not in config or rules.symbol_embedding is None:
            if languages or from_data:
                raise FinetuneError(f"--extend-vocabulary/--symbols-from-data: {model_name} has no symbol "
                                    "input")
            return plan
        plan.base_table = checkpoint_symbol_table(checkpoint, str(source), rules.symbol_embedding)
        table = plan.base_table
        if languages or from_data:
            if matching_pattern(rules.symbol_embedding, freeze):
                raise FinetuneError("--freeze embedding with --extend-vocabulary would leave the new symbols "
                                    "untrained (the original rows are kept frozen anyway)")
            table = extend_symbol_table(table, languages, args.training_files if from_data else None,
                                        _flag(args, "text_cleaners", ["english_cleaners"]))
        data_symbols = config.get("symbols")  # a conditioned config: the training data's symbols
        if config.get("speakers") is not None:
            missing = [s for s in data_symbols or [] if s not in table]
            if missing:
                print(f"warning: {len(missing)} symbols of --training-files are not in the symbol table of "
                      f"{source} and will be dropped: {''.join(missing[:40])!r}; add --extend-vocabulary "
                      "LANG or --symbols-from-data to learn them", file=sys.stderr)
            saved = plan.checkpoint_config
            config["speakers"] = merged_names(saved.get("speakers"), config["speakers"])
            config["languages"] = merged_names(saved.get("languages"), config.get("languages"))
        plan.table = table
        config["n_symbols"] = len(table)
        if table != SymbolTable.default() or "symbols" in config:
            config["symbols"] = table.to_list()
        return plan

    @classmethod
    def resumed(cls, args: argparse.Namespace, model_name: str, config: dict, checkpoint: Mapping[str, Any],
                source: str, rules: FineTuneRules | None = None) -> FineTuning:
        """The plan ``checkpoint`` records (`record`), for resuming it: fine-tuning flags left out are
        restored from the record, a flag that differs from it is a FinetuneError naming the recorded flags.

        The warm-start checkpoint is not read again: ``config`` takes the symbol table, and merges the
        speakers and languages, of the resumed checkpoint's config; the frozen rows are the recorded ones."""
        saved_name = checkpoint.get("model_name")
        if saved_name is not None and saved_name != model_name:
            raise CheckpointError(f"{source} is a {saved_name} checkpoint, not {model_name}")
        plan = _read_plan(checkpoint[PLAN_KEY], source)
        given = _given_flags(args)
        differing = [key for key, _ in _PLAN_FLAGS
                     if given[key] and not _same_flag(key, given[key], plan[key])]
        if differing:
            raise FinetuneError(
                f"{source} was trained with {plan_flags(plan) or 'no fine-tuning flags'}, but this run gives "
                f"{plan_flags(given, differing)}: resume with exactly the recorded fine-tuning flags, or "
                "leave them out to have them restored (another plan needs a new run: "
                f"--warm-start {shlex.quote(source)})"
            )
        ft = cls(source=plan["warm_start"], ignore=plan["ignore_layers"], freeze=plan["freeze"],
                 extend_vocabulary=plan["extend_vocabulary"], symbols_from_data=plan["symbols_from_data"],
                 restored=plan, resumed_from=source, rules=rules or FineTuneRules())
        restored = [key for key, _ in _PLAN_FLAGS if plan[key] and not given[key]]
        if restored:
            rows = "; ".join(f"{name} rows {_describe_rows(index)}"
                             for name, index in plan["frozen_rows"].items())
            ft.notice = (f"fine-tuning flags restored from {source}: {plan_flags(plan, restored)}"
                         + (f" (frozen rows kept: {rows})" if rows else ""))
        if plan["warm_start"] is not None:  # what from_args took from the warm-start checkpoint
            saved = checkpoint.get("config")
            saved = dict(saved) if isinstance(saved, Mapping) else {}
            if "n_symbols" in config and "n_symbols" in saved:
                config["n_symbols"] = saved["n_symbols"]
                if "symbols" in saved:
                    config["symbols"] = saved["symbols"]
            if config.get("speakers") is not None:
                config["speakers"] = merged_names(saved.get("speakers"), config["speakers"])
                config["languages"] = merged_names(saved.get("languages"), config.get("languages"))
        return ft

    def prepare_model(self, model: nn.Module, resuming: bool = False, verbose: bool = True) -> TransferReport:
        """Warm-start ``model`` (unless ``resuming``), freeze modules, set up frozen rows, print a report."""
        report = TransferReport(source=self.source or "")
        saved = self.checkpoint_config
        if self.checkpoint is not None and not resuming:
            merges, aliases = self._merges(model)
            report = transfer_weights(model, self.checkpoint["state_dict"], self.ignore, merges, aliases,
                                      self.source or "checkpoint")
        elif self.checkpoint is not None or (self.restored is not None and self.source is not None):
            report.skipped = True
        if self.freeze:
            report.frozen = freeze_modules(model, self.freeze)
            report.frozen_modules = list(self.freeze)
        params = dict(model.named_parameters())
        if self.restored is not None:
            self._restore_rows(report, params)
        elif self.table is not None and self.base_table is not None:
            report.n_symbols = len(self.table)
            report.symbols_added = self.table.symbols[len(self.base_table):]
            key = self.rules.symbol_embedding
            if report.symbols_added and key and not matching_pattern(key, self.ignore + self.freeze):
                self._freeze_rows(report, params[key], key, range(len(self.base_table)))
        speakers = list(getattr(model, "speakers", []) or [])
        if self.source is not None and speakers and self.restored is None:
            old = list(saved.get("speakers") or [])
            report.speakers_added = [n for n in speakers if n not in old]
            report.languages_added = [n for n in getattr(model, "languages", []) or []
                                      if n not in (saved.get("languages") or [])]
            kept = [i for i, n in enumerate(speakers) if n in old]
            key = self.rules.speaker_embedding
            weight = params.get(key) if key else None
            loaded = key in report.partial or key in report.loaded
            if weight is not None and kept and report.speakers_added and (loaded or report.skipped) \
                    and weight.requires_grad:
                self._freeze_rows(report, weight, key, kept)
        self.report = report
        self.checkpoint = None if not saved else {"config": saved}  # the weights are in the model now
        if verbose and self.notice:
            print(self.notice)
        if verbose and self.active:
            print("\n".join(report.lines()))
        return report

    def _restore_rows(self, report: TransferReport, params: Mapping[str, nn.Parameter]) -> None:
        """The recorded frozen rows and vocabulary/speaker report of the checkpoint being resumed."""
        plan = self.restored or {}
        report.n_symbols = plan.get("n_symbols")
        report.symbols_added = list(plan.get("symbols_added", []))
        report.speakers_added = list(plan.get("speakers_added", []))
        report.languages_added = list(plan.get("languages_added", []))
        for name, rows in plan.get("frozen_rows", {}).items():
            weight = params.get(name)
            if weight is None or not weight.requires_grad:
                raise FinetuneError(f"{self.resumed_from}: its fine-tuning record keeps rows of {name} "
                                    "frozen, but the model has no such trained parameter")
            self._freeze_rows(report, weight, name, rows)

    def record(self) -> dict[str, Any]:
        """The plan as training checkpoints keep it (under `PLAN_KEY`): the fine-tuning flags as given, the
        frozen rows per parameter and what the vocabulary gained. Only strings, ints, bools, None, lists and
        dicts, so ``torch.load(weights_only=True)`` reads it."""
        report = self.report or TransferReport(source=self.source or "")
        return {
            "warm_start": self.source,
            "ignore_layers": list(self.ignore),
            "freeze": list(self.freeze),
            "extend_vocabulary": list(self.extend_vocabulary),
            "symbols_from_data": bool(self.symbols_from_data),
            "frozen_rows": {rows.name: [int(r) for r in rows.index.tolist()] for rows in self.frozen_rows},
            "n_symbols": report.n_symbols,
            "symbols_added": list(report.symbols_added),
            "speakers_added": list(report.speakers_added),
            "languages_added": list(report.languages_added),
        }

    def _freeze_rows(self, report: TransferReport, weight: nn.Parameter, name: str,
                     rows: Iterable[int]) -> None:
        rows = list(rows)
        self.frozen_rows.append(FrozenRows(weight, rows, name))
        report.frozen_rows[name] = rows

    def _merges(self, model: nn.Module) -> tuple[dict[str, Merge], dict[str, str]]:
        """Row copies for a grown symbol table, and the speaker/language conversion of a conditioned model."""
        merges: dict[str, Merge] = {}
        aliases: dict[str, str] = {}
        if self.rules.merges is not None:
            merges, aliases = self.rules.merges(model, self.checkpoint_config)
        if self.table is not None and self.base_table is not None and len(self.table) > len(self.base_table):
            key = self.rules.symbol_embedding
            weight = model.state_dict().get(key) if key else None
            if weight is None or weight.shape[0] != len(self.table):
                raise FinetuneError(f"the model's {key} does not have the {len(self.table)} "
                                    "rows of the extended symbol table")
            merges[key] = CopyRows(tuple((i, i) for i in range(len(self.base_table))), "symbols")
        return merges, aliases

    def attach(self, optimizer: torch.optim.Optimizer) -> None:
        """Keep the frozen rows (original symbols, existing speakers) bitwise through optimizer steps."""
        for rows in self.frozen_rows:
            rows.attach(optimizer)

    def log_report(self, log: Any) -> None:
        """Write the report as PARAMETER values of the run log (not echoed: it was printed already)."""
        if self.report is None or not self.active:
            return
        with _quiet(log):
            log.log_parameters(self.report.as_log())


@contextlib.contextmanager
def _quiet(log: Any) -> Iterator[None]:
    """Log to the file only: the human form of the report was printed already."""
    previous = getattr(log, "stdout", None)
    if previous is not None:
        log.stdout = False
    try:
        yield
    finally:
        if previous is not None:
            log.stdout = previous

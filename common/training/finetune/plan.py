"""`FineTuning`: a run's fine-tuning plan, from its flags or the record of the checkpoint it resumes; part
of common.training.finetune."""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from common.checkpoint import CheckpointError, load_checkpoint
from common.text.symbols import SymbolTable
from common.training.finetune.freezing import (
    FrozenRows,
    freeze_modules,
)
from common.training.finetune.transfer import (
    CopyRows,
    FinetuneError,
    Merge,
    TransferReport,
    _describe_rows,
    matching_pattern,
    transfer_weights,
)
from common.training.finetune.vocabulary import (
    checkpoint_symbol_table,
    extend_symbol_table,
    merged_names,
)
from common.training.recipe import FineTuneRules

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

"""Warm start: copy the checkpoint tensors that fit by name and shape, and the merges for those that
grow (`CopyRows`, `CopyBlocks`); part of common.training.finetune."""

from __future__ import annotations

import abc
import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from common.checkpoint import CheckpointError, strip_module_prefix


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



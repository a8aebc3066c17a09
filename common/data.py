"""Data-loading pieces shared by both models: bad-item reporting and a resumable sharded sampler.

A dataset item that cannot be loaded is returned as a `BadItem` instead of raising inside a loader worker
(which would surface as a worker traceback). The main process then raises `DatasetError` with the file and
line, or, with `--skip-bad-files`, drops the item and counts it by its kind (common/skip_report.py).
A usable item that deserves a warning (e.g. a very long utterance) travels as a `NotedItem`; `CheckedItems`
gives a dataset `load_item`, which raises for a `BadItem` (direct use outside a loader).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch
from torch.utils.data import Sampler


class DatasetError(ValueError):
    """An utterance that cannot be used; the message names its filelist file and line."""


@dataclass(frozen=True)
class BadItem:
    """Placeholder for an item that cannot be used: where it is (`file:line`), why, and the kind of
    problem (the skip report counts by kind: unreadable, empty_mel, no_text, too_long)."""

    where: str
    reason: str
    kind: str = "unreadable"

    @property
    def message(self) -> str:
        """`file:line: reason`, the line of a skip report and of the error without --skip-bad-files."""
        return f"{self.where}: {self.reason}"


@dataclass(frozen=True)
class NotedItem:
    """A usable item with a warning for the main process to print (once per distinct note)."""

    item: tuple
    note: str


class CheckedItems:
    """Mixin for a dataset whose ``__getitem__`` returns a `BadItem` for an unusable utterance (which the
    collate passes on to the main process): ``load_item`` gives the item itself or raises."""

    def load_item(self, index: int) -> Any:
        """Item ``index``; a `DatasetError` naming the filelist file and line if it is a `BadItem`."""
        item = self[index]
        if isinstance(item, BadItem):
            raise DatasetError(item.message)
        return item


def split_bad(items: list) -> tuple[list, list[BadItem], list[str]]:
    """Separate loaded items from BadItems and unwrap NotedItems (used by collate functions, inside
    workers): (good items, bad items, notes)."""
    good, bad, notes = [], [], []
    for item in items:
        if isinstance(item, BadItem):
            bad.append(item)
        elif isinstance(item, NotedItem):
            good.append(item.item)
            notes.append(item.note)
        else:
            good.append(item)
    return good, bad, notes


@dataclass
class CollatedBatch:
    """What a collate function hands the trainer besides its tensors: the `BadItem`s it left out (counted
    and listed in skipped.txt), the notes about the items it kept (printed once each) and how many items it
    kept. A model's typed batch subclasses it and adds its tensors."""

    bad: list[BadItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    size: int = 0

    def pin_memory(self) -> CollatedBatch:
        """A copy with every tensor field in pinned memory (a DataLoader with `pin_memory=True` calls this
        for batch types it does not know)."""
        tensors = {f.name: getattr(self, f.name) for f in fields(self)}
        return replace(self, **{k: v.pin_memory() for k, v in tensors.items() if isinstance(v, torch.Tensor)})


# kinds of BadItem that a flag asked for (a model's length limit): skipped without --skip-bad-files
REQUESTED_SKIPS = ("too_long",)


def check_bad(bad: list[BadItem], skip: bool) -> int:
    """Raise for the first bad item unless skipping (or its skip was asked for, as by a length limit);
    return how many were skipped."""
    errors = [item for item in bad if item.kind not in REQUESTED_SKIPS]
    if errors and not skip:
        raise DatasetError(errors[0].message + " (use --skip-bad-files to skip such utterances)")
    return len(bad)


class ShardedSampler(Sampler[int]):
    """Shuffles indices with a generator seeded by (seed, epoch) and gives each rank its shard.

    Unlike torch's DistributedSampler, the order depends on nothing but (seed, epoch), so a run resumed from
    a checkpoint sees exactly the batches it would have seen. With `drop_last`, every rank gets the same
    number of full batches; the tail that does not fill a batch on every rank is dropped.
    """

    def __init__(self, n_items: int, batch_size: int, rank: int = 0, world_size: int = 1,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = True) -> None:
        self.n_items, self.batch_size = n_items, batch_size
        self.rank, self.world_size = rank, world_size
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.epoch = 0
        if drop_last:
            self.per_rank = (n_items // (batch_size * world_size)) * batch_size
        else:
            self.per_rank = math.ceil(n_items / world_size)

    def set_epoch(self, epoch: int) -> None:
        """Choose the permutation of this epoch."""
        self.epoch = epoch

    def indices(self) -> list[int]:
        """All indices of this rank for the current epoch, in order."""
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
            order = torch.randperm(self.n_items, generator=generator).tolist()
        else:
            order = list(range(self.n_items))
        if not self.drop_last:
            order += order[: self.per_rank * self.world_size - len(order)]
        return order[self.rank: self.per_rank * self.world_size: self.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices())

    def __len__(self) -> int:
        return self.per_rank


class ResumableSampler(Sampler[int]):
    """Wraps an epoch sampler so that one epoch can start part-way: `skip(n)` drops the first n indices of
    the next iteration only (a run resumed mid-epoch sees exactly the rest of that epoch's order)."""

    def __init__(self, base: Sampler[int]) -> None:
        self.base = base
        self._skip = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the base sampler's order for this epoch."""
        self.base.set_epoch(epoch)

    def indices(self) -> list[int]:
        """This rank's whole order for the current epoch (the part already consumed included)."""
        return list(self.base.indices())

    def skip(self, n_items: int) -> None:
        """Leave out the first `n_items` indices of the next iteration (consumed before a resume)."""
        self._skip = n_items

    def __iter__(self) -> Iterator[int]:
        order, self._skip = self.indices()[self._skip:], 0
        return iter(order)

    def __len__(self) -> int:
        return len(self.base)

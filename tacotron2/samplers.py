"""Training samplers beyond the default shuffle (`run.py --sampler imbalanced|perfect|bucketed`).

All are deterministic for (seed, epoch), like `common.data.ShardedSampler`, so a resumed run sees the
batches a straight run would, and both shard under DDP: every rank draws the same global sequence from
the same generator and keeps its own part of it.

- `ImbalancedSampler`: random draws with replacement, each item weighted by 1 / (items of its language),
  so every language is drawn equally often in expectation however unequal the corpus is.
- `PerfectBatchSampler`: every batch holds exactly `batch_size / n_languages` items of each language.
  Each language is read from an endless stream of fresh permutations, so small languages are repeated
  (reshuffled each pass) and large ones are subsampled; an epoch has as many batches as the default
  sampler would give (`n_items // (batch_size * world_size)` per rank).
- `BucketedBatchSampler`: batches of items of similar length (no language needed), so padding wastes little
  of each step: on CPU the decoder loop runs to the longest item of its batch.

All yield item indices; a DataLoader with the same `batch_size` cuts them into the intended batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler

from common.data import DatasetError

__all__ = ["SAMPLERS", "BucketedBatchSampler", "ImbalancedSampler", "PerfectBatchSampler", "SamplerError",
           "build_sampler", "language_groups"]

SAMPLERS = ("default", "imbalanced", "perfect", "bucketed")
BUCKET_BATCHES = 32  # a bucket: this many global batches of shuffled items, sorted by length


class SamplerError(DatasetError):
    """A sampler cannot be built for this data and batch size (the message names the flag)."""


def _generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 100003 + epoch)


def language_groups(languages: Sequence[str | None]) -> dict[str, list[int]]:
    """Item indices per language, languages in sorted order; items without a language are an error."""
    missing = [i for i, language in enumerate(languages) if language is None]
    if missing:
        raise SamplerError(
            f"--sampler needs a language for every item (path|text|speaker|language filelists); item "
            f"{missing[0]} has none"
        )
    groups: dict[str, list[int]] = {}
    for i, language in enumerate(languages):
        groups.setdefault(str(language), []).append(i)
    return {language: groups[language] for language in sorted(groups)}


def _check_sizes(n_items: int, batch_size: int, world_size: int) -> None:
    if batch_size < 1 or world_size < 1:
        raise SamplerError(f"--batch-size ({batch_size}) and world size ({world_size}) must be positive")
    if n_items < batch_size * world_size:
        raise SamplerError(
            f"{n_items} utterances are fewer than --batch-size {batch_size} x world size {world_size}; "
            "lower the batch size"
        )


class ImbalancedSampler(Sampler[int]):
    """Draws with replacement, item weight 1 / (items of its language); rank r keeps draws r, r+W, ...

    An epoch draws `per_rank * world_size` items in all, `per_rank = n_items // (batch_size * world_size)
    * batch_size` (full batches only, the same count as the default sampler).
    """

    def __init__(self, languages: Sequence[str | None], batch_size: int, rank: int = 0, world_size: int = 1,
                 seed: int = 0) -> None:
        self.groups = language_groups(languages)
        _check_sizes(len(languages), batch_size, world_size)
        self.n_items, self.batch_size = len(languages), batch_size
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.epoch = 0
        self.per_rank = (self.n_items // (batch_size * world_size)) * batch_size
        weights = torch.zeros(self.n_items, dtype=torch.float64)
        for members in self.groups.values():
            weights[members] = 1.0 / len(members)
        self.weights = weights

    def set_epoch(self, epoch: int) -> None:
        """Choose the draws of this epoch."""
        self.epoch = epoch

    def global_indices(self) -> list[int]:
        """The draws of all ranks together, in order (rank r owns positions r, r + W, ...)."""
        draws = torch.multinomial(self.weights, self.per_rank * self.world_size, replacement=True,
                                  generator=_generator(self.seed, self.epoch))
        return draws.tolist()

    def indices(self) -> list[int]:
        """This rank's indices for the current epoch."""
        return self.global_indices()[self.rank:: self.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices())

    def __len__(self) -> int:
        return self.per_rank


class PerfectBatchSampler(Sampler[int]):
    """Batches with exactly `batch_size / n_languages` items of each language, on every rank.

    The global batch (`batch_size` per rank x `world_size`) must divide by `n_languages x world_size`,
    i.e. `batch_size` must be a multiple of the number of languages. Global batch j, rank r takes the
    positions `[(j * W + r) * k, (j * W + r + 1) * k)` of every language's stream (k items per language),
    so within one pass of a language no item reaches two ranks.
    """

    def __init__(self, languages: Sequence[str | None], batch_size: int, rank: int = 0, world_size: int = 1,
                 seed: int = 0) -> None:
        self.groups = language_groups(languages)
        _check_sizes(len(languages), batch_size, world_size)
        n_languages = len(self.groups)
        if (batch_size * world_size) % (n_languages * world_size):
            raise SamplerError(
                f"--sampler perfect: the batch (--batch-size {batch_size} x world size {world_size} = "
                f"{batch_size * world_size}) must divide by the number of languages x world size "
                f"({n_languages} x {world_size} = {n_languages * world_size}) so that every rank's batch "
                f"holds the same number of items of each language ({', '.join(self.groups)}); use a "
                f"--batch-size that is a multiple of {n_languages}"
            )
        self.batch_size, self.rank, self.world_size, self.seed = batch_size, rank, world_size, seed
        self.per_language = batch_size // n_languages
        self.n_batches = len(languages) // (batch_size * world_size)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the permutations of this epoch."""
        self.epoch = epoch

    def _streams(self) -> dict[str, list[int]]:
        """Per language, enough items for the epoch: concatenated fresh permutations of its items."""
        generator = _generator(self.seed, self.epoch)
        needed = self.n_batches * self.world_size * self.per_language
        streams = {}
        for language, members in self.groups.items():
            stream: list[int] = []
            while len(stream) < needed:
                stream += [members[i] for i in torch.randperm(len(members), generator=generator).tolist()]
            streams[language] = stream[:needed]
        return streams

    def batches(self) -> list[list[int]]:
        """This rank's batches for the current epoch (each `per_language` items of every language)."""
        streams = self._streams()
        k = self.per_language
        out = []
        for j in range(self.n_batches):
            start = (j * self.world_size + self.rank) * k
            out.append([i for stream in streams.values() for i in stream[start: start + k]])
        return out

    def indices(self) -> list[int]:
        """This rank's indices for the current epoch, batch after batch."""
        return [i for batch in self.batches() for i in batch]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices())

    def __len__(self) -> int:
        return self.n_batches * self.batch_size


class BucketedBatchSampler(Sampler[int]):
    """Batches of similar length: each epoch shuffles the items, sorts every run of `BUCKET_BATCHES` global
    batches by length, cuts it into global batches and shuffles their order; rank r takes items r,
    r + world_size, ... of each global batch. Every item is seen once per epoch (full batches only, the
    same count as the default sampler); which items share a batch still changes from epoch to epoch.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, rank: int = 0, world_size: int = 1,
                 seed: int = 0) -> None:
        _check_sizes(len(lengths), batch_size, world_size)
        self.lengths = torch.as_tensor(list(lengths), dtype=torch.float64)
        self.batch_size, self.rank, self.world_size, self.seed = batch_size, rank, world_size, seed
        self.n_batches = len(lengths) // (batch_size * world_size)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the buckets and batch order of this epoch."""
        self.epoch = epoch

    def global_batches(self) -> list[list[int]]:
        """The epoch's global batches (`batch_size * world_size` items each), in training order."""
        generator = _generator(self.seed, self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator)
        size = self.batch_size * self.world_size
        order = order[: self.n_batches * size]
        batches = []
        for start in range(0, len(order), BUCKET_BATCHES * size):
            bucket = order[start: start + BUCKET_BATCHES * size]
            bucket = bucket[torch.argsort(self.lengths[bucket], stable=True)]
            batches += [bucket[i: i + size].tolist() for i in range(0, len(bucket), size)]
        return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]

    def indices(self) -> list[int]:
        """This rank's indices for the current epoch, batch after batch: every `world_size`-th item of each
        length-sorted global batch, so that all ranks get the same mix of lengths (equal work per step, and
        no rank always trains on the shortest items)."""
        return [i for batch in self.global_batches() for i in batch[self.rank::self.world_size]]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices())

    def __len__(self) -> int:
        return self.n_batches * self.batch_size


def build_sampler(kind: str, languages: Sequence[str | None], batch_size: int, rank: int = 0,
                  world_size: int = 1, seed: int = 0, lengths: Sequence[int] | None = None,
                  ) -> ImbalancedSampler | PerfectBatchSampler | BucketedBatchSampler:
    """The `--sampler` named `kind` ("imbalanced" or "perfect" over items with these language labels,
    "bucketed" over items with these `lengths`)."""
    if kind == "bucketed":
        if lengths is None:
            raise SamplerError("--sampler bucketed: this model's data has no item lengths")
        return BucketedBatchSampler(lengths, batch_size, rank, world_size, seed)
    if kind == "imbalanced":
        return ImbalancedSampler(languages, batch_size, rank, world_size, seed)
    if kind == "perfect":
        return PerfectBatchSampler(languages, batch_size, rank, world_size, seed)
    raise SamplerError(f"--sampler {kind!r}: choose one of {', '.join(SAMPLERS)}")

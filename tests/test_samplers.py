"""Samplers: language balance, proportions, length buckets, determinism, DDP shards, batch-size errors."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch.utils.data import DataLoader

from common.data import DatasetError
from tacotron2.samplers import (
    BucketedBatchSampler,
    ImbalancedSampler,
    PerfectBatchSampler,
    SamplerError,
    build_sampler,
    language_groups,
)

# 20 items: 10 en, 4 fr, 6 de, interleaved so that indices alone say nothing about the language
LABELS = ["en", "fr", "en", "de", "en", "de", "en", "fr", "en", "de",
          "en", "de", "en", "fr", "en", "de", "en", "fr", "en", "de"]


def test_language_groups_are_sorted_and_complete():
    groups = language_groups(LABELS)
    assert list(groups) == ["de", "en", "fr"]
    assert groups["fr"] == [1, 7, 13, 17]
    assert sorted(i for members in groups.values() for i in members) == list(range(20))
    with pytest.raises(SamplerError, match="item 2 has none"):
        language_groups(["en", "fr", None])


def test_perfect_batches_hold_each_language_equally():
    sampler = PerfectBatchSampler(LABELS, batch_size=6, seed=3)
    assert len(sampler) == (20 // 6) * 6 == 18
    batches = sampler.batches()
    assert len(batches) == 3
    for batch in batches:
        assert Counter(LABELS[i] for i in batch) == {"en": 2, "fr": 2, "de": 2}
    # the DataLoader cuts the index stream into the same balanced batches
    loader = DataLoader(list(range(20)), batch_size=6, sampler=sampler)
    assert [b.tolist() for b in loader] == batches
    # fr (4 items) is needed 6 times: its first pass is a permutation, then it repeats
    fr = [i for batch in batches for i in batch if LABELS[i] == "fr"]
    assert sorted(fr[:4]) == [1, 7, 13, 17]


def test_perfect_sampler_is_deterministic_per_seed_and_epoch():
    a, b = PerfectBatchSampler(LABELS, 6, seed=3), PerfectBatchSampler(LABELS, 6, seed=3)
    assert a.indices() == b.indices()
    a.set_epoch(1)
    assert a.indices() != b.indices()
    b.set_epoch(1)
    assert a.indices() == b.indices()
    other_seed = PerfectBatchSampler(LABELS, 6, seed=4)
    other_seed.set_epoch(1)
    assert other_seed.indices() != b.indices()


def test_perfect_sampler_ddp_shards_are_disjoint_and_balanced():
    labels = ["en", "fr", "de"] * 8  # 8 items per language: one epoch reads each exactly once
    ranks = [PerfectBatchSampler(labels, batch_size=6, rank=r, world_size=2, seed=1) for r in range(2)]
    for sampler in ranks:
        sampler.set_epoch(5)
        assert len(sampler) == 12
        for batch in sampler.batches():
            assert Counter(labels[i] for i in batch) == {"en": 2, "fr": 2, "de": 2}
    first, second = ranks[0].indices(), ranks[1].indices()
    assert not set(first) & set(second)
    assert sorted(first + second) == list(range(24))


@pytest.mark.parametrize("batch_size, world_size", [(4, 1), (5, 2), (7, 2)])
def test_perfect_sampler_rejects_a_batch_size_that_cannot_be_balanced(batch_size, world_size):
    with pytest.raises(SamplerError, match=rf"--batch-size {batch_size} x world size {world_size}") as err:
        PerfectBatchSampler(LABELS, batch_size, rank=0, world_size=world_size)
    assert "multiple of 3" in str(err.value)
    assert isinstance(err.value, DatasetError)  # run.py reports it in one line


def test_too_few_items_for_one_batch_is_an_error():
    with pytest.raises(SamplerError, match="fewer than --batch-size 12 x world size 2"):
        ImbalancedSampler(LABELS, 12, world_size=2)


def test_imbalanced_weights_are_inverse_to_language_share():
    sampler = ImbalancedSampler(LABELS, batch_size=5)
    expected = {"en": 1 / 10, "fr": 1 / 4, "de": 1 / 6}
    for i, language in enumerate(LABELS):
        assert float(sampler.weights[i]) == pytest.approx(expected[language])


def test_imbalanced_draws_every_language_equally_often():
    labels = ["en"] * 90 + ["fr"] * 10
    sampler = ImbalancedSampler(labels, batch_size=10, seed=7)
    assert len(sampler) == 100
    counts: Counter = Counter()
    for epoch in range(60):
        sampler.set_epoch(epoch)
        counts.update(labels[i] for i in sampler.indices())
    share = counts["fr"] / sum(counts.values())  # 0.1 in the data; 0.5 expected; sd of the share ~0.0065
    assert share == pytest.approx(0.5, abs=0.03)


def test_imbalanced_ddp_ranks_split_one_global_draw():
    labels = ["en"] * 30 + ["fr"] * 6
    ranks = [ImbalancedSampler(labels, batch_size=4, rank=r, world_size=3, seed=2) for r in range(3)]
    for sampler in ranks:
        sampler.set_epoch(4)
    draws = ranks[0].global_indices()
    assert len(draws) == 36 and all(len(s) == 12 for s in ranks)
    for r, sampler in enumerate(ranks):
        assert sampler.indices() == draws[r::3]
    # the same seed and epoch give the same draw; another epoch another
    again = ImbalancedSampler(labels, 4, rank=1, world_size=3, seed=2)
    again.set_epoch(4)
    assert again.indices() == ranks[1].indices()
    again.set_epoch(5)
    assert again.indices() != ranks[1].indices()


def test_build_sampler_by_name():
    assert isinstance(build_sampler("imbalanced", LABELS, 5), ImbalancedSampler)
    assert isinstance(build_sampler("perfect", LABELS, 6), PerfectBatchSampler)
    with pytest.raises(SamplerError, match="choose one of"):
        build_sampler("uniform", LABELS, 6)


def test_samplers_yield_valid_indices():
    for sampler in (ImbalancedSampler(LABELS, 5, seed=1), PerfectBatchSampler(LABELS, 6, seed=1)):
        indices = list(iter(sampler))
        assert len(indices) == len(sampler)
        assert all(0 <= i < len(LABELS) for i in indices)
        assert torch.tensor(indices).dtype == torch.int64


def _padding_efficiency(lengths: list[int], indices: list[int], batch_size: int) -> float:
    batches = [indices[i: i + batch_size] for i in range(0, len(indices), batch_size)]
    used = sum(lengths[i] for batch in batches for i in batch)
    return used / sum(max(lengths[i] for i in batch) * len(batch) for batch in batches)


def test_bucketed_batches_waste_little_padding_and_see_every_item_once():
    generator = torch.Generator().manual_seed(3)
    lengths = (20 + torch.rand(1000, generator=generator) * 300).long().tolist()
    sampler = BucketedBatchSampler(lengths, batch_size=8, seed=1)
    indices = sampler.indices()
    assert len(indices) == len(sampler) == 1000 and sorted(indices) == list(range(1000))
    shuffled = torch.randperm(1000, generator=generator).tolist()
    # uniform lengths 20..320: random batches of 8 use about 60 % of their padded size, buckets over 95 %
    assert _padding_efficiency(lengths, shuffled, 8) < 0.7
    assert _padding_efficiency(lengths, indices, 8) > 0.95
    sampler.set_epoch(1)
    assert sampler.indices() != indices, "a new epoch gives new batches"
    sampler.set_epoch(0)
    assert sampler.indices() == indices, "deterministic per (seed, epoch)"


def test_bucketed_ddp_ranks_split_each_global_batch():
    lengths = list(range(50, 0, -1)) * 2
    ranks = [BucketedBatchSampler(lengths, 4, rank, 2, seed=7) for rank in range(2)]
    a, b = (r.indices() for r in ranks)
    assert len(a) == len(b) == 48 and not set(a) & set(b)
    for start in range(0, 48, 4):  # the two ranks' k-th batches are one global batch of similar lengths
        together = [lengths[i] for i in a[start: start + 4] + b[start: start + 4]]
        assert max(together) - min(together) <= 12
    # the ranks' shares of a step are interleaved, not the shorter and the longer half: equal work
    for start in range(0, 48, 4):
        work = [sum(lengths[i] for i in rank[start: start + 4]) for rank in (a, b)]
        assert abs(work[0] - work[1]) <= 4
    assert isinstance(build_sampler("bucketed", [None] * 100, 4, 0, 2, seed=7, lengths=lengths),
                      BucketedBatchSampler)
    with pytest.raises(SamplerError, match="no item lengths"):
        build_sampler("bucketed", [None] * 100, 4)

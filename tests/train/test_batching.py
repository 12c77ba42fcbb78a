"""Batching properties: frame caps, SortaGrad, disjoint equal shards, determinism."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from ds2ray.train.batching import cut_batches, epoch_batches, padding_efficiency, rank_batches

lengths_st = st.lists(st.integers(1, 500), min_size=1, max_size=200)


@settings(max_examples=60, deadline=None)
@given(lengths=lengths_st, cap=st.integers(50, 3000), max_size=st.integers(0, 16), epoch=st.integers(0, 3))
def test_batches_respect_caps_and_cover_everything(lengths, cap, max_size, epoch):
    batches = epoch_batches(lengths, epoch, seed=1, max_frames=cap, max_size=max_size)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))  # every utterance exactly once per epoch
    for b in batches:
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= cap
        assert not max_size or len(b) <= max_size


@settings(max_examples=60, deadline=None)
@given(lengths=st.lists(st.integers(1, 500), min_size=8, max_size=200), world=st.integers(1, 4),
       epoch=st.integers(0, 3))
def test_shards_are_disjoint_and_equal(lengths, world, epoch):
    cap = 600
    all_batches = epoch_batches(lengths, epoch, seed=5, max_frames=cap, group=world)
    if len(all_batches) < world:
        return
    shards = [rank_batches(lengths, epoch, rank=r, world_size=world, seed=5, max_frames=cap) for r in range(world)]
    assert len({len(s) for s in shards}) == 1  # DDP: every rank the same number of steps
    seen = [i for s in shards for b in s for i in b]
    assert len(seen) == len(set(seen))  # no utterance on two ranks
    assert len(all_batches) - sum(len(s) for s in shards) < world  # only the remainder is dropped


@given(lengths=lengths_st)
def test_sortagrad_first_epoch_ascending_then_shuffled(lengths):
    first = epoch_batches(lengths, 0, seed=0, max_frames=1000)
    maxima = [max(lengths[i] for i in b) for b in first]
    assert maxima == sorted(maxima)
    assert epoch_batches(lengths, 2, seed=0, max_frames=1000) == epoch_batches(lengths, 2, seed=0, max_frames=1000)


def test_later_epochs_shuffle_and_little_padding():
    import random

    rng = random.Random(0)
    lengths = [rng.randint(100, 1500) for _ in range(2000)]
    e1 = epoch_batches(lengths, 1, seed=0, max_frames=20000)
    e2 = epoch_batches(lengths, 2, seed=0, max_frames=20000)
    assert e1 != e2
    maxima = [max(lengths[i] for i in b) for b in e1]
    assert maxima != sorted(maxima)
    assert padding_efficiency(lengths, e1) > 0.9  # buckets keep padding under 10%
    assert padding_efficiency(lengths, [list(range(i, i + 16)) for i in range(0, 2000, 16)]) < 0.8  # unbucketed


def test_oversized_utterance_gets_its_own_batch():
    assert cut_batches([10, 5000, 10], [0, 1, 2], max_frames=100) == [[0], [1], [2]]


def test_ranks_of_one_step_get_batches_of_similar_length():
    """Shuffled in runs of world_size neighbours: a DDP step pairs similar lengths, so no rank waits
    long for the other; the dropped remainder is not always the longest batches."""
    import random

    rng = random.Random(1)
    lengths = [rng.randint(100, 1500) for _ in range(3001)]
    def mean_gap(shards):
        longest = [[max(lengths[i] for i in b) for b in s] for s in shards]
        gaps = [max(step) / min(step) for step in zip(*longest)]
        return sum(gaps) / len(gaps)

    for world in (2, 3):
        paired = [rank_batches(lengths, 1, rank=r, world_size=world, seed=0, max_frames=6000) for r in range(world)]
        unpaired = epoch_batches(lengths, 1, seed=0, max_frames=6000)  # the order with group=1
        unpaired = [unpaired[r:len(unpaired) // world * world:world] for r in range(world)]
        assert mean_gap(paired) < 1.05 < 1.5 < mean_gap(unpaired)
    dropped = set()
    for epoch in range(1, 9):
        kept = {i for r in range(2) for b in rank_batches(lengths, epoch, rank=r, world_size=2, seed=0, max_frames=6000)
                for i in b}
        dropped |= set(range(len(lengths))) - kept
    assert min(lengths[i] for i in dropped) < 1000  # not only the longest utterances

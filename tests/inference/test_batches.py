"""The one batch cutter: caps on padded size and count, every index once, the order kept."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from ds2ray.inference.batches import by_length, cut_batches


def old_runner_batches(lengths: list[int], max_frames: int) -> list[list[int]]:
    """The rule AcousticModel.log_probs used before it called cut_batches (ascending, non-empty)."""
    order = sorted((i for i in range(len(lengths)) if lengths[i] > 0), key=lambda i: lengths[i])
    batches, batch = [], []
    for i in order:
        if batch and (len(batch) + 1) * lengths[i] > max_frames:
            batches.append(batch)
            batch = []
        batch.append(i)
    return batches + ([batch] if batch else [])


@settings(max_examples=80, deadline=None)
@given(lengths=st.lists(st.floats(0.05, 30.0), min_size=1, max_size=100), cap=st.floats(1.0, 120.0),
       max_size=st.integers(0, 8), longest_first=st.booleans())
def test_batches_respect_caps_and_keep_the_order(lengths, cap, max_size, longest_first):
    order = by_length(lengths, longest_first=longest_first)
    batches = cut_batches(lengths, order, cap, max_size)
    assert [i for b in batches for i in b] == order  # consecutive runs of the given order
    for b in batches:
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= cap
        assert not max_size or len(b) <= max_size


@settings(max_examples=80, deadline=None)
@given(lengths=st.lists(st.integers(0, 800), min_size=1, max_size=60), cap=st.integers(1, 4000))
def test_the_runner_cuts_as_it_did(lengths, cap):
    order = [i for i in by_length(lengths) if lengths[i] > 0]
    assert cut_batches(lengths, order, cap) == old_runner_batches(lengths, cap)


def test_by_length_keeps_ties_in_input_order():
    lengths = [3.0, 1.0, 3.0, 2.0, 1.0]
    assert by_length(lengths) == [1, 4, 3, 0, 2]
    assert by_length(lengths, longest_first=True) == [0, 2, 3, 1, 4]


def test_longest_first_in_seconds():
    """Evaluation's use: seconds of audio, longest first; a long utterance goes alone."""
    durations = [2.0, 12.0, 3.0, 2.5, 0.5]
    assert cut_batches(durations, by_length(durations, longest_first=True), 10.0) == [[1], [2, 3, 0], [4]]

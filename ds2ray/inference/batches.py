"""The one batch cutter: utterances in a given order, cut into batches of bounded padded size.

A batch is padded to its longest member, so it costs ``len(batch) * longest`` frames (or seconds:
any length unit works, as long as ``lengths`` and the cap use the same one). Callers choose the
order and the cap:

- training (:mod:`ds2ray.train.batching`): ascending, or jittered by a seeded RNG, in frames;
- evaluation (:func:`ds2ray.evaluate.compute_log_probs`): longest first, in seconds of audio;
- the acoustic-model runner (:meth:`ds2ray.inference.model.AcousticModel.log_probs`, which serving
  calls with the clips of one Serve batch): ascending, in feature frames.
"""

from __future__ import annotations

from typing import Sequence


def by_length(lengths: Sequence[float], *, longest_first: bool = False) -> list[int]:
    """Indices into ``lengths``, shortest first (or longest first); ties keep their input order."""
    return sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=longest_first)


def cut_batches(lengths: Sequence[float], order: Sequence[int], max_frames: float,
                max_size: int = 0) -> list[list[int]]:
    """Cut ``order`` (indices into ``lengths``) into consecutive batches of padded size <= ``max_frames``
    and at most ``max_size`` members (0: no limit).

    An utterance longer than ``max_frames`` on its own becomes a batch of one.
    """
    batches: list[list[int]] = []
    batch: list[int] = []
    longest = 0
    for i in order:
        n = lengths[i]
        new_longest = max(longest, n)
        if batch and ((len(batch) + 1) * new_longest > max_frames or (max_size and len(batch) >= max_size)):
            batches.append(batch)
            batch, new_longest = [], n
        batch.append(int(i))
        longest = new_longest
    if batch:
        batches.append(batch)
    return batches

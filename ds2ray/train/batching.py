"""Batches that are mostly speech, not padding: duration buckets capped by total padded frames.

- Utterances sorted by length (with a small seeded jitter after the first epoch, so batch
  composition changes between epochs) are cut greedily into batches whose padded size
  (``len(batch) * longest``) stays under ``max_frames``: :func:`ds2ray.inference.batches.cut_batches`,
  the cutter evaluation and inference use too.
- SortaGrad (DS2 section 3.1): the first epoch visits batches in ascending length; later epochs
  shuffle the batch order, in runs of ``world_size`` neighbouring batches: the ranks of one DDP
  step get batches of similar length. (At equal padded frames a batch of long utterances costs more
  than one of short ones, since the GRU steps through time: 2.65 s against 1.60 s for 5 x 800
  against 40 x 100 frames of the demo model, so a step of unmatched batches waits for the slow rank.)
- Sharding: batch ``i`` goes to rank ``i % world_size``; ``< world_size`` batches are dropped (a
  random run of neighbours, so not always the longest), so every rank runs the same number of
  steps (DDP needs that) and no utterance is seen twice in an epoch.

Everything is a pure function of ``(seed, epoch)``, so a resumed run rebuilds the very same plan
and skips the batches it already did.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ds2ray.inference.batches import cut_batches

__all__ = ["cut_batches", "epoch_batches", "padding_efficiency", "rank_batches", "shard"]


def epoch_batches(lengths: Sequence[int], epoch: int, *, seed: int, max_frames: int, max_size: int = 0,
                  sortagrad: bool = True, jitter: float = 0.1, group: int = 1) -> list[list[int]]:
    """All batches of one epoch, in visiting order (before sharding). After the first epoch, runs of
    ``group`` neighbouring (similar-length) batches are shuffled as units; the ``len % group`` batches
    that do not fill a run come last (:func:`shard` drops them)."""
    lengths_arr = np.asarray(lengths, dtype=np.float64)
    rng = np.random.default_rng([seed, epoch])
    ascending = sortagrad and epoch == 0
    keys = lengths_arr if ascending else lengths_arr * (1.0 + rng.uniform(-jitter, jitter, len(lengths_arr)))
    order = np.argsort(keys, kind="stable")
    batches = cut_batches(lengths, order, max_frames, max_size)
    if not ascending:
        group = max(1, group)
        extra = len(batches) % group
        start = group * int(rng.integers(0, len(batches) // group + 1)) if extra else 0
        leftover = batches[start:start + extra]
        runs = batches[:start] + batches[start + extra:]
        perm = rng.permutation(len(runs) // group)
        batches = [b for j in perm for b in runs[j * group:(j + 1) * group]] + leftover
    return batches


def shard(batches: list[list[int]], rank: int, world_size: int) -> list[list[int]]:
    """This rank's batches: every ``world_size``-th, all ranks with the same count."""
    per_rank = len(batches) // world_size
    return batches[rank: per_rank * world_size: world_size]


def rank_batches(lengths: Sequence[int], epoch: int, *, rank: int = 0, world_size: int = 1, seed: int = 0,
                 max_frames: int, max_size: int = 0, sortagrad: bool = True) -> list[list[int]]:
    """This rank's batches for ``epoch``. Raises if there are fewer batches than ranks."""
    batches = epoch_batches(lengths, epoch, seed=seed, max_frames=max_frames, max_size=max_size,
                            sortagrad=sortagrad, group=world_size)
    if len(batches) < world_size:
        raise ValueError(f"only {len(batches)} batch(es) per epoch for {world_size} workers: use more data, "
                         f"a smaller --batch-frames (now {max_frames}) or fewer workers")
    return shard(batches, rank, world_size)


def padding_efficiency(lengths: Sequence[int], batches: list[list[int]]) -> float:
    """Real frames / padded frames over ``batches`` (1.0 = no padding)."""
    real = sum(int(lengths[i]) for b in batches for i in b)
    padded = sum(len(b) * max(int(lengths[i]) for i in b) for b in batches if b)
    return real / padded if padded else 1.0

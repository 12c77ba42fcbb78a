"""The training batch plan is pinned: the same seed gives the very batches it gave before the cutter
moved to :mod:`ds2ray.inference.batches` (issue 19). A resumed run skips the batches it already
did by position, so a plan that moves would repeat some utterances and skip others.

The digests cover SortaGrad and jittered epochs, 1-3 ranks, with and without a batch-size cap, and
a dev plan (ascending, cut once). They also depend on numpy's ``Generator`` streams (``default_rng``
uniform/integers/permutation), which numpy keeps stable across releases.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from ds2ray.train.batching import cut_batches, epoch_batches, rank_batches

#: 500 lengths with ties (the last 100 repeat values), no RNG involved
LENGTHS = [(i * 7919) % 1550 + 50 for i in range(400)] + [(i * 37) % 400 + 50 for i in range(100)]

PINNED = {
    "0-1-0": "8fb27f350d9152f1", "0-1-8": "cdbca648352504f3", "0-2-0": "ebcc2bf169e16a47",
    "0-2-8": "0ddc8cd166d7f6ca", "0-3-0": "48df2ac8ca17badd", "0-3-8": "3fa08599cc80a968",
    "1-1-0": "3801adf62d243922", "1-1-8": "d54ed85ef80c1915", "1-2-0": "2336a687c0bc3b92",
    "1-2-8": "c409da66fc8c3d9e", "1-3-0": "4a140ee736b1f774", "1-3-8": "4f8bc8c5f7398e0b",
    "3-1-0": "40c7dd5198208e64", "3-1-8": "8f1e02e7833e1e2b", "3-2-0": "d102df860d67ccbe",
    "3-2-8": "63e9f98b1e16ac69", "3-3-0": "2c4b3ebb866a3135", "3-3-8": "6b87ac9483a7ea46",
}


def digest(batches) -> str:
    return hashlib.sha256(json.dumps(batches).encode()).hexdigest()[:16]


@pytest.mark.parametrize("key", sorted(PINNED))
def test_rank_plans_are_unchanged(key):
    epoch, world, max_size = (int(x) for x in key.split("-"))
    plans = [rank_batches(LENGTHS, epoch, rank=r, world_size=world, seed=11, max_frames=6000, max_size=max_size)
             for r in range(world)]
    assert digest(plans) == PINNED[key]


def test_unsorted_first_epoch_and_dev_plan_are_unchanged():
    assert digest(epoch_batches(LENGTHS, 0, seed=3, max_frames=4000, sortagrad=False, group=2)) == "a8edd87846894477"
    assert digest(cut_batches(LENGTHS, np.argsort(LENGTHS, kind="stable"), 5000, 16)) == "48cf11b69c8e23c0"

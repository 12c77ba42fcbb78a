"""CPU pinning: each training rank on cores of its own (``TrainConfig.pin_cpus``).

With N ranks of T threads on a node of N x T cores, the scheduler still moves ranks between cores
(and their caches with them) whenever a loader or one of Ray's processes wakes up. Pinned, rank
``local_rank`` keeps cores ``[local_rank * T, (local_rank + 1) * T)`` of the cores this process may
use; the loader processes it starts afterwards inherit them, so each rank's data work stays on its
own core too. Linux only (``os.sched_setaffinity``); anywhere else, or with too few cores, nothing
is pinned and the reason is returned for the log.
"""

from __future__ import annotations

import os


def rank_cores(available: list[int], local_rank: int, local_world_size: int, threads: int) -> list[int] | None:
    """The cores rank ``local_rank`` of ``local_world_size`` takes, or None when there are too few."""
    if local_world_size * threads > len(available) or not 0 <= local_rank < local_world_size:
        return None
    ordered = sorted(available)
    return ordered[local_rank * threads:(local_rank + 1) * threads]


def _threads() -> list[int]:
    try:
        return [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return [0]


def pin_rank(local_rank: int, local_world_size: int, threads: int) -> str:
    """Pin this process to its rank's cores; returns what was done, for the training log."""
    if not hasattr(os, "sched_setaffinity"):
        return "CPU pinning: not supported on this platform, not pinned"
    available = sorted(os.sched_getaffinity(0))
    cores = rank_cores(available, local_rank, local_world_size, threads)
    if cores is None:
        return (f"CPU pinning: {local_world_size} rank(s) x {threads} thread(s) need more than the "
                f"{len(available)} core(s) this process may use; not pinned")
    for tid in _threads():  # every thread of the process (a pid alone would pin just the calling one)
        try:
            os.sched_setaffinity(tid, cores)
        except OSError:  # the thread ended meanwhile
            pass
    return f"CPU pinning: local rank {local_rank} on core(s) {','.join(map(str, cores))}"

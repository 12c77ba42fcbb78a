"""Settings for a Ray that ds2ray starts in this process (no ``RAY_ADDRESS``): one place for all callers.

Ray starts its workers at niceness 15 so its own daemons stay responsive on a busy node. On a small
machine that hands the CPU to the raylet, GCS, dashboard and controller actors at every tick: on 2
cores, Ray Train ran at 0.85x of the same loop without Ray, and 2 workers gave 1.39x of one. With the
workers at normal priority: 1.04x and 1.59x (``bench/train.py``, same run conditions). A cluster
started with ``ray start`` keeps its own setting; set ``RAY_worker_niceness`` to choose.
"""

from __future__ import annotations

import os

LOCAL_RAY_ENV = {"RAY_worker_niceness": "0"}


def prepare_local_ray() -> None:
    """Call before ``ray.init()`` starts a local Ray; values already in the environment win."""
    for key, value in LOCAL_RAY_ENV.items():
        os.environ.setdefault(key, value)

"""Settings for a Ray that ds2ray starts in this process (no ``RAY_ADDRESS``): one place for all callers.

Ray starts its workers at niceness 15 so its own daemons stay responsive on a busy node. On a small
machine that hands the CPU to the raylet, GCS, dashboard and controller actors at every tick: on 2
cores, Ray Train ran at 0.85x of the same loop without Ray, and 2 workers gave 1.39x of one. With the
workers at normal priority: 1.04x and 1.59x (``bench/train.py``, same run conditions). A cluster
started with ``ray start`` keeps its own setting; set ``RAY_worker_niceness`` to choose.

The dashboard (and its agent) costs a steady share of a core; a local Ray on a machine of 4 CPUs
or fewer starts without it unless ``DS2RAY_DASHBOARD=1``. Training curves go to TensorBoard and
CSV either way.
"""

from __future__ import annotations

import os

LOCAL_RAY_ENV = {"RAY_worker_niceness": "0"}

#: Below this many CPUs a local Ray leaves the dashboard out (``DS2RAY_DASHBOARD`` overrides).
DASHBOARD_MIN_CPUS = 5


def prepare_local_ray() -> None:
    """Call before ``ray.init()`` starts a local Ray; values already in the environment win."""
    for key, value in LOCAL_RAY_ENV.items():
        os.environ.setdefault(key, value)


def include_dashboard() -> bool:
    """Whether a local Ray should start its dashboard: ``DS2RAY_DASHBOARD=0/1``, else only when the
    machine has at least :data:`DASHBOARD_MIN_CPUS` CPUs."""
    choice = os.environ.get("DS2RAY_DASHBOARD", "").strip().lower()
    if choice:
        return choice not in ("0", "false", "no", "off")
    return (os.cpu_count() or 1) >= DASHBOARD_MIN_CPUS

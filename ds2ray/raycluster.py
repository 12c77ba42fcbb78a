"""One way to connect to Ray: :func:`connect` joins a cluster or starts a local Ray, once.

- Ray already initialised in this process: nothing to do.
- An address (the ``address`` argument, else ``RAY_ADDRESS``, which ``ray job submit`` sets): join
  that cluster, which keeps its own resources and settings.
- Otherwise: start a local Ray sized by ``num_cpus``/``num_gpus`` (default: this machine).

A local Ray starts its workers at normal priority (:data:`LOCAL_RAY_ENV`). Ray's default,
niceness 15, keeps its own daemons responsive on a busy node, but on a small machine it hands the
CPU to the raylet, GCS, dashboard and controller actors at every tick: on 2 cores, Ray Train ran
at 0.85x of the same loop without Ray, and 2 workers gave 1.39x of one. With the workers at normal
priority: 1.04x and 1.59x (``bench/train.py``, same run conditions). A cluster started with
``ray start`` keeps its own setting; set ``RAY_worker_niceness`` to choose.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

#: Environment for a Ray that ds2ray starts in this process; values already in the environment win.
LOCAL_RAY_ENV = {"RAY_worker_niceness": "0"}


def connect(num_cpus: int | None = None, *, num_gpus: int | None = None, address: str | None = None,
            log_to_driver: bool = True, include_dashboard: bool | None = None, logging_level: int | None = None,
            env: Mapping[str, str] | None = None, temp_dir: str | None = None) -> None:
    """Connect this process to Ray unless it already is.

    ``address`` (else ``$RAY_ADDRESS``) names a cluster to join; ``"local"`` or none starts a local
    Ray with ``num_cpus``/``num_gpus`` (``None``: all of this machine), ``include_dashboard``
    (``None``: Ray's default) and its session files under ``temp_dir``. ``log_to_driver``: worker
    output shows here. ``logging_level``: Ray's own log level (``None``: Ray's default, INFO).

    ``env`` sets variables for this process (values already set win) and, for a local Ray, for
    its workers too; a joined cluster's workers keep their own environment (``ray job submit
    --runtime-env``).
    """
    import ray

    if ray.is_initialized():
        return
    for key, value in (env or {}).items():
        os.environ.setdefault(key, value)
    options: dict[str, Any] = {"log_to_driver": log_to_driver}
    if logging_level is not None:
        options["logging_level"] = logging_level
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address and address != "local":
        ray.init(address=address, **options)
        return
    for key, value in LOCAL_RAY_ENV.items():
        os.environ.setdefault(key, value)
    if include_dashboard is not None:
        options["include_dashboard"] = include_dashboard
    if env:
        options["runtime_env"] = {"env_vars": {key: os.environ[key] for key in env}}
    if temp_dir is not None:
        options["_temp_dir"] = temp_dir
    ray.init(address=address, num_cpus=num_cpus, num_gpus=num_gpus, **options)


"""Learning-rate schedules as pure functions of training progress.

``progress`` in [0, 1] is the larger of (steps done / planned steps) and (time spent / time
budget), so a run with ``--max-minutes`` finishes its cosine exactly when the budget runs out.
Being stateless, a schedule's "state" in a checkpoint is just the step and elapsed time.
"""

from __future__ import annotations

import math
from typing import Callable

from ds2ray.train.config import TrainConfig


def warmup_factor(progress: float, warmup: float) -> float:
    return min(1.0, (progress + 1e-9) / warmup) if warmup > 0 else 1.0


def cosine(cfg: TrainConfig, progress: float, epoch: int) -> float:
    """Linear warmup over ``warmup_fraction``, then cosine from ``lr`` to ``lr * min_lr_ratio``."""
    w = cfg.warmup_fraction
    if progress < w:
        return cfg.lr * warmup_factor(progress, w)
    t = min(1.0, (progress - w) / max(1e-9, 1.0 - w))
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * t))


def exponential(cfg: TrainConfig, progress: float, epoch: int) -> float:
    """The seed's schedule: ``lr * lr_decay ** epoch`` (with the same linear warmup, if any)."""
    return cfg.lr * (cfg.lr_decay ** epoch) * warmup_factor(progress, cfg.warmup_fraction)


SCHEDULES: dict[str, Callable[[TrainConfig, float, int], float]] = {"cosine": cosine, "exponential": exponential}


def learning_rate(cfg: TrainConfig, progress: float, epoch: int) -> float:
    return SCHEDULES[cfg.lr_schedule](cfg, min(1.0, max(0.0, progress)), epoch)


def progress(step: int, total_steps: int, elapsed_s: float, max_minutes: float) -> float:
    p = step / max(1, total_steps)
    if max_minutes > 0:
        p = max(p, elapsed_s / (60.0 * max_minutes))
    return min(1.0, p)

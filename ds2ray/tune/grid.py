"""The (alpha, beta) grid: evenly spaced LM weights and word bonuses, and a finer grid around a point.

``alpha`` weighs the LM log-probability (natural log), ``beta`` is the bonus per word (see
:mod:`ds2ray.decode.beam`). The seed's defaults: 45 alphas over [1.0, 3.2] times 8 betas over
[0.1, 0.45] = 360 points.

The seed's advice, a coarse grid on a few batches and then a fine grid on the whole dev set, is
:meth:`GridSpec.refine`: a grid spanning one coarse step on either side of the coarse optimum,
clipped to the coarse ranges. :class:`TwoStageSpec` holds both stages' settings.

:class:`TuneGridConfig` is the one place for the grid's defaults: ``ds2ray tune``'s flags and a
recipe's ``tune`` section both take theirs from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ds2ray.config import ConfigBase, ConfigError

#: Grid values are rounded to this many decimals, so files show 1.05 rather than 1.0500000000000003.
DECIMALS = 6


def _values(start: float, stop: float, num: int) -> tuple[float, ...]:
    import numpy as np  # lazily: the CLI imports this module for its defaults

    return tuple(round(float(v), DECIMALS) for v in np.linspace(start, stop, num))


@dataclass(frozen=True)
class GridSpec(ConfigBase):
    """``num_alphas`` evenly spaced alphas over ``[alpha_from, alpha_to]`` (ends included) times
    ``num_betas`` betas over ``[beta_from, beta_to]``. A count of 1 means the ``*_from`` value alone."""

    alpha_from: float = 1.0
    alpha_to: float = 3.2
    num_alphas: int = 45
    beta_from: float = 0.1
    beta_to: float = 0.45
    num_betas: int = 8

    def __post_init__(self) -> None:
        for name in ("alpha_from", "alpha_to", "beta_from", "beta_to"):
            value = float(getattr(self, name))
            if not math.isfinite(value):
                raise ConfigError(f"GridSpec.{name} must be a finite number, got {value}")
            object.__setattr__(self, name, value)
        for name in ("num_alphas", "num_betas"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"GridSpec.{name} must be >= 1, got {getattr(self, name)}")
            object.__setattr__(self, name, int(getattr(self, name)))
        for lo, hi in (("alpha_from", "alpha_to"), ("beta_from", "beta_to")):
            if getattr(self, lo) > getattr(self, hi):
                raise ConfigError(f"GridSpec: {lo}={getattr(self, lo)} is above {hi}={getattr(self, hi)}; "
                                  f"swap them (--{lo.replace('_', '-')} <= --{hi.replace('_', '-')})")

    @property
    def alphas(self) -> tuple[float, ...]:
        return _values(self.alpha_from, self.alpha_to if self.num_alphas > 1 else self.alpha_from, self.num_alphas)

    @property
    def betas(self) -> tuple[float, ...]:
        return _values(self.beta_from, self.beta_to if self.num_betas > 1 else self.beta_from, self.num_betas)

    @property
    def size(self) -> int:
        return self.num_alphas * self.num_betas

    @property
    def alpha_step(self) -> float:
        return (self.alpha_to - self.alpha_from) / (self.num_alphas - 1) if self.num_alphas > 1 else 0.0

    @property
    def beta_step(self) -> float:
        return (self.beta_to - self.beta_from) / (self.num_betas - 1) if self.num_betas > 1 else 0.0

    def points(self) -> list[tuple[float, float]]:
        """Every ``(alpha, beta)``, alpha-major (the seed's loop order)."""
        return [(a, b) for a in self.alphas for b in self.betas]

    def describe(self) -> str:
        return (f"{self.num_alphas} alphas in [{self.alpha_from:g}, {self.alpha_to:g}] x {self.num_betas} betas in "
                f"[{self.beta_from:g}, {self.beta_to:g}] = {self.size} points")

    def refine(self, alpha: float, beta: float, num_alphas: int = 5, num_betas: int = 5) -> "GridSpec":
        """A finer grid centred on ``(alpha, beta)``: one step of this grid on either side, clipped to
        this grid's ranges (an axis of this grid with a single value stays that value)."""

        def axis(centre: float, step: float, lo: float, hi: float, num: int) -> tuple[float, float, int]:
            if step == 0.0:
                return centre, centre, 1
            return max(lo, centre - step), min(hi, centre + step), num

        a_from, a_to, na = axis(alpha, self.alpha_step, self.alpha_from, self.alpha_to, num_alphas)
        b_from, b_to, nb = axis(beta, self.beta_step, self.beta_from, self.beta_to, num_betas)
        return GridSpec(a_from, a_to, na, b_from, b_to, nb)


@dataclass(frozen=True)
class TuneGridConfig(GridSpec):
    """The grid plus how much of the dev set it is tuned on: the first ``num_batches`` batches of
    ``batch_size`` utterances (``num_batches`` 0 or less: the whole set). A recipe's ``tune`` section
    and the defaults of ``ds2ray tune``."""

    num_batches: int = 0
    batch_size: int = 128

    def __post_init__(self) -> None:
        super().__post_init__()
        if int(self.batch_size) < 1:
            raise ConfigError(f"TuneGridConfig.batch_size must be >= 1, got {self.batch_size}")

    @property
    def grid(self) -> GridSpec:
        """The (alpha, beta) grid alone."""
        return GridSpec(self.alpha_from, self.alpha_to, self.num_alphas, self.beta_from, self.beta_to, self.num_betas)

    @property
    def num_utterances(self) -> int | None:
        """Utterances tuned on: ``num_batches x batch_size``, or None for the whole dev set."""
        return self.num_batches * self.batch_size if self.num_batches > 0 else None


@dataclass(frozen=True)
class TwoStageSpec(ConfigBase):
    """Stage 1: ``coarse`` on the first ``coarse_utterances`` of the dev set (``None``: a quarter,
    at least one). Stage 2: ``fine_alphas`` x ``fine_betas`` points around the stage-1 best
    (:meth:`GridSpec.refine`) on the whole set."""

    coarse: GridSpec = GridSpec()
    coarse_utterances: int | None = None
    fine_alphas: int = 5
    fine_betas: int = 5

    def __post_init__(self) -> None:
        if isinstance(self.coarse, dict):
            object.__setattr__(self, "coarse", GridSpec.from_dict(self.coarse))
        if self.coarse_utterances is not None and int(self.coarse_utterances) < 1:
            raise ConfigError(f"TwoStageSpec.coarse_utterances must be >= 1 or None, got {self.coarse_utterances}")
        if int(self.fine_alphas) < 1 or int(self.fine_betas) < 1:
            raise ConfigError(f"TwoStageSpec: fine_alphas and fine_betas must be >= 1, "
                              f"got {self.fine_alphas} and {self.fine_betas}")

    def stage1_size(self, num_utterances: int) -> int:
        """Utterances the coarse stage decodes, out of ``num_utterances``."""
        n = self.coarse_utterances if self.coarse_utterances is not None else -(-num_utterances // 4)
        return max(1, min(int(n), num_utterances))

"""Tuning the beam decoder's LM weight ``alpha`` and word bonus ``beta`` on a dev set.

The acoustic model runs once; every (alpha, beta) point re-decodes the cached log-probs.

- :mod:`.grid`: :class:`GridSpec` (evenly spaced alphas x betas), :class:`TwoStageSpec`.
- :mod:`.plain`: the grid as a plain loop in one process (the reference), and the per-point work.
- :mod:`.search`: the grid on Ray Tune over warm decoder actors (:func:`tune_grid`,
  :func:`tune_two_stage`); log-probs in the object store once.
- :mod:`.results`: per-point results, choosing the best point, progress lines, best.json's content.
- :mod:`.surface`: the error surface PNG.
- :mod:`.output`: the files of a finished grid (CSV, JSON, best.json, the surface).

Only the light modules are imported here; ``search`` imports Ray.
"""

from ds2ray.tune.grid import GridSpec, TwoStageSpec
from ds2ray.tune.results import TIE_BREAK, PointResult, TuneResult, select_best

__all__ = ["GridSpec", "TwoStageSpec", "PointResult", "TuneResult", "select_best", "TIE_BREAK"]

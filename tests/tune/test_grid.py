"""The grid spec: values, validation, the refined grid of the second stage."""

from __future__ import annotations

import numpy as np
import pytest

from ds2ray.config import ConfigError
from ds2ray.tune.grid import GridSpec, TwoStageSpec


def test_seed_default_grid_has_360_points_alpha_major():
    g = GridSpec()
    assert (len(g.alphas), len(g.betas), g.size) == (45, 8, 360)
    assert g.alphas[0] == 1.0 and g.alphas[-1] == 3.2 and g.betas[0] == 0.1 and g.betas[-1] == 0.45
    np.testing.assert_allclose(g.alphas, np.linspace(1.0, 3.2, 45), atol=1e-6)
    assert g.alphas[1] == 1.05  # rounded: no 1.0500000000000003 in the files
    pts = g.points()
    assert len(set(pts)) == 360 and pts[:2] == [(1.0, 0.1), (1.0, 0.15)]


def test_single_value_axes_and_validation():
    g = GridSpec(0.5, 9.0, 1, 2.0, 2.0, 1)
    assert g.points() == [(0.5, 2.0)] and g.alpha_step == 0.0
    with pytest.raises(ConfigError, match="num_alphas must be >= 1"):
        GridSpec(num_alphas=0)
    with pytest.raises(ConfigError, match="beta_from=0.5 is above beta_to=0.1"):
        GridSpec(beta_from=0.5, beta_to=0.1)
    assert GridSpec.from_dict(GridSpec(0.0, 1.0, 3).to_dict()) == GridSpec(0.0, 1.0, 3)


def test_refine_spans_one_coarse_step_clipped_to_the_coarse_range():
    coarse = GridSpec(1.0, 3.0, 5, 0.0, 1.0, 3)  # steps 0.5 and 0.5
    fine = coarse.refine(2.0, 0.0, 5, 3)
    assert (fine.alpha_from, fine.alpha_to, fine.num_alphas) == (1.5, 2.5, 5)
    assert (fine.beta_from, fine.beta_to, fine.num_betas) == (0.0, 0.5, 3)  # clipped at beta_from
    assert 2.0 in fine.alphas
    flat = GridSpec(1.0, 1.0, 1, 0.0, 1.0, 3).refine(1.0, 0.5, 4, 4)
    assert flat.alphas == (1.0,) and flat.num_betas == 4


def test_two_stage_subset_size():
    spec = TwoStageSpec(GridSpec(0.0, 1.0, 2, 0.0, 1.0, 2))
    assert spec.stage1_size(10) == 3  # a quarter, rounded up
    assert TwoStageSpec(coarse_utterances=50).stage1_size(10) == 10
    assert TwoStageSpec.from_dict({"coarse": {"num_alphas": 3}}).coarse.num_alphas == 3
    with pytest.raises(ConfigError, match="coarse_utterances"):
        TwoStageSpec(coarse_utterances=0)

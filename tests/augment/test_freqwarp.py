"""``freq_warp`` (VTLP): a formant peak moves by the drawn factor, the axis ends stay, alpha 1 is identity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ds2ray.augment import AugmentConfigError, AugmentPipeline
from ds2ray.augment.freqwarp import warp_features, warp_positions


def warp(params: dict, prob: float = 1.0) -> AugmentPipeline:
    return AugmentPipeline.from_config([{"type": "freq_warp", "params": params, "prob": prob}])


def peak_features(centre: float, num_bins: int = 80, frames: int = 4) -> torch.Tensor:
    bins = torch.arange(num_bins, dtype=torch.float32)
    return torch.exp(-0.5 * ((bins - centre) / 2.0) ** 2).repeat(frames, 1)


@settings(max_examples=60, deadline=None)
@given(num_bins=st.integers(2, 200), alpha=st.floats(0.5, 2.0), boundary=st.floats(0.05, 0.95))
def test_positions_are_increasing_and_pin_both_ends(num_bins, alpha, boundary):
    pos = warp_positions(num_bins, alpha, boundary)
    assert pos.shape == (num_bins,)
    assert pos[0] == pytest.approx(0.0) and pos[-1] == pytest.approx(num_bins - 1)
    assert np.all(np.diff(pos) > 0)


@pytest.mark.parametrize("alpha", [0.85, 0.9, 1.1, 1.15])
def test_a_peak_below_the_boundary_moves_by_alpha(alpha):
    out = warp_features(peak_features(30.0), alpha, boundary=0.8)
    peak = float((out[0] * torch.arange(80)).sum() / out[0].sum())  # centroid of the moved peak
    assert peak == pytest.approx(30.0 * alpha, abs=0.3)


def test_alpha_one_is_the_identity_and_input_is_not_modified():
    feats = torch.randn(7, 40)
    before = feats.clone()
    torch.testing.assert_close(warp_features(feats, 1.0, 0.8), feats)
    warp({"min_warp": 0.8, "max_warp": 1.2}).process_features(feats, AugmentPipeline.rng_for(0, 0, 0))
    assert torch.equal(feats, before)


def test_pipeline_draws_alpha_in_range_per_sample_reproducibly():
    pipe = warp({"min_warp": 0.9, "max_warp": 1.1, "boundary": 0.7})
    feats = peak_features(20.0)
    alphas = []
    for i in range(200):
        trace = []
        out = pipe.process_features(feats, AugmentPipeline.rng_for(3, 1, i), trace)
        alpha = trace[0].choice["alpha"]
        alphas.append(alpha)
        assert out.shape == feats.shape
        again = pipe.process_features(feats, AugmentPipeline.rng_for(3, 1, i))
        torch.testing.assert_close(out, again)
    assert 0.9 <= min(alphas) < 0.92 and 1.08 < max(alphas) <= 1.1


def test_empty_features_pass_through():
    out = warp({}).process_features(torch.zeros(0, 80), AugmentPipeline.rng_for(0, 0, 0))
    assert out.shape == (0, 80)


@pytest.mark.parametrize("params, message", [
    ({"min_warp": 1.2, "max_warp": 1.1}, "min_warp=1.2 is greater than max_warp=1.1"),
    ({"min_warp": 0.2}, "below the allowed minimum"),
    ({"boundary": 1.0}, "boundary"),
    ({"alpha": 1.0}, "unknown parameter 'alpha'"),
])
def test_bad_params_name_the_entry(params, message):
    with pytest.raises(AugmentConfigError, match="entry 0") as err:
        warp(params)
    assert message in str(err.value)

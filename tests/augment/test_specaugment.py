"""SpecAugment on (T, F) features: mask widths, positions, limits, fill value and time warp."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ds2ray.augment import AugmentPipeline
from ds2ray.augment.specaugment import SpecAugmentor, draw_masks, time_warp


def spec(params: dict, prob: float = 1.0) -> AugmentPipeline:
    return AugmentPipeline.from_config([{"type": "specaugment", "params": params, "prob": prob}])


def masked_runs(mask: torch.Tensor) -> list[tuple[int, int]]:
    """(start, width) of each run of True in a 1-D bool tensor."""
    runs, start = [], None
    values = mask.tolist() + [False]
    for i, v in enumerate(values):
        if v and start is None:
            start = i
        elif not v and start is not None:
            runs.append((start, i - start))
            start = None
    return runs


def test_one_frequency_mask_has_the_drawn_width_and_stays_within_F():
    pipe = spec({"F": 15, "n_freq_masks": 1})
    feats = torch.ones(50, 80)
    widths = set()
    for i in range(300):
        trace = []
        out = pipe.process_features(feats, AugmentPipeline.rng_for(0, 0, i), trace)
        (start, width), = trace[0].choice["freq_masks"]
        zero_bins = (out == 0).all(dim=0)
        assert (out != 0).all(dim=0).logical_or(zero_bins).all()  # whole bins are masked
        assert masked_runs(zero_bins) == ([(start, width)] if width else [])
        assert not (out[:, ~zero_bins] != 1).any()  # the rest is untouched
        widths.add(width)
    assert widths == set(range(16))  # every width 0..F is drawn, nothing wider


def test_time_masks_respect_T_and_the_proportion_p():
    pipe = spec({"T": 40, "n_time_masks": 2, "p": 0.2})
    feats = torch.ones(100, 8)  # p caps a mask at 20 frames, below T
    seen = set()
    for i in range(200):
        trace = []
        out = pipe.process_features(feats, AugmentPipeline.rng_for(1, 0, i), trace)
        masks = trace[0].choice["time_masks"]
        assert len(masks) == 2
        expected = torch.zeros(100, dtype=torch.bool)
        for start, width in masks:
            assert 0 <= width <= 20 and 0 <= start <= 100 - width
            expected[start:start + width] = True
            seen.add(width)
        assert torch.equal((out == 0).all(dim=1), expected)
    assert max(seen) == 20 and min(seen) == 0


def test_apply_masks_exactly_the_given_regions():
    aug = SpecAugmentor(F=10, n_freq_masks=2, T=10, n_time_masks=1)
    feats = torch.arange(30 * 12, dtype=torch.float32).reshape(30, 12) + 1
    out = aug.apply(feats, warp=None, freq_masks=[(2, 3), (10, 2)], time_masks=[(5, 4)])
    expected = feats.clone()
    expected[:, 2:5] = 0
    expected[:, 10:12] = 0
    expected[5:9, :] = 0
    assert torch.equal(out, expected)
    assert (feats != 0).all()  # input untouched


def test_masks_can_fill_with_the_mean_instead_of_zero():
    aug = SpecAugmentor(F=5, n_freq_masks=1, replace_with_zero=False)
    feats = torch.randn(40, 20) + 3.0
    out = aug.apply(feats, warp=None, freq_masks=[(4, 5)], time_masks=[])
    assert torch.allclose(out[:, 4:9], torch.full((40, 5), float(feats.mean())))


def test_mask_wider_than_the_axis_is_clamped():
    rng = np.random.default_rng(0)
    for _ in range(100):
        (start, width), = draw_masks(rng, size=6, max_width=27, count=1)
        assert 0 <= width <= 6 and 0 <= start <= 6 - width


def test_adaptive_time_masks_scale_with_the_utterance():
    aug = SpecAugmentor(adaptive_number_ratio=0.04, adaptive_size_ratio=0.05, max_n_time_masks=3)
    assert aug.time_mask_limits(50) == (2, 2)
    assert aug.time_mask_limits(1000) == (3, 50)  # count capped by max_n_time_masks


def test_time_warp_moves_the_centre_frame_to_the_target_and_keeps_the_shape():
    ramp = torch.arange(100, dtype=torch.float32)[:, None].repeat(1, 3)  # value = frame index
    out = time_warp(ramp, centre=40, target=50)
    assert out.shape == ramp.shape
    # frame 50 of the output now shows what frame 40 showed; the ends stay put
    assert abs(float(out[50, 0]) - 40) < 1.0
    assert abs(float(out[0, 0]) - 0) < 1.0 and abs(float(out[99, 0]) - 99) < 1.0
    assert (out[1:, 0] - out[:-1, 0] >= -1e-5).all()  # still monotonic: a warp, not a shuffle
    assert torch.equal(time_warp(ramp, 40, 40), ramp)


def test_time_warp_draw_stays_within_W():
    pipe = spec({"W": 5})
    ramp = torch.arange(60, dtype=torch.float32)[:, None].repeat(1, 4)
    for i in range(50):
        trace = []
        out = pipe.process_features(ramp, AugmentPipeline.rng_for(2, 0, i), trace)
        centre, target = trace[0].choice["warp"]
        assert 5 <= centre < 55 and abs(target - centre) <= 5
        assert out.shape == ramp.shape
    short = torch.ones(10, 4)  # too short to warp with W=5: left alone
    trace = []
    assert torch.equal(pipe.process_features(short, AugmentPipeline.rng_for(0, 0, 0), trace), short)
    assert trace[0].choice["warp"] is None


@pytest.mark.parametrize("frames", [0, 1, 3])
def test_tiny_and_empty_feature_tensors_pass(frames):
    pipe = spec({"F": 27, "n_freq_masks": 2, "T": 100, "n_time_masks": 2, "W": 5})
    out = pipe.process_features(torch.randn(frames, 161), AugmentPipeline.rng_for(0, 0, 0))
    assert out.shape == (frames, 161)

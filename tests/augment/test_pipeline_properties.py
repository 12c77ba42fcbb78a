"""Hypothesis: any chain of augmentors on any finite audio keeps dtype and channels, gives finite
samples, and keeps the length unless ``speed`` fired (then N / rate)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ds2ray.augment import AugmentPipeline

from .conftest import SR, audio_arrays, audio_list

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def manifests(noise_manifest, impulse_dir):
    return noise_manifest, audio_list(impulse_dir / "props.jsonl", impulse_dir / "room" / "room.wav",
                                      impulse_dir / "unit.wav")


def step_strategy(noise_path: str, impulse_path: str):
    def pair(lo, hi):
        return st.tuples(st.floats(lo, hi), st.floats(lo, hi)).map(sorted)

    prob = st.sampled_from([0.0, 0.5, 1.0])
    return st.one_of(
        st.builds(lambda r, p: {"type": "volume", "params": {"min_gain_dBFS": r[0], "max_gain_dBFS": r[1]}, "prob": p},
                  pair(-30, 30), prob),
        st.builds(lambda r, p: {"type": "speed", "params": {"min_speed_rate": r[0], "max_speed_rate": r[1]}, "prob": p},
                  pair(0.8, 1.25), prob),
        st.builds(lambda r, p: {"type": "shift", "params": {"min_shift_ms": r[0], "max_shift_ms": r[1]}, "prob": p},
                  pair(-300, 300), prob),
        st.builds(lambda t, d, p: {"type": "bayesian_normal", "params": {
            "target_db": t, "prior_db": -20, "prior_samples": 100, "startup_delay": d}, "prob": p},
            st.floats(-40, -5), st.floats(0, 0.5), prob),
        st.builds(lambda r, p: {"type": "noise", "params": {"min_snr_dB": r[0], "max_snr_dB": r[1],
                                                            "noise_manifest_path": noise_path}, "prob": p},
                  pair(-5, 50), prob),
        st.builds(lambda p: {"type": "impulse", "params": {"impulse_manifest_path": impulse_path}, "prob": p}, prob),
    )


@given(data=st.data())
@SETTINGS
def test_any_chain_keeps_dtype_channels_and_finiteness(manifests, data):
    steps = data.draw(st.lists(step_strategy(*manifests), min_size=1, max_size=6), label="config")
    audio = data.draw(audio_arrays(3000, [None, 1, 2, 3], 1), label="audio")
    seed = data.draw(st.integers(0, 2 ** 32 - 1), label="seed")
    pipe = AugmentPipeline.from_config(steps)
    before = audio.copy()
    trace = []
    out = pipe.process_waveform(audio, SR, AugmentPipeline.rng_for(seed, 0, 0), trace)
    np.testing.assert_array_equal(audio, before)  # input never modified
    assert out.dtype == audio.dtype
    assert out.ndim == audio.ndim and out.shape[:-1] == audio.shape[:-1]
    assert np.isfinite(out).all()
    expected = audio.shape[-1]
    for a in trace:
        if a.type == "speed" and expected >= 2:
            expected = expected / a.choice["rate"]
    assert abs(out.shape[-1] - expected) <= 1 + 0.01 * expected


@given(frames=st.integers(0, 300), bins=st.integers(1, 161), seed=st.integers(0, 2 ** 32 - 1),
       F=st.integers(0, 200), T=st.integers(0, 400), n=st.integers(0, 3), W=st.integers(0, 20),
       p=st.floats(0, 1), dtype=st.sampled_from([torch.float32, torch.float64]))
@settings(max_examples=60, deadline=None)
def test_specaugment_keeps_shape_dtype_and_finiteness(frames, bins, seed, F, T, n, W, p, dtype):
    pipe = AugmentPipeline.from_config([{"type": "specaugment", "params": {
        "F": F, "n_freq_masks": n, "T": T, "n_time_masks": n, "W": W, "p": p}, "prob": 1.0}])
    feats = torch.randn(frames, bins, dtype=dtype)
    out = pipe.process_features(feats, AugmentPipeline.rng_for(seed, 0, 0))
    assert out.shape == feats.shape and out.dtype == dtype
    assert torch.isfinite(out).all()

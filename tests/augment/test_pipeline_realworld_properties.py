"""Hypothesis: any chain of the real-world augmentors (``colored_noise``, ``reverb``, ``telephone``,
``codec``, ``volume``) on any finite audio keeps length, dtype and channels, gives finite samples
and leaves the input alone. The steps are built once (the reverb bank is simulated once)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ds2ray.augment import AugmentPipeline

from .conftest import SR, audio_arrays

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

CONFIG = [
    {"type": "colored_noise", "params": {"min_snr_dB": -5, "max_snr_dB": 40}, "prob": 0.7},
    {"type": "reverb", "params": {"bank_size": 2, "max_rt60_s": 0.4}, "prob": 0.7},
    {"type": "telephone", "params": {"g711": "alaw"}, "prob": 0.5},
    {"type": "telephone", "params": {"bandpass": False}, "prob": 0.5},
    {"type": "codec", "params": {"formats": ["mp3", "opus", "vorbis"], "min_compression_level": 0.0}, "prob": 0.7},
    {"type": "volume", "params": {"min_gain_dBFS": -20, "max_gain_dBFS": 20}, "prob": 0.7},
]


@pytest.fixture(scope="module")
def steps():
    pipe = AugmentPipeline.from_config(CONFIG)
    pipe.steps[1].augmentor.bank(SR)
    return pipe.steps


@given(data=st.data())
@SETTINGS
def test_any_real_world_chain_keeps_length_dtype_channels_and_finiteness(steps, data):
    chosen = data.draw(st.lists(st.sampled_from(steps), min_size=1, max_size=5), label="steps")
    audio = data.draw(audio_arrays(2500, [None, 1, 2], 2), label="audio")
    seed = data.draw(st.integers(0, 2 ** 32 - 1), label="seed")
    pipe = AugmentPipeline(chosen)
    before = audio.copy()
    out = pipe.process_waveform(audio, SR, AugmentPipeline.rng_for(seed, 0, 0))
    np.testing.assert_array_equal(audio, before)
    assert out.shape == audio.shape and out.dtype == audio.dtype
    assert np.isfinite(out).all()

"""The signal-only waveform augmentors, measured: gain in dB, duration and pitch, shift in samples,
Bayesian normalisation. Configs go through the real pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from ds2ray.augment import AugmentPipeline
from ds2ray.augment.waveform import rms_db
from ds2ray.testing.signals import click, noise, sine, speechlike

from .conftest import SR, run


def peak_frequency(audio: np.ndarray, sr: int = SR) -> float:
    """Spectral peak with parabolic interpolation on a zero-padded, Hann-windowed FFT."""
    n = 1 << 18
    spec = np.abs(np.fft.rfft(audio * np.hanning(len(audio)), n))
    k = int(np.argmax(spec))
    a, b, c = np.log(spec[k - 1: k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * sr / n


# -- volume -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("gain", [-10.0, -3.21, 0.0, 0.5, 6.02, 10.0])
def test_volume_gain_is_exact_to_a_hundredth_of_a_db(gain):
    x = speechlike(1.0, seed=3)
    y = run([{"type": "volume", "params": {"min_gain_dBFS": gain, "max_gain_dBFS": gain}, "prob": 1.0}], x)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert abs((rms_db(y) - rms_db(x)) - gain) < 0.01
    assert abs(20 * np.log10(np.max(np.abs(y)) / np.max(np.abs(x))) - gain) < 0.01


def test_volume_draws_each_gain_from_the_range_and_applies_it():
    x = speechlike(0.5, seed=4)
    pipe = AugmentPipeline.from_config([{"type": "volume", "params": {"min_gain_dBFS": -10, "max_gain_dBFS": 10},
                                         "prob": 1.0}])
    gains = []
    for i in range(50):
        trace = []
        y = pipe.process_waveform(x, SR, AugmentPipeline.rng_for(1, 0, i), trace)
        drawn = trace[0].choice["gain_db"]
        assert abs((rms_db(y) - rms_db(x)) - drawn) < 0.01
        gains.append(drawn)
    assert min(gains) >= -10 and max(gains) <= 10 and np.ptp(gains) > 12  # spread over the range


# -- speed ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", [0.9, 0.95, 1.05, 1.1])
def test_speed_changes_duration_by_the_rate_and_pitch_as_resampling_does(rate):
    x = sine(1000.0, duration=1.0, amplitude=0.5)
    y = run([{"type": "speed", "params": {"min_speed_rate": rate, "max_speed_rate": rate}, "prob": 1.0}], x)
    assert y.dtype == np.float32
    assert abs(len(y) / (len(x) / rate) - 1) < 0.01
    # Playing the same samples faster raises every frequency by the rate.
    assert abs(peak_frequency(y) / (1000.0 * rate) - 1) < 0.01
    # and keeps the level (soxr is a proper band-limited resampler)
    assert abs(rms_db(y[500:-500]) - rms_db(x[500:-500])) < 0.1


def test_speed_keeps_channels_and_applies_the_same_rate_to_each():
    x = np.stack([sine(500.0, 0.5), sine(1500.0, 0.5)])
    y = run([{"type": "speed", "params": {"min_speed_rate": 1.1, "max_speed_rate": 1.1}, "prob": 1.0}], x)
    assert y.shape[0] == 2 and abs(y.shape[1] - x.shape[1] / 1.1) <= 1
    assert abs(peak_frequency(y[0]) - 550) < 5 and abs(peak_frequency(y[1]) - 1650) < 5


# -- shift ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shift_ms,moved", [(10.0, -160), (-10.0, 160), (3.3, -52), (-0.05, 0), (5.0, -80)])
def test_shift_moves_a_click_by_the_requested_samples(shift_ms, moved):
    x = click(8000, 16000)
    y = run([{"type": "shift", "params": {"min_shift_ms": shift_ms, "max_shift_ms": shift_ms}, "prob": 1.0}], x)
    assert y.shape == x.shape
    # The seed's sign: positive shift_ms advances the signal (the click comes earlier).
    assert np.flatnonzero(y).tolist() == [8000 + moved]
    assert y[8000 + moved] == 1.0


def test_shift_longer_than_the_signal_leaves_silence():
    x = click(10, 100)
    y = run([{"type": "shift", "params": {"min_shift_ms": 100, "max_shift_ms": 100}, "prob": 1.0}], x)
    assert y.shape == x.shape and not y.any()


# -- noise ------------------------------------------------------------------------------------------
# -- bayesian normalisation -------------------------------------------------------------------------
@pytest.mark.parametrize("level_db", [-40.0, -10.0])
def test_bayesian_normal_converges_to_the_target_db(level_db):
    x = noise(60.0, amplitude=10 ** (level_db / 20), seed=11)
    assert abs(rms_db(x) - level_db) < 0.1
    y = run([{"type": "bayesian_normal", "params": {"target_db": -20, "prior_db": -20, "prior_samples": 100},
              "prob": 1.0}], x)
    assert y.shape == x.shape and y.dtype == np.float32
    # The prior (100 samples at -20 dB) fades as evidence accumulates: the error per second shrinks
    # and the last second is at the target.
    errors = [abs(rms_db(y[k * SR:(k + 1) * SR]) + 20.0) for k in (0, 2, 8, 59)]
    assert errors[0] > errors[-1] and errors[-1] < 0.1
    # First sample, by hand: estimate = (x0^2 + 100 * 10^(-20/10)) / (1 + 100); gain = -20 - estimate_db.
    estimate_db = 10 * np.log10((float(x[0]) ** 2 + 100 * 0.01) / 101)
    assert y[0] == pytest.approx(x[0] * 10 ** ((-20 - estimate_db) / 20), rel=1e-5)


def test_bayesian_normal_startup_delay_uses_the_startup_statistics():
    x = noise(2.0, amplitude=0.01, seed=12)  # -40 dB
    delay = 0.25
    y = run([{"type": "bayesian_normal", "params": {"target_db": -20, "prior_db": -60, "prior_samples": 1,
                                                     "startup_delay": delay}}], x)
    gain_db = 20 * np.log10(np.abs(y[:4000].astype(np.float64)) / np.abs(x[:4000]))
    np.testing.assert_allclose(gain_db, gain_db[0], atol=1e-3)  # constant during start-up
    assert abs(gain_db[0] - 20.0) < 0.3  # the start-up window's level, not the prior's (+20 dB)
    assert abs(rms_db(y[SR:]) - (-20.0)) < 0.1

"""The Opus round trip through libopus: the same loss as libsndfile's Ogg/Opus at the same
``compression_level``, lookahead removed, every complexity, and a clear error without libopus."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from ds2ray.augment.codec import soundfile_round_trip
from ds2ray.augment.opus import OpusUnavailableError, opus_bitrate, opus_round_trip
from ds2ray.augment.waveform import rms_db
from ds2ray.testing.signals import speechlike

from .conftest import SR, lag_of


def error_db(x: np.ndarray, y: np.ndarray) -> float:
    """Coding error relative to the signal, dB (0 = as loud as the signal)."""
    return rms_db(y - x) - rms_db(x)


def test_bitrate_is_libsndfiles_mapping():
    assert opus_bitrate(0.0) == 256000 and opus_bitrate(1.0) == 6000
    assert opus_bitrate(0.5) == 131000 and opus_bitrate(0.9, channels=2) == 62000


@pytest.mark.parametrize("level", [0.5, 0.9, 0.95])
def test_same_loss_as_libsndfiles_ogg_opus_at_the_same_level(level):
    x = speechlike(3.0, seed=11)
    ours = opus_round_trip(x, SR, opus_bitrate(level), complexity=10)
    reference = soundfile_round_trip(x.astype(np.float64), SR, "opus", level, None)
    assert ours.shape == x.shape
    # libsndfile runs the same encoder at the same bitrate: the coding error agrees within 2 dB
    assert abs(error_db(x, ours) - error_db(x, reference)) < 2.0
    assert error_db(x, ours) > -60  # and it is lossy


def test_lower_bitrate_loses_more_and_every_complexity_works():
    x = speechlike(2.0, seed=12)
    errors = [error_db(x, opus_round_trip(x, SR, opus_bitrate(level), 10)) for level in (0.3, 0.8, 0.97)]
    assert errors[0] < errors[1] < errors[2]
    for complexity in (0, 3, 5, 10):
        y = opus_round_trip(x, SR, opus_bitrate(0.9), complexity)
        assert y.shape == x.shape and np.isfinite(y).all()
        assert np.corrcoef(x, y)[0, 1] > 0.9
        assert abs(rms_db(y) - rms_db(x)) < 1.5
        np.testing.assert_array_equal(y, opus_round_trip(x, SR, opus_bitrate(0.9), complexity))


def test_lookahead_is_removed_at_every_rate_and_for_stereo():
    for rate in (8000, 16000, 48000):
        x = speechlike(1.0, sample_rate=rate, seed=13)
        y = opus_round_trip(x, rate, opus_bitrate(0.5), 5)
        assert y.shape == x.shape and abs(lag_of(x, y)) <= 1
    stereo = np.stack([speechlike(1.0, seed=14), 0.5 * speechlike(1.0, seed=15)])
    y = opus_round_trip(stereo, SR, opus_bitrate(0.5, 2), 5)
    assert y.shape == stereo.shape and abs(lag_of(stereo[0], y[0])) <= 1
    assert min(np.corrcoef(stereo[i], y[i])[0, 1] for i in range(2)) > 0.9
    four = np.stack([speechlike(1.0, seed=20 + i) * (0.2 + 0.2 * i) for i in range(4)])
    y = opus_round_trip(four, SR, opus_bitrate(0.5, 4), 5)
    assert y.shape == four.shape
    for i in range(4):
        assert abs(lag_of(four[i], y[i])) <= 1 and np.corrcoef(four[i], y[i])[0, 1] > 0.9


def test_bad_arguments_are_named():
    x = speechlike(0.1, seed=16)
    with pytest.raises(ValueError, match="opus encodes at .* got 22050"):
        opus_round_trip(x, 22050, 24000, 5)
    with pytest.raises(ValueError, match="complexity must be within 0..10, got 11"):
        opus_round_trip(x, SR, 24000, 11)


def test_missing_binding_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "opuslib", None)  # what Python does when the package is absent
    with pytest.raises(OpusUnavailableError, match="pip install opuslib"):
        opus_round_trip(speechlike(0.1, seed=17), SR, 24000, 5)

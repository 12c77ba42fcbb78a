"""``colored_noise``, measured: the SNR of what was added, the spectral slope of each colour,
reproducibility, and the config errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import welch

from ds2ray.augment import AugmentConfigError, AugmentPipeline
from ds2ray.augment.colored_noise import colored_noise
from ds2ray.testing.signals import sine, speechlike

from .conftest import SR


def step(**params) -> list[dict]:
    return [{"type": "colored_noise", "params": {"min_snr_dB": 0, "max_snr_dB": 30, **params}, "prob": 1.0}]


def run(config: list[dict], audio: np.ndarray, index: int = 0, seed: int = 0) -> tuple[np.ndarray, dict]:
    trace = []
    out = AugmentPipeline.from_config(config).process_waveform(audio, SR, AugmentPipeline.rng_for(seed, 0, index), trace)
    return out, trace[0].choice


def slope_db_per_octave(noise: np.ndarray, lo: float = 100.0, hi: float = 6400.0) -> float:
    """Least-squares slope of the Welch PSD in dB against log2 frequency over [lo, hi] Hz."""
    freqs, psd = welch(noise, SR, nperseg=4096)
    band = (freqs >= lo) & (freqs <= hi)
    return float(np.polyfit(np.log2(freqs[band]), 10 * np.log10(psd[band]), 1)[0])


@pytest.mark.parametrize("index", range(8))
def test_added_noise_has_the_drawn_snr(index):
    x = speechlike(2.0, seed=index)
    y, choice = run(step(), x, index)
    assert y.shape == x.shape and y.dtype == np.float32
    assert 0 <= choice["snr_db"] <= 30
    residual = y.astype(np.float64) - x
    snr = 10 * np.log10(np.mean(np.square(x, dtype=np.float64)) / np.mean(np.square(residual)))
    assert abs(snr - choice["snr_db"]) < 0.5


@pytest.mark.parametrize("color,slope", [("white", 0.0), ("pink", -3.0), ("brown", -6.0)])
def test_each_colour_has_its_spectral_slope(color, slope):
    # through the augmentor: the residual over a quiet tone is the noise that was added
    x = sine(50.0, duration=8.0, amplitude=0.01)
    y, choice = run(step(colors=[color], min_snr_dB=-10, max_snr_dB=-10), x)
    assert choice["color"] == color
    assert abs(slope_db_per_octave(y.astype(np.float64) - x) - slope) < 1.0
    # and the generator alone, at another length
    noise = colored_noise(100_003, SR, {"white": 0, "pink": 1, "brown": 2}[color], np.random.default_rng(5))
    assert noise.shape == (100_003,) and abs(noise.std() - 1) < 1e-9 and abs(noise.mean()) < 0.05
    assert abs(slope_db_per_octave(noise) - slope) < 1.0


def test_colour_is_drawn_from_the_configured_list():
    x = speechlike(0.25, seed=1)
    pipe = AugmentPipeline.from_config(step(colors=["pink", "brown"]))
    seen = set()
    for i in range(30):
        trace = []
        pipe.process_waveform(x, SR, AugmentPipeline.rng_for(0, 0, i), trace)
        seen.add(trace[0].choice["color"])
    assert seen == {"pink", "brown"}


def test_reproducible_per_sample_and_different_across_samples():
    x = speechlike(1.0, seed=2)
    a, _ = run(step(), x, index=3)
    b, _ = run(step(), x, index=3)
    c, _ = run(step(), x, index=4)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_channels_get_the_same_noise_and_input_is_untouched():
    x = np.stack([speechlike(0.5, seed=1), speechlike(0.5, seed=1)])
    before = x.copy()
    y, _ = run(step(), x)
    np.testing.assert_array_equal(x, before)
    assert y.shape == x.shape
    np.testing.assert_allclose(y[0], y[1])


def test_silence_stays_silent():
    x = np.zeros(1000, np.float32)
    y, _ = run(step(), x)
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("params,message", [
    ({"colors": ["pink", "purple"]}, "colors: unknown colour 'purple'; expected some of white, pink, brown"),
    ({"colors": "pink"}, "parameter 'colors' must be a non-empty list, got 'pink'"),
    ({"colors": []}, "parameter 'colors' must be a non-empty list"),
    ({"colors": [3]}, "parameter 'colors[0]' must be a non-empty string, got 3"),
    ({"min_snr_dB": 20, "max_snr_dB": 10}, "min_snr_dB=20.0 is greater than max_snr_dB=10.0"),
    ({"snr": 5}, "unknown parameter 'snr'"),
])
def test_bad_params_name_the_field(params, message):
    with pytest.raises(AugmentConfigError) as err:
        AugmentPipeline.from_config(step(**params))
    assert 'entry 0 ("colored_noise")' in str(err.value) and message in str(err.value)


def test_config_round_trips_through_json():
    pipe = AugmentPipeline.from_config(step(colors=["brown", "white"]))
    assert pipe.to_config()[0]["params"]["colors"] == ["brown", "white"]
    assert AugmentPipeline.from_config(pipe.to_json()) == pipe

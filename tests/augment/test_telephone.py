"""``telephone``, measured: the 4 kHz band limit, the 300-3400 Hz band-pass, a 1 kHz tone passing,
G.711 companding, alignment, and the config errors."""

from __future__ import annotations

import numpy as np
import pytest

from ds2ray.augment import AugmentConfigError, AugmentPipeline
from ds2ray.augment.telephone import alaw, mulaw
from ds2ray.augment.waveform import rms_db
from ds2ray.testing.signals import noise, sine, speechlike

from .conftest import SR


def phone(audio: np.ndarray, sample_rate: int = SR, **params) -> np.ndarray:
    pipe = AugmentPipeline.from_config([{"type": "telephone", "params": params, "prob": 1.0}])
    return pipe.process_waveform(audio, sample_rate, AugmentPipeline.rng_for(0, 0, 0))


def band_energy_db(audio: np.ndarray, lo: float, hi: float, sample_rate: int = SR) -> float:
    spectrum = np.abs(np.fft.rfft(audio.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(audio.shape[-1], 1 / sample_rate)
    return 10 * np.log10(spectrum[(freqs >= lo) & (freqs < hi)].sum() + 1e-30)


@pytest.mark.parametrize("params", [{}, {"bandpass": False, "g711": "none"}, {"g711": "alaw"}])
def test_energy_above_4khz_drops_by_more_than_30_db(params):
    x = noise(2.0, amplitude=0.1, seed=3)
    y = phone(x, **params)
    assert y.shape == x.shape and y.dtype == np.float32
    assert band_energy_db(x, 4000, 8000) - band_energy_db(y, 4000, 8000) > 30
    # the telephone band itself is kept (within 3 dB overall, companding noise included)
    assert abs(band_energy_db(y, 500, 3000) - band_energy_db(x, 500, 3000)) < 3


@pytest.mark.parametrize("params", [{}, {"bandpass": False, "g711": "none"}, {"g711": "alaw"}])
def test_a_1khz_tone_passes_within_1_db(params):
    x = sine(1000.0, duration=1.0, amplitude=0.3)
    y = phone(x, **params)
    assert abs(rms_db(y[800:-800]) - rms_db(x[800:-800])) < 1.0
    # not delayed: the tone stays in phase with the input
    assert np.corrcoef(x[800:-800], y[800:-800])[0, 1] > 0.99


def test_bandpass_removes_hum_below_300_hz():
    x = sine(100.0, duration=1.0, amplitude=0.3)
    with_bandpass = phone(x, g711="none")
    without = phone(x, bandpass=False, g711="none")
    assert rms_db(x[800:-800]) - rms_db(with_bandpass[800:-800]) > 20
    assert abs(rms_db(without[800:-800]) - rms_db(x[800:-800])) < 1.0


def test_speech_stays_aligned():
    x = speechlike(2.0, seed=4)
    y = phone(x).astype(np.float64)
    n = len(x)
    corr = np.fft.irfft(np.fft.rfft(y, 2 * n) * np.conj(np.fft.rfft(x, 2 * n)), 2 * n)
    lag = int(np.argmax(corr))
    assert min(lag, 2 * n - lag) <= 1


@pytest.mark.parametrize("law", [mulaw, alaw])
def test_g711_quantises_to_8_bits_with_about_constant_relative_error(law):
    x = np.linspace(-1, 1, 100_001)
    y = law(x)
    assert len(np.unique(y)) <= 256
    assert np.all(np.abs(y) <= 1.0) and np.all(np.sign(y[np.abs(x) > 0.01]) == np.sign(x[np.abs(x) > 0.01]))
    # logarithmic: a loud and a quiet tone get about the same signal-to-quantisation ratio (~35-40 dB)
    for amplitude in (0.5, 0.02):
        tone = sine(440.0, 0.5, amplitude=amplitude).astype(np.float64)
        sqnr = 10 * np.log10(np.mean(tone ** 2) / np.mean((law(tone) - tone) ** 2))
        assert 28 < sqnr < 45
    np.testing.assert_allclose(law(np.array([-3.0, 3.0])), [-1.0, 1.0])  # clips at full scale


def test_narrowband_input_and_channels():
    x8 = sine(1000.0, duration=0.5, sample_rate=8000, amplitude=0.3)
    y8 = phone(x8, sample_rate=8000)
    assert y8.shape == x8.shape and abs(rms_db(y8[400:-400]) - rms_db(x8[400:-400])) < 1.0
    x = np.stack([sine(1000.0, 0.5), sine(1000.0, 0.5, amplitude=0.1)])
    y = phone(x)
    assert y.shape == x.shape
    assert abs((rms_db(y[0]) - rms_db(y[1])) - (rms_db(x[0]) - rms_db(x[1]))) < 0.5


@pytest.mark.parametrize("n", [0, 1, 2, 3, 17])
def test_tiny_inputs_keep_their_length(n):
    x = noise(1.0, seed=1)[:n]
    y = phone(x)
    assert y.shape == (n,) and np.isfinite(y).all()


@pytest.mark.parametrize("params,message", [
    ({"high_hz": 5000}, "high_hz=5000.0 must be below half the narrowband_rate (4000 Hz)"),
    ({"low_hz": 3500, "high_hz": 3400}, "low_hz=3500.0 is greater than high_hz=3400.0"),
    ({"g711": "ulaw"}, "g711 must be one of none, mulaw, alaw, got 'ulaw'"),
    ({"narrowband_rate": 1000}, "narrowband_rate must be in [4000, 48000] Hz, got 1000"),
    ({"bandpass": "yes"}, "parameter 'bandpass' must be true or false"),
    ({"quality": "best"}, "quality must be one of QQ, LQ, MQ, HQ, VHQ"),
])
def test_bad_params_name_the_field(params, message):
    with pytest.raises(AugmentConfigError) as err:
        AugmentPipeline.from_config([{"type": "telephone", "params": params, "prob": 1.0}])
    assert 'entry 0 ("telephone")' in str(err.value) and message in str(err.value)

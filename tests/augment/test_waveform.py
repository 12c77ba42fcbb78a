"""Each waveform augmentor, measured: gain in dB, duration and pitch, shift in samples, SNR,
impulse responses, Bayesian normalisation. Configs go through the real pipeline and real files."""

from __future__ import annotations

import numpy as np
import pytest

from ds2ray.augment import AugmentPipeline
from ds2ray.augment.impulse import fft_convolve, next_fast_len
from ds2ray.augment.sources import audio_cache
from ds2ray.augment.waveform import rms_db
from ds2ray.testing.signals import click, noise, sine, speechlike

from .conftest import SR, audio_list


def run(config: list[dict], audio: np.ndarray, seed: int = 0, trace: list | None = None) -> np.ndarray:
    pipe = AugmentPipeline.from_config(config)
    return pipe.process_waveform(audio, SR, AugmentPipeline.rng_for(seed, 0, 0), trace)


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
@pytest.mark.parametrize("snr", [0.0, 10.0, 25.0, 45.0])
def test_noise_is_added_at_the_requested_snr(noise_manifest, snr):
    x = speechlike(1.5, seed=5)
    for seed in range(4):  # both noise files (one long, one looped) get drawn
        trace = []
        y = run([{"type": "noise", "params": {"min_snr_dB": snr, "max_snr_dB": snr,
                                               "noise_manifest_path": noise_manifest}, "prob": 1.0}],
                x, seed=seed, trace=trace)
        added = y.astype(np.float64) - x
        measured = 10 * np.log10(np.sum(np.square(x, dtype=np.float64)) / np.sum(added ** 2))
        assert abs(measured - snr) < 0.5, (seed, trace)


def test_noise_snr_is_drawn_from_the_range_and_measured(noise_manifest):
    x = speechlike(1.0, seed=6)
    pipe = AugmentPipeline.from_config([{"type": "noise", "params": {"min_snr_dB": 5, "max_snr_dB": 15,
                                                                     "noise_manifest_path": noise_manifest}}])
    drawn = []
    for i in range(12):
        trace = []
        y = pipe.process_waveform(x, SR, AugmentPipeline.rng_for(0, 3, i), trace)
        snr = trace[0].choice["snr_db"]
        added = y.astype(np.float64) - x
        assert abs(10 * np.log10(np.sum(x.astype(np.float64) ** 2) / np.sum(added ** 2)) - snr) < 0.5
        drawn.append(snr)
    assert 5 <= min(drawn) and max(drawn) <= 15 and np.ptp(drawn) > 3


def test_short_noise_is_looped_and_long_noise_gives_a_segment(tmp_path):
    short = noise(0.1, amplitude=0.2, seed=7)  # 1600 samples
    from ds2ray.testing.signals import write_audio

    write_audio(tmp_path / "short.wav", short, subtype="FLOAT")
    manifest = audio_list(tmp_path / "list.jsonl", tmp_path / "short.wav")
    x = sine(300.0, 1.0, amplitude=0.3)
    y = run([{"type": "noise", "params": {"min_snr_dB": 10, "max_snr_dB": 10, "noise_manifest_path": manifest}}], x)
    added = (y.astype(np.float64) - x)
    # The added noise repeats with the clip's period, i.e. it is the clip looped.
    np.testing.assert_allclose(added[:-1600], added[1600:], atol=1e-6)
    gain = np.std(added) / np.std(short)
    start = int(np.argmin([np.sum((added[:1600] / gain - np.roll(short, -s)) ** 2) for s in range(1600)]))
    np.testing.assert_allclose(added[:1600] / gain, np.roll(short, -start), atol=1e-5)


def test_noise_audio_is_decoded_once_per_process(noise_manifest):
    cache = audio_cache()
    cache.clear()
    x = speechlike(0.5, seed=8)
    pipe = AugmentPipeline.from_config([{"type": "noise", "params": {"min_snr_dB": 10, "max_snr_dB": 20,
                                                                     "noise_manifest_path": noise_manifest}}])
    for i in range(20):
        pipe.process_waveform(x, SR, AugmentPipeline.rng_for(0, 0, i))
    assert cache.misses == 2 and cache.hits == 18 and len(cache) == 2


def test_cache_evicts_least_recently_used_within_its_budget(noise_manifest):
    from ds2ray.augment.sources import AudioCache, read_audio_list

    entries = read_audio_list(noise_manifest)
    long_entry = max(entries, key=lambda e: e.duration)
    short_entry = min(entries, key=lambda e: e.duration)
    cache = AudioCache(max_bytes=int(long_entry.duration * SR * 4) + 100)
    cache.get(long_entry, SR)
    cache.get(short_entry, SR)  # over budget: the long clip (least recent) goes
    assert len(cache) == 1 and cache.nbytes == int(short_entry.duration * SR * 4)
    assert not cache.get(short_entry, SR).flags.writeable


# -- impulse ----------------------------------------------------------------------------------------
def test_unit_impulse_leaves_the_signal_unchanged(impulse_dir, tmp_path):
    x = speechlike(1.0, seed=9)
    manifest = audio_list(impulse_dir / "unit.jsonl", impulse_dir / "unit.wav")
    y = run([{"type": "impulse", "params": {"impulse_manifest_path": manifest}, "prob": 1.0}], x)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, x, atol=1e-6)


def test_delayed_impulse_delays_the_signal(impulse_dir):
    x = speechlike(1.0, seed=10)
    manifest = audio_list(impulse_dir / "delay.jsonl", impulse_dir / "delay800.wav")
    y = run([{"type": "impulse", "params": {"impulse_manifest_path": manifest}, "prob": 1.0}], x)
    assert y.shape == x.shape
    np.testing.assert_allclose(y[:800], 0.0, atol=1e-6)
    np.testing.assert_allclose(y[800:], x[:-800], atol=1e-6)


def test_fft_convolution_matches_direct_convolution():
    rng = np.random.default_rng(0)
    for n, m in [(1000, 1), (1000, 7), (1000, 300), (257, 1000), (4000, 4000)]:
        x = rng.standard_normal(n).astype(np.float32)
        h = rng.standard_normal(m).astype(np.float32)
        np.testing.assert_allclose(fft_convolve(x, h), np.convolve(x, h)[:n], rtol=1e-4, atol=1e-4)
    stereo = rng.standard_normal((2, 500))
    h = rng.standard_normal(100)
    out = fft_convolve(stereo, h)
    assert out.dtype == np.float64
    for c in range(2):
        np.testing.assert_allclose(out[c], np.convolve(stereo[c], h)[:500], atol=1e-9)
    assert next_fast_len(16001) == 16200 and next_fast_len(1024) == 1024 and next_fast_len(7) == 8


def test_room_impulse_adds_a_decaying_tail(impulse_dir):
    manifest = audio_list(impulse_dir / "room.jsonl", impulse_dir / "room" / "room.wav")
    x = click(1000, 8000)
    y = run([{"type": "impulse", "params": {"impulse_manifest_path": manifest}}], x)
    assert y[1000] == pytest.approx(1.0, abs=1e-5) and np.abs(y[:1000]).max() < 1e-6
    tail = y[1001:]
    assert np.sum(tail[:1000] ** 2) > 10 * np.sum(tail[2000:3000] ** 2) > 0  # energy decays


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

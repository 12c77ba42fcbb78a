"""``impulse``, measured: a unit impulse leaves the signal unchanged, a delayed one delays it, a room
response adds a decaying tail; the FFT convolution equals direct convolution."""

from __future__ import annotations

import numpy as np
import pytest

from ds2ray.augment.impulse import fft_convolve, next_fast_len
from ds2ray.testing.signals import click, speechlike

from .conftest import audio_list, run


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

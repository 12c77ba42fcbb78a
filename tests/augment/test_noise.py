"""``noise``, measured: the SNR of what was added (fixed and drawn from a range), short clips looped.
Noise comes from real files listed by the real builder."""

from __future__ import annotations

import numpy as np
import pytest

from ds2ray.augment import AugmentPipeline
from ds2ray.testing.signals import noise, sine, speechlike

from .conftest import SR, audio_list, run


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

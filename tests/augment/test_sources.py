"""Noise and impulse audio sources: each clip decoded once per process, the cache's byte budget."""

from __future__ import annotations

from ds2ray.augment import AugmentPipeline
from ds2ray.augment.sources import audio_cache
from ds2ray.testing.signals import speechlike

from .conftest import SR


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

"""``noise``: background noise from a noise manifest, added at an SNR drawn from a range.

Seed: NoisePerturbAugmentor (``min_snr_dB``, ``max_snr_dB``, ``noise_manifest_path``). Noise clips
are decoded once per process (:func:`~ds2ray.augment.sources.audio_cache`); a clip longer than the
utterance gives a random segment, a shorter one is looped from a random start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ds2ray.augment.base import WaveformAugmentor, check_range
from ds2ray.augment.sources import audio_cache, read_audio_list
from ds2ray.data.manifest import ManifestEntry


def noise_segment(noise: np.ndarray, length: int, start: float) -> np.ndarray:
    """``length`` samples of ``noise`` (N,) from relative position ``start`` in [0, 1).

    Longer noise: a plain slice. Shorter noise: tiled (wrapped around) from the start position.
    """
    total = noise.shape[-1]
    if total >= length:
        offset = min(int(start * (total - length + 1)), total - length)
        return noise[offset: offset + length]
    offset = min(int(start * total), total - 1)
    return np.take(noise, np.arange(offset, offset + length), mode="wrap")


def add_at_snr(audio: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``audio`` (N,) or (C, N) plus ``noise`` (N,) scaled so that signal power / noise power is
    ``snr_db`` dB (powers are mean squares over the whole clip). Silent audio or noise: unchanged."""
    signal_power = float(np.mean(np.square(audio, dtype=np.float64))) if audio.size else 0.0
    noise_power = float(np.mean(np.square(noise, dtype=np.float64))) if noise.size else 0.0
    if signal_power == 0.0 or noise_power == 0.0:
        return audio.copy()
    gain = np.sqrt(signal_power / (noise_power * 10.0 ** (snr_db / 10.0)))
    return (audio + gain * noise.astype(np.float64)).astype(audio.dtype, copy=False)


@dataclass(frozen=True)
class NoiseAugmentor(WaveformAugmentor, name="noise"):
    """Add a noise clip drawn uniformly from ``noise_manifest_path`` at an SNR drawn uniformly
    from [min_snr_dB, max_snr_dB]."""

    min_snr_dB: float
    max_snr_dB: float
    noise_manifest_path: str
    entries: tuple[ManifestEntry, ...] = field(init=False, repr=False, compare=False)

    path_params: ClassVar[tuple[str, ...]] = ("noise_manifest_path",)

    def __post_init__(self) -> None:
        check_range("noise", self.min_snr_dB, self.max_snr_dB, "min_snr_dB", "max_snr_dB")
        object.__setattr__(self, "entries", read_audio_list(self.noise_manifest_path, what="noise"))

    def sample(self, rng: np.random.Generator, num_samples: int, sample_rate: int) -> dict[str, Any]:
        return {
            "index": int(rng.integers(len(self.entries))),
            "snr_db": float(rng.uniform(self.min_snr_dB, self.max_snr_dB)),
            "start": float(rng.random()),
        }

    def apply(self, audio: np.ndarray, sample_rate: int, *, index: int, snr_db: float,
              start: float) -> np.ndarray:
        noise = audio_cache().get(self.entries[index], sample_rate)
        return add_at_snr(audio, noise_segment(noise, audio.shape[-1], start), snr_db)

"""``colored_noise``: generated white, pink or brown noise added at an SNR drawn from a range.

No files: the noise is Gaussian, shaped in the frequency domain so that its power spectral density
falls by a fixed slope per octave::

    white   0 dB/octave    P(f) ~ 1
    pink   -3 dB/octave    P(f) ~ 1/f      (amplitude ~ f^-1/2)
    brown  -6 dB/octave    P(f) ~ 1/f^2    (amplitude ~ f^-1)

Below :data:`FLOOR_HZ` the shaping stays flat and DC is removed, so pink and brown noise carry no
sub-audio rumble that would dominate the SNR while being invisible in the features. The colour is
drawn per sample from ``colors``; the SNR uniformly from [min_snr_dB, max_snr_dB] (powers are mean
squares over the whole clip, as in ``noise``). The noise itself is generated in :meth:`apply` from
a seed drawn in :meth:`sample`, so a trace stays small and an application is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ds2ray.augment.base import WaveformAugmentor, check_range
from ds2ray.augment.impulse import next_fast_len
from ds2ray.augment.noise import add_at_snr

#: colour -> exponent a of the power spectral density P(f) ~ f^-a (slope -3a dB/octave).
COLOR_EXPONENTS: dict[str, float] = {"white": 0.0, "pink": 1.0, "brown": 2.0}
#: Below this frequency the spectrum is flat (DC is zeroed).
FLOOR_HZ = 20.0


def colored_noise(num_samples: int, sample_rate: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """(N,) float64 Gaussian noise whose power spectral density is ~ f^-exponent above FLOOR_HZ,
    unit variance. The spectrum of white noise (a complex Gaussian per bin) is drawn directly, so
    only one inverse FFT runs; it is computed at a fast FFT size and cut to N."""
    if num_samples <= 0:
        return np.zeros(0)
    size = next_fast_len(max(num_samples, 2))
    bins = size // 2 + 1
    spectrum = rng.standard_normal(bins) + 1j * rng.standard_normal(bins)
    if exponent:
        freqs = np.maximum(np.fft.rfftfreq(size, 1.0 / sample_rate), FLOOR_HZ)
        spectrum *= freqs ** (-exponent / 2.0)
    spectrum[0] = 0.0
    noise = np.fft.irfft(spectrum, size)[:num_samples]
    std = float(noise.std())
    return noise / std if std > 0 else noise


@dataclass(frozen=True)
class ColoredNoiseAugmentor(WaveformAugmentor, name="colored_noise"):
    """Add generated noise of a colour drawn from ``colors`` (white, pink, brown) at an SNR drawn
    uniformly from [min_snr_dB, max_snr_dB]. Every channel gets the same noise."""

    min_snr_dB: float
    max_snr_dB: float
    colors: tuple[str, ...] = ("white", "pink", "brown")

    def __post_init__(self) -> None:
        check_range("colored_noise", self.min_snr_dB, self.max_snr_dB, "min_snr_dB", "max_snr_dB",
                    minimum=-30.0, maximum=120.0)
        if isinstance(self.colors, str) or not self.colors:
            raise ValueError(f"colors must be a non-empty list of {', '.join(COLOR_EXPONENTS)}, got {self.colors!r}")
        unknown = [c for c in self.colors if c not in COLOR_EXPONENTS]
        if unknown:
            raise ValueError(f"colors: unknown colour {unknown[0]!r}; expected some of {', '.join(COLOR_EXPONENTS)}")
        object.__setattr__(self, "colors", tuple(self.colors))

    def sample(self, rng: np.random.Generator, num_samples: int, sample_rate: int) -> dict[str, Any]:
        return {
            "color": self.colors[int(rng.integers(len(self.colors)))],
            "snr_db": float(rng.uniform(self.min_snr_dB, self.max_snr_dB)),
            "noise_seed": int(rng.integers(2 ** 63)),
        }

    def apply(self, audio: np.ndarray, sample_rate: int, *, color: str, snr_db: float,
              noise_seed: int) -> np.ndarray:
        noise = colored_noise(audio.shape[-1], sample_rate, COLOR_EXPONENTS[color],
                              np.random.default_rng(noise_seed))
        return add_at_snr(audio, noise, snr_db)
